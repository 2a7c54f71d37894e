//! Replays of the fuzz targets' inputs in the normal tests (stable, no
//! libFuzzer): every crash the fuzzers found (fuzz/regressions/TARGET/),
//! now fixed, and every seed (fuzz/seeds/TARGET/), through the same checks
//! the fuzz targets run (fuzz/src/, included here). ci/fuzz.sh runs the
//! fuzzers themselves; docs/reliability.md has their figures.

#[path = "../fuzz/src/analysis.rs"]
mod analysis;
#[path = "../fuzz/src/parsers.rs"]
mod parsers;

use std::path::Path;

type Check = fn(&[u8]);

const TARGETS: &[(&str, Check)] = &[
    ("suite_toml", parsers::suite_toml),
    ("fio_job", parsers::fio_job),
    ("result_json", parsers::result_json),
    ("hist_blob", parsers::hist_blob),
    ("peer_frames", parsers::peer_frames),
    ("udp_datagram", parsers::udp_datagram),
    ("policy_toml", analysis::policy_toml),
    ("spec_toml", analysis::spec_toml),
    ("import_fio", analysis::import_fio),
    ("import_iperf3", analysis::import_iperf3),
    ("imds_reply", analysis::imds_reply),
];

/// The files of `fuzz/DIR/TARGET/`, sorted; none when the folder is absent.
fn inputs(dir: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(dir)
        .join(target);
    let Ok(rd) = std::fs::read_dir(&d) else {
        return Vec::new();
    };
    let mut v: Vec<_> = rd
        .map(|e| {
            let p = e.unwrap().path();
            (p.display().to_string(), std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_crash_the_fuzzers_found_is_handled() {
    let mut n = 0;
    for (target, check) in TARGETS {
        for (name, data) in inputs("regressions", target) {
            eprintln!("{target}: {name}");
            check(&data);
            n += 1;
        }
    }
    assert!(n > 0, "no regression inputs under fuzz/regressions/");
}

#[test]
fn every_seed_passes_its_target_checks() {
    for (target, check) in TARGETS {
        let seeds = inputs("seeds", target);
        assert!(!seeds.is_empty(), "fuzz/seeds/{target}/ is empty");
        for (_, data) in seeds {
            check(&data);
        }
    }
}

/// The regression input `fuzz/regressions/TARGET/NAME`.
fn regression(target: &str, name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target)
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn crafted_histogram_blobs_are_errors_that_say_why() {
    use base64::Engine;
    for (name, why) in [
        // A 348-byte blob whose header asks for a 4 GiB payload: the
        // deserializer allocated it (4 GB RSS, 34 s) before reading.
        ("payload-length-4-gib", "bytes follow its header"),
        // A zero run of i64::MIN: hdrhistogram's negation overflowed.
        ("zero-run-of-i64-min", "2^63 zero counts"),
        // Counts whose sum overflows u64: hdrhistogram saturated the total,
        // so every percentile of it was wrong.
        ("counts-overflow-u64", "more than 2^64"),
        // A V2 header cut short: the first version of the length check
        // above sliced past its end. The fuzzer's input was compressed
        // (`deflated-header-shorter-than-40-bytes`, which the fuzz build
        // inflates and a normal build refuses as a corrupt stream); this
        // is the same header uncompressed.
        ("header-shorter-than-40-bytes", "a V2 header has 40"),
    ] {
        let data = regression("hist_blob", name);
        // The target's first byte 0x01: the rest is raw V2 bytes.
        assert_eq!(data[0], 1, "{name}");
        let blob = base64::engine::general_purpose::STANDARD.encode(&data[1..]);
        let e = bench_core::hist::decode(&blob).unwrap_err().to_string();
        assert!(e.contains(why), "{name}: {e}");
    }
}

#[test]
fn a_duration_of_centuries_is_an_error_naming_the_key() {
    let text = String::from_utf8(regression(
        "suite_toml",
        "duration-overflows-planned-time.toml",
    ))
    .unwrap();
    // Planning this suite (warm-up + duration, × repetitions) overflowed
    // Duration and panicked in `skubench run`.
    let e = bench_core::suite::parse_suite(&text, "s.toml", &workloads::registry(), 2)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("s.toml:") && e.contains("key `duration`") && e.contains("out of range"),
        "{e}"
    );
}
