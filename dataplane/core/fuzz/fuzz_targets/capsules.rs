//! Capsule decoder; never panics, and decoded capsules round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxidize_relay_core::capsule::CapsuleDecoder;

fuzz_target!(|data: &[u8]| {
    let mut d = CapsuleDecoder::new(4096);
    d.handle_bytes(data);
    while let Ok(Some(c)) = d.poll_capsule() {
        let mut again = Vec::new();
        c.encode(&mut again);
        let mut d2 = CapsuleDecoder::default();
        d2.handle_bytes(&again);
        assert_eq!(d2.poll_capsule(), Ok(Some(c)));
    }
});
