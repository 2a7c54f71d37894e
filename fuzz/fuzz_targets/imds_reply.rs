//! Fuzz target: `skubench_fuzz::analysis::imds_reply` (its doc says what is checked).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skubench_fuzz::analysis::imds_reply(data));
