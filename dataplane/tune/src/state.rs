//! The record of original values on the host (`--state-file`), so that `--restore` can put
//! everything back. A second run merges into it and never overwrites a recorded original.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::error::{Result, TuneError};
use super::step::Target;

/// Version of the state file format.
pub const STATE_VERSION: u32 = 1;

/// The original value of one changed setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Original {
    /// Report name of the setting.
    pub item: String,
    /// Where it lives.
    pub target: Target,
    /// The value found before the first run changed it.
    pub value: String,
}

/// Every original value recorded, in the order they were first changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TuneState {
    /// Format version ([`STATE_VERSION`]).
    pub version: u32,
    /// The originals.
    pub originals: Vec<Original>,
}

impl Default for TuneState {
    fn default() -> Self {
        TuneState {
            version: STATE_VERSION,
            originals: Vec::new(),
        }
    }
}

impl TuneState {
    /// Loads the record; a missing file is an empty record.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TuneState::default()),
            Err(e) => return Err(state_error(path, format!("cannot read it: {e}"))),
        };
        let state: TuneState = serde_json::from_str(&text).map_err(|e| {
            state_error(
                path,
                format!("not a tuner state file ({e}); fix or move it, the originals are in it"),
            )
        })?;
        if state.version != STATE_VERSION {
            return Err(state_error(
                path,
                format!(
                    "version {} is not the supported {STATE_VERSION}",
                    state.version
                ),
            ));
        }
        Ok(state)
    }

    /// Writes the record atomically (temporary file, fsync, rename), creating its directory.
    pub fn save(&self, path: &Path) -> Result<()> {
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::create_dir_all(dir)?;
            }
            let tmp = tmp_path(path);
            let mut file = fs::File::create(&tmp)?;
            let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
            file.write_all(&json)?;
            file.sync_all()?;
            fs::rename(&tmp, path)
        };
        write().map_err(|e| state_error(path, format!("cannot write it: {e}")))
    }

    /// Removes the record file (missing is fine).
    pub fn remove(path: &Path) -> Result<()> {
        match fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(state_error(path, format!("cannot remove it: {e}")))
            }
            _ => Ok(()),
        }
    }

    /// The recorded original for a target.
    pub fn original(&self, target: &Target) -> Option<&Original> {
        self.originals.iter().find(|o| &o.target == target)
    }

    /// Records `value` as the original unless one is already recorded. True if it was new.
    pub fn record(&mut self, item: &str, target: &Target, value: &str) -> bool {
        if self.original(target).is_some() {
            return false;
        }
        self.originals.push(Original {
            item: item.to_owned(),
            target: target.clone(),
            value: value.to_owned(),
        });
        true
    }

    /// Drops the record for a target.
    pub fn forget(&mut self, target: &Target) {
        self.originals.retain(|o| &o.target != target);
    }
}

/// How long a run waits for another run's lock before giving up.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// An exclusive lock on `<state file>.lock`, held for a whole run so that two tuner runs (an init
/// container and a restore Job) never interleave their reads and writes of the same settings.
/// The kernel drops it when the process ends, so a killed run leaves no stale lock.
///
/// A restore that leaves nothing recorded also removes the lock file
/// ([`StateLock::release_and_remove`]), so that a node left by its RelayNode keeps nothing of
/// ours in the state directory. Unlinking a lock file races with runs waiting on it; the
/// protocol that makes it safe has two halves:
/// - the holder unlinks the path *while it still holds the lock*, then releases it (unlinking
///   after releasing would let a waiter lock the old file, then a third run create and lock a
///   new one: two holders);
/// - [`lock`], once it holds the lock, checks that the path still names the file it locked
///   (same device and inode); if the path is gone or names another file, the lock it holds is
///   on an orphan, so it drops it and starts over on the path.
///
/// So at any time at most one run holds a lock on the file the path names, and every run that
/// proceeds holds exactly that.
#[derive(Debug)]
pub struct StateLock {
    file: fs::File,
    path: PathBuf,
}

impl StateLock {
    /// Removes the lock file, then releases the lock (see the type's docs for why in this order).
    pub fn release_and_remove(self) -> Result<()> {
        let removed = match fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(state_error(
                &self.path,
                format!("cannot remove the lock: {e}"),
            )),
            _ => Ok(()),
        };
        drop(self.file);
        removed
    }
}

/// Whether `path` still names the open `file` (same device and inode).
fn still_names(path: &Path, file: &fs::File) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let held = file.metadata()?;
    match fs::metadata(path) {
        Ok(named) => Ok(named.dev() == held.dev() && named.ino() == held.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Takes the run lock next to the state file, waiting up to `timeout` for another run.
#[allow(
    clippy::incompatible_msrv,
    reason = "File::try_lock is rustc 1.89; oxidize-crds (kube) already needs 1.89, so this crate does"
)]
pub fn lock(state_path: &Path, timeout: Duration) -> Result<StateLock> {
    let mut name = state_path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    let lock_path = state_path.with_file_name(name);
    let open = || -> std::io::Result<fs::File> {
        if let Some(dir) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
    };
    let deadline = Instant::now() + timeout;
    let mut file =
        open().map_err(|e| state_error(&lock_path, format!("cannot open the lock: {e}")))?;
    loop {
        match file.try_lock() {
            Ok(()) => {
                let current = still_names(&lock_path, &file)
                    .map_err(|e| state_error(&lock_path, format!("cannot check the lock: {e}")))?;
                if current {
                    return Ok(StateLock {
                        file,
                        path: lock_path,
                    });
                }
                // The previous holder removed the file while we waited: lock the path anew.
                file = open()
                    .map_err(|e| state_error(&lock_path, format!("cannot open the lock: {e}")))?;
            }
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(state_error(
                    &lock_path,
                    format!(
                        "another tuner run still holds the lock after {}s; wait for it to end",
                        timeout.as_secs()
                    ),
                ))
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(state_error(&lock_path, format!("cannot lock: {e}")))
            }
        }
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

fn state_error(path: &Path, detail: String) -> TuneError {
    TuneError::State {
        path: path.to_owned(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_waits_for_the_lock_and_then_gives_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/tune-state.json");
        let held = lock(&path, Duration::ZERO).expect("first lock");
        let err = lock(&path, Duration::from_millis(250)).expect_err("held elsewhere");
        assert!(err.to_string().contains("another tuner run"), "{err}");
        drop(held);
        lock(&path, Duration::ZERO).expect("free again");
    }

    #[test]
    fn a_removed_lock_file_is_not_held_by_a_waiter() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tune-state.json");
        let lock_path = dir.path().join("tune-state.json.lock");
        let held = lock(&path, Duration::ZERO).expect("first lock");
        // A waiter opened the file before the holder removed it.
        let waiter = std::thread::spawn({
            let path = path.clone();
            move || lock(&path, Duration::from_secs(5)).expect("the waiter gets a lock")
        });
        std::thread::sleep(Duration::from_millis(200));
        held.release_and_remove().expect("remove");
        let waiter = waiter.join().expect("waiter thread");
        // The waiter did not keep the orphan: it holds the file the path names again, so a
        // third run must wait for it.
        assert!(lock_path.exists(), "the waiter re-created the lock file");
        assert!(still_names(&lock_path, &waiter.file).expect("stat"));
        lock(&path, Duration::from_millis(200)).expect_err("the waiter holds the lock");
        waiter.release_and_remove().expect("remove");
        assert!(!lock_path.exists());
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("ls").count(),
            0,
            "nothing left"
        );
    }

    #[test]
    fn originals_are_kept_and_forgotten_by_target() {
        let mut state = TuneState::default();
        let target = Target::File {
            path: "/proc/sys/net/core/busy_poll".into(),
        };
        assert!(state.record("sysctl net.core.busy_poll", &target, "0"));
        assert!(!state.record("sysctl net.core.busy_poll", &target, "50"));
        assert_eq!(state.original(&target).map(|o| o.value.as_str()), Some("0"));
        state.forget(&target);
        assert!(state.original(&target).is_none());
    }

    #[test]
    fn a_broken_state_file_is_an_error_not_an_empty_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tune-state.json");
        assert_eq!(
            TuneState::load(&path).expect("missing is empty"),
            TuneState::default()
        );
        fs::write(&path, "{not json").expect("write");
        let err = TuneState::load(&path).expect_err("broken");
        assert!(err.to_string().contains("not a tuner state file"), "{err}");
    }
}
