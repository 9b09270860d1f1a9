//! Network namespace guards.
//!
//! [`Netns::new`] creates `/var/run/netns/oxt-<pid>-<n>-<role>` with `ip netns add` and brings its
//! loopback up; dropping the guard kills the processes it started and deletes the namespace, which
//! also deletes every link inside it (a veth pair dies with either end). The pid in the name lets
//! [`sweep_stale`] remove namespaces whose test process was killed before its guards could run.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::cmd::ip;
use crate::{Error, Result};

/// Prefix of every namespace the test bed creates.
pub const PREFIX: &str = "oxt-";
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
        let name = format!("{PREFIX}{}-{n}-{role}", std::process::id());
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

/// Deletes test-bed namespaces whose creating process no longer runs (it was killed before its
/// guards ran). Returns the names removed.
pub fn sweep_stale() -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for name in list()? {
        let owner = name[PREFIX.len()..]
            .split('-')
            .next()
            .and_then(|pid| pid.parse::<u32>().ok());
        let alive = owner.is_some_and(|pid| PathBuf::from(format!("/proc/{pid}")).exists());
        if !alive {
            delete(&name)?;
            removed.push(name);
        }
    }
    Ok(removed)
}
