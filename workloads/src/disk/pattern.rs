//! Where each I/O goes, how large it is, and which direction: the access
//! pattern of one disk worker.
//!
//! Uniform random offsets come from a keyed permutation of the block
//! indices, so every block is touched exactly once per pass without a
//! bitmap (fio's `randommap` is what makes its null engine cache-bound).
//! The permutation is a keyed bijection on `[0, 2^bits)` (xorshift and odd
//! multiplications, each invertible modulo `2^bits`) walked by a counter;
//! indices at or above the block count are skipped, which costs fewer than
//! two evaluations per offset on average since `2^bits < 2n`.

use bench_core::error::ValueError;

/// Whether, and in what order, I/Os read and write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rw {
    /// Sequential reads.
    Read,
    /// Sequential writes.
    Write,
    /// Sequential, mixed reads and writes (`rwmixread`).
    ReadWrite,
    /// Uniform or skewed random reads.
    RandRead,
    /// Random writes.
    RandWrite,
    /// Random, mixed reads and writes (`rwmixread`).
    RandRw,
}

impl Rw {
    /// Parses the `rw` parameter (fio's spellings).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "read" => Rw::Read,
            "write" => Rw::Write,
            "rw" | "readwrite" => Rw::ReadWrite,
            "randread" => Rw::RandRead,
            "randwrite" => Rw::RandWrite,
            "randrw" => Rw::RandRw,
            _ => return None,
        })
    }
    /// The name used in metric names (`disk.<name>.iops`).
    pub fn name(self) -> &'static str {
        match self {
            Rw::Read => "read",
            Rw::Write => "write",
            Rw::ReadWrite => "rw",
            Rw::RandRead => "randread",
            Rw::RandWrite => "randwrite",
            Rw::RandRw => "randrw",
        }
    }
    /// Random (as opposed to sequential) offsets.
    pub fn random(self) -> bool {
        matches!(self, Rw::RandRead | Rw::RandWrite | Rw::RandRw)
    }
    /// Issues writes.
    pub fn writes(self) -> bool {
        !matches!(self, Rw::Read | Rw::RandRead)
    }
    /// Issues reads.
    pub fn reads(self) -> bool {
        !matches!(self, Rw::Write | Rw::RandWrite)
    }
    /// Issues both reads and writes.
    pub fn mixed(self) -> bool {
        matches!(self, Rw::ReadWrite | Rw::RandRw)
    }
}

/// Distribution of random offsets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    /// Every block once per pass, in a keyed random order.
    Uniform,
    /// Zipf with exponent θ over the blocks (rank 1 is the hottest); the
    /// ranks are scattered over the range by a keyed permutation.
    Zipf(f64),
}

impl Distribution {
    /// Parses `uniform` / `random` / `zipf:θ`.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let t = s.trim();
        if t == "uniform" || t == "random" {
            return Ok(Distribution::Uniform);
        }
        if let Some(th) = t.strip_prefix("zipf:") {
            let v: f64 = th
                .trim()
                .parse()
                .map_err(|_| format!("zipf exponent `{th}` is not a number"))?;
            if !v.is_finite() || v <= 0.0 || v > 100.0 {
                return Err(format!("zipf exponent {v} must be in (0, 100]").into());
            }
            return Ok(Distribution::Zipf(v));
        }
        Err(format!("`{t}` is not a supported distribution (uniform, random, zipf:θ)").into())
    }
}

/// A small, fast PRNG (wyrand): good statistical quality, one multiply.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(splitmix(seed))
    }
    /// The next 64 random bits.
    #[inline(always)]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0).wrapping_mul(u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db));
        ((t >> 64) as u64) ^ (t as u64)
    }
    /// A value in `[0, n)` (multiply-high; bias below n / 2^64).
    #[inline(always)]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
    /// A float in `[0, 1)`.
    #[inline(always)]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// SplitMix64 finaliser: spreads a seed (or any key) over 64 bits.
pub fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A keyed bijection on `[0, 2^bits)`, where `2^bits` is the smallest power
/// of two ≥ `n`; see [`Permutation::index`] for the walk over `[0, n)`.
#[derive(Clone, Debug)]
pub struct Permutation {
    n: u64,
    bits: u32,
    mask: u64,
    shift: u32,
    add: [u64; 2],
    mul: [u64; 2],
}

impl Permutation {
    /// A permutation of `[0, n)` chosen by `key`; `n` is at least 1 and below 2^62.
    pub fn new(n: u64, key: u64) -> Self {
        let n = n.clamp(1, 1 << 62);
        let bits = 64 - (n - 1).leading_zeros();
        let mask = if bits == 0 { 0 } else { (1u64 << bits) - 1 };
        let k1 = splitmix(key);
        let k2 = splitmix(k1);
        let k3 = splitmix(k2);
        let k4 = splitmix(k3);
        Self {
            n,
            bits,
            mask,
            shift: (bits / 2).max(1),
            add: [k1 & mask, k2 & mask],
            // Odd multipliers are invertible modulo 2^bits.
            mul: [k3 | 1, k4 | 1],
        }
    }

    /// Number of elements permuted.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// Always false: a permutation has at least one element.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Size of the power-of-two domain the counter walks.
    pub fn domain(&self) -> u64 {
        self.mask.wrapping_add(1).max(1)
    }

    /// The bijection on `[0, 2^bits)`.
    #[inline(always)]
    pub fn mix(&self, x: u64) -> u64 {
        let m = self.mask;
        let s = self.shift;
        let mut x = (x.wrapping_add(self.add[0])) & m;
        x ^= x >> s;
        x = x.wrapping_mul(self.mul[0]) & m;
        x ^= x >> s;
        x = (x.wrapping_add(self.add[1])) & m;
        x = x.wrapping_mul(self.mul[1]) & m;
        x ^= x >> s;
        x
    }

    /// The image of `i` in `[0, n)` by cycle walking: a bijection of `[0, n)`.
    #[inline(always)]
    pub fn index(&self, i: u64) -> u64 {
        let mut x = self.mix(i);
        // At most 2^bits steps; expected fewer than 2 since 2^bits < 2n.
        while x >= self.n {
            x = self.mix(x);
        }
        x
    }

    /// Bits of the domain.
    pub fn bits(&self) -> u32 {
        self.bits
    }
}

/// Uniform random block indices: each pass visits every block exactly once,
/// and each pass uses a fresh key so consecutive passes differ.
#[derive(Clone, Debug)]
pub struct UniformBlocks {
    perm: Permutation,
    counter: u64,
    domain: u64,
    seed: u64,
    pass: u64,
}

impl UniformBlocks {
    /// A sequence over `[0, n)` from `seed`.
    pub fn new(n: u64, seed: u64) -> Self {
        let perm = Permutation::new(n, seed);
        let domain = perm.domain();
        Self {
            perm,
            counter: 0,
            domain,
            seed,
            pass: 0,
        }
    }

    /// Completed passes so far.
    pub fn pass(&self) -> u64 {
        self.pass
    }

    /// The next block index.
    #[inline(always)]
    pub fn next_block(&mut self) -> u64 {
        loop {
            if self.counter == self.domain {
                self.new_pass();
            }
            let x = self.perm.mix(self.counter);
            self.counter += 1;
            if x < self.perm.n {
                return x;
            }
        }
    }

    #[cold]
    fn new_pass(&mut self) {
        self.pass += 1;
        self.perm = Permutation::new(self.perm.n, splitmix(self.seed ^ self.pass));
        self.counter = 0;
    }
}

/// Zipf-distributed ranks in `[1, n]` by rejection-inversion (Hörmann and
/// Derflinger 1996): O(1) per sample, no tables, any exponent > 0.
#[derive(Clone, Debug)]
pub struct Zipf {
    n: f64,
    exponent: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    s: f64,
}

impl Zipf {
    /// A sampler over `n ≥ 1` elements with exponent `theta > 0`.
    pub fn new(n: u64, theta: f64) -> Self {
        let n = n.max(1) as f64;
        let mut z = Self {
            n,
            exponent: theta,
            h_integral_x1: 0.0,
            h_integral_n: 0.0,
            s: 0.0,
        };
        z.h_integral_x1 = z.h_integral(1.5) - 1.0;
        z.h_integral_n = z.h_integral(n + 0.5);
        z.s = 2.0 - z.h_integral_inv(z.h_integral(2.5) - z.h(2.0));
        z
    }

    /// A rank in `[1, n]`; rank 1 is the most frequent.
    #[inline]
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        // Bounded: the acceptance probability is high (> 0.5 for any θ),
        // and after many rejections we settle for the last candidate.
        let mut k = 1.0;
        for _ in 0..64 {
            let u = self.h_integral_n + rng.unit() * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inv(u);
            k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.s || u >= self.h_integral(k + 0.5) - self.h(k) {
                break;
            }
        }
        k as u64
    }

    fn h(&self, x: f64) -> f64 {
        (-self.exponent * x.ln()).exp()
    }
    fn h_integral(&self, x: f64) -> f64 {
        let lx = x.ln();
        helper2((1.0 - self.exponent) * lx) * lx
    }
    fn h_integral_inv(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.exponent)).max(-1.0);
        (helper1(t) * x).exp()
    }
}

fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x))
    }
}

/// Block sizes and their shares: one size, or fio's `bssplit`.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockSizes {
    /// `(size, cumulative percent)`, ascending; the last is 100.
    table: Vec<(u64, u32)>,
}

impl BlockSizes {
    /// A single block size.
    pub fn single(bs: u64) -> Self {
        Self {
            table: vec![(bs, 100)],
        }
    }

    /// Parses fio's `bssplit` (`4k/50:64k/40:1m/10`). Entries without a
    /// percentage share what the others leave; the total must be 100.
    pub fn parse_split(s: &str) -> Result<Self, ValueError> {
        if s.contains(',') {
            return Err(
                "separate read,write bssplit lists are not supported; give one list".into(),
            );
        }
        let mut entries: Vec<(u64, Option<u32>)> = Vec::new();
        for part in s.split(':').map(str::trim).filter(|p| !p.is_empty()) {
            let (size, pct) = match part.split_once('/') {
                Some((a, b)) => {
                    let b = b.trim();
                    let pct = if b.is_empty() {
                        None
                    } else {
                        Some(
                            b.parse::<u32>()
                                .ok()
                                .filter(|p| *p <= 100)
                                .ok_or_else(|| format!("bad percentage `{b}` in `{part}`"))?,
                        )
                    };
                    (a, pct)
                }
                None => (part, None),
            };
            let bs = bench_core::units::parse_size(size)?;
            if bs == 0 {
                return Err(format!("zero block size in `{part}`").into());
            }
            entries.push((bs, pct));
        }
        if entries.is_empty() {
            return Err("empty bssplit".into());
        }
        if entries.len() > 64 {
            return Err("more than 64 bssplit entries".into());
        }
        let given: u32 = entries.iter().filter_map(|e| e.1).sum();
        let unset = entries.iter().filter(|e| e.1.is_none()).count() as u32;
        if given > 100 || (unset == 0 && given != 100) {
            return Err(format!("bssplit percentages add up to {given}, not 100").into());
        }
        let mut pcts: Vec<(u64, u32)> = Vec::new();
        let mut left = 100 - given;
        let mut unset_left = unset;
        for (bs, p) in entries {
            let p = match p {
                Some(p) => p,
                None => {
                    let share = left / unset_left;
                    left -= share;
                    unset_left -= 1;
                    share
                }
            };
            if p > 0 {
                pcts.push((bs, p));
            }
        }
        if pcts.is_empty() {
            return Err("bssplit has no size with a non-zero share".into());
        }
        let mut cum = 0;
        let table = pcts
            .into_iter()
            .map(|(bs, p)| {
                cum += p;
                (bs, cum)
            })
            .collect();
        Ok(Self { table })
    }

    /// Smallest size: the alignment unit of random offsets.
    pub fn min(&self) -> u64 {
        self.table.iter().map(|e| e.0).min().unwrap_or(1)
    }
    /// Largest size: the buffer size.
    pub fn max(&self) -> u64 {
        self.table.iter().map(|e| e.0).max().unwrap_or(1)
    }
    /// The sizes with their (non-cumulative) percentages.
    pub fn shares(&self) -> Vec<(u64, u32)> {
        let mut prev = 0;
        self.table
            .iter()
            .map(|&(bs, c)| {
                let p = c - prev;
                prev = c;
                (bs, p)
            })
            .collect()
    }
    /// Whether there is a single size.
    pub fn is_single(&self) -> bool {
        self.table.len() == 1
    }
    #[inline(always)]
    fn pick(&self, rng: &mut Rng) -> u64 {
        if self.table.len() == 1 {
            return self.table[0].0;
        }
        let r = rng.below(100) as u32;
        for &(bs, c) in &self.table {
            if r < c {
                return bs;
            }
        }
        self.table[self.table.len() - 1].0
    }
}

/// One I/O to issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Io {
    /// Byte offset in the file.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// A write (else a read).
    pub write: bool,
}

/// Everything that defines a worker's access pattern.
#[derive(Clone, Debug)]
pub struct PatternSpec {
    /// Direction and order.
    pub rw: Rw,
    /// Percent of reads in mixed workloads.
    pub rwmixread: u32,
    /// Block sizes.
    pub sizes: BlockSizes,
    /// First byte of the region.
    pub start: u64,
    /// Length of the region, bytes (at least the largest block size).
    pub len: u64,
    /// Random offset distribution.
    pub distribution: Distribution,
    /// Seed of this worker's pattern.
    pub seed: u64,
}

enum Order {
    Seq { cursor: u64 },
    Uniform(UniformBlocks),
    Zipf(Zipf, Permutation),
}

/// A worker's stream of I/Os.
pub struct IoPattern {
    order: Order,
    rng: Rng,
    sizes: BlockSizes,
    fixed_bs: Option<u64>,
    unit: u64,
    start: u64,
    len: u64,
    rw: Rw,
    rwmixread: u64,
}

impl IoPattern {
    /// Builds the stream; `spec.len` must be at least the largest block size.
    pub fn new(spec: &PatternSpec) -> Self {
        let unit = spec.sizes.min().max(1);
        let blocks = (spec.len / unit).max(1);
        let order = if !spec.rw.random() {
            Order::Seq { cursor: 0 }
        } else {
            match spec.distribution {
                Distribution::Uniform => Order::Uniform(UniformBlocks::new(blocks, spec.seed)),
                Distribution::Zipf(t) => Order::Zipf(
                    Zipf::new(blocks, t),
                    Permutation::new(blocks, splitmix(spec.seed ^ 0x5a5a)),
                ),
            }
        };
        Self {
            order,
            rng: Rng::new(spec.seed ^ 0x1234_5678),
            fixed_bs: spec.sizes.is_single().then(|| spec.sizes.max()),
            sizes: spec.sizes.clone(),
            unit,
            start: spec.start,
            len: spec.len,
            rw: spec.rw,
            rwmixread: u64::from(spec.rwmixread.min(100)),
        }
    }

    /// Number of alignment units (blocks) in the region.
    pub fn blocks(&self) -> u64 {
        (self.len / self.unit).max(1)
    }

    /// The next I/O.
    #[inline(always)]
    pub fn next_io(&mut self) -> Io {
        let len = match self.fixed_bs {
            Some(b) => b,
            None => self.sizes.pick(&mut self.rng),
        };
        let rel = match &mut self.order {
            Order::Seq { cursor } => {
                if *cursor + len > self.len {
                    *cursor = 0;
                }
                let r = *cursor;
                *cursor += len;
                r
            }
            Order::Uniform(u) => clamp(u.next_block() * self.unit, len, self.len, self.unit),
            Order::Zipf(z, p) => {
                let rank = z.sample(&mut self.rng) - 1;
                clamp(p.index(rank) * self.unit, len, self.len, self.unit)
            }
        };
        let write = match self.rw {
            Rw::Read | Rw::RandRead => false,
            Rw::Write | Rw::RandWrite => true,
            Rw::ReadWrite | Rw::RandRw => self.rng.below(100) >= self.rwmixread,
        };
        Io {
            offset: self.start + rel,
            len,
            write,
        }
    }
}

/// Keeps a large I/O near the end of the region inside it, still aligned.
#[inline(always)]
fn clamp(rel: u64, len: u64, region: u64, unit: u64) -> u64 {
    if rel + len <= region {
        rel
    } else {
        (region - len) / unit * unit
    }
}
