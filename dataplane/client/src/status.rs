//! The status line the client prints once per interval and on SIGUSR1.

use std::fmt;
use std::time::Duration;

use ipnet::IpNet;

/// Connection state shown in the status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Handshaking or waiting for the relay's answer.
    Connecting,
    /// The tunnel is open.
    Connected,
    /// Waiting before the next attempt.
    Reconnecting,
}

impl State {
    /// The word printed for this state.
    pub fn label(self) -> &'static str {
        match self {
            State::Connecting => "connecting",
            State::Connected => "connected",
            State::Reconnecting => "reconnecting",
        }
    }
}

/// Everything in one status line.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// Current state (`None` before the first attempt).
    pub state: Option<State>,
    /// Addresses assigned by the relay.
    pub addresses: Vec<IpNet>,
    /// Handshake round trip of the current connection (QUIC Initial to handshake done).
    pub handshake_rtt: Option<Duration>,
    /// Inner packets and bytes sent into the tunnel.
    pub tx_packets: u64,
    /// Inner bytes sent into the tunnel.
    pub tx_bytes: u64,
    /// Inner packets received from the tunnel.
    pub rx_packets: u64,
    /// Inner bytes received from the tunnel.
    pub rx_bytes: u64,
    /// Packets dropped (tunnel not open, too large, writer queue full, ...).
    pub dropped: u64,
    /// Tunnels opened after the first one.
    pub reconnects: u64,
    /// The current connection's request went out as 0-RTT and was accepted.
    pub zero_rtt: bool,
}

/// Bytes in binary units with one decimal (`1.5 MiB`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.map_or("starting", State::label);
        write!(f, "status: {state}")?;
        if self.addresses.is_empty() {
            write!(f, " addr=-")?;
        } else {
            let addrs: Vec<String> = self.addresses.iter().map(ToString::to_string).collect();
            write!(f, " addr={}", addrs.join(","))?;
        }
        match self.handshake_rtt {
            Some(rtt) => write!(f, " rtt={:.1}ms", rtt.as_secs_f64() * 1e3)?,
            None => write!(f, " rtt=-")?,
        }
        write!(
            f,
            " tx={} pkts/{} rx={} pkts/{} dropped={} reconnects={} 0rtt={}",
            self.tx_packets,
            human_bytes(self.tx_bytes),
            self.rx_packets,
            human_bytes(self.rx_bytes),
            self.dropped,
            self.reconnects,
            if self.zero_rtt { "yes" } else { "no" },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(200 * 1024 * 1024), "200.0 MiB");
    }

    #[test]
    fn line_before_anything_happened() {
        assert_eq!(
            Status::default().to_string(),
            "status: starting addr=- rtt=- tx=0 pkts/0 B rx=0 pkts/0 B dropped=0 reconnects=0 0rtt=no"
        );
    }

    #[test]
    fn line_when_connected() {
        let s = Status {
            state: Some(State::Connected),
            addresses: vec!["10.99.0.2/32".parse().unwrap_or_else(|_| unreachable!())],
            handshake_rtt: Some(Duration::from_micros(1300)),
            tx_packets: 3,
            tx_bytes: 252,
            rx_packets: 2,
            rx_bytes: 2048,
            dropped: 1,
            reconnects: 2,
            zero_rtt: true,
        };
        assert_eq!(
            s.to_string(),
            "status: connected addr=10.99.0.2/32 rtt=1.3ms tx=3 pkts/252 B rx=2 pkts/2.0 KiB dropped=1 reconnects=2 0rtt=yes"
        );
    }
}
