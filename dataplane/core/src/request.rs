//! Extended CONNECT requests for CONNECT-IP (RFC 9484 section 4, RFC 9220, RFC 9114 section
//! 4.3): validation, authentication and the responses the relay sends.

use crate::auth::{AuthOutcome, TokenSet};
use crate::qpack::Field;
use crate::template::{MatchError, Scope, UriTemplate};

/// Why a request was refused, one variant per counter the relay keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectKind {
    /// Malformed request (pseudo-headers, capsule-protocol, bad variable values): 400.
    BadRequest,
    /// No bearer token: 401.
    Unauthenticated,
    /// Unknown bearer token: 403.
    Forbidden,
    /// Path is not the CONNECT-IP template: 404.
    NotFound,
    /// A method other than CONNECT: 405.
    MethodNotAllowed,
    /// Classic CONNECT, another `:protocol`, or a host-name target: 501.
    NotImplemented,
    /// The address pool has no free address: 503.
    PoolExhausted,
    /// Too many authentication failures from this source address: 429.
    Throttled,
}

impl RejectKind {
    /// The HTTP status code sent for this refusal.
    pub fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::NotImplemented => 501,
            Self::PoolExhausted => 503,
            Self::Throttled => 429,
        }
    }

    /// A fixed label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::NotImplemented => "not_implemented",
            Self::PoolExhausted => "pool_exhausted",
            Self::Throttled => "throttled",
        }
    }
}

/// A refused request: the kind and a short reason for logs (never the token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    /// Kind and status.
    pub kind: RejectKind,
    /// What was wrong.
    pub reason: &'static str,
}

fn reject(kind: RejectKind, reason: &'static str) -> Rejection {
    Rejection { kind, reason }
}

/// An accepted CONNECT-IP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectIpRequest {
    /// The `:authority`.
    pub authority: String,
    /// The `:path`.
    pub path: String,
    /// Target and protocol from the path.
    pub scope: Scope,
}

#[derive(Default)]
struct Pseudo<'a> {
    method: Option<&'a [u8]>,
    protocol: Option<&'a [u8]>,
    scheme: Option<&'a [u8]>,
    authority: Option<&'a [u8]>,
    path: Option<&'a [u8]>,
}

fn set_once<'a>(slot: &mut Option<&'a [u8]>, v: &'a [u8]) -> Result<(), Rejection> {
    if slot.replace(v).is_some() {
        return Err(reject(RejectKind::BadRequest, "duplicate pseudo-header"));
    }
    Ok(())
}

fn pseudo_headers(fields: &[Field]) -> Result<Pseudo<'_>, Rejection> {
    let mut p = Pseudo::default();
    let mut regular_seen = false;
    for f in fields {
        if f.name.is_empty() || f.name.iter().any(|b| b.is_ascii_uppercase()) {
            return Err(reject(
                RejectKind::BadRequest,
                "empty or uppercase field name",
            ));
        }
        if f.name[0] != b':' {
            regular_seen = true;
            continue;
        }
        if regular_seen {
            return Err(reject(
                RejectKind::BadRequest,
                "pseudo-header after a regular field",
            ));
        }
        match f.name.as_slice() {
            b":method" => set_once(&mut p.method, &f.value)?,
            b":protocol" => set_once(&mut p.protocol, &f.value)?,
            b":scheme" => set_once(&mut p.scheme, &f.value)?,
            b":authority" => set_once(&mut p.authority, &f.value)?,
            b":path" => set_once(&mut p.path, &f.value)?,
            _ => return Err(reject(RejectKind::BadRequest, "unknown pseudo-header")),
        }
    }
    Ok(p)
}

fn field<'a>(fields: &'a [Field], name: &[u8]) -> Option<&'a [u8]> {
    fields
        .iter()
        .find(|f| f.name == name)
        .map(|f| f.value.as_slice())
}

/// True for the structured-field boolean true, `?1`, with optional parameters.
fn is_sf_true(v: &[u8]) -> bool {
    let v = v.trim_ascii();
    v == b"?1" || v.starts_with(b"?1;")
}

/// Validates a request's field section as a CONNECT-IP request and checks its token.
///
/// # Errors
/// A [`Rejection`] whose kind gives the status code to answer with.
pub fn validate(
    fields: &[Field],
    template: &UriTemplate,
    tokens: &TokenSet,
) -> Result<ConnectIpRequest, Rejection> {
    let p = pseudo_headers(fields)?;
    let method = p
        .method
        .ok_or(reject(RejectKind::BadRequest, "no :method"))?;
    if method != b"CONNECT" {
        if p.path.is_none() || p.scheme.is_none() {
            return Err(reject(
                RejectKind::BadRequest,
                "request without :path or :scheme",
            ));
        }
        let path = std::str::from_utf8(p.path.unwrap_or_default()).unwrap_or_default();
        return Err(match template.match_path(path) {
            Ok(_) => reject(
                RejectKind::MethodNotAllowed,
                "CONNECT-IP needs the CONNECT method",
            ),
            Err(_) => reject(RejectKind::NotFound, "no resource at this path"),
        });
    }
    let Some(protocol) = p.protocol else {
        return Err(reject(
            RejectKind::NotImplemented,
            "classic CONNECT is not offered",
        ));
    };
    if protocol != b"connect-ip" {
        return Err(reject(
            RejectKind::NotImplemented,
            "only :protocol connect-ip is offered",
        ));
    }
    if p.scheme != Some(b"https") {
        return Err(reject(RejectKind::BadRequest, ":scheme must be https"));
    }
    let authority = p
        .authority
        .filter(|a| !a.is_empty())
        .and_then(|a| std::str::from_utf8(a).ok())
        .ok_or(reject(
            RejectKind::BadRequest,
            "missing or invalid :authority",
        ))?;
    let path = p
        .path
        .filter(|a| !a.is_empty())
        .and_then(|a| std::str::from_utf8(a).ok())
        .ok_or(reject(RejectKind::BadRequest, "missing or invalid :path"))?;
    match tokens.check(field(fields, b"authorization")) {
        AuthOutcome::Accepted => {}
        AuthOutcome::Missing => {
            return Err(reject(RejectKind::Unauthenticated, "no bearer token"));
        }
        AuthOutcome::Rejected => return Err(reject(RejectKind::Forbidden, "unknown bearer token")),
    }
    let scope = template.match_path(path).map_err(|e| match e {
        MatchError::NoMatch => reject(RejectKind::NotFound, "path does not match the URI template"),
        MatchError::BadValue => reject(RejectKind::BadRequest, "invalid target or ipproto"),
        MatchError::HostNameTarget => reject(
            RejectKind::NotImplemented,
            "host-name targets are not offered",
        ),
    })?;
    if !field(fields, b"capsule-protocol").is_some_and(is_sf_true) {
        return Err(reject(
            RejectKind::BadRequest,
            "capsule-protocol: ?1 is required",
        ));
    }
    Ok(ConnectIpRequest {
        authority: authority.to_owned(),
        path: path.to_owned(),
        scope,
    })
}

/// The response field section for a status: 2xx carries `capsule-protocol: ?1`, 401 a
/// `www-authenticate: Bearer` challenge, 405 `allow: CONNECT`.
pub fn response_fields(status: u16) -> Vec<Field> {
    let mut out = vec![Field::new(":status", status.to_string())];
    match status {
        200..=299 => out.push(Field::new("capsule-protocol", "?1")),
        401 => out.push(Field::new("www-authenticate", "Bearer")),
        405 => out.push(Field::new("allow", "CONNECT")),
        _ => {}
    }
    out
}

/// The request fields a CONNECT-IP client sends.
pub fn request_fields(authority: &str, path: &str, token: Option<&str>) -> Vec<Field> {
    let mut out = vec![
        Field::new(":method", "CONNECT"),
        Field::new(":protocol", "connect-ip"),
        Field::new(":scheme", "https"),
        Field::new(":authority", authority),
        Field::new(":path", path),
        Field::new("capsule-protocol", "?1"),
    ];
    if let Some(t) = token {
        out.push(Field::new("authorization", format!("Bearer {t}")));
    }
    out
}

/// Reads `:status` from a response field section.
pub fn response_status(fields: &[Field]) -> Option<u16> {
    let v = field(fields, b":status")?;
    std::str::from_utf8(v).ok()?.parse().ok()
}

#[cfg(test)]
mod tests;
