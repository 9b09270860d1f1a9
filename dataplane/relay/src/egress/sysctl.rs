//! The forwarding sysctls: read, never written.
//!
//! Forwarding is a setting of the network namespace (the node's, for a `hostNetwork` relay), so
//! the privileged tune step sets it (the operator puts it in every RelayNode's tuning plan) and
//! restores it; the relay runs with the read-only `/proc/sys` every container runtime gives a
//! non-privileged container and only checks that forwarding is on. The sysctl root is passed in
//! (`/proc/sys` in production, a temporary tree in tests). Procfs resolves `/proc/sys/net` in the
//! network namespace of the thread that opens it.

use std::io;
use std::path::Path;

use super::plan::Forwarding;

/// The procfs sysctl root.
pub const PROC_SYS: &str = "/proc/sys";

/// The value of `which` under `root` (digits only, e.g. `"0"` or `"1"`).
pub(crate) fn read(root: &Path, which: Forwarding) -> io::Result<String> {
    let text = std::fs::read_to_string(root.join(which.relative_path()))?;
    let value = text.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected sysctl value {value:?}"),
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(ipv4: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(Forwarding::Ipv4.relative_path());
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, ipv4).expect("write");
        dir
    }

    #[test]
    fn reads_the_value() {
        assert_eq!(
            read(tree("0\n").path(), Forwarding::Ipv4).expect("read"),
            "0"
        );
        assert_eq!(
            read(tree("1\n").path(), Forwarding::Ipv4).expect("read"),
            "1"
        );
    }

    #[test]
    fn missing_or_garbled_files_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = read(dir.path(), Forwarding::Ipv6).expect_err("missing");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let dir = tree("yes\n");
        let err = read(dir.path(), Forwarding::Ipv4).expect_err("garbled");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
