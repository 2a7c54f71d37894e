//! Disk workloads (fio-class). Filled in by the disk issue.

use bench_core::workload::WorkloadFactory;

/// The disk workload kinds.
pub fn factories() -> Vec<Box<dyn WorkloadFactory>> {
    Vec::new()
}
