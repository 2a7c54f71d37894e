//! The measurement clock.
//!
//! Two `Instant::now()` calls cost ≈ 44 ns on a KVM guest (each is a vDSO
//! `clock_gettime`), more than the operations some workloads time. The runner
//! therefore reads a calibrated TSC through `quanta` (≈ 9 ns a read) and reads
//! it once per operation: the end of one operation is the start of the next.
//! `quanta` falls back to `CLOCK_MONOTONIC` when the TSC is not invariant; the
//! result file records which source was used.

use std::sync::Arc;

/// A cheap raw clock with conversion of raw deltas to nanoseconds.
#[derive(Clone, Debug)]
pub struct Clock {
    inner: quanta::Clock,
    source: &'static str,
}

impl Clock {
    /// The fastest reliable clock on this machine (TSC when invariant).
    pub fn new() -> Self {
        let source = if tsc_usable() { "tsc" } else { "monotonic" };
        Self {
            inner: quanta::Clock::new(),
            source,
        }
    }

    /// A clock whose time only moves when the returned handle says so;
    /// used by tests to drive the runner deterministically.
    pub fn mock() -> (Self, Arc<quanta::Mock>) {
        let (inner, mock) = quanta::Clock::mock();
        (
            Self {
                inner,
                source: "mock",
            },
            mock,
        )
    }

    /// Which source backs this clock: `tsc`, `monotonic` or `mock`.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// A raw reading; only differences converted by [`Clock::delta_ns`] mean anything.
    #[inline(always)]
    pub fn raw(&self) -> u64 {
        self.inner.raw()
    }

    /// Nanoseconds between two raw readings (0 if `end` is not after `start`).
    #[inline(always)]
    pub fn delta_ns(&self, start: u64, end: u64) -> u64 {
        self.inner.delta_as_nanos(start, end)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether the CPU advertises an invariant TSC (both `constant_tsc` and
/// `nonstop_tsc`), which is what `quanta` needs to use it.
pub fn tsc_usable() -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
        return false;
    };
    let flags = info
        .lines()
        .find(|l| l.starts_with("flags"))
        .unwrap_or_default();
    let has = |f: &str| flags.split_whitespace().any(|x| x == f);
    has("constant_tsc") && has("nonstop_tsc")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn real_clock_advances_in_nanoseconds() {
        let c = Clock::new();
        let a = c.raw();
        std::thread::sleep(Duration::from_millis(20));
        let b = c.raw();
        let ns = c.delta_ns(a, b);
        assert!(ns >= 19_000_000, "{ns}");
        assert!(ns < 2_000_000_000, "{ns}");
    }

    #[test]
    fn mock_clock_is_exact() {
        let (c, m) = Clock::mock();
        let a = c.raw();
        m.increment(Duration::from_nanos(1234));
        assert_eq!(c.delta_ns(a, c.raw()), 1234);
    }
}
