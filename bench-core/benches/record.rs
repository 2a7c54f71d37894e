//! Cost of the measurement path: recording one sample (clock read +
//! histogram record + phase check) and merging per-thread histograms.
//!
//! Run: `cargo bench -p bench-core --bench record`
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use bench_core::clock::Clock;
use bench_core::hist::new_hist;
use bench_core::workload::{PhasePlan, WorkerCtx};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

fn plan() -> PhasePlan {
    PhasePlan {
        warmup: Duration::ZERO,
        duration: Some(Duration::from_secs(3600)),
        ops: None,
        interval: Duration::from_secs(1),
    }
}

fn record(c: &mut Criterion) {
    let clock = Clock::new();
    let stop = AtomicBool::new(false);
    let mut g = c.benchmark_group("record");

    // What every workload pays per operation: one TSC read, scaled deltas,
    // the boundary check and the histogram records (total + interval).
    let mut ctx = WorkerCtx::new(&clock, &stop, None, 0, clock.raw(), plan());
    g.bench_function("op_done (skubench hot path)", |b| {
        b.iter(|| {
            ctx.op_done(black_box(4096));
        })
    });

    let mut ctx2 = WorkerCtx::new(&clock, &stop, None, 0, clock.raw(), plan());
    g.bench_function("running + op_done (full loop step)", |b| {
        b.iter(|| {
            if ctx2.running() {
                ctx2.op_done(black_box(0));
            }
        })
    });

    // The naive pattern the design avoids: two clock_gettime + one record.
    let mut h = new_hist();
    g.bench_function("naive two Instant::now + record", |b| {
        b.iter(|| {
            let t = Instant::now();
            let ns = t.elapsed().as_nanos() as u64;
            h.saturating_record(black_box(ns));
        })
    });

    g.bench_function("clock raw read", |b| b.iter(|| black_box(clock.raw())));
    g.bench_function("Instant::now", |b| b.iter(|| black_box(Instant::now())));
    let mut h2 = new_hist();
    let mut v = 1u64;
    g.bench_function("histogram record only", |b| {
        b.iter(|| {
            v = v.wrapping_mul(6364136223846793005).wrapping_add(1);
            h2.saturating_record(black_box(1000 + (v >> 50)));
        })
    });
    g.finish();
}

fn merge(c: &mut Criterion) {
    let mut g = c.benchmark_group("merge");
    for threads in [2usize, 16] {
        let hists: Vec<_> = (0..threads)
            .map(|t| {
                let mut h = new_hist();
                let mut x = 0x9e3779b97f4a7c15u64 ^ t as u64;
                for _ in 0..100_000 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Latencies from 1 µs to ~1 s, log-spread like real I/O.
                    let v = 1000u64 << (x % 20);
                    h.saturating_record(v + (x >> 44));
                }
                h
            })
            .collect();
        g.bench_function(format!("{threads} per-thread histograms"), |b| {
            b.iter_batched(
                new_hist,
                |mut m| {
                    for h in &hists {
                        m.add(h).unwrap();
                    }
                    m
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, record, merge);
criterion_main!(benches);
