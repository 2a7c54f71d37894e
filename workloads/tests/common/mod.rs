//! What the workload tests share: suites parsed against the full registry,
//! run by a runner without disturbance monitoring, and figures read back.
//!
//! Each test binary uses its part of this module.
#![allow(dead_code)]

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use bench_core::result::{RunRecord, Status};
use bench_core::runner::Runner;
use bench_core::suite::{parse_suite, Suite};
use bench_core::SpecError;

/// The suite `text` (file `t.toml`) for a host of `vcpus` vCPUs; panics with
/// the spec error.
pub fn suite(text: &str, vcpus: usize) -> Suite {
    parse_suite(text, "t.toml", &workloads::registry(), vcpus).unwrap_or_else(|e| panic!("{e}"))
}

/// Why the suite `text` (file `t.toml`, a 2-vCPU host) is refused; panics if
/// it is not.
pub fn spec_error(text: &str) -> SpecError {
    match parse_suite(text, "t.toml", &workloads::registry(), 2) {
        Ok(_) => panic!("the suite was accepted:\n{text}"),
        Err(e) => e,
    }
}

/// A runner on the real clock for this host's vCPUs, eBPF where it can run,
/// without disturbance monitoring (which would fail short runs on a busy
/// test machine).
pub fn runner() -> Runner {
    Runner {
        monitor: None,
        ..Runner::new(Arc::new(AtomicBool::new(false)))
    }
}

/// A runner as on a 2-vCPU host without eBPF, for tests whose suites are
/// parsed for 2 vCPUs.
pub fn small_runner() -> Runner {
    Runner {
        vcpus: 2,
        ebpf: Default::default(),
        ..runner()
    }
}

/// Runs the suite `text`, parsed for this host's vCPUs, with [`runner`].
pub fn run(text: &str) -> (Vec<RunRecord>, Status) {
    let mut s = suite(text, bench_core::affinity::online_vcpus());
    runner().run_suite(&mut s, &mut [])
}

/// [`run`], asserting that every run succeeded (the message lists the
/// runs' errors).
pub fn run_ok(text: &str) -> Vec<RunRecord> {
    let (recs, status) = run(text);
    assert_ok(&recs, status);
    recs
}

/// Asserts `status` is ok; the message lists the runs' errors.
pub fn assert_ok(recs: &[RunRecord], status: Status) {
    assert_eq!(
        status,
        Status::Ok,
        "{:?}",
        recs.iter().map(|r| &r.error).collect::<Vec<_>>()
    );
}

/// The value of metric `name` of `r`; panics naming the metrics it has and
/// the run's error.
pub fn metric(r: &RunRecord, name: &str) -> f64 {
    r.metric(name)
        .unwrap_or_else(|| {
            let names: Vec<&str> = r.metrics.iter().map(|m| m.name.as_str()).collect();
            panic!("no metric {name}; have {names:?}; error {:?}", r.error)
        })
        .value
}

/// The error of a run that must have failed.
pub fn failure(r: &RunRecord) -> String {
    assert_eq!(r.status, Status::Failed, "the run did not fail");
    r.error.clone().unwrap_or_default()
}

/// The port a peer child prints as `PORT <n>` on its stdout, read on a
/// thread so a silent child fails the test after 30 s instead of hanging it.
#[allow(dead_code)] // not every test binary starts a peer child
pub fn reported_port(out: std::process::ChildStdout) -> u16 {
    use std::io::{BufRead, BufReader};
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(p) = line.split_once("PORT ").map(|x| x.1) {
                let _ = tx.send(p.trim().parse::<u16>().unwrap());
                return;
            }
        }
    });
    rx.recv_timeout(std::time::Duration::from_secs(30))
        .expect("the peer child did not report its port")
}
