//! Bearer-token checks in constant time (no timing signal about which token or how much matched).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The accepted bearer tokens, kept as SHA-256 digests so that every comparison has the same
/// length and the secrets do not sit in memory in clear.
#[derive(Clone, Default)]
pub struct TokenSet {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenSet({} tokens)", self.digests.len())
    }
}

/// What an `authorization` field said about the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    /// A known token.
    Accepted,
    /// No `authorization` field, or not a `Bearer` credential (HTTP 401).
    Missing,
    /// A bearer token that is not in the set (HTTP 403).
    Rejected,
}

impl TokenSet {
    /// A set from the given tokens (empty tokens are ignored: they would match an empty credential).
    pub fn new<I, T>(tokens: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        let digests = tokens
            .into_iter()
            .filter(|t| !t.as_ref().is_empty())
            .map(|t| Sha256::digest(t.as_ref()).into())
            .collect();
        Self { digests }
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// True when no token is configured (every request is then rejected).
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// True when `token` is one of the set; compares against every entry without early exit.
    pub fn contains(&self, token: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(token).into();
        let mut found = subtle::Choice::from(0);
        for d in &self.digests {
            found |= d.ct_eq(&digest);
        }
        bool::from(found)
    }

    /// Checks the value of an `authorization` field (`None` when absent).
    pub fn check(&self, authorization: Option<&[u8]>) -> AuthOutcome {
        let Some(value) = authorization else {
            return AuthOutcome::Missing;
        };
        let value = value.trim_ascii();
        let Some(space) = value.iter().position(|b| *b == b' ') else {
            return AuthOutcome::Missing;
        };
        let (scheme, token) = value.split_at(space);
        if !scheme.eq_ignore_ascii_case(b"bearer") {
            return AuthOutcome::Missing;
        }
        let token = token.trim_ascii();
        if !token.is_empty() && self.contains(token) {
            AuthOutcome::Accepted
        } else {
            AuthOutcome::Rejected
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        let set = TokenSet::new(["alpha", "", "beta"]);
        assert_eq!(set.len(), 2);
        assert_eq!(set.check(Some(b"Bearer alpha")), AuthOutcome::Accepted);
        assert_eq!(set.check(Some(b"bearer  beta ")), AuthOutcome::Accepted);
        assert_eq!(set.check(Some(b"Bearer gamma")), AuthOutcome::Rejected);
        assert_eq!(set.check(Some(b"Bearer ")), AuthOutcome::Missing);
        assert_eq!(set.check(Some(b"Basic YWxwaGE=")), AuthOutcome::Missing);
        assert_eq!(set.check(None), AuthOutcome::Missing);
        assert_eq!(
            TokenSet::default().check(Some(b"Bearer alpha")),
            AuthOutcome::Rejected
        );
        assert!(!format!("{set:?}").contains("alpha"));
    }
}
