//! The file-system chokepoint: every `/proc` and `/sys` access of the tuner goes through
//! [`Sysfs`], and the real implementation [`RootDir`] resolves those paths under a root directory
//! passed in (`/` in production, a temporary tree in tests).

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Reads and writes kernel files by their absolute kernel path (`/proc/sys/vm/...`).
pub trait Sysfs {
    /// Reads the whole file as text.
    fn read(&self, path: &str) -> io::Result<String>;
    /// Writes `value` to an existing file (never creates one).
    fn write(&self, path: &str, value: &str) -> io::Result<()>;
    /// Whether the path exists.
    fn exists(&self, path: &str) -> bool;
    /// Whether the file has a write permission bit (read-only sysctls do not).
    fn is_writable(&self, path: &str) -> bool;
    /// Entry names of a directory, sorted.
    fn list(&self, path: &str) -> io::Result<Vec<String>>;
}

/// [`Sysfs`] on the real file system, below `root`.
#[derive(Debug, Clone)]
pub struct RootDir {
    root: PathBuf,
}

impl RootDir {
    /// Kernel paths resolve below `root` (`/` for the real machine).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RootDir { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a kernel path lives under the root.
    pub fn resolve(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }
}

impl Sysfs for RootDir {
    fn read(&self, path: &str) -> io::Result<String> {
        fs::read_to_string(self.resolve(path))
    }

    fn write(&self, path: &str, value: &str) -> io::Result<()> {
        use std::io::Write;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(self.resolve(path))?;
        // One write call: sysfs and procfs take the value from a single write.
        file.write_all(value.as_bytes())
    }

    fn exists(&self, path: &str) -> bool {
        self.resolve(path).exists()
    }

    fn is_writable(&self, path: &str) -> bool {
        fs::metadata(self.resolve(path)).is_ok_and(|m| m.permissions().mode() & 0o222 != 0)
    }

    fn list(&self, path: &str) -> io::Result<Vec<String>> {
        let mut names = fs::read_dir(self.resolve(path))?
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect::<Vec<_>>();
        names.sort();
        Ok(names)
    }
}

/// Reads a file and trims surrounding whitespace; the error names the path.
pub(crate) fn read_trimmed(fs: &dyn Sysfs, path: &str) -> Result<String, String> {
    fs.read(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| format!("cannot read {path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_under_the_root_and_writes_never_create() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = RootDir::new(dir.path());
        fs::create_dir_all(dir.path().join("proc/sys/vm")).expect("mkdir");
        fs::write(dir.path().join("proc/sys/vm/swappiness"), "60\n").expect("write");
        assert_eq!(root.read("/proc/sys/vm/swappiness").expect("read"), "60\n");
        root.write("/proc/sys/vm/swappiness", "10").expect("write");
        assert_eq!(
            read_trimmed(&root, "/proc/sys/vm/swappiness"),
            Ok("10".into())
        );
        assert!(root.write("/proc/sys/vm/nope", "1").is_err());
        assert!(!root.exists("/proc/sys/vm/nope"));
        assert_eq!(root.list("/proc/sys/vm").expect("list"), vec!["swappiness"]);
        assert!(root.is_writable("/proc/sys/vm/swappiness"));
    }
}
