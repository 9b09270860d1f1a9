//! Packet I/O on one AF_XDP queue: parse received frames, frame replies towards the MAC the
//! peer's packet came from (the kernel neighbour table otherwise), send in batches.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use oxidize_xdp::frame::{parse, UdpHeaders, DEFAULT_HOP_LIMIT};
use oxidize_xdp::neigh::NextHops;
use oxidize_xdp::{Frame, XskQueue};
use quinn_proto::EcnCodepoint;

use super::io::{ecn_from_quinn, ecn_to_quinn, PacketIo, PeerPath, Received, BATCH};
use super::state::IoStats;

/// One worker's AF_XDP queue with its next-hop table.
#[derive(Debug)]
pub struct XdpIo {
    queue: XskQueue,
    rx: Vec<Frame>,
    tx: Vec<Frame>,
    paths: HashMap<IpAddr, PeerPath>,
    neigh: NextHops,
    if_mac: [u8; 6],
    default_local: Option<SocketAddr>,
    /// Destinations the kernel could not resolve, and when we last asked (asked again after
    /// [`RESOLVE_RETRY`], so that a stream of sends to them costs no netlink dump each).
    unresolved: HashMap<IpAddr, Instant>,
    stats: IoStats,
}

/// How long a failed neighbour lookup is remembered.
/// Most peer paths remembered per worker before the table is cleared (bounds memory under a flood
/// of spoofed sources; real peers are learned again from their next frame).
const MAX_PATHS: usize = 65_536;
/// Most failed neighbour lookups remembered per worker before that table is cleared.
const MAX_UNRESOLVED: usize = 4096;

const RESOLVE_RETRY: Duration = Duration::from_secs(1);

impl XdpIo {
    /// Wraps an open, registered queue of the link `ifindex` whose MAC is `if_mac`.
    pub fn new(queue: XskQueue, ifindex: u32, if_mac: [u8; 6]) -> Self {
        XdpIo {
            queue,
            rx: Vec::with_capacity(BATCH),
            tx: Vec::with_capacity(BATCH),
            paths: HashMap::new(),
            neigh: NextHops::new(ifindex),
            if_mac,
            default_local: None,
            unresolved: HashMap::new(),
            stats: IoStats::default(),
        }
    }

    /// The queue's own counters.
    pub fn queue_stats(&self) -> oxidize_xdp::QueueStats {
        self.queue.stats()
    }

    /// The path for a destination never heard from: the kernel's neighbour table (a netlink
    /// dump: rare, and cached).
    fn resolve(&mut self, ip: IpAddr) -> Option<PeerPath> {
        let local = self.default_local?;
        let now = Instant::now();
        if self
            .unresolved
            .get(&ip)
            .is_some_and(|at| now.duration_since(*at) < RESOLVE_RETRY)
        {
            return None;
        }
        let Some((mac, _)) = self.neigh.resolve(ip).ok().flatten() else {
            if self.unresolved.len() > MAX_UNRESOLVED {
                self.unresolved.clear();
            }
            self.unresolved.insert(ip, now);
            return None;
        };
        self.unresolved.remove(&ip);
        let path = PeerPath {
            our_mac: self.if_mac,
            peer_mac: mac,
            vlan: None,
            local,
        };
        self.paths.insert(ip, path);
        Some(path)
    }
}

impl PacketIo for XdpIo {
    fn recv_batch(&mut self, each: &mut dyn FnMut(Received<'_>)) -> std::io::Result<usize> {
        let n = self
            .queue
            .rx_batch(&mut self.rx, BATCH)
            .map_err(std::io::Error::other)?;
        for frame in self.rx.drain(..) {
            let data = self.queue.data(&frame);
            let data = &data[..frame.len().min(data.len())];
            match parse(data) {
                Ok(p) => {
                    let path = PeerPath {
                        our_mac: p.dst_mac,
                        peer_mac: p.src_mac,
                        vlan: p.vlan,
                        local: p.dst,
                    };
                    if self.paths.get(&p.src.ip()) != Some(&path) {
                        // Learned before the core has judged the packet, so spoofed sources
                        // could grow the map without end: bound it like `unresolved`. A cleared
                        // path is learned again from the peer's next frame.
                        if self.paths.len() >= MAX_PATHS {
                            self.paths.clear();
                        }
                        self.paths.insert(p.src.ip(), path);
                    }
                    self.default_local.get_or_insert(p.dst);
                    self.stats.rx_packets += 1;
                    self.stats.rx_bytes += p.payload.len() as u64;
                    each(Received {
                        remote: p.src,
                        ecn: ecn_to_quinn(p.ecn),
                        payload: p.payload,
                        path: Some(path),
                    });
                }
                Err(e) => {
                    tracing::trace!(error = %e, "relay: frame is not UDP, released");
                    self.stats.rx_malformed += 1;
                }
            }
            self.queue.release(frame);
        }
        Ok(n)
    }

    fn send(&mut self, dst: SocketAddr, ecn: Option<EcnCodepoint>, payload: &[u8]) {
        let path = match self.paths.get(&dst.ip()) {
            Some(p) => *p,
            None => match self.resolve(dst.ip()) {
                Some(p) => p,
                None => {
                    self.stats.tx_no_route += 1;
                    return;
                }
            },
        };
        let Some(mut frame) = self.queue.alloc() else {
            self.stats.tx_no_frame += 1;
            return;
        };
        let headers = UdpHeaders {
            src_mac: path.our_mac,
            dst_mac: path.peer_mac,
            vlan: path.vlan,
            src: path.local,
            dst,
            ecn: ecn_from_quinn(ecn),
            hop_limit: DEFAULT_HOP_LIMIT,
        };
        match self
            .queue
            .write(&mut frame, |buf| headers.write(buf, payload))
        {
            Ok(_) => {
                self.stats.tx_packets += 1;
                self.stats.tx_bytes += payload.len() as u64;
                self.tx.push(frame);
                if self.tx.len() >= BATCH {
                    if let Err(e) = self.flush() {
                        tracing::debug!(error = %e, "relay: AF_XDP send failed");
                    }
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "relay: cannot frame a datagram");
                self.stats.tx_error += 1;
                self.queue.release(frame);
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let mut stalls = 0;
        while !self.tx.is_empty() {
            let sent = self
                .queue
                .tx_batch(&mut self.tx)
                .map_err(std::io::Error::other)?;
            if sent == 0 {
                // TX ring full: let the kernel complete some, a few times, then drop.
                stalls += 1;
                if stalls > 10 {
                    for frame in self.tx.drain(..) {
                        self.stats.tx_error += 1;
                        self.queue.release(frame);
                    }
                    break;
                }
                self.queue.reap().map_err(std::io::Error::other)?;
                self.queue.wait(1).map_err(std::io::Error::other)?;
            }
        }
        Ok(())
    }

    fn learn(&mut self, remote: IpAddr, path: PeerPath) {
        self.default_local.get_or_insert(path.local);
        if self.paths.get(&remote) != Some(&path) {
            self.paths.insert(remote, path);
        }
    }

    fn poll_fd(&self) -> BorrowedFd<'_> {
        self.queue.fd()
    }

    fn stats(&self) -> IoStats {
        self.stats
    }

    fn xsk_statistics(&self) -> Option<oxidize_xdp::stats::XskStatistics> {
        self.queue.xsk_statistics().ok()
    }

    fn finish(&mut self) {
        let _ = self.flush();
        for _ in 0..100 {
            if self.queue.reap().is_err() || self.queue.umem_usage().in_tx == 0 {
                break;
            }
            let _ = self.queue.wait(1);
        }
    }
}
