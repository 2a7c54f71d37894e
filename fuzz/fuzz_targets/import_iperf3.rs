//! Fuzz target: `skubench_fuzz::analysis::import_iperf3` (its doc says what is checked).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skubench_fuzz::analysis::import_iperf3(data));
