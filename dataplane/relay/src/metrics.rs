//! Prometheus text exposition (format 0.0.4) of the relay's counters, built from worker
//! snapshots off the hot path. Every series has the `oxidize_relay_` prefix.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::state::{Shared, WorkerSnapshot};

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP oxidize_relay_{name} {help}");
        let _ = writeln!(self.0, "# TYPE oxidize_relay_{name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        let _ = write!(self.0, "oxidize_relay_{name}");
        if !labels.is_empty() {
            let body: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            let _ = write!(self.0, "{{{}}}", body.join(","));
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, value: u64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    fn labelled(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        label: &str,
        values: &[(&str, u64)],
    ) {
        self.family(name, kind, help);
        for (v, n) in values {
            self.sample(name, &[(label, v)], *n);
        }
    }
}

fn sum(snaps: &[WorkerSnapshot], f: impl Fn(&WorkerSnapshot) -> u64) -> u64 {
    snaps.iter().map(f).sum()
}

/// The exposition text for the current state.
pub fn render(shared: &Shared) -> String {
    render_snapshots(shared, &shared.snapshots())
}

/// The exposition text for the given snapshots.
pub fn render_snapshots(shared: &Shared, s: &[WorkerSnapshot]) -> String {
    let mut o = Out(String::with_capacity(8192));
    let c = |f: fn(&WorkerSnapshot) -> u64| sum(s, f);
    o.one(
        "ready",
        "gauge",
        "1 when the relay is ready to serve (XDP attached, workers running, TLS loaded).",
        u64::from(shared.ready()),
    );
    o.one(
        "workers",
        "gauge",
        "Worker threads configured.",
        s.len() as u64,
    );
    o.family("worker_running", "gauge", "1 while the worker loop runs.");
    for (i, w) in shared.workers.iter().enumerate() {
        let id = i.to_string();
        o.sample(
            "worker_running",
            &[("worker", &id)],
            u64::from(w.running.load(Ordering::Relaxed)),
        );
    }
    o.one(
        "connections",
        "gauge",
        "Open QUIC connections.",
        c(|w| w.connections),
    );
    o.one(
        "sessions",
        "gauge",
        "Open CONNECT-IP sessions.",
        c(|w| w.sessions),
    );
    o.one(
        "pool_addresses_in_use",
        "gauge",
        "Client addresses handed out.",
        c(|w| w.pool_in_use),
    );
    o.one(
        "pool_addresses",
        "gauge",
        "Client addresses the pool can hand out.",
        c(|w| w.pool_capacity),
    );
    o.labelled(
        "handshakes_total",
        "counter",
        "Connection attempts by result.",
        "result",
        &[
            ("accepted", c(|w| w.core.connections_accepted)),
            ("refused", c(|w| w.core.connections_refused)),
            ("retry", c(|w| w.core.retries_sent)),
            ("throttled", c(|w| w.core.connections_throttled)),
        ],
    );
    o.one(
        "zero_rtt_accepted_total",
        "counter",
        "Handshakes that accepted 0-RTT data.",
        c(|w| w.core.zero_rtt_accepted),
    );
    o.labelled(
        "connections_closed_total",
        "counter",
        "Connections that ended, by reason.",
        "reason",
        &[
            ("idle_timeout", c(|w| w.core.connections_timed_out)),
            (
                "other",
                c(|w| {
                    w.core
                        .connections_closed
                        .saturating_sub(w.core.connections_timed_out)
                }),
            ),
        ],
    );
    o.one(
        "h3_errors_total",
        "counter",
        "Connections closed for an HTTP/3 protocol error.",
        c(|w| w.core.h3_errors),
    );
    o.one(
        "goaway_sent_total",
        "counter",
        "HTTP/3 GOAWAY frames sent.",
        c(|w| w.core.goaway_sent),
    );
    o.one(
        "sessions_opened_total",
        "counter",
        "CONNECT-IP sessions established.",
        c(|w| w.core.sessions_opened),
    );
    o.one(
        "sessions_closed_total",
        "counter",
        "CONNECT-IP sessions ended.",
        c(|w| w.core.sessions_closed),
    );
    o.one(
        "address_requests_total",
        "counter",
        "ADDRESS_REQUEST capsules answered.",
        c(|w| w.core.address_requests),
    );
    o.labelled(
        "auth_failures_total",
        "counter",
        "CONNECT-IP requests refused for authentication, by kind.",
        "kind",
        &[
            ("missing_token", c(|w| w.core.rejected.unauthenticated)),
            ("wrong_token", c(|w| w.core.rejected.forbidden)),
        ],
    );
    o.labelled(
        "requests_rejected_total",
        "counter",
        "Requests answered with an HTTP error, by reason.",
        "reason",
        &[
            ("bad_request", c(|w| w.core.rejected.bad_request)),
            ("unauthenticated", c(|w| w.core.rejected.unauthenticated)),
            ("forbidden", c(|w| w.core.rejected.forbidden)),
            ("not_found", c(|w| w.core.rejected.not_found)),
            (
                "method_not_allowed",
                c(|w| w.core.rejected.method_not_allowed),
            ),
            ("not_implemented", c(|w| w.core.rejected.not_implemented)),
            ("pool_exhausted", c(|w| w.core.rejected.pool_exhausted)),
            ("throttled", c(|w| w.core.rejected.throttled)),
        ],
    );
    o.labelled(
        "tunnel_packets_total",
        "counter",
        "IP packets relayed inside HTTP datagrams, by direction.",
        "direction",
        &[
            ("to_internet", c(|w| w.core.to_internet_packets)),
            ("to_client", c(|w| w.core.to_client_packets)),
        ],
    );
    o.labelled(
        "tunnel_bytes_total",
        "counter",
        "Bytes of the IP packets relayed, by direction.",
        "direction",
        &[
            ("to_internet", c(|w| w.core.to_internet_bytes)),
            ("to_client", c(|w| w.core.to_client_bytes)),
        ],
    );
    o.labelled(
        "drops_total",
        "counter",
        "Tunnelled packets dropped, by reason.",
        "reason",
        &[
            ("malformed", c(|w| w.core.drops.malformed)),
            ("too_large", c(|w| w.core.drops.too_large)),
            ("spoofed_source", c(|w| w.core.drops.spoofed_source)),
            ("unknown_session", c(|w| w.core.drops.unknown_session)),
            ("unknown_context", c(|w| w.core.drops.unknown_context)),
            ("unsendable", c(|w| w.core.drops.unsendable)),
            ("wrong_destination", c(|w| w.core.drops.wrong_destination)),
            ("tun_queue_full", c(|w| w.tun.write_full)),
            ("tun_write_error", c(|w| w.tun.write_errors)),
            ("no_owner", c(|w| w.handoff.tunnel_unowned)),
            ("handoff_ring_full", c(|w| w.handoff.ring_full)),
        ],
    );
    o.labelled(
        "handoffs_total",
        "counter",
        "Packets passed to the worker that owns them, by kind.",
        "kind",
        &[
            ("quic", c(|w| w.handoff.quic_out)),
            ("tunnel", c(|w| w.handoff.tunnel_out)),
        ],
    );
    let per_worker = |o: &mut Out, name: &str, help: &str, f: fn(&WorkerSnapshot) -> u64| {
        o.family(name, "counter", help);
        for (i, w) in s.iter().enumerate() {
            o.sample(name, &[("worker", &i.to_string())], f(w));
        }
    };
    per_worker(
        &mut o,
        "udp_received_packets_total",
        "UDP datagrams received on the relay port, per worker.",
        |w| w.io.rx_packets,
    );
    per_worker(
        &mut o,
        "udp_received_bytes_total",
        "UDP payload bytes received, per worker.",
        |w| w.io.rx_bytes,
    );
    per_worker(
        &mut o,
        "udp_sent_packets_total",
        "UDP datagrams sent, per worker.",
        |w| w.io.tx_packets,
    );
    per_worker(
        &mut o,
        "udp_sent_bytes_total",
        "UDP payload bytes sent, per worker.",
        |w| w.io.tx_bytes,
    );
    o.labelled(
        "io_drops_total",
        "counter",
        "Outer packets dropped by the packet I/O, by reason.",
        "reason",
        &[
            ("malformed_frame", c(|w| w.io.rx_malformed)),
            ("no_tx_frame", c(|w| w.io.tx_no_frame)),
            ("no_next_hop", c(|w| w.io.tx_no_route)),
            ("tx_error", c(|w| w.io.tx_error)),
        ],
    );
    o.labelled(
        "tun_packets_total",
        "counter",
        "Packets through the egress TUN device, by direction.",
        "direction",
        &[
            ("read", c(|w| w.tun.read_packets)),
            ("written", c(|w| w.tun.written_packets)),
        ],
    );
    o.one(
        "tun_read_errors_total",
        "counter",
        "Errors reading the TUN device.",
        c(|w| w.tun.read_errors),
    );
    if s.iter().any(|w| w.xsk.is_some()) {
        o.family(
            "xsk_events_total",
            "counter",
            "The kernel's AF_XDP socket statistics (XDP_STATISTICS), per worker and kind.",
        );
        for (i, w) in s.iter().enumerate() {
            let Some(x) = w.xsk else { continue };
            let id = i.to_string();
            for (kind, v) in [
                ("rx_dropped", x.rx_dropped),
                ("rx_invalid_descs", x.rx_invalid_descs),
                ("tx_invalid_descs", x.tx_invalid_descs),
                ("rx_ring_full", x.rx_ring_full),
                ("fill_ring_empty", x.rx_fill_ring_empty_descs),
                ("tx_ring_empty", x.tx_ring_empty_descs),
            ] {
                o.sample("xsk_events_total", &[("worker", &id), ("kind", kind)], v);
            }
        }
    }
    let xdp = match shared.xdp_counters.lock() {
        Ok(g) => *g,
        Err(p) => *p.into_inner(),
    };
    if let Some(counters) = xdp {
        o.family(
            "xdp_packets_total",
            "counter",
            "Packets seen by the XDP program, by action (redirected to AF_XDP or passed, and why).",
        );
        for c in oxidize_xdp::XdpCounter::ALL {
            o.sample(
                "xdp_packets_total",
                &[("action", c.label())],
                counters[c as usize],
            );
        }
    }
    o.labelled(
        "secret_reloads_total",
        "counter",
        "Mounted Secret reloads, by what was reloaded (failures keep the old material).",
        "result",
        &[
            ("tls", shared.tls_reloads.load(Ordering::Relaxed)),
            ("tokens", shared.token_reloads.load(Ordering::Relaxed)),
            ("failed", shared.reload_failures.load(Ordering::Relaxed)),
        ],
    );
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_workers_and_labels_per_worker_series() {
        let shared = Shared::new(2);
        let mut a = WorkerSnapshot::default();
        a.core.drops.spoofed_source = 3;
        a.io.rx_packets = 5;
        let mut b = a;
        b.io.rx_packets = 7;
        let text = render_snapshots(&shared, &[a, b]);
        assert!(
            text.contains("oxidize_relay_drops_total{reason=\"spoofed_source\"} 6\n"),
            "{text}"
        );
        assert!(text.contains("oxidize_relay_udp_received_packets_total{worker=\"1\"} 7\n"));
        assert!(text.contains("oxidize_relay_ready 0\n"));
        // Every sample line belongs to a declared family.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "undeclared {name}"
            );
        }
    }

    /// A relay that has seen no traffic already exports every fixed label value at 0, so that
    /// `sum by (reason) (rate(...))` in the chart's dashboard and alerts has series on a healthy
    /// relay (a label value that appears only with its first event leaves a panel empty).
    #[test]
    fn every_fixed_label_value_is_exported_at_zero_from_the_start() {
        let shared = Shared::new(2);
        if let Ok(mut g) = shared.xdp_counters.lock() {
            *g = Some([0; 8]);
        }
        let snap = WorkerSnapshot {
            xsk: Some(oxidize_xdp::stats::XskStatistics::default()),
            ..WorkerSnapshot::default()
        };
        let text = render_snapshots(&shared, &[snap, snap]);
        let families: &[(&str, &str, &[&str])] = &[
            (
                "drops_total",
                "reason",
                &[
                    "malformed",
                    "too_large",
                    "spoofed_source",
                    "unknown_session",
                    "unknown_context",
                    "unsendable",
                    "wrong_destination",
                    "tun_queue_full",
                    "tun_write_error",
                    "no_owner",
                    "handoff_ring_full",
                ],
            ),
            (
                "io_drops_total",
                "reason",
                &["malformed_frame", "no_tx_frame", "no_next_hop", "tx_error"],
            ),
            (
                "handshakes_total",
                "result",
                &["accepted", "refused", "retry", "throttled"],
            ),
            (
                "auth_failures_total",
                "kind",
                &["missing_token", "wrong_token"],
            ),
            (
                "tunnel_packets_total",
                "direction",
                &["to_internet", "to_client"],
            ),
            (
                "tunnel_bytes_total",
                "direction",
                &["to_internet", "to_client"],
            ),
            (
                "connections_closed_total",
                "reason",
                &["idle_timeout", "other"],
            ),
        ];
        for (name, label, values) in families {
            for v in *values {
                let line = format!("oxidize_relay_{name}{{{label}=\"{v}\"}} 0\n");
                assert!(text.contains(&line), "missing {line:?} in\n{text}");
            }
        }
        for c in oxidize_xdp::XdpCounter::ALL {
            let line = format!(
                "oxidize_relay_xdp_packets_total{{action=\"{}\"}} 0\n",
                c.label()
            );
            assert!(text.contains(&line), "missing {line:?}");
        }
        assert!(
            text.contains("oxidize_relay_xsk_events_total{worker=\"0\",kind=\"rx_dropped\"} 0\n")
        );
        assert!(text.contains("oxidize_relay_connections 0\n"));
        assert!(text.contains("oxidize_relay_sessions 0\n"));
    }

    /// `promtool check metrics` (Prometheus' own linter) accepts the exposition, when installed.
    #[test]
    fn promtool_accepts_the_exposition() {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let shared = Shared::new(2);
        if let Ok(mut g) = shared.xdp_counters.lock() {
            *g = Some([1, 2, 3, 4, 5, 6, 7, 8]);
        }
        let snap = WorkerSnapshot {
            xsk: Some(oxidize_xdp::stats::XskStatistics::default()),
            ..WorkerSnapshot::default()
        };
        let text = render_snapshots(&shared, &[snap, snap]);
        assert!(text.contains("oxidize_relay_xdp_packets_total{action=\"pass_not_ip\"} 2\n"));
        assert!(
            text.contains("oxidize_relay_xsk_events_total{worker=\"1\",kind=\"rx_dropped\"} 0\n")
        );
        let child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let Ok(mut child) = child else {
            if std::env::var_os("CI").is_some() {
                panic!("promtool is not installed (scripts/setup.sh installs it)");
            }
            eprintln!("promtool not installed; skipping");
            return;
        };
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("promtool");
        assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
