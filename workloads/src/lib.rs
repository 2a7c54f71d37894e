//! skubench workload generators, one module per family. Each implements
//! bench-core's `WorkloadFactory` / `Workload` / `Worker`.

pub mod cpu;
pub mod disk;
pub mod jitter;
pub mod mem;
pub mod net;

use bench_core::null::NullFactory;
use bench_core::workload::Registry;

/// Every workload kind this build knows, `null` included.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.add(Box::new(cpu::CpuFactory));
    r.add(Box::new(jitter::JitterFactory));
    for f in mem::factories() {
        r.add(f);
    }
    for f in disk::factories() {
        r.add(f);
    }
    for f in net::factories() {
        r.add(f);
    }
    r.add(Box::new(NullFactory));
    r
}
