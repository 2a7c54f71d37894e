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

/// Decodes a base64 V2 (optionally DEFLATE-compressed) histogram.
///
/// The input is untrusted: sizes are bounded so a crafted blob cannot make
/// the decoder allocate without limit.
pub fn decode(s: &str) -> Result<Hist, HistError> {
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
    let mut h: Hist = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| {
            bad(format!(
                "histogram does not decode as HdrHistogram V2: {e:?}"
            ))
        })?;
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
    fn bad_blobs_are_errors_not_panics() {
        assert!(decode("not base64!").is_err());
        assert!(decode("AAAA").is_err());
        assert!(decode(&base64::engine::general_purpose::STANDARD.encode([0u8; 64])).is_err());
    }
}
