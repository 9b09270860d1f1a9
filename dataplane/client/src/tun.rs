//! The client's TUN device: created (stale one removed first), addressed, and served by two
//! threads, a reader and a writer, so that one direction never waits on the other.
//!
//! With offload (the default; the kernel's virtio-net header on the TUN, as wireguard-go does)
//! both directions are batched: one read returns a TCP/UDP GSO super-packet that is split into
//! MTU-sized packets, and the writer coalesces up to [`tun_rs::IDEAL_BATCH_SIZE`] queued packets
//! into GRO super-packets written with one syscall each.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use bytes::Bytes;
use ipnet::IpNet;
use tun_rs::{GROTable, SyncDevice, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};

use super::error::ClientError;
use super::routes::ip;

/// Packets queued towards the TUN writer before new ones are dropped.
pub const WRITE_QUEUE: usize = 4096;

/// The device and its I/O threads.
pub struct Tun {
    name: String,
    device: Arc<SyncDevice>,
    addresses: Vec<IpNet>,
    to_tun: SyncSender<Bytes>,
    write_drops: Arc<AtomicU64>,
    closing: Arc<AtomicBool>,
}

impl std::fmt::Debug for Tun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tun")
            .field("name", &self.name)
            .field("addresses", &self.addresses)
            .finish_non_exhaustive()
    }
}

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

/// Deletes a TUN device of this name left by a killed run (no error when there is none).
pub fn remove_stale(name: &str) {
    if ip(&args(&format!("link show dev {name}"))).is_ok() {
        tracing::info!(
            device = name,
            "removing a TUN device left by an earlier run"
        );
        if let Err(e) = ip(&args(&format!("link del dev {name}"))) {
            tracing::warn!(device = name, error = %e, "could not remove the stale TUN device");
        }
    }
}

impl Tun {
    /// Creates the device with `mtu`, brings it up and starts the reader (packets go to
    /// `to_relay`) and the writer threads.
    ///
    /// # Errors
    /// [`ClientError::Tun`] / [`ClientError::Ip`].
    pub fn create(
        name: &str,
        mtu: u16,
        offload: bool,
        to_relay: tokio::sync::mpsc::Sender<Vec<u8>>,
    ) -> Result<Tun, ClientError> {
        remove_stale(name);
        let tun_err = |source| ClientError::Tun {
            name: name.to_owned(),
            source,
        };
        let device = tun_rs::DeviceBuilder::new()
            .name(name)
            .packet_information(false)
            .offload(offload)
            .enable(false)
            .build_sync()
            .map_err(tun_err)?;
        let batched = device.tcp_gso();
        // No link-local address and no router solicitations: only the assigned addresses.
        let addr_gen = format!("/proc/sys/net/ipv6/conf/{name}/addr_gen_mode");
        if let Err(e) = std::fs::write(&addr_gen, "1") {
            tracing::debug!(path = addr_gen, error = %e, "IPv6 address generation left on");
        }
        ip(&args(&format!("link set dev {name} mtu {mtu} up")))?;
        let device = Arc::new(device);
        let (to_tun, from_driver) = std::sync::mpsc::sync_channel(WRITE_QUEUE);
        let write_drops = Arc::new(AtomicU64::new(0));
        let closing = Arc::new(AtomicBool::new(false));
        spawn_reader(
            Arc::clone(&device),
            to_relay,
            Arc::clone(&closing),
            batched,
            name,
        )?;
        spawn_writer(
            Arc::clone(&device),
            from_driver,
            Arc::clone(&write_drops),
            batched,
            name,
        )?;
        tracing::info!(device = name, mtu, offload = batched, "TUN device up");
        Ok(Tun {
            name: name.to_owned(),
            device,
            addresses: Vec::new(),
            to_tun,
            write_drops,
            closing,
        })
    }

    /// The device name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The addresses on the device.
    pub fn addresses(&self) -> &[IpNet] {
        &self.addresses
    }

    /// Puts exactly `addresses` on the device; returns whether anything changed. New
    /// addresses go on before old ones come off: removing the last IPv4 (or IPv6) address of a
    /// device makes the kernel flush every route through it, so callers re-install their routes
    /// after a change anyway.
    ///
    /// # Errors
    /// [`ClientError::Ip`].
    pub fn set_addresses(&mut self, addresses: &[IpNet]) -> Result<bool, ClientError> {
        if self.addresses == addresses {
            return Ok(false);
        }
        for new in addresses {
            let flags = if matches!(new.addr(), IpAddr::V6(_)) {
                " nodad"
            } else {
                ""
            };
            ip(&args(&format!(
                "addr replace {new} dev {}{flags}",
                self.name
            )))?;
        }
        for old in &self.addresses {
            if !addresses.contains(old) {
                ip(&args(&format!("addr del {old} dev {}", self.name)))?;
            }
        }
        self.addresses = addresses.to_vec();
        Ok(true)
    }

    /// Queues a packet from the relay for the writer thread; never blocks. Returns false (and
    /// counts a drop) when the writer is behind.
    pub fn send(&self, packet: Bytes) -> bool {
        match self.to_tun.try_send(packet) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.write_drops.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Packets dropped on the way to the TUN (writer queue full or write failed).
    pub fn write_drops(&self) -> u64 {
        self.write_drops.load(Ordering::Relaxed)
    }

    /// Removes the device (the routes through it go with it).
    pub fn remove(self) {
        // The reader fails once the link is gone; that is expected now.
        self.closing.store(true, Ordering::Relaxed);
        drop(self.device);
        if let Err(e) = ip(&args(&format!("link del dev {}", self.name))) {
            tracing::debug!(error = %e, "TUN device already gone");
        }
    }
}

fn spawn_reader(
    device: Arc<SyncDevice>,
    to_relay: tokio::sync::mpsc::Sender<Vec<u8>>,
    closing: Arc<AtomicBool>,
    batched: bool,
    name: &str,
) -> Result<(), ClientError> {
    std::thread::Builder::new()
        .name(format!("{name}-read"))
        .spawn(move || {
            let mut raw = vec![0u8; VIRTIO_NET_HDR_LEN + 65536];
            let mut bufs = vec![vec![0u8; 65536]; if batched { IDEAL_BATCH_SIZE } else { 1 }];
            let mut sizes = vec![0usize; bufs.len()];
            loop {
                let read = if batched {
                    device.recv_multiple(&mut raw, &mut bufs, &mut sizes, 0)
                } else {
                    device.recv(&mut bufs[0]).map(|n| {
                        sizes[0] = n;
                        1
                    })
                };
                match read {
                    Ok(n) => {
                        for (buf, &len) in bufs.iter().zip(&sizes).take(n) {
                            // Waits when the driver is behind: the kernel queues (and drops)
                            // in the TUN instead, and the writer thread is unaffected.
                            if len > 0 && to_relay.blocking_send(buf[..len].to_vec()).is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) if closing.load(Ordering::Relaxed) => {
                        tracing::debug!(error = %e, "TUN reader stops with the device");
                        return;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "TUN read failed; reader stops");
                        return;
                    }
                }
            }
        })
        .map(drop)
        .map_err(|source| ClientError::Io {
            what: "spawn the TUN reader thread",
            source,
        })
}

fn spawn_writer(
    device: Arc<SyncDevice>,
    from_driver: Receiver<Bytes>,
    drops: Arc<AtomicU64>,
    batched: bool,
    name: &str,
) -> Result<(), ClientError> {
    std::thread::Builder::new()
        .name(format!("{name}-write"))
        .spawn(move || {
            let mut gro = GROTable::default();
            let mut bufs: Vec<Vec<u8>> = Vec::with_capacity(IDEAL_BATCH_SIZE);
            while let Ok(first) = from_driver.recv() {
                if !batched {
                    if let Err(e) = device.send(&first) {
                        drops.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(error = %e, len = first.len(), "TUN write failed");
                    }
                    continue;
                }
                // Everything queued right now, behind the virtio-net header room.
                bufs.clear();
                let mut next = Some(first);
                while let Some(packet) = next {
                    let mut b = Vec::with_capacity(VIRTIO_NET_HDR_LEN + packet.len());
                    b.resize(VIRTIO_NET_HDR_LEN, 0);
                    b.extend_from_slice(&packet);
                    bufs.push(b);
                    next = if bufs.len() < IDEAL_BATCH_SIZE {
                        from_driver.try_recv().ok()
                    } else {
                        None
                    };
                }
                if let Err(e) = device.send_multiple(&mut gro, &mut bufs, VIRTIO_NET_HDR_LEN) {
                    drops.fetch_add(bufs.len() as u64, Ordering::Relaxed);
                    tracing::debug!(error = %e, packets = bufs.len(), "TUN batch write failed");
                }
            }
        })
        .map(drop)
        .map_err(|source| ClientError::Io {
            what: "spawn the TUN writer thread",
            source,
        })
}
