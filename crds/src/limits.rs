//! Limits that admission (the CRD's schema bounds and CEL rules), the operator's conversion and
//! the relay all enforce, defined once so that whatever admission accepts, the relay accepts.

/// Expands to [`MAX_QUEUES`] as a literal, for CEL rule strings and messages built with
/// `concat!` (which takes literals only).
macro_rules! max_queues {
    () => {
        64
    };
}
pub(crate) use max_queues;

/// The most NIC queues a RelayNode may ask for: the relay runs one worker per queue and at most
/// this many workers (the worker id is one byte of every connection ID, and each worker gets
/// its own power-of-two slice of the client pool).
pub const MAX_QUEUES: u32 = max_queues!();
