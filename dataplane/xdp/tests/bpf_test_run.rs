//! The XDP program on crafted packets through `BPF_PROG_TEST_RUN` (no traffic): each frame gives
//! the expected verdict and bumps the expected counter, and the Rust mirror
//! (`oxidize_xdp::classify`) agrees with the program on crafted and random frames.
//!
//! Root tests: loading BPF needs CAP_BPF. A veth in a test namespace provides an AF_XDP socket
//! for the XSKMAP slot, so that the redirect verdict is real.

mod common;

use oxidize_testbed::link::{self, End};
use oxidize_testbed::Netns;
use oxidize_xdp::classify::{classify, Verdict};
use oxidize_xdp::frame::testing;
use oxidize_xdp::stats::XdpCounter;
use oxidize_xdp::{XdpProgram, XskQueue};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const PORT: u16 = 4433;

/// (name, frame, (ifindex, rx queue), expected action, expected counter).
type Case = (&'static str, Vec<u8>, (u32, u32), u32, XdpCounter);
const XDP_PASS: u32 = 2;
const XDP_REDIRECT: u32 = 4;

/// Runs `frame` once and returns (verdict, the one counter that moved).
fn run(program: &XdpProgram, frame: &[u8], ingress: (u32, u32)) -> (u32, XdpCounter) {
    let before = program.counters().expect("counters");
    let out = program.test_run(frame, Some(ingress)).expect("test run");
    let delta = program.counters().expect("counters").delta(&before);
    let moved: Vec<XdpCounter> = XdpCounter::ALL
        .into_iter()
        .filter(|c| delta[*c as usize] != 0)
        .collect();
    assert_eq!(
        moved.len(),
        1,
        "exactly one counter moves per packet: {delta:?}"
    );
    assert_eq!(delta[moved[0] as usize], 1);
    (out.retval, moved[0])
}

/// A namespace with a 2-queue veth and an AF_XDP socket registered on queue 0 only.
fn with_socket<T: Send>(f: impl FnOnce(&XdpProgram, u32) -> T + Send) -> T {
    let a = Netns::new("bpfa").expect("netns");
    let b = Netns::new("bpfb").expect("netns");
    link::veth_pair(
        End {
            ns: &a,
            name: "tr0",
        },
        End {
            ns: &b,
            name: "tp0",
        },
        2,
    )
    .expect("veth");
    a.run(|| {
        let program = XdpProgram::load(&[PORT, 8443]).expect("load XDP program");
        let ifindex = oxidize_xdp::syscall::if_nametoindex("tr0").expect("ifindex");
        let queue = XskQueue::open("tr0", 0, &common::small_config()).expect("AF_XDP socket");
        program.register(0, queue.fd()).expect("register");
        let result = f(&program, ifindex);
        drop(queue);
        result
    })
    .expect("enter netns")
}

#[test]
fn root_bpf_crafted_packets_give_expected_verdicts_and_counters() {
    if !oxidize_testbed::require_root(
        "root_bpf_crafted_packets_give_expected_verdicts_and_counters",
    ) {
        return;
    }
    with_socket(|program, ifindex| {
        let q0 = (ifindex, 0);
        let q1 = (ifindex, 1); // no socket registered on queue 1
        let cases: Vec<Case> = vec![
            (
                "udp4 relay port",
                testing::udp4(b"hi", PORT),
                q0,
                XDP_REDIRECT,
                XdpCounter::Redirected,
            ),
            (
                "udp4 second relay port",
                testing::udp4(b"hi", 8443),
                q0,
                XDP_REDIRECT,
                XdpCounter::Redirected,
            ),
            (
                "udp4 relay port, empty slot",
                testing::udp4(b"hi", PORT),
                q1,
                XDP_PASS,
                XdpCounter::PassNoSocket,
            ),
            (
                "udp4 other port",
                testing::udp4(b"hi", 53),
                q0,
                XDP_PASS,
                XdpCounter::PassOtherPort,
            ),
            (
                "tcp4 relay port",
                testing::tcp4(PORT),
                q0,
                XDP_PASS,
                XdpCounter::PassNotUdp,
            ),
            ("arp", testing::arp(), q0, XDP_PASS, XdpCounter::PassNotIp),
            (
                "vlan udp4 relay port",
                testing::udp4_vlan(b"v", PORT),
                q0,
                XDP_REDIRECT,
                XdpCounter::Redirected,
            ),
            (
                "vlan udp4 other port",
                testing::udp4_vlan(b"v", 22),
                q0,
                XDP_PASS,
                XdpCounter::PassOtherPort,
            ),
            (
                "udp4 with IP options",
                testing::udp4_options(b"o", PORT),
                q0,
                XDP_REDIRECT,
                XdpCounter::Redirected,
            ),
            (
                "udp4 fragment",
                testing::udp4_fragment(b"f", PORT),
                q0,
                XDP_PASS,
                XdpCounter::PassFragment,
            ),
            (
                "udp6 relay port",
                testing::udp6(b"six", PORT),
                q0,
                XDP_REDIRECT,
                XdpCounter::Redirected,
            ),
            (
                "udp6 other port",
                testing::udp6(b"six", 53),
                q0,
                XDP_PASS,
                XdpCounter::PassOtherPort,
            ),
            (
                "udp6 behind destination options",
                testing::udp6_ext(b"e", PORT, 60),
                q0,
                XDP_REDIRECT,
                XdpCounter::Redirected,
            ),
            (
                "udp6 behind hop-by-hop",
                testing::udp6_ext(b"e", PORT, 0),
                q0,
                XDP_REDIRECT,
                XdpCounter::Redirected,
            ),
            (
                "udp6 behind routing header",
                testing::udp6_ext(b"e", PORT, 43),
                q0,
                XDP_REDIRECT,
                XdpCounter::Redirected,
            ),
            (
                "udp6 fragment header",
                testing::udp6_ext(b"e", PORT, 44),
                q0,
                XDP_PASS,
                XdpCounter::PassFragment,
            ),
            (
                "udp6 behind AH",
                testing::udp6_ext(b"e", PORT, 51),
                q0,
                XDP_PASS,
                XdpCounter::PassIpv6Ext,
            ),
        ];
        for (name, frame, ingress, verdict, counter) in cases {
            let queue_before = program.queue_counters(ingress.1).expect("queue counters");
            let got = run(program, &frame, ingress);
            let queue_after = program.queue_counters(ingress.1).expect("queue counters");
            assert_eq!(
                queue_after[counter as usize],
                queue_before[counter as usize] + 1,
                "{name}: per-queue counter of queue {}",
                ingress.1
            );
            assert_eq!(got, (verdict, counter), "{name}");
            let mirror = classify(&frame, &[PORT, 8443]).counter(ingress.1 == 0);
            assert_eq!(mirror, counter, "{name}: the Rust mirror disagrees");
        }
    });
}

#[test]
fn root_bpf_truncated_frames_are_passed_and_counted_malformed() {
    if !oxidize_testbed::require_root("root_bpf_truncated_frames_are_passed_and_counted_malformed")
    {
        return;
    }
    with_socket(|program, ifindex| {
        let frames = [
            testing::udp4(b"", PORT),
            testing::udp4_vlan(b"", PORT),
            testing::udp6(b"", PORT),
            testing::udp6_ext(b"", PORT, 60),
        ];
        for frame in frames {
            // The kernel refuses test runs below an Ethernet header; from there on, every prefix
            // that ends inside a header is malformed.
            for len in 14..frame.len() {
                let got = run(program, &frame[..len], (ifindex, 0));
                assert_eq!(
                    got,
                    (XDP_PASS, XdpCounter::ErrMalformed),
                    "prefix of {len} bytes"
                );
            }
        }
    });
}

#[test]
fn root_bpf_program_and_rust_mirror_agree_on_random_frames() {
    if !oxidize_testbed::require_root("root_bpf_program_and_rust_mirror_agree_on_random_frames") {
        return;
    }
    with_socket(|program, ifindex| {
        let seeds = prop_oneof![
            Just(testing::udp4(b"payload", PORT)),
            Just(testing::udp6(b"payload", PORT)),
            Just(testing::udp4_vlan(b"payload", PORT)),
            Just(testing::udp4_options(b"payload", PORT)),
            Just(testing::udp6_ext(b"payload", PORT, 0)),
            Just(testing::tcp4(PORT)),
            Just(testing::arp()),
        ];
        // Mutate a few bytes of the headers and maybe truncate; half of the edits hit the bytes
        // that decisions are made on (ethertypes, version/IHL, fragment bits, protocol, next
        // headers and lengths, UDP ports, with and without a VLAN tag).
        let decision_bytes: Vec<usize> = vec![
            12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 34, 35, 36, 37, 38, 39,
            40, 41, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
        ];
        let offset = prop_oneof![0usize..80, proptest::sample::select(decision_bytes)];
        let strategy = (
            seeds,
            proptest::collection::vec((offset, any::<u8>()), 0..4),
            0usize..100,
        );
        let mut runner = TestRunner::new(Config {
            cases: 5000,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&strategy, |(mut frame, edits, cut)| {
                for (at, byte) in edits {
                    if at < frame.len() {
                        frame[at] = byte;
                    }
                }
                let keep = frame.len().saturating_sub(cut % 8).max(14);
                frame.truncate(keep);
                let (retval, counter) = run(program, &frame, (ifindex, 0));
                let mirror = classify(&frame, &[PORT, 8443]);
                prop_assert_eq!(counter, mirror.counter(true), "frame {:02x?}", frame);
                let expect = if mirror == Verdict::Redirect {
                    XDP_REDIRECT
                } else {
                    XDP_PASS
                };
                prop_assert_eq!(retval, expect);
                Ok(())
            })
            .expect("program and mirror agree");
    });
}
