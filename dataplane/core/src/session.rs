//! The table of CONNECT-IP sessions of one worker: by id, by request stream, by address.

use std::collections::HashMap;
use std::net::IpAddr;

use quinn_proto::{ConnectionHandle, StreamId};

use crate::pool::Assignment;
use crate::template::Scope;

/// A session's id, unique within one [`SessionTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// Per-session traffic counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Packets from the client accepted towards the internet.
    pub to_internet_packets: u64,
    /// Their bytes.
    pub to_internet_bytes: u64,
    /// Packets sealed towards the client.
    pub to_client_packets: u64,
    /// Their bytes.
    pub to_client_bytes: u64,
}

/// One CONNECT-IP tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Session id.
    pub id: SessionId,
    /// The QUIC connection.
    pub conn: ConnectionHandle,
    /// The request stream (its quarter is the HTTP Datagram quarter stream ID).
    pub stream: StreamId,
    /// The client's addresses.
    pub assignment: Assignment,
    /// What the request asked to reach.
    pub scope: Scope,
    /// Counters.
    pub stats: SessionStats,
}

/// Sessions indexed three ways.
#[derive(Debug, Default)]
pub struct SessionTable {
    next: u64,
    by_id: HashMap<SessionId, Session>,
    by_stream: HashMap<(ConnectionHandle, StreamId), SessionId>,
    by_addr: HashMap<IpAddr, SessionId>,
}

impl SessionTable {
    /// Adds a session and returns its id.
    pub fn insert(
        &mut self,
        conn: ConnectionHandle,
        stream: StreamId,
        assignment: Assignment,
        scope: Scope,
    ) -> SessionId {
        self.next += 1;
        let id = SessionId(self.next);
        self.by_stream.insert((conn, stream), id);
        self.by_addr.insert(IpAddr::V4(assignment.v4), id);
        if let Some(v6) = assignment.v6 {
            self.by_addr.insert(IpAddr::V6(v6), id);
        }
        let stats = SessionStats::default();
        self.by_id.insert(
            id,
            Session {
                id,
                conn,
                stream,
                assignment,
                scope,
                stats,
            },
        );
        id
    }

    /// Removes a session.
    pub fn remove(&mut self, id: SessionId) -> Option<Session> {
        let s = self.by_id.remove(&id)?;
        self.by_stream.remove(&(s.conn, s.stream));
        self.by_addr.remove(&IpAddr::V4(s.assignment.v4));
        if let Some(v6) = s.assignment.v6 {
            self.by_addr.remove(&IpAddr::V6(v6));
        }
        Some(s)
    }

    /// Removes every session of a connection.
    pub fn remove_connection(&mut self, conn: ConnectionHandle) -> Vec<Session> {
        let ids: Vec<SessionId> = self
            .by_id
            .values()
            .filter(|s| s.conn == conn)
            .map(|s| s.id)
            .collect();
        ids.into_iter().filter_map(|id| self.remove(id)).collect()
    }

    /// A session by id.
    pub fn get(&self, id: SessionId) -> Option<&Session> {
        self.by_id.get(&id)
    }

    /// A session by id, mutable.
    pub fn get_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        self.by_id.get_mut(&id)
    }

    /// The session on a request stream.
    pub fn by_stream(&self, conn: ConnectionHandle, stream: StreamId) -> Option<SessionId> {
        self.by_stream.get(&(conn, stream)).copied()
    }

    /// The session that owns an inner address.
    pub fn by_addr(&self, addr: IpAddr) -> Option<SessionId> {
        self.by_addr.get(&addr).copied()
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when there is no session.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// All sessions.
    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.by_id.values()
    }
}
