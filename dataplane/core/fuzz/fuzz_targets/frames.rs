//! HTTP/3 frame decoder (and SETTINGS inside it), fed in two pieces; never panics, and
//! re-encoding a decoded GOAWAY or SETTINGS decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxidize_relay_core::frame::{Frame, FrameDecoder};

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut d = FrameDecoder::new(4096);
    for part in [&data[..split], &data[split..]] {
        d.handle_bytes(part);
        loop {
            match d.poll_frame() {
                Ok(Some(f @ (Frame::Goaway(_) | Frame::Settings(_)))) => {
                    let mut again = Vec::new();
                    f.encode(&mut again);
                    let mut d2 = FrameDecoder::default();
                    d2.handle_bytes(&again);
                    assert_eq!(d2.poll_frame(), Ok(Some(f)));
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
});
