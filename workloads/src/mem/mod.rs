//! Memory workloads: STREAM bandwidth (`mem.stream`), load-to-use latency by
//! working-set size (`mem.latency`) and the page-fault rate (`mem.pagefault`).
//!
//! Shared here: anonymous memory regions with an explicit huge-page policy,
//! the cache sizes from /sys, building memory on a pinned thread (so first
//! touch places the pages where the measuring thread runs) and a barrier
//! that can be broken when a worker fails.

pub mod latency;
pub mod numa;
pub mod pagefault;
pub mod stream;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use bench_core::params::{ParamDef, ParamKind, Params};
use bench_core::workload::WorkloadFactory;
use bench_core::{SpecError, WorkloadError};

/// The memory workload kinds.
pub fn factories() -> Vec<Box<dyn WorkloadFactory>> {
    vec![
        Box::new(stream::StreamFactory),
        Box::new(latency::LatencyFactory),
        Box::new(pagefault::PagefaultFactory),
        Box::new(numa::NumaFactory),
    ]
}

/// Transparent-huge-page policy applied to a region with `madvise`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hugepages {
    /// No advice: the system's THP mode decides.
    Default,
    /// `MADV_NOHUGEPAGE`: 4 KiB pages even when THP is `always`.
    Off,
    /// `MADV_HUGEPAGE`: ask for transparent huge pages (works in `madvise` mode).
    Thp,
}

impl Hugepages {
    /// The parameter word for this policy.
    pub fn as_str(self) -> &'static str {
        match self {
            Hugepages::Default => "default",
            Hugepages::Off => "off",
            Hugepages::Thp => "thp",
        }
    }

    fn from_params(p: &Params) -> Result<Self, SpecError> {
        Ok(match p.str("hugepages")? {
            "off" => Hugepages::Off,
            "thp" => Hugepages::Thp,
            _ => Hugepages::Default,
        })
    }
}

/// The `hugepages` parameter shared by the memory workloads.
const fn hugepages_param(default: &'static str) -> ParamDef {
    ParamDef {
        name: "hugepages",
        kind: ParamKind::Choice(&["default", "off", "thp"]),
        default: Some(default),
        help: "transparent huge pages: system default, off (MADV_NOHUGEPAGE) or thp (MADV_HUGEPAGE); recorded in the result",
    }
}

/// An anonymous private mapping, unmapped on drop. Fresh pages read as zero.
pub struct Region {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the region is plain memory owned exclusively by this value; moving
// it to another thread moves that ownership.
unsafe impl Send for Region {}

/// Size of a huge page for alignment purposes (x86-64 and arm64 with 4K base pages).
const HUGE_ALIGN: usize = 2 << 20;

impl Region {
    /// Maps `len` bytes (rounded up to whole pages) with the given THP policy.
    /// Nothing is touched: pages are placed by the first thread that writes them.
    pub fn new(len: usize, hp: Hugepages) -> Result<Self, WorkloadError> {
        if len == 0 {
            return Err(WorkloadError::Other("cannot map an empty region".into()));
        }
        let page = page_size();
        let len = len
            .checked_next_multiple_of(page)
            .ok_or_else(|| WorkloadError::Other(format!("region of {len} bytes is too large")))?;
        // Over-map by one huge page so the start can be 2 MiB aligned: THP
        // only backs aligned 2 MiB extents, and an unaligned start would
        // leave the ends on 4 KiB pages.
        let extra = if hp == Hugepages::Thp { HUGE_ALIGN } else { 0 };
        let map_len = len + extra;
        // SAFETY: anonymous private mapping with no address hint; the result
        // is checked against MAP_FAILED before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(WorkloadError::io(
                format!("mmap {map_len} bytes"),
                std::io::Error::last_os_error(),
            ));
        }
        let mut ptr = p.cast::<u8>();
        if extra > 0 {
            let addr = ptr as usize;
            let aligned = addr.next_multiple_of(HUGE_ALIGN);
            let head = aligned - addr;
            let tail = extra - head;
            // SAFETY: both ranges lie inside the mapping just created and
            // are never used; unmapping them leaves [aligned, aligned+len).
            unsafe {
                if head > 0 {
                    libc::munmap(p, head);
                }
                if tail > 0 {
                    libc::munmap(ptr.add(head + len).cast(), tail);
                }
            }
            // SAFETY: head < extra, within the mapping.
            ptr = unsafe { ptr.add(head) };
        }
        let advice = match hp {
            Hugepages::Default => None,
            Hugepages::Off => Some(libc::MADV_NOHUGEPAGE),
            Hugepages::Thp => Some(libc::MADV_HUGEPAGE),
        };
        if let Some(a) = advice {
            // SAFETY: advice on a range we own; failure only means no THP
            // control (e.g. a kernel without THP), which is recorded via
            // `thp_bytes`, so the result is deliberately ignored.
            unsafe {
                libc::madvise(ptr.cast(), len, a);
            }
        }
        Ok(Self { ptr, len })
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region is empty (never: `new` refuses that).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Start address.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr
    }

    /// Start address, read-only.
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr
    }

    /// The region as `f64`s (its length must be a multiple of 8, which
    /// page rounding guarantees).
    pub fn as_f64_mut(&mut self) -> &mut [f64] {
        // SAFETY: the mapping is page aligned (so f64 aligned), readable and
        // writable for `len` bytes, zero-initialised (a valid f64 pattern),
        // and borrowed mutably through `self` for the slice's lifetime.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.cast::<f64>(), self.len / 8) }
    }

    /// The region as `f64`s, read-only.
    pub fn as_f64(&self) -> &[f64] {
        // SAFETY: as `as_f64_mut`, borrowed shared through `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<f64>(), self.len / 8) }
    }

    /// Bytes of this region backed by transparent huge pages right now,
    /// from /proc/self/smaps (`None` when it cannot be read).
    pub fn thp_bytes(&self) -> Option<u64> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        anon_huge_bytes(&smaps, self.ptr as usize, self.len)
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly the range this value owns; no
        // references into it outlive `self`.
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}

/// `AnonHugePages` of `[start, start+len)`, from the smaps entries that
/// overlap it (the kernel may split one mapping into several VMAs, or merge
/// adjacent mappings, such as the per-thread slices of one array, into
/// one). A VMA that reaches outside the range counts its huge pages in
/// proportion to the overlap, at most the overlap: smaps does not say where
/// inside the VMA they lie, and counting the whole VMA for every slice made
/// a share of ≤ 1 read 18.9 at 16 threads.
pub fn anon_huge_bytes(smaps: &str, start: usize, len: usize) -> Option<u64> {
    let end = start.saturating_add(len);
    // The current VMA's overlap with the range and its length, when it overlaps.
    let mut inside: Option<(u64, u64)> = None;
    let mut total = 0u64;
    let mut seen = false;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-') {
            if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                inside = (a < end && b > start && b > a).then(|| {
                    let overlap = (b.min(end) - a.max(start)) as u64;
                    (overlap, (b - a) as u64)
                });
                seen |= inside.is_some();
                continue;
            }
        }
        if let Some((overlap, vma)) = inside {
            if let Some(rest) = line.strip_prefix("AnonHugePages:") {
                let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
                let huge = kb.saturating_mul(1024);
                let share = if overlap >= vma {
                    huge
                } else {
                    (huge as u128 * overlap as u128 / vma as u128) as u64
                };
                total = total.saturating_add(share.min(overlap));
            }
        }
    }
    seen.then_some(total)
}

/// The base page size.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

/// One data or unified cache level of cpu0, from /sys.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CacheLevel {
    /// 1, 2, 3 …
    pub level: u32,
    /// `Data` or `Unified`.
    pub kind: String,
    /// Size in bytes.
    pub bytes: u64,
    /// vCPUs sharing it, as /sys lists them (`0-1`).
    pub shared_cpus: String,
}

/// The data/unified caches of cpu0 under `root` (normally
/// `/sys/devices/system/cpu/cpu0/cache`), smallest level first.
pub fn cache_levels_at(root: &Path) -> Vec<CacheLevel> {
    let mut out = Vec::new();
    for i in 0..16 {
        let dir = root.join(format!("index{i}"));
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).map(|s| s.trim().to_string());
        let Ok(kind) = read("type") else {
            break;
        };
        if kind == "Instruction" {
            continue;
        }
        let level = read("level").ok().and_then(|l| l.parse().ok());
        let bytes = read("size")
            .ok()
            .and_then(|s| bench_core::units::parse_size(&s).ok());
        if let (Some(level), Some(bytes)) = (level, bytes) {
            out.push(CacheLevel {
                level,
                kind,
                bytes,
                shared_cpus: read("shared_cpu_list").unwrap_or_default(),
            });
        }
    }
    out.sort_by_key(|c| c.level);
    out.dedup_by_key(|c| c.level);
    out
}

/// The data/unified caches of this machine's cpu0, smallest level first.
pub fn cache_levels() -> Vec<CacheLevel> {
    cache_levels_at(Path::new("/sys/devices/system/cpu/cpu0/cache"))
}

/// `MemAvailable` from /proc/meminfo, bytes.
pub fn mem_available() -> Option<u64> {
    let m = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = m
        .lines()
        .find(|l| l.starts_with("MemAvailable:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Fails when `need` bytes would not fit in 90% of the available memory.
fn check_memory(what: &str, need: u64) -> Result<(), WorkloadError> {
    if let Some(avail) = mem_available() {
        if need > avail / 10 * 9 {
            return Err(WorkloadError::Other(format!(
                "{what} needs {} MiB but only {} MiB of memory is available",
                need >> 20,
                avail >> 20
            )));
        }
    }
    Ok(())
}

/// Runs `f` on a short-lived thread pinned to `cpu` (when given) and returns
/// its result. Memory that `f` first touches is placed by the kernel near
/// that vCPU, as it would be by the measuring worker itself, yet the work
/// happens before the runner starts the step's clock.
pub fn on_cpu<T: Send>(
    cpu: Option<usize>,
    f: impl FnOnce() -> Result<T, WorkloadError> + Send,
) -> Result<T, WorkloadError> {
    std::thread::scope(|s| {
        let h = std::thread::Builder::new()
            .name("skubench-mem-init".into())
            .spawn_scoped(s, move || {
                if let Some(c) = cpu {
                    bench_core::affinity::pin_current_thread(c)
                        .map_err(|e| WorkloadError::io(format!("pin to vCPU {c}"), e))?;
                }
                f()
            })
            .map_err(|e| WorkloadError::io("spawn memory set-up thread", e))?;
        h.join()
            .unwrap_or_else(|_| Err(WorkloadError::Other("memory set-up panicked".into())))
    })
}

/// A reusable barrier for a fixed number of threads that any party can
/// break: waiters then return an error instead of hanging. A worker that
/// fails (or leaves) breaks it so the others stop too.
///
/// The last thread to arrive reads the clock while holding the lock, and
/// every thread gets that reading back: the moment all had arrived. Timing
/// a parallel phase between two such moments cannot come out short when
/// the thread that reads them is woken late.
pub struct Barrier {
    n: usize,
    /// (arrived, generation, release time of the last generation)
    state: Mutex<(usize, u64, u64)>,
    cv: Condvar,
    broken: AtomicBool,
}

impl Barrier {
    /// A barrier for `n` threads.
    pub fn new(n: usize) -> Self {
        Self {
            n: n.max(1),
            state: Mutex::new((0, 0, 0)),
            cv: Condvar::new(),
            broken: AtomicBool::new(false),
        }
    }

    /// Breaks the barrier: current and future waiters get an error.
    pub fn break_it(&self) {
        self.broken.store(true, Ordering::SeqCst);
        let _g = self.state.lock();
        self.cv.notify_all();
    }

    /// Whether the barrier was broken.
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::SeqCst)
    }

    /// Waits for all `n` threads and returns `now()` as read by the last
    /// one to arrive. Returns `Err` when the barrier is broken, or nobody
    /// else arrived within `timeout` (a hung peer).
    pub fn wait(&self, timeout: Duration, now: impl Fn() -> u64) -> Result<u64, WorkloadError> {
        let err = || WorkloadError::Other("another memory worker stopped".into());
        if self.is_broken() {
            return Err(err());
        }
        let mut g = self.state.lock().map_err(|_| err())?;
        let gen = g.1;
        g.0 += 1;
        if g.0 == self.n {
            let t = now();
            *g = (0, gen.wrapping_add(1), t);
            self.cv.notify_all();
            return Ok(t);
        }
        let deadline = Instant::now() + timeout;
        // Bounded by the deadline; wakes every 50 ms to notice a break.
        while g.1 == gen {
            if self.is_broken() {
                return Err(err());
            }
            let now = Instant::now();
            if now >= deadline {
                drop(g);
                self.break_it();
                return Err(WorkloadError::Other(format!(
                    "memory workers did not meet within {timeout:?}"
                )));
            }
            let wait = (deadline - now).min(Duration::from_millis(50));
            g = self.cv.wait_timeout(g, wait).map_err(|_| err())?.0;
        }
        Ok(g.2)
    }
}

/// Formats a size as the shortest exact `k`/`m`/`g` word: `16k`, `1536k`, `1g`.
pub fn size_label(bytes: u64) -> String {
    const G: u64 = 1 << 30;
    const M: u64 = 1 << 20;
    const K: u64 = 1 << 10;
    if bytes >= G && bytes.is_multiple_of(G) {
        format!("{}g", bytes / G)
    } else if bytes >= M && bytes.is_multiple_of(M) {
        format!("{}m", bytes / M)
    } else if bytes >= K && bytes.is_multiple_of(K) {
        format!("{}k", bytes / K)
    } else {
        format!("{bytes}")
    }
}

/// The vCPUs to pin to: the `pin` list after checking every entry is
/// allowed, or every allowed vCPU.
fn pin_list(p: &Params) -> Result<Vec<usize>, SpecError> {
    let allowed = bench_core::affinity::allowed_cpus();
    Ok(bench_core::affinity::pin_param(p, &allowed)?.unwrap_or(allowed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_labels() {
        assert_eq!(size_label(16 << 10), "16k");
        assert_eq!(size_label(1536 << 10), "1536k");
        assert_eq!(size_label(1 << 30), "1g");
        assert_eq!(size_label(48 << 20), "48m");
        assert_eq!(size_label(100), "100");
    }

    #[test]
    fn smaps_parsing_sums_overlapping_vmas() {
        let s = "7f0000000000-7f0000400000 rw-p 00000000 00:00 0\nSize: 4096 kB\nAnonHugePages:  2048 kB\n\
                 7f0000400000-7f0000600000 rw-p 00000000 00:00 0\nAnonHugePages:  2048 kB\n\
                 7f1000000000-7f1000200000 rw-p 00000000 00:00 0\nAnonHugePages:  2048 kB\n";
        assert_eq!(
            anon_huge_bytes(s, 0x7f00_0000_0000, 0x60_0000),
            Some(4 << 20)
        );
        assert_eq!(anon_huge_bytes(s, 0x1000, 0x1000), None);
        // Four threads' 2 MiB slices merged into one 8 MiB VMA, 6 MiB of it
        // huge: each slice counts a quarter, and the slices sum to the VMA.
        let merged = "7f0000000000-7f0000800000 rw-p 00000000 00:00 0\nAnonHugePages:  6144 kB\n";
        let slices: Vec<u64> = (0..4)
            .map(|i| anon_huge_bytes(merged, 0x7f00_0000_0000 + i * 0x20_0000, 0x20_0000).unwrap())
            .collect();
        assert_eq!(slices, vec![3 << 19; 4]);
        assert_eq!(slices.iter().sum::<u64>(), 6 << 20);
        // Never more than the overlap, whatever smaps claims.
        let bogus =
            "7f0000000000-7f0000400000 rw-p 00000000 00:00 0\nAnonHugePages:  999999999 kB\n";
        assert_eq!(
            anon_huge_bytes(bogus, 0x7f00_0000_0000, 0x1000),
            Some(0x1000)
        );
    }

    #[test]
    fn cache_levels_from_a_fake_sys_tree() {
        let d = tempfile::tempdir().unwrap();
        let mk = |i: usize, level: &str, kind: &str, size: &str| {
            let p = d.path().join(format!("index{i}"));
            std::fs::create_dir_all(&p).unwrap();
            std::fs::write(p.join("level"), level).unwrap();
            std::fs::write(p.join("type"), kind).unwrap();
            std::fs::write(p.join("size"), size).unwrap();
        };
        mk(0, "1", "Data", "48K\n");
        mk(1, "1", "Instruction", "32K\n");
        mk(2, "2", "Unified", "1024K\n");
        mk(3, "3", "Unified", "32768K\n");
        let c = cache_levels_at(d.path());
        assert_eq!(
            c.iter().map(|c| (c.level, c.bytes)).collect::<Vec<_>>(),
            vec![(1, 48 << 10), (2, 1 << 20), (3, 32 << 20)]
        );
    }

    #[test]
    fn region_is_zeroed_aligned_and_thp_recorded() {
        let mut r = Region::new(4 << 20, Hugepages::Thp).unwrap();
        assert_eq!(r.as_ptr() as usize % HUGE_ALIGN, 0);
        let s = r.as_f64_mut();
        assert_eq!(s.len(), (4 << 20) / 8);
        assert!(s.iter().all(|x| *x == 0.0));
        s.iter_mut().for_each(|x| *x = 1.0);
        // Whether THP backs it depends on the host; the lookup must find it.
        assert!(r.thp_bytes().is_some());
    }

    #[test]
    fn barrier_releases_and_breaks() {
        let t = Duration::from_secs(5);
        let b = Barrier::new(2);
        std::thread::scope(|s| {
            let h = s.spawn(|| b.wait(t, || 7));
            std::thread::sleep(Duration::from_millis(20));
            // The last to arrive stamps the release; both see its stamp.
            assert_eq!(b.wait(t, || 42).unwrap(), 42);
            assert_eq!(h.join().unwrap().unwrap(), 42);
        });
        let b = Barrier::new(2);
        std::thread::scope(|s| {
            let h = s.spawn(|| b.wait(t, || 0));
            std::thread::sleep(Duration::from_millis(20));
            b.break_it();
            assert!(h.join().unwrap().is_err());
        });
        let b = Barrier::new(2);
        assert!(b.wait(Duration::from_millis(30), || 0).is_err());
    }
}
