//! Runs one disk workload (or a fio job file) and prints its metrics, as
//! JSON lines `{name, value, unit}`; a stand-in for `skubench run disk`
//! used by `bench/disk-vs-fio.sh` when the CLI is not built.
//!
//! Usage: `disk_run key=value …` (suite keys such as duration=10 included)
//! or `disk_run --fio JOB.fio`.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use bench_core::runner::Runner;
use bench_core::suite::single_workload;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let registry = workloads::registry();
    let vcpus = bench_core::affinity::online_vcpus();
    let suite = if args.first().map(String::as_str) == Some("--fio") {
        let Some(path) = args.get(1) else {
            eprintln!("usage: disk_run --fio JOB.fio");
            std::process::exit(2);
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(2);
            }
        };
        let destructive = args.iter().any(|a| a == "--allow-destructive");
        workloads::disk::fio::suite_from_fio(&text, path, &registry, vcpus, destructive)
    } else {
        let mut kv = Vec::new();
        for a in &args {
            let Some((k, v)) = a.split_once('=') else {
                eprintln!("expected key=value, got `{a}`");
                std::process::exit(2);
            };
            kv.push((k.to_string(), v.to_string()));
        }
        single_workload("disk", &kv, &registry, vcpus)
    };
    let mut suite = match suite {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let runner = Runner::new(Arc::new(AtomicBool::new(false)));
    let (records, _status) = runner.run_suite(&mut suite, &mut []);
    let mut failed = false;
    for r in &records {
        if let Some(e) = &r.error {
            eprintln!("{}: {e}", r.id);
            failed = true;
        }
        for m in &r.metrics {
            println!(
                "{{\"run\":\"{}\",\"name\":\"{}\",\"value\":{},\"unit\":\"{}\"}}",
                r.id, m.name, m.value, m.unit
            );
        }
        println!(
            "{{\"run\":\"{}\",\"notes\":{}}}",
            r.id,
            serde_json::to_string(&r.notes).unwrap_or_default()
        );
    }
    if failed {
        std::process::exit(3);
    }
}
