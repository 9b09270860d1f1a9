//! The CONNECT-IP URI template (RFC 9484 section 3): path-segment variables `{target}` and
//! `{ipproto}`, default `/.well-known/masque/ip/{target}/{ipproto}/`.

use std::net::IpAddr;

use crate::capsule::IpPrefix;

/// The default template path of RFC 9484 section 3.
pub const DEFAULT_TEMPLATE: &str = "/.well-known/masque/ip/{target}/{ipproto}/";

/// Why a template string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template is not a path.
    #[error("URI template {0:?} must be a path starting with '/'")]
    NotAPath(String),
    /// An expression other than `{target}` or `{ipproto}`, or an unclosed brace.
    #[error("URI template {0:?} may only use the variables {{target}} and {{ipproto}}, each once, as whole path segments")]
    Unsupported(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Target,
    Ipproto,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriTemplate {
    parts: Vec<Part>,
}

/// What the request asked to reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `*`: everything (full tunnel).
    Any,
    /// One address or prefix.
    Prefix(IpPrefix),
}

/// The variables of a request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    /// The `target` variable.
    pub target: Target,
    /// The `ipproto` variable; 0 (from `*`) means every protocol.
    pub ipproto: u8,
}

/// Why a path did not match (HTTP 404) or held a value the relay cannot serve (400/501).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchError {
    /// The path is not an instance of the template.
    NoMatch,
    /// A variable holds something that is not valid (bad prefix, protocol above 255).
    BadValue,
    /// The target is a host name: resolution is not offered.
    HostNameTarget,
}

impl Default for UriTemplate {
    fn default() -> Self {
        match Self::parse(DEFAULT_TEMPLATE) {
            Ok(t) => t,
            Err(_) => Self { parts: Vec::new() },
        }
    }
}

impl UriTemplate {
    /// Parses a template path. A full `https://host/...` template is accepted; the host part is
    /// dropped (the `:authority` is checked separately).
    ///
    /// # Errors
    /// [`TemplateError`] when the template is not a path or uses other template syntax.
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let path = match template.strip_prefix("https://") {
            Some(rest) => rest.find('/').map(|i| &rest[i..]).unwrap_or(""),
            None => template,
        };
        if !path.starts_with('/') {
            return Err(TemplateError::NotAPath(template.to_owned()));
        }
        let mut parts = Vec::new();
        let mut rest = path;
        let (mut seen_target, mut seen_proto) = (false, false);
        while !rest.is_empty() {
            match rest.find('{') {
                Some(0) => {
                    let close = rest
                        .find('}')
                        .ok_or_else(|| TemplateError::Unsupported(template.to_owned()))?;
                    let part = match &rest[1..close] {
                        "target" if !seen_target => {
                            seen_target = true;
                            Part::Target
                        }
                        "ipproto" if !seen_proto => {
                            seen_proto = true;
                            Part::Ipproto
                        }
                        _ => return Err(TemplateError::Unsupported(template.to_owned())),
                    };
                    let after = &rest[close + 1..];
                    let before_ok =
                        matches!(parts.last(), Some(Part::Literal(l)) if l.ends_with('/'));
                    if !before_ok || !(after.is_empty() || after.starts_with('/')) {
                        return Err(TemplateError::Unsupported(template.to_owned()));
                    }
                    parts.push(part);
                    rest = after;
                }
                Some(i) => {
                    parts.push(Part::Literal(rest[..i].to_owned()));
                    rest = &rest[i..];
                }
                None => {
                    if rest.contains('}') {
                        return Err(TemplateError::Unsupported(template.to_owned()));
                    }
                    parts.push(Part::Literal(rest.to_owned()));
                    rest = "";
                }
            }
        }
        Ok(Self { parts })
    }

    /// The path for a request, filling in the variables (percent-encoding `/` and `:`).
    pub fn expand(&self, scope: &Scope) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Literal(l) => out.push_str(l),
                Part::Target => match scope.target {
                    Target::Any => out.push('*'),
                    Target::Prefix(p) => {
                        let full = if p.addr.is_ipv4() { 32 } else { 128 };
                        let text = if p.len == full {
                            p.addr.to_string()
                        } else {
                            format!("{}/{}", p.addr, p.len)
                        };
                        out.push_str(&text.replace('/', "%2F").replace(':', "%3A"));
                    }
                },
                Part::Ipproto => match scope.ipproto {
                    0 => out.push('*'),
                    n => out.push_str(&n.to_string()),
                },
            }
        }
        out
    }

    /// Matches a request `:path` (query ignored) and parses its variables.
    ///
    /// # Errors
    /// [`MatchError`] for a path of another shape or variables with bad values.
    pub fn match_path(&self, path: &str) -> Result<Scope, MatchError> {
        let path = path.split('?').next().unwrap_or_default();
        let mut rest = path;
        let mut scope = Scope {
            target: Target::Any,
            ipproto: 0,
        };
        for p in &self.parts {
            match p {
                Part::Literal(l) => {
                    rest = rest.strip_prefix(l.as_str()).ok_or(MatchError::NoMatch)?
                }
                Part::Target | Part::Ipproto => {
                    let end = rest.find('/').unwrap_or(rest.len());
                    let value = &rest[..end];
                    if value.is_empty() {
                        return Err(MatchError::NoMatch);
                    }
                    if *p == Part::Target {
                        scope.target = parse_target(value)?;
                    } else {
                        scope.ipproto = parse_ipproto(value)?;
                    }
                    rest = &rest[end..];
                }
            }
        }
        if rest.is_empty() {
            Ok(scope)
        } else {
            Err(MatchError::NoMatch)
        }
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn parse_target(value: &str) -> Result<Target, MatchError> {
    if value == "*" {
        return Ok(Target::Any);
    }
    let text = percent_decode(value).ok_or(MatchError::BadValue)?;
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text.as_str(), None),
    };
    let Ok(addr) = addr.parse::<IpAddr>() else {
        return if len.is_none() && !addr.is_empty() && !addr.contains(':') {
            Err(MatchError::HostNameTarget)
        } else {
            Err(MatchError::BadValue)
        };
    };
    let full = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l.parse::<u8>().map_err(|_| MatchError::BadValue)?,
        None => full,
    };
    if len > full {
        return Err(MatchError::BadValue);
    }
    Ok(Target::Prefix(IpPrefix { addr, len }))
}

fn parse_ipproto(value: &str) -> Result<u8, MatchError> {
    if value == "*" {
        return Ok(0);
    }
    value.parse::<u8>().map_err(|_| MatchError::BadValue)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn default_template_matches() {
        let t = UriTemplate::default();
        assert_eq!(
            t.match_path("/.well-known/masque/ip/*/*/"),
            Ok(Scope {
                target: Target::Any,
                ipproto: 0
            })
        );
        let s = t
            .match_path("/.well-known/masque/ip/192.0.2.0%2F24/17/")
            .expect("valid");
        assert_eq!(s.ipproto, 17);
        assert_eq!(
            s.target,
            Target::Prefix(IpPrefix {
                addr: "192.0.2.0".parse().expect("ip"),
                len: 24
            })
        );
        let s = t
            .match_path("/.well-known/masque/ip/2001%3Adb8%3A%3A1/*/")
            .expect("valid");
        assert!(matches!(
            s.target,
            Target::Prefix(IpPrefix { len: 128, .. })
        ));
        assert_eq!(
            t.match_path("/.well-known/masque/ip/*/"),
            Err(MatchError::NoMatch)
        );
        assert_eq!(t.match_path("/index.html"), Err(MatchError::NoMatch));
        assert_eq!(
            t.match_path("/.well-known/masque/ip/*/300/"),
            Err(MatchError::BadValue)
        );
        assert_eq!(
            t.match_path("/.well-known/masque/ip/example.com/*/"),
            Err(MatchError::HostNameTarget)
        );
        assert_eq!(t.expand(&s), "/.well-known/masque/ip/2001%3Adb8%3A%3A1/*/");
    }

    #[test]
    fn custom_and_bad_templates() {
        let t = UriTemplate::parse("https://relay.example/vpn/{target}/{ipproto}").expect("valid");
        assert!(t.match_path("/vpn/*/*").is_ok());
        assert!(UriTemplate::parse("/x/{?target,ipproto}").is_err());
        assert!(UriTemplate::parse("/x/{host}/").is_err());
        assert!(UriTemplate::parse("/x/a{target}/").is_err());
        assert!(UriTemplate::parse("relative").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(path in "\\PC{0,60}") {
            let _ = UriTemplate::default().match_path(&path);
            let _ = UriTemplate::parse(&path);
        }
    }
}
