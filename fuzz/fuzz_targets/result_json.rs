//! Fuzz target: `skubench_fuzz::parsers::result_json` (its doc says what is checked).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skubench_fuzz::parsers::result_json(data));
