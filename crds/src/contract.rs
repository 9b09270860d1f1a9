//! The command lines the operator renders into pods, defined once here so that the dataplane's
//! own argument parsers are tested against exactly what the operator sends
//! (`dataplane/tests/pod_contract.rs`). A flag renamed on one side fails that test, not a node.

/// The dataplane image's binary.
pub const DATAPLANE_BINARY: &str = "oxidize-dataplane";

/// Kubernetes' default termination-message path, where the tuner writes its report.
pub const TERMINATION_LOG: &str = "/dev/termination-log";

/// Arguments of the tune init container: apply `plan` and record originals in `state_file`.
pub fn tune_apply_args(plan: &str, state_file: &str) -> Vec<String> {
    [
        "tune",
        "--plan",
        plan,
        "--state-file",
        state_file,
        "--termination-log",
        TERMINATION_LOG,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Arguments of the restore Job: put back what `state_file` recorded.
pub fn tune_restore_args(state_file: &str) -> Vec<String> {
    [
        "tune",
        "--restore",
        "--state-file",
        state_file,
        "--termination-log",
        TERMINATION_LOG,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The capabilities of the relay container, and nothing else (it runs as uid 0 with all others
/// dropped, not privileged, with a read-only `/proc/sys`): the TUN device, routes, nftables and
/// attaching XDP (NET_ADMIN), AF_XDP sockets (NET_RAW), loading the XDP program and its maps
/// (BPF), the verifier's rules for the program's variable-offset packet pointer arithmetic,
/// which it allows only to loaders with PERFMON (Spectre v1 sanitation), and locking the UMEM
/// beyond RLIMIT_MEMLOCK (IPC_LOCK). Derived by `dataplane/tests/relay_capabilities.rs`, which
/// runs the relay binary with exactly this set and fails if one of them is not needed or if it
/// does not start with them.
pub const RELAY_CAPABILITIES: [&str; 5] = ["NET_ADMIN", "NET_RAW", "BPF", "PERFMON", "IPC_LOCK"];

/// Arguments of the relay container.
pub fn relay_args(config: &str) -> Vec<String> {
    ["relay", "--config", config].map(str::to_owned).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_that_takes_a_value_has_one() {
        let args = tune_apply_args("/p", "/s");
        assert_eq!(args.last().map(String::as_str), Some(TERMINATION_LOG));
        assert_eq!(
            tune_restore_args("/s").last().map(String::as_str),
            Some(TERMINATION_LOG)
        );
        assert_eq!(relay_args("/c"), ["relay", "--config", "/c"]);
    }
}
