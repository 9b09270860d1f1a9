//! HTTP Datagram parser and QUIC varints; never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxidize_relay_core::datagram::HttpDatagram;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = HttpDatagram::decode(data) {
        assert_eq!(d.stream_id % 4, 0);
        assert!(d.payload.len() <= data.len());
    }
    let _ = oxidize_relay_core::varint::decode(data);
});
