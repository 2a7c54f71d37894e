//! The NUMA matrix (`mem.numa`), as Intel MLC's `--latency_matrix` and
//! `--bandwidth_matrix`: for every (CPU node, memory node) pair, the idle
//! load-to-use latency of one thread chasing a random ring (the chase of
//! [`super::latency`]) and the bandwidth of the node's threads running
//! STREAM triad ([`super::stream`]'s kernel and byte counting), with the
//! memory bound to the memory node by `mbind(MPOL_BIND)` before it is first
//! touched and the threads pinned to the CPU node's vCPUs.
//!
//! Placement is verified, not assumed: after the memory is touched, the
//! node of a sample of its pages is asked of the kernel (`move_pages` with
//! no target nodes, which only queries) and recorded per cell; a cell whose
//! pages are not on its node fails the run.
//!
//! The topology comes from `/sys/devices/system/node` (or the directory
//! given as `node_dir`, so the placement logic is tested on a fake one).
//! A single-node machine is one cell, and the notes say so.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bench_core::params::{parse_list, ParamDef, ParamKind, Params};
use bench_core::result::{Better, Role};
use bench_core::workload::{
    PrepareEnv, Resources, RunOutput, Step, StepResult, Worker, WorkerCtx, WorkerOutput, Workload,
    WorkloadFactory,
};
use bench_core::{SpecError, Unit, WorkloadError};
use serde::Serialize;
use serde_json::json;

use super::latency::{Ring, LOADS_PER_OP, NODE_BYTES};
use super::stream::{triad, SCALAR};
use super::{cache_levels, check_memory, hugepages_param, page_size, Hugepages, Region};

/// `MPOL_BIND` of `<linux/mempolicy.h>`: allocate only on the given nodes.
const MPOL_BIND: libc::c_int = 2;
/// `MPOL_MF_STRICT`: fail when pages already there are elsewhere.
const MPOL_MF_STRICT: libc::c_uint = 1;

/// Most pages whose node is asked per region: enough to see a partial
/// placement, few enough to cost nothing.
pub const PLACEMENT_SAMPLE: usize = 4096;

/// Least share of sampled pages on the cell's memory node for a cell to count.
pub const PLACEMENT_MIN: f64 = 0.99;

const PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "lat_size",
        kind: ParamKind::Size,
        default: None,
        help: "working set of the latency chase per cell (default: 4 × the last-level cache, at least 256 MiB)",
    },
    ParamDef {
        name: "bw_size",
        kind: ParamKind::Size,
        default: None,
        help: "bytes of each STREAM array per cell, split over the threads (default: 4 × the last-level cache, at least 64 MiB)",
    },
    ParamDef {
        name: "threads",
        kind: ParamKind::U64 { min: 0, max: 4096 },
        default: Some("0"),
        help: "bandwidth threads per cell (0: every vCPU of the CPU node)",
    },
    ParamDef {
        name: "cpu_nodes",
        kind: ParamKind::Str,
        default: None,
        help: "CPU nodes to measure from, e.g. 0,2-3 (default: every node with vCPUs)",
    },
    ParamDef {
        name: "mem_nodes",
        kind: ParamKind::Str,
        default: None,
        help: "memory nodes to measure, e.g. 0-1 (default: every node with memory)",
    },
    ParamDef {
        name: "cell_duration",
        kind: ParamKind::Duration,
        default: Some("1s"),
        help: "measured time of each cell's latency and of its bandwidth (each is one step)",
    },
    ParamDef {
        name: "seed",
        kind: ParamKind::U64 {
            min: 0,
            max: u64::MAX,
        },
        default: Some("1"),
        help: "seed of the latency ring's random order",
    },
    ParamDef {
        name: "node_dir",
        kind: ParamKind::Str,
        default: Some("/sys/devices/system/node"),
        help: "where the NUMA topology is read (a fake one for tests)",
    },
    hugepages_param("default"),
];

/// One node as the matrix sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Node {
    /// Node number.
    pub node: u32,
    /// Its vCPUs.
    pub cpus: Vec<usize>,
    /// Its memory, bytes (0: a CPU-only node).
    pub memory_bytes: u64,
    /// Distances to every node, in node order (empty when unknown).
    pub distances: Vec<u32>,
}

/// The NUMA topology under `dir`; without one (a kernel without NUMA), one
/// node with every allowed vCPU.
pub fn topology(dir: &Path) -> Result<Vec<Node>, WorkloadError> {
    let Some(nodes) = bench_core::host::numa_nodes_in(dir) else {
        return Ok(vec![Node {
            node: 0,
            cpus: bench_core::affinity::allowed_cpus(),
            memory_bytes: super::mem_available().unwrap_or(0),
            distances: Vec::new(),
        }]);
    };
    nodes
        .into_iter()
        .map(|n| {
            let cpus = parse_list(&n.cpus)
                .map_err(|e| {
                    WorkloadError::Other(format!(
                        "{}: cpulist `{}`: {e}",
                        dir.join(format!("node{}", n.node)).display(),
                        n.cpus
                    ))
                })?
                .into_iter()
                .map(|c| c as usize)
                .collect();
            Ok(Node {
                node: n.node,
                cpus,
                memory_bytes: n.memory_bytes,
                distances: n.distances,
            })
        })
        .collect()
}

/// One cell of the matrix: threads on `cpu_node`'s vCPUs, memory on `mem_node`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    /// Node whose vCPUs run the threads.
    pub cpu_node: u32,
    /// Node the memory is bound to.
    pub mem_node: u32,
    /// vCPUs of the bandwidth threads (the first also runs the chase).
    pub cpus: Vec<usize>,
}

impl Cell {
    /// `c0m1`: the cell's part of its metric names.
    pub fn tag(&self) -> String {
        format!("c{}m{}", self.cpu_node, self.mem_node)
    }
}

/// The cells of the matrix: every CPU node with vCPUs this process may run
/// on × every node with memory, restricted to `cpu_nodes`/`mem_nodes` when
/// given; `threads` (0: all) vCPUs of the CPU node per cell.
pub fn cells(
    nodes: &[Node],
    allowed: &[usize],
    cpu_nodes: Option<&[u32]>,
    mem_nodes: Option<&[u32]>,
    threads: usize,
) -> Result<Vec<Cell>, String> {
    let known: Vec<u32> = nodes.iter().map(|n| n.node).collect();
    for (what, list) in [("cpu_nodes", cpu_nodes), ("mem_nodes", mem_nodes)] {
        if let Some(bad) = list.and_then(|l| l.iter().find(|n| !known.contains(n))) {
            return Err(format!(
                "{what}: node {bad} does not exist (nodes: {known:?})"
            ));
        }
    }
    let cpu: Vec<(u32, Vec<usize>)> = nodes
        .iter()
        .filter(|n| cpu_nodes.is_none_or(|l| l.contains(&n.node)))
        .map(|n| {
            let mine: Vec<usize> = n
                .cpus
                .iter()
                .copied()
                .filter(|c| allowed.contains(c))
                .collect();
            (n.node, mine)
        })
        .filter(|(_, c)| !c.is_empty())
        .collect();
    let mem: Vec<u32> = nodes
        .iter()
        .filter(|n| mem_nodes.is_none_or(|l| l.contains(&n.node)))
        // A node whose size is unknown is tried; a mem-less one is not.
        .filter(|n| n.memory_bytes > 0 || mem_nodes.is_some())
        .map(|n| n.node)
        .collect();
    if cpu.is_empty() {
        return Err("no CPU node has a vCPU this process may run on".into());
    }
    if mem.is_empty() {
        return Err("no node has memory".into());
    }
    let mut out = Vec::new();
    for (c, cpus) in &cpu {
        let n = if threads == 0 {
            cpus.len()
        } else {
            threads.min(cpus.len())
        };
        for m in &mem {
            out.push(Cell {
                cpu_node: *c,
                mem_node: *m,
                cpus: cpus[..n].to_vec(),
            });
        }
    }
    Ok(out)
}

/// The nodemask words of `{node}` for `mbind` (`maxnode` = bits + 1, as
/// the kernel counts one less).
pub fn nodemask(node: u32) -> (Vec<libc::c_ulong>, libc::c_ulong) {
    let bits = libc::c_ulong::BITS as usize;
    let words = node as usize / bits + 1;
    let mut mask = vec![0; words];
    mask[node as usize / bits] |= 1 << (node as usize % bits);
    (mask, (words * bits + 1) as libc::c_ulong)
}

/// Binds `region` to `node` (before it is touched) with `MPOL_BIND`.
pub fn bind(region: &mut Region, node: u32) -> Result<(), WorkloadError> {
    let (mask, maxnode) = nodemask(node);
    // SAFETY: the range is a mapping this process owns; the mask is a live
    // buffer of `maxnode - 1` bits; mbind reads it and changes only the
    // range's policy.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mbind,
            region.as_mut_ptr() as libc::c_ulong,
            region.len() as libc::c_ulong,
            MPOL_BIND as libc::c_ulong,
            mask.as_ptr(),
            maxnode,
            MPOL_MF_STRICT as libc::c_ulong,
        )
    };
    if r != 0 {
        return Err(WorkloadError::io(
            format!("mbind {} bytes to NUMA node {node}", region.len()),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Where the sampled pages of a region are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Placement {
    /// The node they should be on.
    pub node: u32,
    /// Pages asked about.
    pub sampled: usize,
    /// Of those, pages on `node`.
    pub on_node: usize,
    /// Pages on other nodes, by node.
    pub elsewhere: BTreeMap<i32, usize>,
    /// Pages the kernel could not say (not present, or an error), by −errno.
    pub unknown: BTreeMap<i32, usize>,
}

impl Placement {
    /// Tallies `move_pages` statuses (a node, or −errno) against `node`.
    pub fn tally(node: u32, status: &[i32]) -> Self {
        let mut p = Placement {
            node,
            sampled: status.len(),
            ..Placement::default()
        };
        for &s in status {
            if s == node as i32 {
                p.on_node += 1;
            } else if s >= 0 {
                *p.elsewhere.entry(s).or_default() += 1;
            } else {
                *p.unknown.entry(s).or_default() += 1;
            }
        }
        p
    }

    /// Share of the sampled pages on the node.
    pub fn ratio(&self) -> f64 {
        if self.sampled == 0 {
            0.0
        } else {
            self.on_node as f64 / self.sampled as f64
        }
    }

    /// Adds another region's tally (same node).
    pub fn add(&mut self, o: &Placement) {
        self.sampled += o.sampled;
        self.on_node += o.on_node;
        for (k, v) in &o.elsewhere {
            *self.elsewhere.entry(*k).or_default() += v;
        }
        for (k, v) in &o.unknown {
            *self.unknown.entry(*k).or_default() += v;
        }
    }
}

/// Asks the kernel which node each of up to [`PLACEMENT_SAMPLE`] evenly
/// spaced pages of `ptr..ptr+len` is on (`move_pages` with no target: a
/// query that moves nothing).
pub fn placement_of(ptr: *const u8, len: usize, node: u32) -> Result<Placement, WorkloadError> {
    let page = page_size();
    let pages = len.div_ceil(page).max(1);
    let n = pages.min(PLACEMENT_SAMPLE);
    let addrs: Vec<*const libc::c_void> = (0..n)
        // Addresses only: the kernel looks them up, nothing here reads them.
        .map(|i| ptr.wrapping_add((i * pages / n) * page).cast())
        .collect();
    let mut status = vec![0i32; n];
    // SAFETY: pid 0 is this process; `addrs` and `status` are live arrays
    // of `n` entries; a null `nodes` asks for the status only.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_pages,
            0 as libc::c_long,
            n as libc::c_ulong,
            addrs.as_ptr(),
            std::ptr::null::<libc::c_int>(),
            status.as_mut_ptr(),
            0 as libc::c_int,
        )
    };
    if r < 0 {
        return Err(WorkloadError::io(
            "move_pages (query the NUMA node of pages)",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(Placement::tally(node, &status))
}

/// A region of `len` bytes bound to `node` and not yet touched.
fn bound_region(len: usize, hp: Hugepages, node: u32) -> Result<Region, WorkloadError> {
    let mut r = Region::new(len, hp)?;
    bind(&mut r, node)?;
    Ok(r)
}

/// The chasing thread of a latency cell.
struct ChaseWorker {
    ring: Ring,
}

impl Worker for ChaseWorker {
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError> {
        let mut cur = self.ring.start();
        ctx.restart();
        while ctx.running() {
            cur = self.ring.chase(black_box(cur), LOADS_PER_OP);
            ctx.op_done(0);
        }
        black_box(cur);
        Ok(Box::new(()))
    }
}

/// One bandwidth thread: triad over its own three arrays, one pass an operation.
struct TriadWorker {
    a: Region,
    b: Region,
    c: Region,
    elems: usize,
}

impl Worker for TriadWorker {
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError> {
        let n = self.elems;
        let bytes = 24 * n as u64;
        let (b, c) = (&self.b.as_f64()[..n], &self.c.as_f64()[..n]);
        let a = &mut self.a.as_f64_mut()[..n];
        ctx.restart();
        while ctx.running() {
            triad(a, b, c, SCALAR);
            black_box(a.as_ptr());
            ctx.op_done(bytes);
        }
        Ok(Box::new(()))
    }
}

/// Factory of `mem.numa`.
pub struct NumaFactory;

impl WorkloadFactory for NumaFactory {
    fn kind(&self) -> &'static str {
        "mem.numa"
    }
    fn about(&self) -> &'static str {
        "NUMA matrix as Intel MLC: latency and triad bandwidth for every (CPU node, memory node), memory bound by mbind, placement verified"
    }
    fn params(&self) -> &'static [ParamDef] {
        PARAMS
    }
    fn build(&self, p: &Params, _vcpus: usize) -> Result<Box<dyn Workload>, SpecError> {
        let list = |k: &str| -> Result<Option<Vec<u32>>, SpecError> {
            match p.get(k) {
                None => Ok(None),
                Some(_) => {
                    let v = parse_list(p.str(k)?)
                        .map_err(|e| SpecError::key(k, format!("key `{k}`: {e}")))?;
                    if v.is_empty() || v.iter().any(|n| *n > u32::MAX as u64) {
                        return Err(SpecError::key(
                            k,
                            format!("key `{k}`: give node numbers, e.g. 0,1"),
                        ));
                    }
                    Ok(Some(v.into_iter().map(|n| n as u32).collect()))
                }
            }
        };
        let size = |k: &str, min: u64| -> Result<Option<u64>, SpecError> {
            let v = p.get(k).map(|_| p.u64(k)).transpose()?;
            if v.is_some_and(|v| v < min || v > 1 << 40) {
                return Err(SpecError::key(
                    k,
                    format!("key `{k}`: between {min} bytes and 1 TiB"),
                ));
            }
            Ok(v)
        };
        let duration = p.duration("cell_duration")?;
        if duration < Duration::from_millis(50) {
            return Err(SpecError::key(
                "cell_duration",
                "key `cell_duration`: at least 50ms",
            ));
        }
        Ok(Box::new(NumaWorkload {
            lat_size: size("lat_size", 64 << 10)?,
            bw_size: size("bw_size", 64 << 10)?,
            threads: p.u64("threads")? as usize,
            cpu_nodes: list("cpu_nodes")?,
            mem_nodes: list("mem_nodes")?,
            duration,
            seed: p.u64("seed")?,
            node_dir: PathBuf::from(p.str("node_dir")?),
            hugepages: Hugepages::from_params(p)?,
            plan: None,
            placements: Default::default(),
        }))
    }
}

/// What `prepare` found: the topology, the cells and the sizes.
#[derive(Debug)]
struct Plan {
    nodes: Vec<Node>,
    cells: Vec<Cell>,
    lat_size: u64,
    bw_size: u64,
}

/// A configured `mem.numa`.
pub struct NumaWorkload {
    lat_size: Option<u64>,
    bw_size: Option<u64>,
    threads: usize,
    cpu_nodes: Option<Vec<u32>>,
    mem_nodes: Option<Vec<u32>>,
    duration: Duration,
    seed: u64,
    node_dir: PathBuf,
    hugepages: Hugepages,
    plan: Option<Plan>,
    /// The placement each step's workers found, by step label.
    placements: std::sync::Mutex<BTreeMap<String, Placement>>,
}

impl NumaWorkload {
    /// The cells as planned (after `prepare`), for tests and reports.
    pub fn cells(&self) -> Option<&[Cell]> {
        self.plan.as_ref().map(|p| p.cells.as_slice())
    }

    fn cell_of(&self, label: &str) -> Option<(&Cell, bool)> {
        let rest = label.strip_prefix("mem.numa.")?;
        let (tag, what) = rest.split_once('.')?;
        let cell = self.plan.as_ref()?.cells.iter().find(|c| c.tag() == tag)?;
        Some((cell, what == "lat"))
    }

    fn check_placement(&self, label: &str, p: Placement) -> Result<(), WorkloadError> {
        if p.ratio() < PLACEMENT_MIN {
            return Err(WorkloadError::Other(format!(
                "{label}: only {} of {} sampled pages are on NUMA node {} (elsewhere: {:?}, unknown: {:?}); the binding did not hold",
                p.on_node, p.sampled, p.node, p.elsewhere, p.unknown
            )));
        }
        if let Ok(mut m) = self.placements.lock() {
            m.entry(label.to_string())
                .and_modify(|x| x.add(&p))
                .or_insert(p);
        }
        Ok(())
    }
}

impl Workload for NumaWorkload {
    fn resources(&self) -> Resources {
        Resources {
            threads: self
                .plan
                .as_ref()
                .and_then(|p| p.cells.iter().map(|c| c.cpus.len()).max())
                .unwrap_or(1),
            exclusive: true,
            ..Resources::default()
        }
    }

    fn steps(&self) -> Vec<Step> {
        let Some(plan) = &self.plan else {
            return Vec::new();
        };
        let mut v = Vec::new();
        for c in &plan.cells {
            let mut lat = Step::new(
                format!("mem.numa.{}.lat", c.tag()),
                1,
                Some(vec![c.cpus[0]]),
            );
            lat.duration = Some(self.duration);
            v.push(lat);
            let mut bw = Step::new(
                format!("mem.numa.{}.bw", c.tag()),
                c.cpus.len(),
                Some(c.cpus.clone()),
            );
            bw.duration = Some(self.duration);
            v.push(bw);
        }
        v
    }

    fn prepare(&mut self, _env: &PrepareEnv) -> Result<(), WorkloadError> {
        let nodes = topology(&self.node_dir)?;
        let allowed = bench_core::affinity::allowed_cpus();
        let cells = cells(
            &nodes,
            &allowed,
            self.cpu_nodes.as_deref(),
            self.mem_nodes.as_deref(),
            self.threads,
        )
        .map_err(|m| {
            WorkloadError::Other(format!("mem.numa: {m} ({})", self.node_dir.display()))
        })?;
        let llc = cache_levels().iter().map(|c| c.bytes).max().unwrap_or(0);
        let lat_size = self
            .lat_size
            .unwrap_or_else(|| super::latency::default_max_size(llc));
        let bw_size = self
            .bw_size
            .unwrap_or_else(|| super::stream::default_array_bytes(llc));
        // One cell at a time holds its memory: the larger of the ring and
        // the three arrays must fit.
        check_memory("mem.numa", lat_size.max(3 * bw_size))?;
        for m in cells.iter().map(|c| c.mem_node) {
            if let Some(n) = nodes.iter().find(|n| n.node == m && n.memory_bytes > 0) {
                if n.memory_bytes / 10 * 9 < lat_size.max(3 * bw_size) {
                    return Err(WorkloadError::Other(format!(
                        "mem.numa: NUMA node {m} has {} MiB, too little for {} MiB per cell; lower lat_size/bw_size",
                        n.memory_bytes >> 20,
                        lat_size.max(3 * bw_size) >> 20
                    )));
                }
            }
        }
        self.plan = Some(Plan {
            nodes,
            cells,
            lat_size,
            bw_size,
        });
        Ok(())
    }

    fn worker(&self, step: &Step, index: usize) -> Result<Box<dyn Worker>, WorkloadError> {
        let plan = self
            .plan
            .as_ref()
            .ok_or_else(|| WorkloadError::Other("mem.numa used before prepare".into()))?;
        let (cell, lat) = self.cell_of(&step.label).ok_or_else(|| {
            WorkloadError::Other(format!("mem.numa: unknown step {}", step.label))
        })?;
        let node = cell.mem_node;
        let hp = self.hugepages;
        if index == 0 {
            // A new repetition's step: its own placement.
            if let Ok(mut m) = self.placements.lock() {
                m.remove(&step.label);
            }
        }
        if lat {
            // Bound before the ring is built (its first touch), on the
            // CPU the chase runs on, as a first-touch policy would have it.
            let size = plan.lat_size as usize;
            let seed = self.seed ^ u64::from(node);
            let ring = super::on_cpu(step.cpu_of(0), move || {
                Ring::build_in(bound_region(size, hp, node)?, size / NODE_BYTES, seed)
            })?;
            let (ptr, len) = ring.span();
            self.check_placement(&step.label, placement_of(ptr, len, node)?)?;
            return Ok(Box::new(ChaseWorker { ring }));
        }
        let threads = step.threads.max(1);
        let elems = (plan.bw_size as usize / 8 / threads).max(1024);
        let (a, b, c) = super::on_cpu(step.cpu_of(index), move || {
            let mut v = Vec::with_capacity(3);
            for i in 0..3 {
                let mut r = bound_region(elems * 8, hp, node)?;
                // Touch every page now (the measured passes must not fault).
                r.as_f64_mut()[..elems].fill(1.0 + i as f64);
                v.push(r);
            }
            let c = v.pop();
            let b = v.pop();
            let a = v.pop();
            match (a, b, c) {
                (Some(a), Some(b), Some(c)) => Ok((a, b, c)),
                _ => Err(WorkloadError::Other("mem.numa: arrays".into())),
            }
        })?;
        let mut p = placement_of(a.as_ptr(), a.len(), node)?;
        p.add(&placement_of(b.as_ptr(), b.len(), node)?);
        p.add(&placement_of(c.as_ptr(), c.len(), node)?);
        self.check_placement(&step.label, p)?;
        Ok(Box::new(TriadWorker { a, b, c, elems }))
    }

    fn metrics(&self, steps: &[StepResult]) -> Result<RunOutput, WorkloadError> {
        let mut out = RunOutput::default();
        let Some(plan) = &self.plan else {
            return Ok(out);
        };
        let placed = self
            .placements
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default();
        let mut cells_json = Vec::new();
        let mut headline = Vec::new();
        let mut rest = Vec::new();
        for c in &plan.cells {
            let tag = c.tag();
            let lat_label = format!("mem.numa.{tag}.lat");
            let bw_label = format!("mem.numa.{tag}.bw");
            let lat = steps
                .iter()
                .find(|s| s.step.label == lat_label && !s.merged.is_empty())
                .map(|s| s.merged.value_at_quantile(0.5) as f64 / LOADS_PER_OP as f64);
            let bw = steps
                .iter()
                .find(|s| s.step.label == bw_label && s.bytes > 0)
                .map(|s| (s.bytes_per_s(), s.merged.value_at_quantile(0.5)));
            if let Some(l) = lat {
                let mut m = bench_core::result::Metric::new(
                    format!("mem.numa.{tag}.ns_per_load"),
                    l,
                    Unit::Ns,
                    Better::Lower,
                );
                m.role = Some(Role::Headline);
                headline.push(m);
            }
            if let Some((b, pass_ns)) = bw {
                let mut m = bench_core::result::Metric::new(
                    format!("mem.numa.{tag}.bytes_per_s"),
                    b,
                    Unit::BytesPerS,
                    Better::Higher,
                );
                m.role = Some(Role::Headline);
                headline.push(m);
                rest.push((format!("mem.numa.{tag}.triad_pass_ns.p50"), pass_ns as f64));
            }
            cells_json.push(json!({
                "cell": tag,
                "cpu_node": c.cpu_node,
                "mem_node": c.mem_node,
                "cpus": c.cpus,
                "ns_per_load": lat,
                "bytes_per_s": bw.map(|x| x.0),
                "latency_placement": placed.get(&lat_label),
                "bandwidth_placement": placed.get(&bw_label),
            }));
        }
        out.metrics.extend(headline);
        for (n, v) in rest {
            out.metric(n, v, Unit::Ns, Better::Lower);
        }
        let single = plan.nodes.len() == 1;
        out.notes.insert(
            "mem.numa".into(),
            json!({
                "nodes": plan.nodes,
                "cells": cells_json,
                "lat_size_bytes": plan.lat_size,
                "bw_array_bytes": plan.bw_size,
                "hugepages": self.hugepages.as_str(),
                "single_node": single,
                "method": format!(
                    "memory bound to the memory node with mbind(MPOL_BIND, MPOL_MF_STRICT) before its first touch, threads pinned to the CPU node's vCPUs; placement checked on up to {PLACEMENT_SAMPLE} pages per region with move_pages (query only), at least {:.0}% on the node or the run fails. Latency: one thread, dependent loads around a random ring (Sattolo), median of batches of {LOADS_PER_OP} loads / {LOADS_PER_OP} (idle latency, as MLC's --latency_matrix). Bandwidth: STREAM triad on every chosen vCPU of the CPU node, each over its own arrays, 24 bytes per element counted (write-allocate not counted), sustained over the measured phase",
                    PLACEMENT_MIN * 100.0
                ),
            }),
        );
        if single {
            out.notes.insert(
                "mem.numa.single_node".into(),
                "this host has one NUMA node: the matrix is the one local cell (c0m0); remote latency and bandwidth need a multi-node machine".into(),
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(n: u32, cpus: &[usize], mem: u64) -> Node {
        Node {
            node: n,
            cpus: cpus.to_vec(),
            memory_bytes: mem,
            distances: vec![],
        }
    }

    #[test]
    fn cells_pair_every_cpu_node_with_every_memory_node() {
        let nodes = [
            node(0, &[0, 1], 1 << 30),
            node(1, &[2, 3], 1 << 30),
            node(2, &[], 1 << 30),
            node(3, &[4], 0),
        ];
        let all = [0, 1, 2, 3, 4];
        let c = cells(&nodes, &all, None, None, 0).unwrap();
        let tags: Vec<String> = c.iter().map(Cell::tag).collect();
        // Node 2 has no vCPU (memory only), node 3 no memory (CPU only).
        assert_eq!(
            tags,
            ["c0m0", "c0m1", "c0m2", "c1m0", "c1m1", "c1m2", "c3m0", "c3m1", "c3m2"]
        );
        assert_eq!(c[0].cpus, vec![0, 1]);
        // Threads are capped per cell; vCPUs outside the affinity are left out.
        let c = cells(&nodes, &[1, 2, 3], Some(&[0, 1]), Some(&[1]), 1).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].tag(), c[0].cpus.clone()),
            ("c0m1".to_string(), vec![1])
        );
        assert_eq!(
            (c[1].tag(), c[1].cpus.clone()),
            ("c1m1".to_string(), vec![2])
        );
        assert!(cells(&nodes, &all, Some(&[7]), None, 0)
            .unwrap_err()
            .contains("node 7"));
        assert!(cells(&nodes, &[9], None, None, 0).is_err());
    }

    #[test]
    fn nodemasks_set_one_bit() {
        let (m, max) = nodemask(0);
        assert_eq!((m, max), (vec![1], 65));
        let (m, max) = nodemask(65);
        assert_eq!(m, vec![0, 2]);
        assert_eq!(max, 129);
    }

    #[test]
    fn placement_tallies_nodes_and_errors() {
        let p = Placement::tally(1, &[1, 1, 0, 1, -14, 1]);
        assert_eq!((p.sampled, p.on_node), (6, 4));
        assert_eq!(p.elsewhere.get(&0), Some(&1));
        assert_eq!(p.unknown.get(&-14), Some(&1));
        assert!((p.ratio() - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(Placement::default().ratio(), 0.0);
    }

    #[test]
    fn a_fake_two_node_topology_reads() {
        let dir = tempfile::tempdir().unwrap();
        for (n, cpus, kb, dist) in [(0, "0-1", 1024, "10 21"), (1, "2-3", 2048, "21 10")] {
            let d = dir.path().join(format!("node{n}"));
            std::fs::create_dir(&d).unwrap();
            std::fs::write(d.join("cpulist"), format!("{cpus}\n")).unwrap();
            std::fs::write(d.join("meminfo"), format!("Node {n} MemTotal: {kb} kB\n")).unwrap();
            std::fs::write(d.join("distance"), format!("{dist}\n")).unwrap();
        }
        let t = topology(dir.path()).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].cpus, vec![2, 3]);
        assert_eq!(t[1].memory_bytes, 2048 * 1024);
        assert_eq!(t[0].distances, vec![10, 21]);
        std::fs::write(dir.path().join("node1/cpulist"), "3-2\n").unwrap();
        let e = topology(dir.path()).unwrap_err().to_string();
        assert!(e.contains("node1") && e.contains("3-2"), "{e}");
        // No node directory at all: one node with every allowed vCPU.
        let one = topology(&dir.path().join("absent")).unwrap();
        assert_eq!(one.len(), 1);
        assert!(!one[0].cpus.is_empty());
    }

    #[test]
    fn binding_to_this_hosts_first_node_places_every_page_there() {
        let nodes = topology(Path::new("/sys/devices/system/node")).unwrap();
        let n = nodes.iter().find(|n| n.memory_bytes > 0).unwrap().node;
        let mut r = bound_region(8 << 20, Hugepages::Off, n).unwrap();
        r.as_f64_mut().fill(1.0);
        let p = placement_of(r.as_ptr(), r.len(), n).unwrap();
        assert_eq!(p.sampled, (8 << 20) / page_size());
        assert_eq!(p.on_node, p.sampled, "{p:?}");
        // Untouched pages have no node yet: the query says so, not a node.
        let fresh = Region::new(1 << 20, Hugepages::Off).unwrap();
        let q = placement_of(fresh.as_ptr(), fresh.len(), n).unwrap();
        assert_eq!(q.on_node, 0, "{q:?}");
        assert!(!q.unknown.is_empty());
        // A node that does not exist is refused by the kernel, clearly.
        let mut r = Region::new(1 << 20, Hugepages::Off).unwrap();
        let e = bind(&mut r, 1000).unwrap_err().to_string();
        assert!(e.contains("mbind") && e.contains("1000"), "{e}");
    }
}
