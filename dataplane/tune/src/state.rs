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
#[derive(Debug)]
pub struct StateLock {
    _file: fs::File,
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
    let file = open().map_err(|e| state_error(&lock_path, format!("cannot open the lock: {e}")))?;
    let deadline = Instant::now() + timeout;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(StateLock { _file: file }),
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
