//! Network namespace guards.
//!
//! [`Netns::new`] creates `/var/run/netns/oxt-<pid>-<run>-<n>-<role>` with `ip netns add` and
//! brings its loopback up; dropping the guard kills the processes it started and deletes the
//! namespace, which also deletes every link inside it (a veth pair dies with either end).
//!
//! `<run>` is the test run's id ([`run_id`]: `OXIDIZE_RUN_ID`, which `scripts/test.sh` sets, or
//! one made up per process), so a run checks its own namespaces ([`list_run`]) and never those
//! of another run on the same machine. The pid lets [`sweep_stale`] remove namespaces whose test
//! process was killed before its guards could run, whichever run they belonged to. The pid comes
//! first because test beds from before run ids (`oxt-<pid>-<n>-<role>`) read the first field as
//! the owner's pid when they sweep: they keep seeing our live namespaces as live.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::cmd::ip;
use crate::{Error, Result};

/// Prefix of every namespace the test bed creates.
pub const PREFIX: &str = "oxt-";
/// Environment variable that names the test run (a lowercase letter, then up to 31 lowercase
/// letters or digits); `scripts/test.sh` sets it.
pub const RUN_ID_ENV: &str = "OXIDIZE_RUN_ID";
const NETNS_DIR: &str = "/var/run/netns";

static COUNTER: AtomicU32 = AtomicU32::new(0);
static SWEEP: Once = Once::new();

/// A network namespace that exists as long as this guard does.
#[derive(Debug)]
pub struct Netns {
    name: String,
    children: Mutex<Vec<u32>>,
}

impl Netns {
    /// Creates a uniquely named namespace; `role` (e.g. `client`) is part of the name for readers.
    pub fn new(role: &str) -> Result<Self> {
        SWEEP.call_once(|| {
            if let Err(e) = sweep_stale() {
                eprintln!("testbed: could not sweep stale namespaces: {e}");
            }
        });
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}{}-{}-{n}-{role}", std::process::id(), run_id()?);
        ip(&format!("netns add {name}"))?;
        let ns = Netns {
            name,
            children: Mutex::new(Vec::new()),
        };
        ns.ip("link set lo up")?;
        Ok(ns)
    }

    /// The namespace's name, as `ip netns` shows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Path of the namespace's bind mount.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(NETNS_DIR).join(&self.name)
    }

    /// Runs `ip -n <ns> args...` and returns its stdout.
    pub fn ip(&self, args: &str) -> Result<String> {
        ip(&format!("-n {} {args}", self.name))
    }

    /// Runs a command inside the namespace to completion and returns its stdout.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<String> {
        let mut full = vec!["netns", "exec", &self.name, program];
        full.extend_from_slice(args);
        crate::cmd::run("ip", full)
    }

    /// Builds a [`Command`] that runs `program` inside the namespace (through `ip netns exec`,
    /// which also remounts `/sys` so that `/sys/class/net` shows this namespace's links).
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }

    /// Starts `command` (from [`Netns::command`]) as a child that is killed with its whole
    /// process group when the returned guard or this namespace is dropped.
    pub fn spawn(&self, command: &mut Command) -> Result<NsChild> {
        use std::os::unix::process::CommandExt;
        command.process_group(0).stdin(Stdio::null());
        let child = command
            .spawn()
            .map_err(|e| Error::io(format!("spawn {command:?} in {}", self.name), e))?;
        self.lock_children().push(child.id());
        Ok(NsChild { child: Some(child) })
    }

    /// Runs `f` on a thread that has entered this namespace and returns its result. Sockets that
    /// `f` creates belong to the namespace and keep working after `f` returns, from any thread.
    /// A panic in `f` is re-raised here with its original message.
    pub fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send,
        F: FnOnce() -> T + Send,
    {
        let file =
            File::open(self.path()).map_err(|e| Error::io(format!("open {:?}", self.path()), e))?;
        std::thread::scope(|scope| {
            let handle = scope.spawn(move || -> Result<T> {
                setns(file.as_fd(), CloneFlags::CLONE_NEWNET)
                    .map_err(|e| Error::io(format!("setns into {}", self.name), e.into()))?;
                Ok(f())
            });
            match handle.join() {
                Ok(result) => result,
                Err(payload) => std::panic::resume_unwind(payload),
            }
        })
    }

    fn lock_children(&self) -> std::sync::MutexGuard<'_, Vec<u32>> {
        // A poisoned lock only means another thread panicked while pushing a pid; the list is
        // still valid and cleanup must go on.
        self.children
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for pid in self.lock_children().drain(..) {
            kill_group(pid);
            // Reap it if its NsChild guard is gone or outlives us, so no zombie keeps the pid.
            // ECHILD (already reaped by the guard) is fine.
            let _ = nix::sys::wait::waitpid(Pid::from_raw(pid as i32), None);
        }
        if let Err(e) = delete(&self.name) {
            eprintln!("testbed: {e}");
        }
    }
}

/// A process started inside a namespace; dropping it kills its process group and reaps it.
#[derive(Debug)]
pub struct NsChild {
    child: Option<Child>,
}

impl NsChild {
    /// The process id (also its process group id).
    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Mutable access to the underlying child (to read its pipes or wait for it).
    pub fn child_mut(&mut self) -> &mut Child {
        self.child
            .as_mut()
            .expect("NsChild holds its child until dropped")
    }

    /// Sends `signal` to the process group and waits up to `timeout` for the child to exit.
    pub fn stop(mut self, signal: Signal, timeout: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = killpg(Pid::from_raw(child.id() as i32), signal);
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        kill_group(child.id());
        child.wait().ok()
    }
}

impl Drop for NsChild {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(child.id());
            let _ = child.wait();
        }
    }
}

fn kill_group(pid: u32) {
    // ESRCH (already gone) is the common, harmless case.
    let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
}

fn delete(name: &str) -> Result<()> {
    // Processes that still hold the namespace make `ip netns del` succeed but keep the namespace
    // alive; the children were killed above, so retry briefly if the kernel is still tearing down.
    let mut last = Ok(String::new());
    for _ in 0..20 {
        last = ip(&format!("netns del {name}"));
        if last.is_ok() || !PathBuf::from(NETNS_DIR).join(name).exists() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    last.map(|_| ())
}

/// Names of the test bed's namespaces that currently exist.
pub fn list() -> Result<Vec<String>> {
    let out = ip("netns list")?;
    Ok(out
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with(PREFIX))
        .map(str::to_owned)
        .collect())
}

/// Whether `id` can be a run id: a lowercase letter, then up to 31 lowercase letters or digits
/// (so it cannot be mistaken for the counter of names from before run ids,
/// `oxt-<pid>-<n>-<role>`).
pub fn valid_run_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && id.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// This process's run id: `OXIDIZE_RUN_ID` when set, else `u<pid>` (a run of its own).
pub fn run_id() -> Result<&'static str> {
    static ID: OnceLock<std::result::Result<String, String>> = OnceLock::new();
    let id = ID.get_or_init(|| match std::env::var(RUN_ID_ENV) {
        Ok(id) if valid_run_id(&id) => Ok(id),
        Ok(id) => Err(format!(
            "{RUN_ID_ENV}={id:?} is not a run id: use a lowercase letter, then up to 31 \
             lowercase letters or digits"
        )),
        Err(_) => Ok(format!("u{}", std::process::id())),
    });
    id.as_deref().map_err(|e| Error::Config(e.clone()))
}

/// Names of the test bed's namespaces that exist and belong to test run `run`.
pub fn list_run(run: &str) -> Result<Vec<String>> {
    Ok(list()?
        .into_iter()
        .filter(|name| Owner::of(name).is_some_and(|o| o.run.as_deref() == Some(run)))
        .collect())
}

/// Who made a test-bed namespace, read from its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The process that created it.
    pub pid: Option<u32>,
    /// The run id (`None` for names from before run ids: `oxt-<pid>-<n>-<role>`).
    pub run: Option<String>,
}

impl Owner {
    /// Reads the owner from a namespace name (`oxt-<pid>-<run>-<n>-<role>`, or the older
    /// `oxt-<pid>-<n>-<role>`); `None` if it is not a test-bed name.
    pub fn of(name: &str) -> Option<Owner> {
        let mut fields = name.strip_prefix(PREFIX)?.split('-');
        let pid = fields.next()?.parse().ok();
        let run = fields
            .next()
            .filter(|f| f.starts_with(|c: char| c.is_ascii_lowercase()))
            .map(str::to_owned);
        Some(Owner { pid, run })
    }

    /// Whether the creating process still runs.
    pub fn alive(&self) -> bool {
        self.pid
            .is_some_and(|pid| pid != 0 && PathBuf::from(format!("/proc/{pid}")).exists())
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.run {
            Some(run) => write!(f, "test run {run}")?,
            None => write!(f, "a test run from before run ids")?,
        }
        match self.pid {
            Some(pid) => write!(f, ", pid {pid}"),
            None => write!(f, ", no pid"),
        }
    }
}

/// Deletes test-bed namespaces whose creating process no longer runs (it was killed before its
/// guards ran), of any run; namespaces of live processes (another run going on) stay. Returns
/// the names removed with their owners.
pub fn sweep_stale() -> Result<Vec<(String, Owner)>> {
    let mut removed = Vec::new();
    for name in list()? {
        let Some(owner) = Owner::of(&name) else {
            continue;
        };
        if !owner.alive() {
            delete(&name)?;
            removed.push((name, owner));
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_is_read_from_both_name_formats() {
        assert_eq!(
            Owner::of("oxt-4242-r0102p77-3-client"),
            Some(Owner {
                pid: Some(4242),
                run: Some("r0102p77".into()),
            })
        );
        assert_eq!(
            Owner::of("oxt-4242-3-q-a"),
            Some(Owner {
                pid: Some(4242),
                run: None,
            })
        );
        assert_eq!(Owner::of("other-4242-3-client"), None);
        let text = Owner::of("oxt-7-r1-0-x").expect("owner").to_string();
        assert_eq!(text, "test run r1, pid 7");
    }

    #[test]
    fn run_ids_start_with_a_letter() {
        assert!(valid_run_id("r0102p77"));
        assert!(valid_run_id("u1"));
        assert!(!valid_run_id("1234"), "would read as a pid");
        assert!(!valid_run_id(""));
        assert!(!valid_run_id("a-b"), "the dash separates the fields");
        assert!(!valid_run_id("Run1"));
        assert!(!valid_run_id(&"r".repeat(33)));
    }

    #[test]
    fn pid_zero_or_missing_is_never_alive() {
        for owner in [
            Owner {
                pid: Some(0),
                run: None,
            },
            Owner {
                pid: None,
                run: Some("r".into()),
            },
        ] {
            assert!(!owner.alive(), "{owner}");
        }
        let me = Owner {
            pid: Some(std::process::id()),
            run: None,
        };
        assert!(me.alive());
    }
}
