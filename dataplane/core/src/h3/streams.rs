//! Stream plumbing: reading everything available and queueing writes past flow control.

use std::collections::HashMap;

use quinn_proto::{Connection, ReadError, StreamId, WriteError};

/// Bytes waiting to be written per stream, with an optional FIN after them.
#[derive(Debug, Default)]
pub struct OutQueue {
    pending: HashMap<StreamId, (Vec<u8>, bool)>,
}

impl OutQueue {
    /// Queues bytes (and optionally FIN) for a stream.
    pub fn push(&mut self, id: StreamId, bytes: &[u8], fin: bool) {
        let entry = self.pending.entry(id).or_default();
        entry.0.extend_from_slice(bytes);
        entry.1 |= fin;
    }

    /// Forgets a stream's queued bytes (it was reset or stopped).
    pub fn drop_stream(&mut self, id: StreamId) {
        self.pending.remove(&id);
    }

    /// Bytes still queued on all streams.
    pub fn queued(&self) -> usize {
        self.pending.values().map(|(b, _)| b.len()).sum()
    }

    /// Writes what flow control allows; finished streams leave the queue.
    pub fn flush(&mut self, conn: &mut Connection) {
        self.pending.retain(|id, (buf, fin)| {
            let mut stream = conn.send_stream(*id);
            while !buf.is_empty() {
                match stream.write(buf) {
                    Ok(n) => {
                        buf.drain(..n);
                    }
                    Err(WriteError::Blocked) => return true,
                    Err(WriteError::Stopped(_) | WriteError::ClosedStream) => return false,
                }
            }
            if *fin {
                let _ = stream.finish();
            }
            false
        });
    }
}

/// Reads everything available on a stream: the bytes, and whether the stream ended (FIN or reset).
pub(crate) fn read_all(conn: &mut Connection, id: StreamId) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut recv = conn.recv_stream(id);
    let Ok(mut chunks) = recv.read(true) else {
        return (out, true);
    };
    let ended = loop {
        match chunks.next(usize::MAX) {
            Ok(Some(chunk)) => out.extend_from_slice(&chunk.bytes),
            Ok(None) => break true,
            Err(ReadError::Blocked) => break false,
            Err(ReadError::Reset(_)) => break true,
        }
    };
    let _ = chunks.finalize();
    (out, ended)
}
