//! `xdp-echo IFNAME QUEUES PORT [generic]`: serves a UDP echo on `PORT` through the AF_XDP layer,
//! one worker thread per queue, until killed. Prints `ready` on stdout once the program is
//! attached and every socket is registered. Used by the kill test and as a manual tool.

use std::io::Write;
use std::sync::atomic::AtomicBool;

use anyhow::{bail, Context, Result};
use oxidize_xdp::echo::EchoWorker;
use oxidize_xdp::{preflight, AttachMode, XdpProgram, XskConfig, XskQueue};

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [ifname, queues, port, rest @ ..] = args.as_slice() else {
        bail!("usage: xdp-echo IFNAME QUEUES PORT [generic]");
    };
    let queues: u32 = queues.parse().context("QUEUES must be a number")?;
    let port: u16 = port.parse().context("PORT must be a port number")?;
    let mode = match rest.first().map(String::as_str) {
        Some("generic") => AttachMode::Generic,
        None | Some("native") => AttachMode::Native,
        Some(other) => bail!("unknown attach mode `{other}` (native or generic)"),
    };
    let config = XskConfig::default();
    preflight::check(&preflight::Request {
        ifname,
        queues,
        umem_bytes: config.umem_bytes() * u64::from(queues),
    })?;
    let program = XdpProgram::load_and_attach(ifname, &[port], mode)?;
    let mut sockets = Vec::new();
    for q in 0..queues {
        let socket = XskQueue::open(ifname, q, &config)?;
        program.register(q, socket.fd())?;
        sockets.push(socket);
    }
    println!("ready");
    std::io::stdout().flush()?;
    static STOP: AtomicBool = AtomicBool::new(false);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers: Vec<_> = sockets
        .into_iter()
        .map(|mut socket| {
            std::thread::spawn(move || {
                // One worker per core: queue k on CPU k (modulo the CPUs there are).
                let cpu = socket.queue() as usize % cpus;
                if let Err(e) = oxidize_xdp::syscall::pin_current_thread(cpu) {
                    tracing::warn!(cpu, error = %e, "could not pin the worker");
                }
                EchoWorker::new().run(&mut socket, &STOP, 100)
            })
        })
        .collect();
    for worker in workers {
        match worker.join() {
            Ok(result) => {
                result?;
            }
            Err(_) => bail!("an echo worker panicked"),
        }
    }
    Ok(())
}
