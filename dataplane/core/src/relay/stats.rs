//! Relay counters: plain structs, copied out by `RelayCore::stats`.

use crate::packet::DropStats;
use crate::request::RejectKind;

/// Refused CONNECT-IP requests by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RejectStats {
    /// 400.
    pub bad_request: u64,
    /// 401 (no token).
    pub unauthenticated: u64,
    /// 403 (wrong token).
    pub forbidden: u64,
    /// 404.
    pub not_found: u64,
    /// 405.
    pub method_not_allowed: u64,
    /// 501.
    pub not_implemented: u64,
    /// 503 (pool exhausted).
    pub pool_exhausted: u64,
    /// 429 (source blocked after repeated authentication failures).
    pub throttled: u64,
}

impl RejectStats {
    /// Counts one refusal.
    pub fn record(&mut self, kind: RejectKind) {
        let slot = match kind {
            RejectKind::BadRequest => &mut self.bad_request,
            RejectKind::Unauthenticated => &mut self.unauthenticated,
            RejectKind::Forbidden => &mut self.forbidden,
            RejectKind::NotFound => &mut self.not_found,
            RejectKind::MethodNotAllowed => &mut self.method_not_allowed,
            RejectKind::NotImplemented => &mut self.not_implemented,
            RejectKind::PoolExhausted => &mut self.pool_exhausted,
            RejectKind::Throttled => &mut self.throttled,
        };
        *slot += 1;
    }
}

/// Everything a relay worker counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// QUIC connections accepted.
    pub connections_accepted: u64,
    /// Connection attempts refused because their source is blocked after auth failures.
    pub connections_throttled: u64,
    /// Connection attempts refused (shutting down, blocked source, or accept error).
    pub connections_refused: u64,
    /// Retry packets sent (address validation under handshake load).
    pub retries_sent: u64,
    /// Handshakes completed with 0-RTT data accepted.
    pub zero_rtt_accepted: u64,
    /// Connections that ended (any reason).
    pub connections_closed: u64,
    /// Connections that ended by idle timeout.
    pub connections_timed_out: u64,
    /// Connections closed for an HTTP/3 protocol error.
    pub h3_errors: u64,
    /// CONNECT-IP sessions established.
    pub sessions_opened: u64,
    /// Sessions ended.
    pub sessions_closed: u64,
    /// Refused requests.
    pub rejected: RejectStats,
    /// ADDRESS_REQUEST capsules answered.
    pub address_requests: u64,
    /// Packets from clients passed on towards the internet.
    pub to_internet_packets: u64,
    /// Their bytes.
    pub to_internet_bytes: u64,
    /// Packets sealed towards clients.
    pub to_client_packets: u64,
    /// Their bytes.
    pub to_client_bytes: u64,
    /// Dropped packets by reason.
    pub drops: DropStats,
    /// GOAWAY frames sent.
    pub goaway_sent: u64,
}
