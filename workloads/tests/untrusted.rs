//! Untrusted inputs, mutated at random: suites, fio job files, result files
//! and histogram blobs. Each parse returns a value or an error that says
//! where the problem is; none panics.

mod common;

use bench_core::hist;
use bench_core::result::ResultFile;
use bench_core::suite::parse_suite;
use proptest::prelude::*;
use workloads::disk::fio::suite_from_fio_env;

const QUICK: &str = include_str!("../../suites/quick.toml");
const ONBOARDING: &str = include_str!("../../suites/onboarding.toml");
const FIO: &str = "; a job file with the options skubench takes\n[global]\nioengine=io_uring\n\
    direct=1\nbs=${BS}\nsize=64m\nruntime=10\ntime_based\nramp_time=2\n\n[rr]\nrw=randread\n\
    iodepth=32\nnumjobs=2\nbssplit=4k/50:64k/50\n\n[rw]\nrw=randrw\nrwmixread=70\nfsync=8\n\
    verify=crc32c\nrate_iops=500\nrandom_distribution=zipf:1.2\n";

/// One edit of a text: (kind, position, byte).
fn edits() -> impl Strategy<Value = Vec<(u8, usize, u8)>> {
    // Bytes that matter to TOML, INI and JSON, plus a non-UTF-8 one.
    let byte = prop::sample::select(vec![
        b'"', b'\'', b'[', b']', b'{', b'}', b'=', b',', b':', b'\n', b'#', b';', b'$', b'-', b'.',
        b'0', b'9', b'e', b'k', b'x', b' ', b'\\', 0xff,
    ]);
    prop::collection::vec((0u8..4, any::<usize>(), byte), 1..6)
}

fn mutate(text: &str, edits: &[(u8, usize, u8)]) -> String {
    let mut b = text.as_bytes().to_vec();
    for &(kind, pos, byte) in edits {
        if b.is_empty() {
            break;
        }
        let i = pos % b.len();
        match kind {
            0 => b[i] = byte,
            1 => {
                b.remove(i);
            }
            2 => b.insert(i, byte),
            _ => b.truncate(i),
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// A real result file: two short runs of the null workload.
fn result_text() -> String {
    let reg = workloads::registry();
    let mut suite = parse_suite(
        "warmup = 0\nops = 500\nrepetitions = 2\n[[workload]]\nkind = \"null\"\n",
        "r.toml",
        &reg,
        2,
    )
    .unwrap();
    let (runs, status) = common::runner().run_suite(&mut suite, &mut []);
    let f = ResultFile {
        schema: bench_core::RESULT_SCHEMA.to_string(),
        tool: bench_core::result::ToolInfo {
            name: "skubench".into(),
            version: "0".into(),
            git_revision: "test".into(),
        },
        status,
        error: None,
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: "2026-01-01T00:00:01Z".into(),
        host: bench_core::host::HostInfo::default(),
        invocation: Default::default(),
        runs,
    };
    f.to_json().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn suite_mutations_are_errors_naming_the_file(e in edits(), which in 0usize..2) {
        let reg = workloads::registry();
        let base = [QUICK, ONBOARDING][which];
        let text = mutate(base, &e);
        if let Err(err) = parse_suite(&text, "s.toml", &reg, 2) {
            let m = err.to_string();
            prop_assert!(m.contains("s.toml"), "error without the file name: {m}");
        }
    }

    #[test]
    fn fio_job_mutations_are_errors_naming_the_file(e in edits()) {
        let reg = workloads::registry();
        let env = |k: &str| (k == "BS").then(|| "4k".to_string());
        let text = mutate(FIO, &e);
        if let Err(err) = suite_from_fio_env(&text, "j.fio", &reg, 2, false, &env) {
            let m = err.to_string();
            prop_assert!(m.contains("j.fio"), "error without the file name: {m}");
        }
    }

    #[test]
    fn histogram_blob_mutations_do_not_panic(e in edits()) {
        let mut h = hist::new_hist();
        for v in [1_000u64, 2_000, 50_000, 1_000_000] {
            h.record(v).unwrap();
        }
        let blob = hist::encode(&h).unwrap();
        let _ = hist::decode(&mutate(&blob, &e));
    }
}

#[test]
fn result_file_mutations_are_errors_not_panics() {
    let text = result_text();
    assert!(
        ResultFile::parse(&text).is_ok(),
        "the fixture itself must parse"
    );
    let rejected = std::cell::Cell::new(0u32);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 400,
        ..ProptestConfig::default()
    });
    runner
        .run(&edits(), |e| {
            match ResultFile::parse(&mutate(&text, &e)) {
                Ok(f) => {
                    // Whatever parses must be usable: every histogram decodes
                    // or says why.
                    for r in &f.runs {
                        for name in r.histograms.keys() {
                            let _ = r.histogram(name);
                        }
                    }
                }
                Err(m) => {
                    prop_assert!(!m.to_string().is_empty());
                    rejected.set(rejected.get() + 1);
                }
            }
            Ok(())
        })
        .unwrap();
    assert!(
        rejected.get() > 0,
        "no mutation was rejected: the test proves nothing"
    );
}
