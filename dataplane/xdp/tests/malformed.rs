//! Root test: malformed frames that the XDP program redirects (relay port, broken lengths) reach
//! the echo worker, which counts and releases them without crashing, and keeps serving.

mod common;

use common::{parse_mac, Bed, CLIENT_IF, RELAY_IF};
use oxidize_testbed::link;
use oxidize_xdp::frame::{Ecn, UdpHeaders};
use oxidize_xdp::stats::XdpCounter;

fn valid(bed: &Bed, v6: bool) -> Vec<u8> {
    let src_mac = parse_mac(&link::mac(&bed.client, CLIENT_IF).expect("mac"));
    let dst_mac = parse_mac(&link::mac(&bed.relay, RELAY_IF).expect("mac"));
    let (src, dst) = if v6 {
        ("[fd77::1]:5555", "[fd77::2]:4433")
    } else {
        ("10.77.0.1:5555", "10.77.0.2:4433")
    };
    let h = UdpHeaders {
        src_mac,
        dst_mac,
        vlan: None,
        src: src.parse().expect("addr"),
        dst: dst.parse().expect("addr"),
        ecn: Ecn::NotEct,
        hop_limit: 64,
    };
    let mut buf = vec![0u8; 1600];
    let n = h.write(&mut buf, b"malformed on purpose").expect("build");
    buf.truncate(n);
    buf
}

#[test]
fn root_malformed_frames_are_counted_and_do_not_crash_the_worker() {
    if !oxidize_testbed::require_root(
        "root_malformed_frames_are_counted_and_do_not_crash_the_worker",
    ) {
        return;
    }
    let bed = Bed::new(1, common::small_config());
    let v4 = valid(&bed, false);
    let v6 = valid(&bed, true);
    let mut frames = Vec::new();
    // UDP length beyond the IP payload.
    let mut f = v4.clone();
    f[38..40].copy_from_slice(&2000u16.to_be_bytes());
    frames.push(f);
    // UDP length below the UDP header.
    let mut f = v4.clone();
    f[38..40].copy_from_slice(&3u16.to_be_bytes());
    frames.push(f);
    // IPv4 total length beyond the frame.
    let mut f = v4.clone();
    f[16..18].copy_from_slice(&1400u16.to_be_bytes());
    frames.push(f);
    // IPv6 payload length beyond the frame.
    let mut f = v6.clone();
    f[18..20].copy_from_slice(&1400u16.to_be_bytes());
    frames.push(f);
    // Cut inside the UDP header is passed by XDP (malformed), not redirected: not sent here.
    let per_kind = 50;
    let all: Vec<Vec<u8>> = frames
        .iter()
        .flat_map(|f| std::iter::repeat_n(f.clone(), per_kind))
        .collect();
    let before = bed.program.counters().expect("counters");
    common::send_raw(&bed.client, CLIENT_IF, &all);
    // The worker still serves a normal client afterwards.
    let sock = bed.client_sockets(false, 1).remove(0);
    let to = Bed::relay_addr(false);
    sock.send_to(b"still alive", to).expect("send");
    let mut buf = [0u8; 64];
    let (n, _) = sock
        .recv_from(&mut buf)
        .expect("echo after malformed frames");
    assert_eq!(&buf[..n], b"still alive");
    let delta = bed.program.counters().expect("counters").delta(&before);
    let ends = bed.stop();
    let end = ends[0];
    eprintln!("XDP counter delta {delta:?}, worker {:?}", end.report);
    assert_eq!(
        delta[XdpCounter::Redirected as usize],
        (frames.len() * per_kind + 1) as u64,
        "every crafted frame reached the socket"
    );
    assert_eq!(end.report.malformed, (frames.len() * per_kind) as u64);
    assert_eq!(end.stats.released, end.report.malformed);
    assert_eq!(end.report.echoed, 1);
    assert_eq!(end.usage_end.in_use(), 0);
}
