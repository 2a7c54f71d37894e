//! HDR histograms as skubench uses them: nanosecond values, 3 significant
//! digits, interchange as HdrHistogram V2 + DEFLATE in base64 (the form the
//! Java, Python, Go and JS libraries read).

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

/// The histogram type used for every latency.
pub type Hist = hdrhistogram::Histogram<u64>;

/// Highest trackable value: one hour in nanoseconds; larger values saturate.
pub const HIGHEST_NS: u64 = 3_600_000_000_000;

/// Significant digits kept (relative error ≤ 0.1%).
pub const SIGFIG: u8 = 3;

/// The percentiles every latency is reported at, with their metric-name
/// suffixes (`<name>.p50` …).
pub const REPORTED_PERCENTILES: &[(f64, &str)] = &[
    (50.0, "p50"),
    (90.0, "p90"),
    (99.0, "p99"),
    (99.9, "p99_9"),
    (99.99, "p99_99"),
];

/// The percentiles of latencies compared with fio's (disk, and results
/// imported from fio): [`REPORTED_PERCENTILES`] and the low ones and p95
/// of fio's default list, ascending. The one table both the disk workload
/// and the fio importer use, so native and imported results name the same
/// percentiles.
pub const FIO_PERCENTILES: &[(f64, &str)] = &[
    (1.0, "p1"),
    (5.0, "p5"),
    (10.0, "p10"),
    (50.0, "p50"),
    (90.0, "p90"),
    (95.0, "p95"),
    (99.0, "p99"),
    (99.9, "p99_9"),
    (99.99, "p99_99"),
];

/// The key of percentile `p` in fio's JSON output (`clat_ns.percentile`),
/// e.g. 99.9 → `99.900000`.
pub fn fio_percentile_key(p: f64) -> String {
    format!("{p:.6}")
}

/// A new, empty latency histogram.
pub fn new_hist() -> Hist {
    Hist::new_with_bounds(1, HIGHEST_NS, SIGFIG).expect("constant histogram bounds are valid")
}

/// A histogram that could not be encoded, or a blob that is not one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HistError {
    /// Serializing failed (a histogram this crate built never does).
    #[error("histogram serialization failed: {0}")]
    Encode(String),
    /// The blob is not a base64 HdrHistogram V2 serialization; says why.
    #[error("{0}")]
    Decode(String),
}

/// Encodes a histogram as base64 of its V2+DEFLATE serialization.
pub fn encode(h: &Hist) -> Result<String, HistError> {
    let mut buf = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut buf)
        .map_err(|e| HistError::Encode(format!("{e:?}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(buf))
}

/// Cookie of an HdrHistogram V2 serialization.
const V2_COOKIE: u32 = 0x1c84_9313;
/// Cookie of a DEFLATE-compressed one.
const V2_DEFLATE_COOKIE: u32 = 0x1c84_9314;
/// Bytes of a V2 header: cookie, payload length, normalizing offset,
/// significant digits, lowest and highest value, integer-to-double ratio.
const V2_HEADER: usize = 40;
/// Largest inflated histogram accepted: a full range (1 ns to hours, 3
/// digits) takes a few kilobytes; other tools' widest settings stay well under.
const MAX_INFLATED: u64 = 64 << 20;

/// Most counts a decoded histogram may hold (16 MiB of `u64`). Every
/// histogram of up to 4 significant digits fits at any range (skubench's
/// own, 1 ns to an hour at 3 digits, holds 33,792), and 5 digits fit
/// below 2^32 × the lowest value (1 ns to 4.29 s). Past it a crafted header asks for up to
/// 6 M counts, which every reader then walks: a cap keeps each blob's
/// cost bounded (the hist_blob fuzzer ran at 1.8 k/s on such blobs).
pub const MAX_COUNTS: u64 = 1 << 21;

/// The number of counts HdrHistogram allocates for a histogram of
/// `lowest`..=`highest` at `sigfig` digits, as hdrhistogram 7.5 computes
/// it; `None` where the crate would refuse the bounds anyway.
pub fn counts_len(lowest: u64, highest: u64, sigfig: u8) -> Option<u64> {
    if !(1..=u64::MAX / 2).contains(&lowest) || highest < 2 * lowest || sigfig > 5 {
        return None;
    }
    let single_unit = 2 * 10u64.pow(u32::from(sigfig));
    let sub_mag = (single_unit as f64).log2().ceil() as u32;
    let sub_count = 1u64 << sub_mag;
    let unit_mag = 63 - lowest.leading_zeros();
    if unit_mag + sub_mag > 63 {
        return None;
    }
    let mut untrackable = sub_count << unit_mag;
    let mut buckets = 1u64;
    while untrackable <= highest {
        if untrackable > u64::MAX / 2 {
            buckets += 1;
            break;
        }
        untrackable <<= 1;
        buckets += 1;
    }
    Some((buckets + 1) * (sub_count / 2))
}

/// Whether a V2 payload holds the zig-zag varint of `i64::MIN` (nine 0xff
/// bytes). hdrhistogram 7.5's deserializer negates each negative number (a
/// run of zero counts), which overflows for that one: a panic where
/// overflow checks are on (debug builds, tests), found by fuzz/ hist_blob.
/// No real histogram has such a run.
fn has_min_run(payload: &[u8]) -> bool {
    // The varint of HdrHistogram's V2: 7 bits a byte, high bit "more",
    // except the ninth byte, which carries 8 bits.
    let mut i = 0;
    while i < payload.len() {
        let start = i;
        while i < payload.len() && i - start < 8 && payload[i] & 0x80 != 0 {
            i += 1;
        }
        if i - start == 8 && payload.get(i) == Some(&0xff) {
            return true;
        }
        i += 1;
    }
    false
}

/// Decodes a base64 V2 (optionally DEFLATE-compressed) histogram.
///
/// The input is untrusted: sizes are bounded so a crafted blob cannot make
/// the decoder allocate without limit. The V2 header's payload length is
/// checked against the bytes there before the hdrhistogram deserializer
/// sees it (it allocates that length up front: a 348-byte blob asked for
/// 4 GiB, found by fuzz/ hist_blob), and a compressed blob is inflated here
/// with a bound.
pub fn decode(s: &str) -> Result<Hist, HistError> {
    use std::io::Read as _;
    let bad = |m: String| HistError::Decode(m);
    if s.len() > 64 << 20 {
        return Err(bad("histogram blob larger than 64 MiB".into()));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| bad(format!("histogram is not valid base64: {e}")))?;
    if bytes.len() < 8 {
        return Err(bad("histogram blob too short".into()));
    }
    let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let plain = if be32(&bytes) == V2_DEFLATE_COOKIE {
        let len = be32(&bytes[4..]) as usize;
        let body = &bytes[8..bytes.len().min(8usize.saturating_add(len))];
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(body)
            .take(MAX_INFLATED + 1)
            .read_to_end(&mut out)
            .map_err(|e| bad(format!("histogram does not inflate: {e}")))?;
        if out.len() as u64 > MAX_INFLATED {
            return Err(bad(format!(
                "histogram inflates to more than {MAX_INFLATED} bytes"
            )));
        }
        out
    } else {
        bytes
    };
    if plain.len() >= 8 && be32(&plain) == V2_COOKIE {
        if plain.len() < V2_HEADER {
            return Err(bad(format!(
                "histogram header of {} bytes, a V2 header has {V2_HEADER}",
                plain.len()
            )));
        }
        let payload = be32(&plain[4..]) as usize;
        let there = plain.len() - V2_HEADER;
        if payload > there {
            return Err(bad(format!(
                "histogram payload of {payload} bytes, but {there} bytes follow its header"
            )));
        }
        // Header: sigfig at 12, lowest at 16, highest at 24 (big-endian).
        let be64 = |b: &[u8]| u64::from_be_bytes(b[..8].try_into().unwrap_or([0; 8]));
        let sigfig = be32(&plain[12..]);
        let (lowest, highest) = (be64(&plain[16..]), be64(&plain[24..]));
        if let Some(n) = u8::try_from(sigfig)
            .ok()
            .and_then(|d| counts_len(lowest, highest, d))
        {
            if n > MAX_COUNTS {
                return Err(bad(format!(
                    "histogram of {lowest}..{highest} at {sigfig} digits needs {n} counts, more than the {MAX_COUNTS} accepted"
                )));
            }
        }
        if has_min_run(&plain[V2_HEADER..V2_HEADER + payload]) {
            return Err(bad("histogram holds a run of 2^63 zero counts".into()));
        }
    }
    let mut h: Hist = Deserializer::new()
        .deserialize(&mut plain.as_slice())
        .map_err(|e| {
            bad(format!(
                "histogram does not decode as HdrHistogram V2: {e:?}"
            ))
        })?;
    // hdrhistogram saturates the total count: counts that add up past
    // u64::MAX would give every percentile wrongly (found by fuzz/ hist_blob).
    let total = h
        .iter_recorded()
        .try_fold(0u64, |t, v| t.checked_add(v.count_at_value()));
    if total.is_none() {
        return Err(bad("histogram counts add up to more than 2^64".into()));
    }
    h.auto(false);
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_preserves_counts_and_percentiles() {
        let mut h = new_hist();
        for v in 1..=10_000u64 {
            h.record(v * 37).unwrap();
        }
        let back = decode(&encode(&h).unwrap()).unwrap();
        assert_eq!(back.len(), h.len());
        for q in [0.5, 0.9, 0.99, 0.999] {
            assert_eq!(back.value_at_quantile(q), h.value_at_quantile(q));
        }
        assert_eq!(back.max(), h.max());
    }

    #[test]
    fn the_fio_table_contains_the_reported_one() {
        for r in REPORTED_PERCENTILES {
            assert!(FIO_PERCENTILES.contains(r), "{r:?}");
        }
        assert!(FIO_PERCENTILES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(fio_percentile_key(99.9), "99.900000");
        assert_eq!(fio_percentile_key(95.0), "95.000000");
    }

    #[test]
    fn counts_len_is_the_crates() {
        for (lo, hi, d) in [
            (1, HIGHEST_NS, SIGFIG),
            (1, 2, 0),
            (1000, 1 << 40, 2),
            (1, u64::MAX, 4),
            (7, u64::MAX / 3, 5),
            (1, 1 << 32, 5),
            (1 << 40, u64::MAX, 1),
        ] {
            let h = Hist::new_with_bounds(lo, hi, d).unwrap();
            assert_eq!(
                counts_len(lo, hi, d),
                Some(h.distinct_values() as u64),
                "{lo}..{hi} at {d}"
            );
        }
        assert_eq!(counts_len(1, HIGHEST_NS, SIGFIG), Some(33_792));
        assert!(counts_len(1, u64::MAX, 4).unwrap() <= MAX_COUNTS);
        assert_eq!(counts_len(1, (1 << 32) - 1, 5), Some(MAX_COUNTS));
        assert!(counts_len(1, 1 << 32, 5).unwrap() > MAX_COUNTS);
        assert_eq!(counts_len(0, 10, 3), None);
        assert_eq!(counts_len(1, 10, 6), None);
    }

    #[test]
    fn a_header_asking_for_too_many_counts_is_refused() {
        let big = Hist::new_with_bounds(1, u64::MAX, 5).unwrap();
        let blob = encode(&big).unwrap();
        let e = decode(&blob).unwrap_err().to_string();
        assert!(e.contains("counts, more than"), "{e}");
        // The widest 4-digit histogram still decodes.
        let mut wide = Hist::new_with_bounds(1, u64::MAX, 4).unwrap();
        wide.record(12345).unwrap();
        assert_eq!(decode(&encode(&wide).unwrap()).unwrap().len(), 1);
    }

    #[test]
    fn bad_blobs_are_errors_not_panics() {
        assert!(decode("not base64!").is_err());
        assert!(decode("AAAA").is_err());
        assert!(decode(&base64::engine::general_purpose::STANDARD.encode([0u8; 64])).is_err());
    }
}
