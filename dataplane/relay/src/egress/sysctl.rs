//! The forwarding sysctls: switched on at set-up, the values found restored at teardown.
//!
//! Each file is opened once, at set-up, under a sysctl root passed in (`/proc/sys` in
//! production, a temporary tree in tests). Procfs binds an open net sysctl file to the network
//! namespace it was opened in, so the restore acts on the right namespace from any thread.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::plan::Forwarding;

/// The procfs sysctl root.
pub const PROC_SYS: &str = "/proc/sys";

/// A forwarding sysctl that set-up switched on, with the value it found.
#[derive(Debug)]
pub(crate) struct SavedSysctl {
    which: Forwarding,
    file: File,
    original: String,
    restored: bool,
}

impl SavedSysctl {
    /// Reads the current value and writes `1` if it is not already on.
    pub(crate) fn enable(root: &Path, which: Forwarding) -> io::Result<Self> {
        let path = root.join(which.relative_path());
        let mut file = OpenOptions::new().read(true).write(true).open(&path)?;
        let original = read_value(&mut file)?;
        if original != "1" {
            write_value(&mut file, "1")?;
            tracing::info!(sysctl = which.key(), from = %original, to = "1", "egress: enabled forwarding");
        } else {
            tracing::info!(sysctl = which.key(), "egress: forwarding already on");
        }
        Ok(SavedSysctl {
            which,
            file,
            original,
            restored: false,
        })
    }

    /// The sysctl.
    pub(crate) fn which(&self) -> Forwarding {
        self.which
    }

    /// Writes back the value found at set-up (once; later calls do nothing).
    pub(crate) fn restore(&mut self) -> io::Result<()> {
        if self.restored {
            return Ok(());
        }
        self.restored = true;
        if self.original == "1" {
            return Ok(());
        }
        write_value(&mut self.file, &self.original)?;
        tracing::info!(sysctl = self.which.key(), to = %self.original, "egress: restored forwarding");
        Ok(())
    }
}

fn read_value(file: &mut File) -> io::Result<String> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_string(&mut text)?;
    let value = text.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected sysctl value {value:?}"),
        ));
    }
    Ok(value.to_owned())
}

fn write_value(file: &mut File, value: &str) -> io::Result<()> {
    file.seek(SeekFrom::Start(0))?;
    file.write_all(format!("{value}\n").as_bytes())?;
    file.flush()
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

    fn value(dir: &tempfile::TempDir) -> String {
        std::fs::read_to_string(dir.path().join(Forwarding::Ipv4.relative_path())).expect("read")
    }

    #[test]
    fn enables_then_restores_off() {
        let dir = tree("0\n");
        let mut saved = SavedSysctl::enable(dir.path(), Forwarding::Ipv4).expect("enable");
        assert_eq!(value(&dir), "1\n");
        saved.restore().expect("restore");
        assert_eq!(value(&dir), "0\n");
        // A second restore does nothing, even if someone changed the value since.
        std::fs::write(dir.path().join(Forwarding::Ipv4.relative_path()), "1\n").expect("write");
        saved.restore().expect("restore again");
        assert_eq!(value(&dir), "1\n");
    }

    #[test]
    fn leaves_an_enabled_value_alone() {
        let dir = tree("1\n");
        let mut saved = SavedSysctl::enable(dir.path(), Forwarding::Ipv4).expect("enable");
        saved.restore().expect("restore");
        assert_eq!(value(&dir), "1\n");
        assert_eq!(saved.which(), Forwarding::Ipv4);
    }

    #[test]
    fn missing_or_garbled_files_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = SavedSysctl::enable(dir.path(), Forwarding::Ipv6).expect_err("missing");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let dir = tree("yes\n");
        let err = SavedSysctl::enable(dir.path(), Forwarding::Ipv4).expect_err("garbled");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(value(&dir), "yes\n");
    }
}
