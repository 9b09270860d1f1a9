//! CONNECT-IP on the relay: requests, capsules and the packets in both directions.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use bytes::Bytes;
use quinn_proto::{ConnectionHandle, SendDatagramError, StreamId};
use tracing::debug;

use super::{Conn, RelayCore, TunnelPacket};
use crate::capsule::{AddressEntry, Capsule, IpPrefix, IpRange};
use crate::datagram::{self, HttpDatagram, CONTEXT_IP_PACKET};
use crate::h3::H3Event;
use crate::packet::{self, DropReason};
use crate::pool::Assignment;
use crate::request::{self, RejectKind};
use crate::session::SessionId;
use crate::template::{Scope, Target};

fn assigned_entries(a: &Assignment, request_id: u64) -> Vec<AddressEntry> {
    let mut out = vec![AddressEntry {
        request_id,
        prefix: IpPrefix {
            addr: IpAddr::V4(a.v4),
            len: 32,
        },
    }];
    if let Some(v6) = a.v6 {
        out.push(AddressEntry {
            request_id,
            prefix: IpPrefix {
                addr: IpAddr::V6(v6),
                len: 128,
            },
        });
    }
    out
}

fn routes(scope: &Scope, a: &Assignment) -> Vec<IpRange> {
    let proto = scope.ipproto;
    match scope.target {
        Target::Any => {
            let mut r = vec![IpRange {
                ip_protocol: proto,
                ..IpRange::V4_ALL
            }];
            if a.v6.is_some() {
                r.push(IpRange {
                    ip_protocol: proto,
                    ..IpRange::V6_ALL
                });
            }
            r
        }
        Target::Prefix(p) => {
            let (start, end) = match p.addr {
                IpAddr::V4(v4) => {
                    let host = if p.len == 0 {
                        u32::MAX
                    } else {
                        u32::MAX >> p.len.min(32)
                    };
                    let s = u32::from(v4) & !host;
                    (
                        IpAddr::V4(Ipv4Addr::from(s)),
                        IpAddr::V4(Ipv4Addr::from(s | host)),
                    )
                }
                IpAddr::V6(v6) => {
                    let host = if p.len == 0 {
                        u128::MAX
                    } else {
                        u128::MAX >> p.len.min(128)
                    };
                    let s = u128::from(v6) & !host;
                    (
                        IpAddr::V6(Ipv6Addr::from(s)),
                        IpAddr::V6(Ipv6Addr::from(s | host)),
                    )
                }
            };
            vec![IpRange {
                start,
                end,
                ip_protocol: proto,
            }]
        }
    }
}

impl RelayCore {
    pub(super) fn handle_h3_events(&mut self, ch: ConnectionHandle, c: &mut Conn, now: Instant) {
        while let Some(ev) = c.h3.poll_event() {
            match ev {
                H3Event::Headers { stream, fields } => {
                    self.handle_request(ch, c, stream, &fields, now);
                }
                H3Event::Capsule { stream, capsule } => self.handle_capsule(ch, c, stream, capsule),
                H3Event::StreamEnded { stream } => {
                    if let Some(id) = self.sessions.by_stream(ch, stream) {
                        if let Some(s) = self.sessions.remove(id) {
                            debug!(session = %id, "tunnel closed");
                            self.pool.release(s.assignment);
                            self.stats.sessions_closed += 1;
                        }
                    }
                }
                H3Event::Settings(_) | H3Event::Goaway(_) => {}
            }
        }
    }

    fn handle_request(
        &mut self,
        ch: ConnectionHandle,
        c: &mut Conn,
        stream: StreamId,
        fields: &[crate::qpack::Field],
        now: Instant,
    ) {
        let source = c.conn.remote_address().ip();
        let outcome = if self.throttle.is_blocked(source, now) {
            // Blocked sources are not even told whether their token is right.
            Err(request::Rejection {
                kind: RejectKind::Throttled,
                reason: "too many auth failures",
            })
        } else {
            request::validate(fields, &self.template, &self.tokens).and_then(|req| {
                self.pool
                    .allocate()
                    .map(|a| (req, a))
                    .map_err(|_| request::Rejection {
                        kind: RejectKind::PoolExhausted,
                        reason: "address pool exhausted",
                    })
            })
        };
        if let Err(rej) = &outcome {
            if matches!(
                rej.kind,
                RejectKind::Unauthenticated | RejectKind::Forbidden
            ) && self.throttle.record_failure(source, now)
            {
                debug!(%source, "source blocked after repeated authentication failures");
            }
        }
        match outcome {
            Ok((req, assignment)) => {
                let id = self.sessions.insert(ch, stream, assignment, req.scope);
                self.stats.sessions_opened += 1;
                debug!(session = %id, v4 = %assignment.v4, "tunnel open");
                c.h3.send_headers(&mut c.conn, stream, &request::response_fields(200), false);
                let assign = Capsule::AddressAssign(assigned_entries(&assignment, 0));
                c.h3.send_capsule(&mut c.conn, stream, &assign);
                let adv = Capsule::RouteAdvertisement(routes(&req.scope, &assignment));
                c.h3.send_capsule(&mut c.conn, stream, &adv);
            }
            Err(rej) => {
                // Logged without the token; the counters carry the kind.
                debug!(
                    status = rej.kind.status(),
                    reason = rej.reason,
                    "request refused"
                );
                self.stats.rejected.record(rej.kind);
                c.h3.send_headers(
                    &mut c.conn,
                    stream,
                    &request::response_fields(rej.kind.status()),
                    true,
                );
                let _ = c
                    .conn
                    .recv_stream(stream)
                    .stop(quinn_proto::VarInt::from_u32(
                        crate::error::h3_code::NO_ERROR as u32,
                    ));
            }
        }
    }

    fn handle_capsule(
        &mut self,
        ch: ConnectionHandle,
        c: &mut Conn,
        stream: StreamId,
        capsule: Capsule,
    ) {
        let Some(id) = self.sessions.by_stream(ch, stream) else {
            return;
        };
        match capsule {
            Capsule::AddressRequest(entries) => {
                let Some(s) = self.sessions.get(id) else {
                    return;
                };
                let a = s.assignment;
                self.stats.address_requests += 1;
                let reply = entries
                    .iter()
                    .map(|e| {
                        let given = match e.prefix.addr {
                            IpAddr::V4(_) => Some(IpPrefix {
                                addr: IpAddr::V4(a.v4),
                                len: 32,
                            }),
                            IpAddr::V6(_) => a.v6.map(|v6| IpPrefix {
                                addr: IpAddr::V6(v6),
                                len: 128,
                            }),
                        };
                        // RFC 9484 section 4.7.1: an unfulfillable request is answered with the
                        // all-zero address of that family and the full prefix length.
                        let prefix = given.unwrap_or(IpPrefix {
                            addr: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                            len: 128,
                        });
                        AddressEntry {
                            request_id: e.request_id,
                            prefix,
                        }
                    })
                    .collect();
                c.h3.send_capsule(&mut c.conn, stream, &Capsule::AddressAssign(reply));
            }
            Capsule::Datagram(payload) => {
                // An HTTP Datagram sent on the stream: context ID then payload.
                let mut r = crate::varint::Reader::new(&payload);
                match r.varint() {
                    Ok(CONTEXT_IP_PACKET) => {
                        let start = r.position();
                        self.accept_from_client(id, payload.slice(start..));
                    }
                    Ok(_) => self.stats.drops.record(DropReason::UnknownContext),
                    Err(_) => self.stats.drops.record(DropReason::Malformed),
                }
            }
            // The client has no addresses or routes to give the relay: ignore.
            Capsule::AddressAssign(_) | Capsule::RouteAdvertisement(_) => {}
        }
    }

    pub(super) fn handle_client_datagram(&mut self, ch: ConnectionHandle, d: Bytes) {
        let parsed = match HttpDatagram::decode(&d) {
            Ok(p) => (p.stream_id, p.context_id, d.len() - p.payload.len()),
            Err(_) => return self.stats.drops.record(DropReason::Malformed),
        };
        let (stream_id, context_id, header_len) = parsed;
        let Ok(stream) = quinn_proto::VarInt::from_u64(stream_id).map(StreamId::from) else {
            return self.stats.drops.record(DropReason::Malformed);
        };
        let Some(id) = self.sessions.by_stream(ch, stream) else {
            return self.stats.drops.record(DropReason::UnknownSession);
        };
        if context_id != CONTEXT_IP_PACKET {
            return self.stats.drops.record(DropReason::UnknownContext);
        }
        self.accept_from_client(id, d.slice(header_len..));
    }

    fn accept_from_client(&mut self, id: SessionId, packet: Bytes) {
        let Some(s) = self.sessions.get_mut(id) else {
            return;
        };
        match packet::check_from_client(&packet, &s.assignment, self.max_inner_packet) {
            Ok(_) => {
                s.stats.to_internet_packets += 1;
                s.stats.to_internet_bytes += packet.len() as u64;
                self.stats.to_internet_packets += 1;
                self.stats.to_internet_bytes += packet.len() as u64;
                self.to_internet.push_back(TunnelPacket {
                    session: id,
                    packet,
                });
            }
            Err(reason) => {
                debug!(session = %id, ?reason, "dropping packet from client");
                self.stats.drops.record(reason);
            }
        }
    }

    /// Seals a packet from the internet into an HTTP Datagram for the session that owns its
    /// destination address. Transmit it with [`RelayCore::poll_transmit`].
    ///
    /// # Errors
    /// The [`DropReason`] (also counted): malformed, no session for the destination, too large
    /// for the connection's datagram size, or the client cannot take datagrams now.
    pub fn handle_tunnel_packet(&mut self, ip_packet: &[u8]) -> Result<SessionId, DropReason> {
        let result = packet::destination(ip_packet).and_then(|dst| {
            let id = self
                .sessions
                .by_addr(dst)
                .ok_or(DropReason::WrongDestination)?;
            self.seal_to_client(id, ip_packet).map(|()| id)
        });
        if let Err(reason) = result {
            self.stats.drops.record(reason);
        }
        result
    }

    /// Like [`RelayCore::handle_tunnel_packet`] for a caller that already knows the session;
    /// the packet's destination must still be one of the session's addresses.
    ///
    /// # Errors
    /// As [`RelayCore::handle_tunnel_packet`]; [`DropReason::UnknownSession`] for a session
    /// that is gone.
    pub fn handle_tunnel_packet_for(
        &mut self,
        session: SessionId,
        ip_packet: &[u8],
    ) -> Result<(), DropReason> {
        let result = packet::destination(ip_packet).and_then(|dst| {
            let s = self
                .sessions
                .get(session)
                .ok_or(DropReason::UnknownSession)?;
            if !s.assignment.contains(dst) {
                return Err(DropReason::WrongDestination);
            }
            self.seal_to_client(session, ip_packet)
        });
        if let Err(reason) = result {
            self.stats.drops.record(reason);
        }
        result
    }

    fn seal_to_client(&mut self, id: SessionId, ip_packet: &[u8]) -> Result<(), DropReason> {
        let s = self
            .sessions
            .get_mut(id)
            .ok_or(DropReason::UnknownSession)?;
        let c = self
            .conns
            .get_mut(&s.conn)
            .ok_or(DropReason::UnknownSession)?;
        if !c.h3.peer_settings().is_some_and(|p| p.h3_datagram) {
            return Err(DropReason::Unsendable);
        }
        let stream_id = u64::from(quinn_proto::VarInt::from(s.stream));
        let mut d = Vec::with_capacity(HttpDatagram::header_len(stream_id, 0) + ip_packet.len());
        datagram::encode_header(stream_id, CONTEXT_IP_PACKET, &mut d)
            .map_err(|_| DropReason::UnknownSession)?;
        d.extend_from_slice(ip_packet);
        let max = c
            .conn
            .datagrams()
            .max_size()
            .ok_or(DropReason::Unsendable)?;
        if d.len() > max {
            return Err(DropReason::TooLarge);
        }
        match c.conn.datagrams().send(d.into(), true) {
            Ok(()) => {}
            Err(SendDatagramError::TooLarge) => return Err(DropReason::TooLarge),
            Err(_) => return Err(DropReason::Unsendable),
        }
        s.stats.to_client_packets += 1;
        s.stats.to_client_bytes += ip_packet.len() as u64;
        self.stats.to_client_packets += 1;
        self.stats.to_client_bytes += ip_packet.len() as u64;
        Ok(())
    }
}
