//! Inner IPv4/IPv6 header parsing and the source check; never panic.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use oxidize_relay_core::packet::check_from_client;
use oxidize_relay_core::pool::Assignment;

fuzz_target!(|data: &[u8]| {
    let me = Assignment {
        v4: Ipv4Addr::new(10, 8, 0, 2),
        v6: None,
    };
    let _ = check_from_client(data, &me, 1500);
});
