//! Fuzz target: `skubench_fuzz::parsers::hist_blob` (its doc says what is checked).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skubench_fuzz::parsers::hist_blob(data));
