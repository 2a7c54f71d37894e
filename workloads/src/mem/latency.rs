//! `mem.latency`: load-to-use latency by working-set size, from L1 to DRAM.
//!
//! Each working set is a ring of 64-byte nodes in random order: node `i`
//! holds the address of node `σ(i)`, where σ is a uniformly random cyclic
//! permutation (Sattolo's algorithm), so a lap visits every node exactly
//! once and the next address is unknown until the load returns. The hardware
//! prefetchers see no stride, and every load pays the full latency of the
//! level the set lives in (plus TLB misses: use `hugepages = "thp"` to take
//! most of those out, as lmbench users do with large pages).
//!
//! One step per size (powers of two and their midpoints); the ring is built
//! by a thread pinned where the chase runs, before the step's clock starts.
//! One operation is a batch of [`LOADS_PER_OP`] dependent loads; ns per load
//! is the median batch time / loads, robust to the odd preemption.
//!
//! Plateaus are found from the curve alone (a rise of ≥ 30% that persists),
//! then set next to the cache sizes /sys reports.

use std::hint::black_box;

use bench_core::params::{ParamDef, ParamKind, Params};
use bench_core::result::{Better, Curve};
use bench_core::workload::{
    Merge, PrepareEnv, Resources, RunOutput, Step, StepResult, Worker, WorkerCtx, WorkerOutput,
    Workload, WorkloadFactory,
};
use bench_core::{SpecError, Unit, WorkloadError};
use serde::Serialize;

use super::{
    cache_levels, check_memory, hugepages_param, on_cpu, pin_list, size_label, CacheLevel,
    Hugepages, Region,
};

/// Bytes per ring node: one cache line.
pub const NODE_BYTES: usize = 64;

/// Dependent loads per measured operation.
pub const LOADS_PER_OP: u64 = 16_384;

/// Smallest working set accepted.
pub const MIN_SIZE: u64 = 4 << 10;

/// Largest working set accepted.
pub const MAX_SIZE: u64 = 64 << 30;

/// A rise between neighbouring sizes at least this large (and persisting)
/// marks the end of a plateau.
pub const RISE: f64 = 1.3;

const PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "min_size",
        kind: ParamKind::Size,
        default: Some("16k"),
        help: "smallest working set",
    },
    ParamDef {
        name: "max_size",
        kind: ParamKind::Size,
        default: None,
        help: "largest working set (powers of two and their midpoints in between; default: the first grid size ≥ 4 × the last-level cache from /sys, at least 256 MiB, 1 GiB when /sys names no cache)",
    },
    ParamDef {
        name: "size_duration",
        kind: ParamKind::Duration,
        default: Some("300ms"),
        help: "measured time per working-set size (each size is one step)",
    },
    ParamDef {
        name: "pin",
        kind: ParamKind::CpuList,
        default: None,
        help: "vCPU of the chasing thread (default: the first allowed vCPU)",
    },
    ParamDef {
        name: "seed",
        kind: ParamKind::U64 {
            min: 0,
            max: u64::MAX,
        },
        default: Some("1"),
        help: "seed of the ring's random order",
    },
    hugepages_param("default"),
];

/// Factory of `mem.latency`.
pub struct LatencyFactory;

/// A configured `mem.latency`.
pub struct LatencyWorkload {
    sizes: Vec<u64>,
    cpu: usize,
    duration: std::time::Duration,
    seed: u64,
    hugepages: Hugepages,
}

/// Smallest default largest working set: DRAM latency keeps rising past
/// the LLC as the TLB's reach runs out, so a few hundred MiB are needed
/// even above a small LLC.
pub const MIN_DEFAULT_MAX_SIZE: u64 = 256 << 20;

/// The default `max_size` for an LLC of `llc_bytes`: the first grid size
/// (power of two or midpoint) at or above 4 × LLC, and at least
/// [`MIN_DEFAULT_MAX_SIZE`], so the DRAM plateau is measured well beyond
/// the cache on any machine (a 300 MiB "L3" gives 1.5 GiB); 1 GiB when
/// the LLC is unknown.
pub fn default_max_size(llc_bytes: u64) -> u64 {
    if llc_bytes == 0 {
        return 1 << 30;
    }
    let want = llc_bytes.saturating_mul(4).max(MIN_DEFAULT_MAX_SIZE);
    sizes(MIN_SIZE, MAX_SIZE)
        .into_iter()
        .find(|&s| s >= want)
        .unwrap_or(MAX_SIZE)
}

/// The working-set sizes from `min` to `max`: every power of two and its
/// midpoint (1.5×) in the range, starting at the power of two ≤ `min`
/// (or `min` itself when it is one).
pub fn sizes(min: u64, max: u64) -> Vec<u64> {
    let mut out = Vec::new();
    if min == 0 || max < min {
        return out;
    }
    let mut p = if min.is_power_of_two() {
        min
    } else {
        min.next_power_of_two() / 2
    };
    // At most 64 doublings: bounded.
    for _ in 0..64 {
        if p > max {
            break;
        }
        if p >= min {
            out.push(p);
        }
        let mid = p + p / 2;
        if mid >= min && mid <= max && p >= 2 {
            out.push(mid);
        }
        match p.checked_mul(2) {
            Some(n) => p = n,
            None => break,
        }
    }
    out
}

impl WorkloadFactory for LatencyFactory {
    fn kind(&self) -> &'static str {
        "mem.latency"
    }
    fn about(&self) -> &'static str {
        "load-to-use latency by working-set size (random pointer chase), plateaus vs /sys caches"
    }
    fn params(&self) -> &'static [ParamDef] {
        PARAMS
    }
    fn build(&self, p: &Params, _vcpus: usize) -> Result<Box<dyn Workload>, SpecError> {
        let min = p.u64("min_size")?;
        let max = if p.is_set("max_size") {
            p.u64("max_size")?
        } else {
            default_max_size(bench_core::host::llc_bytes())
        };
        if min < MIN_SIZE {
            return Err(SpecError::key(
                "min_size",
                format!("key `min_size`: {min} bytes is below the minimum of {MIN_SIZE}"),
            ));
        }
        if max > MAX_SIZE {
            return Err(SpecError::key(
                "max_size",
                format!("key `max_size`: {max} bytes is above the maximum of {MAX_SIZE}"),
            ));
        }
        if max < min {
            return Err(SpecError::key(
                "max_size",
                format!("key `max_size`: {max} is smaller than `min_size` ({min})"),
            ));
        }
        let duration = p.duration("size_duration")?;
        if duration.is_zero() {
            return Err(SpecError::key(
                "size_duration",
                "key `size_duration`: must be greater than 0",
            ));
        }
        let pins = pin_list(p)?;
        let cpu = *pins.first().ok_or_else(|| {
            SpecError::key("pin", "key `pin`: no vCPU available to pin the chase to")
        })?;
        Ok(Box::new(LatencyWorkload {
            sizes: sizes(min, max),
            cpu,
            duration,
            seed: p.u64("seed")?,
            hugepages: Hugepages::from_params(p)?,
        }))
    }
}

/// A ring of cache-line nodes in random cyclic order, in its own region.
pub struct Ring {
    region: Region,
    nodes: usize,
}

/// A position on a [`Ring`]: the address of a node. Only a ring hands
/// these out, so a cursor always points at one of its nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor(usize);

/// splitmix64: small, fast, good enough to shuffle.
fn next_rand(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Ring {
    /// Maps `bytes` (whole nodes) and links every node into one random cycle.
    /// The pages are first touched here, by the calling thread.
    pub fn build(bytes: usize, hp: Hugepages, seed: u64) -> Result<Self, WorkloadError> {
        let nodes = bytes / NODE_BYTES;
        if nodes < 2 {
            return Err(WorkloadError::Other(format!(
                "a ring needs at least two {NODE_BYTES}-byte nodes, got {bytes} bytes"
            )));
        }
        Self::build_in(Region::new(nodes * NODE_BYTES, hp)?, nodes, seed)
    }

    /// Links the first `nodes` nodes of `region` (not yet touched: its pages
    /// are placed as its memory policy says, e.g. bound to a NUMA node by
    /// `mbind`) into one random cycle. The count is the caller's, not the
    /// region's length: a region is rounded up to whole pages.
    pub fn build_in(mut region: Region, nodes: usize, seed: u64) -> Result<Self, WorkloadError> {
        if nodes < 2 || nodes * NODE_BYTES > region.len() {
            return Err(WorkloadError::Other(format!(
                "a ring needs at least two {NODE_BYTES}-byte nodes within its {} bytes, got {nodes}",
                region.len()
            )));
        }
        let base = region.as_mut_ptr();
        let stride = NODE_BYTES / std::mem::size_of::<usize>();
        // SAFETY: the region is page aligned and `nodes * NODE_BYTES` long,
        // so the words at i*stride (i < nodes) are in bounds and aligned;
        // it is borrowed mutably through `region` for this scope only.
        let words = unsafe { std::slice::from_raw_parts_mut(base.cast::<usize>(), nodes * stride) };
        // Sattolo's algorithm in place: start from the identity, swap each
        // i (from the top) with a j < i. The result is a uniformly random
        // permutation with a single cycle: i → words[i*stride].
        for i in 0..nodes {
            words[i * stride] = i;
        }
        let mut st = seed ^ 0x5851_f42d_4c95_7f2d;
        for i in (1..nodes).rev() {
            let j = ((next_rand(&mut st) as u128 * i as u128) >> 64) as usize;
            words.swap(i * stride, j * stride);
        }
        // Indices → addresses, in one sequential pass.
        let base = base as usize;
        for i in 0..nodes {
            let w = &mut words[i * stride];
            *w = base + *w * NODE_BYTES;
        }
        Ok(Self { region, nodes })
    }

    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// The index of the node after node `i` (for checks; `i < nodes`).
    pub fn next_index(&self, i: usize) -> Option<usize> {
        if i >= self.nodes {
            return None;
        }
        // SAFETY: i < nodes, so the word is inside the region and aligned.
        let addr = unsafe { *self.region.as_ptr().add(i * NODE_BYTES).cast::<usize>() };
        Some((addr - self.region.as_ptr() as usize) / NODE_BYTES)
    }

    /// The cursor at node 0.
    pub fn start(&self) -> Cursor {
        Cursor(self.region.as_ptr() as usize)
    }

    /// Follows the ring for `loads` dependent loads (rounded down to a
    /// multiple of 16) and returns where it stopped.
    ///
    /// Compiled code (checked with `--emit asm`): sixteen back-to-back
    /// `mov rax, [rax]` per trip, nothing else on the dependency chain.
    #[inline(never)]
    pub fn chase(&self, from: Cursor, loads: u64) -> Cursor {
        // A cursor of another ring would point outside this one: restart
        // from node 0 instead (one check per call, not per load).
        let base = self.region.as_ptr() as usize;
        let inside = from.0 >= base
            && from.0 < base + self.nodes * NODE_BYTES
            && (from.0 - base).is_multiple_of(NODE_BYTES);
        let mut p = if inside { from.0 } else { base } as *const usize;
        for _ in 0..loads / 16 {
            // SAFETY: `p` starts at a node of this ring (checked above) and
            // every node holds the address of another node of the same live
            // region, so each load is in bounds and aligned.
            unsafe {
                p = *p as *const usize;
                p = *p as *const usize;
                p = *p as *const usize;
                p = *p as *const usize;
                p = *p as *const usize;
                p = *p as *const usize;
                p = *p as *const usize;
                p = *p as *const usize;
                p = *p as *const usize;
                p = *p as *const usize;
                p = *p as *const usize;
                p = *p as *const usize;
                p = *p as *const usize;
                p = *p as *const usize;
                p = *p as *const usize;
                p = *p as *const usize;
            }
        }
        Cursor(p as usize)
    }

    /// The ring's memory: start and length in bytes.
    pub fn span(&self) -> (*const u8, usize) {
        (self.region.as_ptr(), self.nodes * NODE_BYTES)
    }

    /// Bytes of the ring backed by transparent huge pages.
    pub fn thp_bytes(&self) -> Option<u64> {
        self.region.thp_bytes()
    }
}

impl Workload for LatencyWorkload {
    fn resources(&self) -> Resources {
        Resources {
            threads: 1,
            exclusive: true,
            ..Resources::default()
        }
    }

    fn steps(&self) -> Vec<Step> {
        self.sizes
            .iter()
            .map(|&s| {
                let mut st = Step::new(
                    format!("mem.latency.s{}", size_label(s)),
                    1,
                    Some(vec![self.cpu]),
                );
                st.duration = Some(self.duration);
                st
            })
            .collect()
    }

    fn prepare(&mut self, _env: &PrepareEnv) -> Result<(), WorkloadError> {
        check_memory("mem.latency", self.sizes.iter().copied().max().unwrap_or(0))
    }

    fn worker(&self, step: &Step, _index: usize) -> Result<Box<dyn Worker>, WorkloadError> {
        let size = self.size_of(&step.label).ok_or_else(|| {
            WorkloadError::Other(format!("mem.latency: unknown step {}", step.label))
        })?;
        let (hp, seed) = (self.hugepages, self.seed);
        let ring = on_cpu(step.cpu_of(0), move || {
            Ring::build(size as usize, hp, seed ^ size)
        })?;
        let thp = ring.thp_bytes().unwrap_or(0);
        Ok(Box::new(LatencyWorker { ring, thp }))
    }

    fn metrics(&self, steps: &[StepResult]) -> Result<RunOutput, WorkloadError> {
        let mut out = RunOutput::default();
        let mut curve = Vec::new();
        let mut per_size = Vec::new();
        for s in steps {
            let Some(size) = self.size_of(&s.step.label) else {
                continue;
            };
            if s.merged.is_empty() {
                continue;
            }
            let median = s.merged.value_at_quantile(0.5) as f64 / LOADS_PER_OP as f64;
            let mean = s.merged.mean() / LOADS_PER_OP as f64;
            per_size.push((format!("{}.ns_per_load", s.step.label), median));
            curve.push(CurvePoint {
                size_bytes: size,
                ns_per_load: median,
                mean_ns_per_load: mean,
                batches: s.ops,
                thp_backed_ratio: s.merged_output::<ThpBytes>()?.0 as f64 / size as f64,
            });
        }
        let caches = cache_levels();
        let pts: Vec<(u64, f64)> = curve
            .iter()
            .map(|c| (c.size_bytes, c.ns_per_load))
            .collect();
        let plateaus = label_plateaus(&detect_plateaus(&pts), &caches);
        // Plateaus first (DRAM leads): front ends show the first metric as
        // the run's headline.
        for p in plateaus.iter().rev() {
            if let Some(level) = &p.level {
                out.metric(
                    format!("mem.latency.{level}.ns_per_load"),
                    p.ns_per_load,
                    Unit::Ns,
                    Better::Lower,
                );
            }
        }
        for (name, v) in per_size {
            out.metric(name, v, Unit::Ns, Better::Lower);
        }
        out.curves.push(Curve {
            name: "mem.latency.ns_per_load".into(),
            x_unit: Unit::Bytes.to_string(),
            y_unit: Unit::Ns.to_string(),
            log_x: true,
            log_y: true,
            points: curve
                .iter()
                .map(|c| [c.size_bytes as f64, c.ns_per_load])
                .collect(),
        });
        out.notes
            .insert("mem.latency.curve".into(), to_json(&curve));
        // The DRAM figure states the working sets it came from, and how far
        // beyond the LLC they were: a point inside a large "L3" is no DRAM
        // latency.
        let llc = caches.iter().map(|c| c.bytes).max().unwrap_or(0);
        match plateaus.iter().find(|p| p.level.as_deref() == Some("dram")) {
            Some(d) => {
                out.notes.insert(
                    "mem.latency.dram.working_set_bytes".into(),
                    serde_json::json!([d.from_bytes, d.to_bytes]),
                );
                if llc > 0 {
                    out.notes.insert(
                        "mem.latency.dram.largest_vs_llc_ratio".into(),
                        (d.to_bytes as f64 / llc as f64).into(),
                    );
                }
            }
            None => {
                let largest = curve.last().map(|c| c.size_bytes).unwrap_or(0);
                out.notes.insert(
                    "mem.latency.warning".into(),
                    format!(
                        "no DRAM plateau: the largest working set is {largest} bytes against an LLC of {llc} bytes; raise max_size (default: ≥ 4 × LLC)"
                    )
                    .into(),
                );
            }
        }
        out.notes
            .insert("mem.latency.plateaus".into(), to_json(&plateaus));
        out.notes
            .insert("mem.latency.caches".into(), to_json(&caches));
        out.notes.insert(
            "mem.latency.hugepages".into(),
            self.hugepages.as_str().into(),
        );
        out.notes.insert("mem.latency.vcpu".into(), self.cpu.into());
        out.notes
            .insert("mem.latency.seed".into(), self.seed.into());
        out.notes.insert(
            "mem.latency.method".into(),
            format!(
                "dependent loads around a ring of {NODE_BYTES}-byte nodes in uniformly random cyclic order (Sattolo), every node once per lap; ns per load = median time of a batch of {LOADS_PER_OP} loads / {LOADS_PER_OP}; plateau ends where latency rises ≥ {:.0}% and stays up",
                (RISE - 1.0) * 100.0
            )
            .into(),
        );
        Ok(out)
    }
}

fn to_json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

impl LatencyWorkload {
    fn size_of(&self, label: &str) -> Option<u64> {
        let l = label.strip_prefix("mem.latency.s")?;
        self.sizes.iter().copied().find(|&s| size_label(s) == l)
    }
}

/// One point of the latency curve, as recorded in the notes.
#[derive(Clone, Debug, Serialize)]
pub struct CurvePoint {
    /// Working-set size.
    pub size_bytes: u64,
    /// Median ns per load.
    pub ns_per_load: f64,
    /// Mean ns per load.
    pub mean_ns_per_load: f64,
    /// Measured batches.
    pub batches: u64,
    /// Share of the ring backed by transparent huge pages.
    pub thp_backed_ratio: f64,
}

/// A run of working-set sizes with about the same latency.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plateau {
    /// Smallest size in it.
    pub from_bytes: u64,
    /// Largest size in it: the capacity this level showed.
    pub to_bytes: u64,
    /// Its latency: the median of the upper half of its points (the lower
    /// ones can still carry the previous level's hits).
    pub ns_per_load: f64,
    /// `l1`, `l2` … when a /sys cache matches it, `dram` for the plateau
    /// after the last cache's, else none ([`label_plateaus`]).
    pub level: Option<String>,
    /// The /sys size of the matched cache.
    pub sys_cache_bytes: Option<u64>,
    /// `to_bytes` / `sys_cache_bytes`: the share of the cache one thread
    /// got, within one grid step (1.33–1.5×).
    pub capacity_vs_sys_ratio: Option<f64>,
}

impl Plateau {
    fn set_cache(&mut self, c: &CacheLevel) {
        self.level = Some(format!("l{}", c.level));
        self.sys_cache_bytes = Some(c.bytes);
        self.capacity_vs_sys_ratio = Some(self.to_bytes as f64 / c.bytes.max(1) as f64);
    }
}

/// Splits a latency curve (ascending sizes) into plateaus. A plateau ends
/// at point `i` when the next point is ≥ [`RISE`] × higher and the next two
/// stay that high (a one-point spike is noise, not a cache boundary); of
/// several such rises in a row, the steepest is the boundary.
pub fn detect_plateaus(curve: &[(u64, f64)]) -> Vec<Plateau> {
    let n = curve.len();
    if n == 0 {
        return Vec::new();
    }
    let v: Vec<f64> = curve.iter().map(|c| c.1).collect();
    let candidate = |i: usize| -> Option<f64> {
        if i + 1 >= n || v[i] <= 0.0 {
            return None;
        }
        let r = v[i + 1] / v[i];
        let upto = (i + 2).min(n - 1);
        let persists = v[i + 1..=upto].iter().all(|&x| x >= v[i] * RISE);
        (r >= RISE && persists).then_some(r)
    };
    let mut ends = Vec::new();
    let mut i = 0;
    while i < n {
        if let Some(mut best_r) = candidate(i) {
            let mut best = i;
            let mut j = i + 1;
            while let Some(r) = candidate(j) {
                if r > best_r {
                    best_r = r;
                    best = j;
                }
                j += 1;
            }
            ends.push(best);
            i = j;
        } else {
            i += 1;
        }
    }
    let mut out = Vec::new();
    let mut start = 0;
    for end in ends.into_iter().chain(std::iter::once(n - 1)) {
        if end < start {
            continue;
        }
        let seg = &v[start..=end];
        let upper = &seg[seg.len() / 2..];
        out.push(Plateau {
            from_bytes: curve[start].0,
            to_bytes: curve[end].0,
            ns_per_load: bench_core::stats::median(upper),
            level: None,
            sys_cache_bytes: None,
            capacity_vs_sys_ratio: None,
        });
        start = end + 1;
    }
    out
}

/// How far (as a factor) a plateau's end may be from a /sys cache size and
/// still be that cache when plateaus and caches cannot be paired in order.
/// Sizes step by 1.33–1.5×, so a boundary lands within one grid step of
/// the true capacity.
pub const MATCH_FACTOR: f64 = 2.0;

/// How far above its /sys size a last-level cache's plateau may end and
/// still be that cache. A cache cannot hold much more than its capacity:
/// at 1.5× it hits at most 2/3 of a random ring's loads, so by the next
/// grid size the latency has risen. One grid step (1.5×) is allowed, so a
/// flat plateau that runs far past the /sys size is taken for DRAM.
pub const LLC_MAX_FACTOR: f64 = 1.5;

/// Names plateaus after the /sys caches. When the curve shows exactly one
/// rise per cache level, and no plateau then ends past what its cache can
/// hold ([`MATCH_FACTOR`], for the LLC [`LLC_MAX_FACTOR`], × its /sys
/// size), they pair in order (smallest first) and the plateau past the
/// last rise is `dram`; the end of each plateau next to its /sys size then
/// says how much of that cache one thread really got (a shared LLC in a VM
/// often gives far less than /sys says).
///
/// Otherwise (an extra TLB step, two levels merged by noise, a curve that
/// stops early) they are paired
/// in order of size, skipping the extra plateaus:
/// - each level below the last takes the plateau whose end is nearest its
///   /sys size in log size, within [`MATCH_FACTOR`];
/// - the last level (the LLC) takes a later plateau that ends at most
///   [`LLC_MAX_FACTOR`] × its /sys size and is not the last one, the one
///   with the steepest rise after it (LLC to DRAM is the curve's big step,
///   a TLB step a small one). Its share of /sys is not a test: in a VM the
///   LLC's other users are other tenants, which the guest's /sys does not
///   show (a 260 MiB L3 gave one vCPU 4 MiB on the development VM);
/// - the plateau after the LLC's is `dram`; with no LLC plateau, the last
///   plateau is `dram` when it begins above the largest cache. Plateaus
///   after `dram` (page walks past the TLB's reach) keep no name.
pub fn label_plateaus(plateaus: &[Plateau], caches: &[CacheLevel]) -> Vec<Plateau> {
    let mut out = plateaus.to_vec();
    if out.len() < 2 || caches.is_empty() {
        return out;
    }
    let last = out.len() - 1;
    let mut sorted: Vec<&CacheLevel> = caches.iter().collect();
    sorted.sort_by_key(|c| (c.level, c.bytes));
    // The most a level's plateau may end above its /sys size.
    let cap = |i: usize, c: &CacheLevel| {
        let f = if i + 1 == sorted.len() {
            LLC_MAX_FACTOR
        } else {
            MATCH_FACTOR
        };
        f * c.bytes as f64 + 0.5
    };
    // In order, unless a plateau then runs past what its cache can hold:
    // two levels merged into one plateau (a rise the noise hid) would
    // shift every name after it by one level.
    let in_order = last == sorted.len()
        && out
            .iter()
            .zip(&sorted)
            .enumerate()
            .all(|(i, (p, c))| p.to_bytes as f64 <= cap(i, c));
    if in_order {
        for (p, c) in out.iter_mut().zip(&sorted) {
            p.set_cache(c);
        }
        out[last].level = Some("dram".into());
        return out;
    }
    let (llc, lower) = sorted.split_last().expect("caches is not empty");
    // Index after the last plateau taken: levels pair in order.
    let mut next = 0;
    for c in lower {
        let dist = |p: &Plateau| ((p.to_bytes as f64) / (c.bytes as f64)).ln().abs();
        let best = (next..last)
            .filter(|&i| dist(&out[i]) <= MATCH_FACTOR.ln() + 1e-9)
            .min_by(|&a, &b| dist(&out[a]).total_cmp(&dist(&out[b])));
        if let Some(i) = best {
            out[i].set_cache(c);
            next = i + 1;
        }
    }
    let rise_after = |i: usize| out[i + 1].ns_per_load / out[i].ns_per_load.max(f64::MIN_POSITIVE);
    let llc_at = (next..last)
        .filter(|&i| out[i].to_bytes as f64 <= cap(sorted.len() - 1, llc))
        .max_by(|&a, &b| rise_after(a).total_cmp(&rise_after(b)));
    match llc_at {
        Some(i) => {
            out[i].set_cache(llc);
            out[i + 1].level = Some("dram".into());
        }
        None => {
            let largest = caches.iter().map(|c| c.bytes).max().unwrap_or(u64::MAX);
            if out[last].from_bytes > largest {
                out[last].level = Some("dram".into());
            }
        }
    }
    out
}

/// Bytes of a worker's ring backed by transparent huge pages.
#[derive(Clone, Copy, Debug, Default)]
struct ThpBytes(u64);

impl Merge for ThpBytes {
    fn merge(&mut self, other: &Self) {
        self.0 += other.0;
    }
}

struct LatencyWorker {
    ring: Ring,
    thp: u64,
}

impl Worker for LatencyWorker {
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError> {
        let mut cur = self.ring.start();
        ctx.restart();
        while ctx.running() {
            cur = self.ring.chase(black_box(cur), LOADS_PER_OP);
            ctx.op_done(0);
        }
        black_box(cur);
        Ok(Box::new(ThpBytes(self.thp)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_sweep_reaches_well_beyond_any_llc() {
        let m = 1u64 << 20;
        // A 300 MiB "L3" (an Intel host's whole cache): 1.5 GiB, not 1 GiB.
        assert_eq!(default_max_size(300 * m), 1536 * m);
        // A 32 MiB L3: the 256 MiB floor (TLB reach runs out well past it).
        assert_eq!(default_max_size(32 * m), 256 * m);
        assert_eq!(default_max_size(96 * m), 384 * m);
        assert_eq!(default_max_size(0), 1024 * m);
        for llc in [m, 8 * m, 300 * m, 1024 * m] {
            assert!(default_max_size(llc) >= 4 * llc);
        }
    }

    #[test]
    fn size_grid() {
        let s = sizes(16 << 10, 128 << 10);
        let k: Vec<u64> = s.iter().map(|x| x >> 10).collect();
        assert_eq!(k, vec![16, 24, 32, 48, 64, 96, 128]);
        assert_eq!(sizes(20 << 10, 40 << 10), vec![24 << 10, 32 << 10]);
        assert_eq!(sizes(1 << 30, 1 << 30), vec![1 << 30]);
        assert!(sizes(2, 1).is_empty());
    }

    fn curve(points: &[(u64, f64)]) -> Vec<(u64, f64)> {
        points.to_vec()
    }

    #[test]
    fn plateaus_from_a_synthetic_staircase() {
        let k = 1u64 << 10;
        let m = 1u64 << 20;
        let c = curve(&[
            (16 * k, 1.0),
            (24 * k, 1.0),
            (32 * k, 1.02),
            (48 * k, 1.05),
            (64 * k, 1.6),
            (96 * k, 2.0),
            (128 * k, 2.3),
            (256 * k, 2.6),
            (512 * k, 2.9),
            (m, 3.0),
            (3 * m / 2, 6.0),
            (2 * m, 7.5),
            (4 * m, 9.0),
            (8 * m, 10.0),
            (16 * m, 11.0),
            (32 * m, 12.0),
            (48 * m, 44.0),
            (64 * m, 61.0),
            (96 * m, 77.0),
            (128 * m, 85.0),
            (256 * m, 98.0),
        ]);
        let p = detect_plateaus(&c);
        let ends: Vec<u64> = p.iter().map(|p| p.to_bytes).collect();
        assert_eq!(ends, vec![48 * k, m, 32 * m, 256 * m]);
        let caches = vec![
            CacheLevel {
                level: 1,
                kind: "Data".into(),
                bytes: 48 * k,
                shared_cpus: String::new(),
            },
            CacheLevel {
                level: 2,
                kind: "Unified".into(),
                bytes: m,
                shared_cpus: String::new(),
            },
            CacheLevel {
                level: 3,
                kind: "Unified".into(),
                bytes: 32 * m,
                shared_cpus: String::new(),
            },
        ];
        let l = label_plateaus(&p, &caches);
        let names: Vec<Option<&str>> = l.iter().map(|p| p.level.as_deref()).collect();
        assert_eq!(
            names,
            vec![Some("l1"), Some("l2"), Some("l3"), Some("dram")]
        );
        assert!(
            (l[0].ns_per_load - 1.035).abs() < 1e-9,
            "{}",
            l[0].ns_per_load
        );
        assert!(l[3].ns_per_load > 80.0);
    }

    #[test]
    fn an_extra_step_falls_back_to_nearest_sizes() {
        let k = 1u64 << 10;
        let caches = vec![
            CacheLevel {
                level: 1,
                kind: "Data".into(),
                bytes: 32 * k,
                shared_cpus: String::new(),
            },
            CacheLevel {
                level: 2,
                kind: "Unified".into(),
                bytes: 512 * k,
                shared_cpus: String::new(),
            },
        ];
        // L1 ends at 32k, a TLB step at 128k, L2 ends at 512k, then DRAM.
        let c: Vec<(u64, f64)> = [
            (16, 1.0),
            (32, 1.0),
            (64, 3.0),
            (128, 3.0),
            (256, 4.5),
            (512, 4.5),
            (1024, 90.0),
            (2048, 100.0),
        ]
        .iter()
        .map(|&(s, v)| (s * k, v))
        .collect();
        let l = label_plateaus(&detect_plateaus(&c), &caches);
        let got: Vec<(u64, Option<&str>)> = l
            .iter()
            .map(|p| (p.to_bytes / k, p.level.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (32, Some("l1")),
                (128, None),
                (512, Some("l2")),
                (2048, Some("dram"))
            ]
        );
        assert_eq!(l[2].capacity_vs_sys_ratio, Some(1.0));
    }

    /// A curve measured on a 2-vCPU Emerald Rapids guest (48 KiB L1d,
    /// 2 MiB L2, 260 MiB L3 in /sys): the L3 gave this vCPU about 4 MiB,
    /// DRAM runs flat from 6 MiB, and page walks lift it again at 1 GiB.
    /// Nearest-size matching once named the DRAM plateau (ending at
    /// 512 MiB, 1.97× the L3) `l3` and the page-walk step `dram`.
    #[test]
    fn a_small_llc_share_is_the_llc_and_dram_follows_it() {
        let k = 1u64 << 10;
        let m = 1u64 << 20;
        let caches = vec![
            CacheLevel {
                level: 1,
                kind: "Data".into(),
                bytes: 48 * k,
                shared_cpus: "0".into(),
            },
            CacheLevel {
                level: 2,
                kind: "Unified".into(),
                bytes: 2 * m,
                shared_cpus: "0".into(),
            },
            CacheLevel {
                level: 3,
                kind: "Unified".into(),
                bytes: 260 * m,
                shared_cpus: "0-1".into(),
            },
        ];
        let mut c: Vec<(u64, f64)> = vec![
            (16 * k, 2.20),
            (24 * k, 2.56),
            (32 * k, 2.88),
            (48 * k, 5.34),
            (64 * k, 5.91),
            (96 * k, 5.89),
            (128 * k, 5.99),
            (192 * k, 6.11),
            (256 * k, 6.21),
            (384 * k, 6.59),
            (512 * k, 6.89),
            (768 * k, 7.63),
            (m, 10.66),
            (3 * m / 2, 36.09),
            (2 * m, 37.50),
            (3 * m, 38.81),
            (4 * m, 42.53),
            (6 * m, 111.25),
            (8 * m, 145.75),
            (12 * m, 146.25),
            (16 * m, 149.25),
            (24 * m, 149.50),
            (32 * m, 145.62),
            (48 * m, 145.75),
            (64 * m, 155.87),
            (96 * m, 151.87),
            (128 * m, 162.25),
            (192 * m, 176.12),
            (256 * m, 156.87),
            (384 * m, 176.37),
            (512 * m, 204.87),
            (768 * m, 217.25),
            (1024 * m, 285.50),
        ];
        let names = |c: &[(u64, f64)]| -> Vec<(u64, Option<String>)> {
            label_plateaus(&detect_plateaus(c), &caches)
                .iter()
                .map(|p| (p.to_bytes / k, p.level.clone()))
                .collect()
        };
        let s = |x: &str| Some(x.to_string());
        assert_eq!(
            names(&c),
            vec![
                (32, s("l1")),
                (m / k, s("l2")),
                (4 * m / k, s("l3")),
                (768 * m / k, s("dram")),
                (1024 * m / k, None),
            ]
        );
        // The sweep where the DRAM plateau ended at 512 MiB (1.97× the L3).
        c[31].1 = 290.0;
        assert_eq!(names(&c)[3], (512 * m / k, s("dram")));
        assert_eq!(names(&c)[2], (4 * m / k, s("l3")));
        // Noise hides the L1's rise: four plateaus for three caches, but
        // pairing them in order would call 16 KiB–1 MiB the L1 (21× its
        // size) and DRAM the L3. The L1 goes unnamed instead.
        for p in &mut c[..3] {
            p.1 = 5.3;
        }
        assert_eq!(
            names(&c),
            vec![
                (m / k, s("l2")),
                (4 * m / k, s("l3")),
                (512 * m / k, s("dram")),
                (1024 * m / k, None),
            ]
        );
    }

    #[test]
    fn a_single_spike_is_not_a_boundary() {
        let c: Vec<(u64, f64)> = (0..8u64)
            .map(|i| (16_384 << i, if i == 3 { 5.0 } else { 1.0 }))
            .collect();
        assert_eq!(detect_plateaus(&c).len(), 1);
    }

    #[test]
    fn ring_is_one_cycle_over_every_node() {
        for (nodes, seed) in [(2usize, 1u64), (3, 2), (1000, 3), (4096, 4), (65_537, 5)] {
            let ring = Ring::build(nodes * NODE_BYTES, Hugepages::Default, seed).unwrap();
            assert_eq!(ring.nodes(), nodes);
            let mut seen = vec![false; nodes];
            let mut i = 0;
            for step in 0..nodes {
                assert!(!seen[i], "node {i} visited twice (step {step})");
                seen[i] = true;
                i = ring.next_index(i).unwrap();
            }
            assert_eq!(i, 0, "the lap does not close after {nodes} loads");
            assert!(seen.iter().all(|s| *s));
            // The chase lands where following the links lands.
            let end = ring.chase(ring.start(), 16 * nodes as u64);
            assert_eq!(end, ring.start());
            // A cursor from another ring is not followed into memory it does not own.
            let other = Ring::build(4 * NODE_BYTES, Hugepages::Default, seed).unwrap();
            let foreign = other.chase(other.start(), 0);
            assert_eq!(ring.chase(foreign, 0), ring.start());
        }
    }

    #[test]
    fn ring_order_is_random_not_sequential() {
        let nodes = 4096;
        let ring = Ring::build(nodes * NODE_BYTES, Hugepages::Default, 7).unwrap();
        let sequential = (0..nodes)
            .filter(|&i| ring.next_index(i) == Some((i + 1) % nodes))
            .count();
        // A random cyclic permutation has ~1 such successor on average.
        assert!(sequential < 20, "{sequential} sequential links");
        let other = Ring::build(nodes * NODE_BYTES, Hugepages::Default, 8).unwrap();
        let same = (0..nodes)
            .filter(|&i| ring.next_index(i) == other.next_index(i))
            .count();
        assert!(same < 20, "seeds 7 and 8 share {same} links");
    }
}
