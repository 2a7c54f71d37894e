//! Access-pattern tests: offsets aligned and in range, every block once per
//! pass without a bitmap, statistical coverage, zipf skew, mixes.

use workloads::disk::pattern::{
    BlockSizes, Distribution, IoPattern, PatternSpec, Permutation, Rw, UniformBlocks,
};

fn spec(rw: Rw, sizes: BlockSizes, start: u64, len: u64, d: Distribution) -> PatternSpec {
    PatternSpec {
        rw,
        rwmixread: 50,
        sizes,
        start,
        len,
        distribution: d,
        seed: 42,
    }
}

#[test]
fn offsets_are_aligned_and_inside_the_region() {
    let split = |s: &str| BlockSizes::parse_split(s).unwrap();
    let single = BlockSizes::single;
    let (uniform, zipf) = (Distribution::Uniform, Distribution::Zipf(1.1));
    let cases = [
        (Rw::RandRead, single(4096), 8192, (1 << 20) + 3000, uniform),
        (Rw::RandWrite, single(512), 0, 7 * 512, uniform),
        (
            Rw::RandRw,
            split("4k/50:64k/30:1m/20"),
            1 << 20,
            (3 << 20) + 4096,
            uniform,
        ),
        (Rw::RandRead, split("8k/70:128k/30"), 4096, 16 << 20, zipf),
        (Rw::Read, single(1 << 20), 4096, (10 << 20) + 123, uniform),
        (Rw::ReadWrite, split("4k/50:12k/50"), 0, 100_000, uniform),
    ]
    .map(|(rw, sizes, start, len, d)| spec(rw, sizes, start, len, d));
    for s in cases {
        let unit = s.sizes.min();
        let mut p = IoPattern::new(&s);
        for i in 0..200_000 {
            let io = p.next_io();
            assert!(
                io.offset >= s.start,
                "{s:?} io {i}: {io:?} before the region"
            );
            assert!(
                io.offset + io.len <= s.start + s.len,
                "{s:?} io {i}: {io:?} past the end"
            );
            assert_eq!(
                (io.offset - s.start) % unit,
                0,
                "{s:?} io {i}: {io:?} unaligned"
            );
            assert!(io.len >= unit && io.len <= s.sizes.max());
            match s.rw {
                Rw::Read | Rw::RandRead => assert!(!io.write),
                Rw::Write | Rw::RandWrite => assert!(io.write),
                _ => {}
            }
        }
    }
}

#[test]
fn uniform_covers_every_block_exactly_once_per_pass() {
    for n in [1u64, 2, 3, 5, 64, 1000, 4097, 100_003] {
        let mut u = UniformBlocks::new(n, 7);
        let mut orders = Vec::new();
        for pass in 0..3 {
            let mut seen = vec![false; n as usize];
            let mut order = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let b = u.next_block();
                assert!(b < n, "n={n}: block {b} out of range");
                assert!(!seen[b as usize], "n={n} pass {pass}: block {b} twice");
                seen[b as usize] = true;
                order.push(b);
            }
            assert!(
                seen.iter().all(|s| *s),
                "n={n} pass {pass}: a block was missed"
            );
            orders.push(order);
        }
        if n >= 64 {
            assert_ne!(orders[0], orders[1], "n={n}: passes repeat the same order");
        }
    }
}

#[test]
fn permutation_index_is_a_bijection() {
    for (n, key) in [
        (1u64, 1u64),
        (10, 2),
        (1023, 3),
        (1024, 4),
        (1025, 5),
        (50_000, 6),
    ] {
        let p = Permutation::new(n, key);
        let mut seen = vec![false; n as usize];
        for i in 0..n {
            let x = p.index(i);
            assert!(x < n);
            assert!(!seen[x as usize], "n={n}: {x} hit twice");
            seen[x as usize] = true;
        }
    }
}

#[test]
fn uniform_random_spreads_over_the_range_and_is_not_sequential() {
    let n = 1u64 << 20;
    let mut u = UniformBlocks::new(n, 99);
    // The first tenth of a pass should already land evenly in all deciles.
    let draws = n / 10;
    let mut deciles = [0u64; 10];
    let mut adjacent = 0;
    let mut prev = u64::MAX;
    for _ in 0..draws {
        let b = u.next_block();
        deciles[(b * 10 / n) as usize] += 1;
        if b == prev.wrapping_add(1) {
            adjacent += 1;
        }
        prev = b;
    }
    let expect = draws as f64 / 10.0;
    for (i, c) in deciles.iter().enumerate() {
        let dev = (*c as f64 - expect).abs() / expect;
        assert!(dev < 0.03, "decile {i}: {c} draws, expected ≈{expect}");
    }
    assert!(
        adjacent < draws / 1000,
        "{adjacent} sequential steps: not random"
    );
}

/// The share of `samples` random 4 KiB reads over `n` blocks, spread by
/// `distribution`, that land on the `top` most-read blocks.
fn top_share(distribution: Distribution, n: u64, top: u64, samples: u64) -> f64 {
    let mut p = IoPattern::new(&PatternSpec {
        rw: Rw::RandRead,
        rwmixread: 100,
        sizes: BlockSizes::single(4096),
        start: 0,
        len: n * 4096,
        distribution,
        seed: 5,
    });
    let mut counts = vec![0u64; n as usize];
    for _ in 0..samples {
        counts[(p.next_io().offset / 4096) as usize] += 1;
    }
    counts.sort_unstable_by(|a, b| b.cmp(a));
    counts[..top as usize].iter().sum::<u64>() as f64 / samples as f64
}

#[test]
fn zipf_is_skewed_as_theory_says() {
    let n = 10_000u64;
    for theta in [0.8, 1.2] {
        let h = |k: u64| (1..=k).map(|i| (i as f64).powf(-theta)).sum::<f64>();
        let expect = h(100) / h(n);
        let got = top_share(Distribution::Zipf(theta), n, 100, 400_000);
        assert!(
            (got - expect).abs() < 0.02,
            "θ={theta}: top 1% of blocks got {got:.3} of I/Os, theory {expect:.3}"
        );
    }
    // Uniform, for contrast: the top 1% get barely more than 1%.
    let share = top_share(Distribution::Uniform, n, 100, 400_000);
    assert!(share < 0.011, "uniform top 1% share {share}");
}

#[test]
fn read_mix_and_block_size_split_follow_their_percentages() {
    let mut s = spec(
        Rw::RandRw,
        BlockSizes::parse_split("4k/70:64k/30").unwrap(),
        0,
        64 << 20,
        Distribution::Uniform,
    );
    s.rwmixread = 70;
    let mut p = IoPattern::new(&s);
    let (mut reads, mut small) = (0u64, 0u64);
    let total = 200_000u64;
    for _ in 0..total {
        let io = p.next_io();
        reads += u64::from(!io.write);
        small += u64::from(io.len == 4096);
    }
    let r = reads as f64 / total as f64;
    let sm = small as f64 / total as f64;
    assert!((r - 0.7).abs() < 0.01, "read share {r}");
    assert!((sm - 0.7).abs() < 0.01, "4k share {sm}");
}

#[test]
fn sequential_walks_the_region_and_wraps() {
    let s = spec(
        Rw::Read,
        BlockSizes::single(4096),
        4096,
        4 * 4096,
        Distribution::Uniform,
    );
    let mut p = IoPattern::new(&s);
    let offs: Vec<u64> = (0..6).map(|_| p.next_io().offset).collect();
    assert_eq!(offs, vec![4096, 8192, 12288, 16384, 4096, 8192]);
}

#[test]
fn bssplit_and_distribution_parse_and_reject() {
    let b = BlockSizes::parse_split("4k/50:64k:1m").unwrap();
    assert_eq!(b.shares(), vec![(4096, 50), (65536, 25), (1 << 20, 25)]);
    assert_eq!((b.min(), b.max()), (4096, 1 << 20));
    assert!(BlockSizes::parse_split("4k/50:64k/40")
        .unwrap_err()
        .to_string()
        .contains("100"));
    assert!(BlockSizes::parse_split("4k/50,8k/50").is_err());
    assert!(BlockSizes::parse_split("4q/100").is_err());
    assert_eq!(
        Distribution::parse("zipf:1.2").unwrap(),
        Distribution::Zipf(1.2)
    );
    assert_eq!(
        Distribution::parse("random").unwrap(),
        Distribution::Uniform
    );
    assert!(Distribution::parse("pareto:0.5").is_err());
    assert!(Distribution::parse("zipf:-1").is_err());
}
