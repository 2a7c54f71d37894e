//! Fuzz target: `skubench_fuzz::parsers::udp_datagram` (its doc says what is checked).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skubench_fuzz::parsers::udp_datagram(data));
