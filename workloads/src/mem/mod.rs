//! Memory workloads (STREAM, latency, page faults). Filled in by the memory issue.

use bench_core::workload::WorkloadFactory;

/// The memory workload kinds.
pub fn factories() -> Vec<Box<dyn WorkloadFactory>> {
    Vec::new()
}
