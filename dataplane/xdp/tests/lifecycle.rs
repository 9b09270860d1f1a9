//! Root tests of the edges around the data path: SIGKILL detaches the program, attach refusals
//! and preflight failures say what is wrong, netlink reads queues and neighbours.

mod common;

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{parse_mac, CLIENT_IF, PORT, RELAY_IF};
use nix::sys::signal::Signal;
use oxidize_testbed::link::{self, End};
use oxidize_testbed::Netns;
use oxidize_xdp::neigh::{NextHops, Source};
use oxidize_xdp::{
    netlink, preflight, AttachMode, Error, XdpProgram, XskConfig, XskQueue, ZeroCopy,
};

fn pair(queues: u32) -> (Netns, Netns) {
    let client = Netns::new("lcc").expect("netns");
    let relay = Netns::new("lcr").expect("netns");
    link::veth_pair(
        End {
            ns: &client,
            name: CLIENT_IF,
        },
        End {
            ns: &relay,
            name: RELAY_IF,
        },
        queues,
    )
    .expect("veth");
    link::add_addr(&client, CLIENT_IF, "10.77.0.1/24").expect("addr");
    link::add_addr(&relay, RELAY_IF, "10.77.0.2/24").expect("addr");
    (client, relay)
}

fn xdp_attached(ns: &Netns) -> bool {
    ns.ip(&format!("link show dev {RELAY_IF}"))
        .expect("ip link show")
        .contains("prog/xdp")
}

#[test]
fn root_sigkill_leaves_no_xdp_program_attached() {
    if !oxidize_testbed::require_root("root_sigkill_leaves_no_xdp_program_attached") {
        return;
    }
    let (client, relay) = pair(2);
    let mut command = relay.command(env!("CARGO_BIN_EXE_xdp-echo"));
    command
        .args([RELAY_IF, "2", &PORT.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = relay.spawn(&mut command).expect("spawn xdp-echo");
    let stdout = child.child_mut().stdout.take().expect("stdout pipe");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read ready line");
    assert_eq!(line.trim(), "ready", "xdp-echo did not start");
    assert!(
        xdp_attached(&relay),
        "program attached while the process runs"
    );
    // It serves: one echo from the client namespace.
    let sock = client
        .run(|| std::net::UdpSocket::bind("10.77.0.1:0").expect("bind"))
        .expect("netns");
    sock.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    sock.send_to(b"ping", ("10.77.0.2", PORT)).expect("send");
    let mut buf = [0u8; 16];
    let (n, _) = sock.recv_from(&mut buf).expect("echo from xdp-echo");
    assert_eq!(&buf[..n], b"ping");

    let status = child.stop(Signal::SIGKILL, Duration::from_secs(5));
    assert!(status.is_some(), "xdp-echo was reaped");
    let deadline = Instant::now() + Duration::from_secs(5);
    while xdp_attached(&relay) {
        assert!(
            Instant::now() < deadline,
            "XDP program still attached 5 s after SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn root_attach_refusals_and_preflight_say_what_is_wrong() {
    if !oxidize_testbed::require_root("root_attach_refusals_and_preflight_say_what_is_wrong") {
        return;
    }
    let (_client, relay) = pair(2);
    relay
        .run(|| {
            let missing = XdpProgram::load_and_attach("nope0", &[PORT], AttachMode::Native);
            assert!(
                matches!(missing, Err(Error::InterfaceNotFound(_))),
                "{missing:?}"
            );

            let first = XdpProgram::load_and_attach(RELAY_IF, &[PORT], AttachMode::Native)
                .expect("first attach");
            assert_eq!(first.attached().map(|a| a.2), Some(AttachMode::Native));
            let second = XdpProgram::load_and_attach(RELAY_IF, &[PORT], AttachMode::Native)
                .expect_err("second attach is refused");
            let text = second.to_string();
            assert!(text.contains("already attached"), "{text}");
            drop(first);

            let generic = XdpProgram::load_and_attach(RELAY_IF, &[PORT], AttachMode::Generic)
                .expect("generic attach when asked for");
            drop(generic);

            let too_many = preflight::check(&preflight::Request {
                ifname: RELAY_IF,
                queues: 4,
                umem_bytes: 1 << 20,
            })
            .expect_err("4 queues on a 2-queue veth");
            assert!(
                too_many.to_string().contains("has 2 RX queues but 4"),
                "{too_many}"
            );
            let ok = preflight::check(&preflight::Request {
                ifname: RELAY_IF,
                queues: 2,
                umem_bytes: 1 << 20,
            })
            .expect("preflight passes");
            assert_eq!(ok.driver.as_deref(), Some("veth"));
            let gone = preflight::check(&preflight::Request {
                ifname: "nope0",
                queues: 1,
                umem_bytes: 0,
            })
            .expect_err("missing interface");
            assert!(gone.to_string().contains("`nope0` not found"), "{gone}");

            let zc = XskQueue::open(
                RELAY_IF,
                0,
                &XskConfig {
                    zero_copy: ZeroCopy::Required,
                    ..common::small_config()
                },
            )
            .expect_err("veth has no zero-copy AF_XDP");
            let text = zc.to_string();
            assert!(text.contains("driver `veth`"), "{text}");
        })
        .expect("netns");
}

#[test]
fn root_netlink_reads_queues_and_neighbours() {
    if !oxidize_testbed::require_root("root_netlink_reads_queues_and_neighbours") {
        return;
    }
    let (_client, relay) = pair(3);
    relay
        .ip(&format!(
            "neigh add 10.77.0.9 lladdr 02:00:00:00:00:09 dev {RELAY_IF} nud permanent"
        ))
        .expect("add neighbour");
    let mac = parse_mac(&link::mac(&relay, RELAY_IF).expect("mac"));
    relay
        .run(|| {
            let info = netlink::link_info(RELAY_IF).expect("link info");
            assert_eq!((info.rx_queues, info.tx_queues), (3, 3));
            assert_eq!(info.mac, mac.to_vec());
            assert_eq!(info.name, RELAY_IF);
            let hops = NextHops::new(info.ifindex);
            let ip: IpAddr = "10.77.0.9".parse().expect("ip");
            assert_eq!(
                hops.resolve(ip).expect("netlink dump"),
                Some(([2, 0, 0, 0, 0, 9], Source::Kernel))
            );
            let unknown: IpAddr = "10.77.0.99".parse().expect("ip");
            assert_eq!(hops.resolve(unknown).expect("netlink dump"), None);
        })
        .expect("netns");
}

/// Free 2 MiB hugepages according to `/proc/meminfo`.
fn free_hugepages() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .expect("read /proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("HugePages_Free:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn root_umem_uses_hugepages_or_falls_back_and_counts_it() {
    if !oxidize_testbed::require_root("root_umem_uses_hugepages_or_falls_back_and_counts_it") {
        return;
    }
    let (_client, relay) = pair(1);
    // 512 frames of 2 KiB = 1 MiB: one 2 MiB page is enough when the machine has one free.
    let had_free = free_hugepages() > 0;
    let before = oxidize_xdp::umem::hugepage_fallbacks();
    let usage = relay
        .run(|| {
            let config = XskConfig {
                hugepages: true,
                ..common::small_config()
            };
            XskQueue::open(RELAY_IF, 0, &config)
                .expect("socket")
                .umem_usage()
        })
        .expect("netns");
    let fell_back = oxidize_xdp::umem::hugepage_fallbacks() - before;
    eprintln!(
        "free hugepages before: {had_free}; UMEM on hugepages: {}",
        usage.hugepages
    );
    if usage.hugepages {
        assert_eq!(fell_back, 0);
    } else {
        assert!(
            !had_free,
            "hugepages were free but the UMEM did not use them"
        );
        assert!(fell_back >= 1, "a fallback to normal pages is counted");
    }
}
