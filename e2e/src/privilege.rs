//! The skip-or-fail policy for tests that need root.
//!
//! Root tests are named `root_*` so a laptop run can leave them out with
//! `cargo test -- --skip root_`. Inside a test, [`require_root`] decides:
//! - root: run;
//! - not root and `OXIDIZE_SKIP_ROOT_TESTS=1`: print that the test is skipped and return `false`;
//! - not root otherwise: panic with a message that says how to run or skip it.
//!
//! `OXIDIZE_REQUIRE_ROOT=1` (set by CI, which runs as root) turns every skip into a failure, so a
//! CI machine that lost its privileges cannot pass by skipping.

/// Environment variable that lets a non-root run skip root tests.
pub const SKIP_ENV: &str = "OXIDIZE_SKIP_ROOT_TESTS";
/// Environment variable with which CI forbids skipping.
pub const REQUIRE_ENV: &str = "OXIDIZE_REQUIRE_ROOT";

/// What [`require_root`] decides, as a pure function of the facts (tested without root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run the test.
    Run,
    /// Skip it, printing this message.
    Skip(String),
    /// Fail it with this message.
    Fail(String),
}

fn flag(value: Option<&str>) -> bool {
    matches!(value, Some("1" | "true" | "yes"))
}

/// Decides what a root test does given the effective uid and the two environment variables.
pub fn decide(
    test: &str,
    euid_is_root: bool,
    skip: Option<&str>,
    require: Option<&str>,
) -> Decision {
    if euid_is_root {
        return Decision::Run;
    }
    if flag(require) {
        return Decision::Fail(format!(
            "{test} needs root, and {REQUIRE_ENV}=1 says this run must not skip it: run the tests as root"
        ));
    }
    if flag(skip) {
        return Decision::Skip(format!("{test}: skipped, not root and {SKIP_ENV}=1"));
    }
    Decision::Fail(format!(
        "{test} needs root (it creates network namespaces): run as root (e.g. `sudo -E make test`), \
         or set {SKIP_ENV}=1 to skip root tests, or pass `-- --skip root_` to cargo test"
    ))
}

/// Returns `true` when the calling test may go on; `false` when it should return early (skipped).
///
/// # Panics
/// When the test needs root, is not root, and skipping is not allowed.
pub fn require_root(test: &str) -> bool {
    let skip = std::env::var(SKIP_ENV).ok();
    let require = std::env::var(REQUIRE_ENV).ok();
    match decide(
        test,
        nix::unistd::geteuid().is_root(),
        skip.as_deref(),
        require.as_deref(),
    ) {
        Decision::Run => true,
        Decision::Skip(message) => {
            eprintln!("{message}");
            false
        }
        Decision::Fail(message) => panic!("{message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_always_runs() {
        assert_eq!(decide("t", true, Some("1"), None), Decision::Run);
    }

    #[test]
    fn non_root_fails_by_default_with_instructions() {
        let Decision::Fail(message) = decide("t", false, None, None) else {
            panic!("expected a failure");
        };
        assert!(message.contains(SKIP_ENV), "{message}");
    }

    #[test]
    fn non_root_may_opt_out() {
        assert!(matches!(
            decide("t", false, Some("1"), None),
            Decision::Skip(_)
        ));
        assert!(matches!(
            decide("t", false, Some("0"), None),
            Decision::Fail(_)
        ));
    }

    #[test]
    fn ci_forbids_skipping() {
        assert!(matches!(
            decide("t", false, Some("1"), Some("1")),
            Decision::Fail(_)
        ));
    }
}
