//! Fuzz target: `skubench_fuzz::analysis::policy_toml` (its doc says what is checked).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skubench_fuzz::analysis::policy_toml(data));
