use super::*;
use crate::template::Target;

const PATH: &str = "/.well-known/masque/ip/*/*/";

fn check(fields: &[Field]) -> Result<ConnectIpRequest, RejectKind> {
    validate(fields, &UriTemplate::default(), &TokenSet::new(["s3cret"])).map_err(|r| r.kind)
}

fn with(mut fields: Vec<Field>, name: &str, value: Option<&str>) -> Vec<Field> {
    let at = fields.iter().position(|f| f.name == name.as_bytes());
    fields.retain(|f| f.name != name.as_bytes());
    if let Some(v) = value {
        let at = at.unwrap_or(if name.starts_with(':') {
            0
        } else {
            fields.len()
        });
        fields.insert(at, Field::new(name, v));
    }
    fields
}

#[test]
fn accepts_a_full_tunnel_request() {
    let req = check(&request_fields("relay.example", PATH, Some("s3cret"))).expect("valid");
    assert_eq!(req.scope.target, Target::Any);
    assert_eq!(req.authority, "relay.example");
}

#[test]
fn auth_failures() {
    assert_eq!(
        check(&request_fields("r", PATH, None)),
        Err(RejectKind::Unauthenticated)
    );
    assert_eq!(
        check(&request_fields("r", PATH, Some("nope"))),
        Err(RejectKind::Forbidden)
    );
}

#[test]
fn protocol_errors() {
    let ok = request_fields("r", PATH, Some("s3cret"));
    let cases = [
        (
            with(ok.clone(), ":protocol", Some("connect-udp")),
            RejectKind::NotImplemented,
        ),
        (
            with(ok.clone(), ":protocol", None),
            RejectKind::NotImplemented,
        ),
        (
            with(ok.clone(), ":scheme", Some("http")),
            RejectKind::BadRequest,
        ),
        (with(ok.clone(), ":authority", None), RejectKind::BadRequest),
        (
            with(ok.clone(), ":path", Some("/other")),
            RejectKind::NotFound,
        ),
        (
            with(ok.clone(), "capsule-protocol", None),
            RejectKind::BadRequest,
        ),
        (
            with(ok.clone(), "capsule-protocol", Some("?0")),
            RejectKind::BadRequest,
        ),
        (
            with(ok.clone(), ":method", Some("GET")),
            RejectKind::MethodNotAllowed,
        ),
        (
            with(with(ok.clone(), ":method", Some("GET")), ":path", Some("/")),
            RejectKind::NotFound,
        ),
        (with(ok.clone(), ":method", None), RejectKind::BadRequest),
        (
            with(
                ok.clone(),
                ":path",
                Some("/.well-known/masque/ip/example.com/*/"),
            ),
            RejectKind::NotImplemented,
        ),
    ];
    for (fields, want) in cases {
        assert_eq!(check(&fields).err(), Some(want), "{fields:?}");
    }
    let mut dup = ok.clone();
    dup.insert(0, Field::new(":method", "CONNECT"));
    assert_eq!(check(&dup).err(), Some(RejectKind::BadRequest));
    let mut late = ok.clone();
    late.push(Field::new(":path", PATH));
    assert_eq!(check(&late).err(), Some(RejectKind::BadRequest));
    let upper = with(ok, "Capsule-Protocol", Some("?1"));
    assert_eq!(check(&upper).err(), Some(RejectKind::BadRequest));
}

#[test]
fn responses() {
    assert_eq!(response_status(&response_fields(200)), Some(200));
    assert!(response_fields(200).contains(&Field::new("capsule-protocol", "?1")));
    assert!(response_fields(401).contains(&Field::new("www-authenticate", "Bearer")));
    assert_eq!(RejectKind::PoolExhausted.status(), 503);
}
