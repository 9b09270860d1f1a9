//! URI template parsing and path matching; never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxidize_relay_core::template::UriTemplate;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = UriTemplate::default().match_path(s);
        if let Ok(t) = UriTemplate::parse(s) {
            let _ = t.match_path(s);
        }
    }
});
