//! Units of metrics, and parsing of human-friendly sizes and durations
//! (`4k`, `1g`, `5s`, `250ms`).

use std::fmt;
use std::time::Duration;

use crate::error::ValueError;

/// The unit of a metric or curve axis, written into result files as the
/// string of [`Unit::as_str`]. The schema allows any non-empty string and
/// files from elsewhere (imports, older builds, other tools) may carry
/// units skubench does not write itself: those read back as
/// [`Unit::Other`] and are written out unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unit {
    /// Nanoseconds (`ns`).
    Ns,
    /// Seconds (`s`).
    Seconds,
    /// Operations per second (`ops/s`).
    OpsPerS,
    /// Bytes per second (`bytes/s`).
    BytesPerS,
    /// Bits per second (`bits/s`).
    BitsPerS,
    /// Request/response transactions per second (`transactions/s`).
    TransactionsPerS,
    /// Connections per second (`connections/s`).
    ConnectionsPerS,
    /// Datagrams per second (`datagrams/s`).
    DatagramsPerS,
    /// Page faults per second (`faults/s`).
    FaultsPerS,
    /// Bytes (`bytes`).
    Bytes,
    /// Threads (`threads`).
    Threads,
    /// A dimensionless ratio (`ratio`).
    Ratio,
    /// Per cent (`%`).
    Percent,
    /// A count of events (`count`).
    Count,
    /// TCP segments (`segments`).
    Segments,
    /// 1 for yes, 0 for no (`bool`).
    Bool,
    /// Any other unit, kept as written.
    Other(String),
}

impl Unit {
    /// Every unit but [`Unit::Other`], for parsing and tests.
    pub const KNOWN: [Unit; 16] = [
        Unit::Ns,
        Unit::Seconds,
        Unit::OpsPerS,
        Unit::BytesPerS,
        Unit::BitsPerS,
        Unit::TransactionsPerS,
        Unit::ConnectionsPerS,
        Unit::DatagramsPerS,
        Unit::FaultsPerS,
        Unit::Bytes,
        Unit::Threads,
        Unit::Ratio,
        Unit::Percent,
        Unit::Count,
        Unit::Segments,
        Unit::Bool,
    ];

    /// The string written into result files.
    pub fn as_str(&self) -> &str {
        match self {
            Unit::Ns => "ns",
            Unit::Seconds => "s",
            Unit::OpsPerS => "ops/s",
            Unit::BytesPerS => "bytes/s",
            Unit::BitsPerS => "bits/s",
            Unit::TransactionsPerS => "transactions/s",
            Unit::ConnectionsPerS => "connections/s",
            Unit::DatagramsPerS => "datagrams/s",
            Unit::FaultsPerS => "faults/s",
            Unit::Bytes => "bytes",
            Unit::Threads => "threads",
            Unit::Ratio => "ratio",
            Unit::Percent => "%",
            Unit::Count => "count",
            Unit::Segments => "segments",
            Unit::Bool => "bool",
            Unit::Other(s) => s,
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Unit {
    fn from(s: &str) -> Self {
        Unit::KNOWN
            .into_iter()
            .find(|u| u.as_str() == s)
            .unwrap_or_else(|| Unit::Other(s.to_string()))
    }
}

impl From<String> for Unit {
    fn from(s: String) -> Self {
        match Unit::from(s.as_str()) {
            Unit::Other(_) => Unit::Other(s),
            u => u,
        }
    }
}

impl std::ops::Deref for Unit {
    type Target = str;
    /// The written form, so a unit reads like the string it always was.
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for Unit {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Unit {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl serde::Serialize for Unit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Unit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            // The schema's `minLength: 1`.
            return Err(serde::de::Error::custom("empty metric unit"));
        }
        Ok(Unit::from(s))
    }
}

/// Parses a size with an optional binary suffix (`k`, `m`, `g`, `t`, also
/// `kib`/`kb` forms), base 1024 as fio does. A bare number is bytes.
pub fn parse_size(s: &str) -> Result<u64, ValueError> {
    let t = s.trim().to_ascii_lowercase();
    if t.is_empty() {
        return Err("empty size".into());
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    let mult: u64 = match suffix.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => return Err(format!("unknown size suffix `{other}` in `{s}`").into()),
    };
    if num.contains('.') {
        let v: f64 = num
            .parse()
            .map_err(|_| ValueError::new(format!("bad size `{s}`")))?;
        let bytes = v * mult as f64;
        if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
            return Err(format!("size `{s}` out of range").into());
        }
        Ok(bytes.round() as u64)
    } else {
        let v: u64 = num
            .parse()
            .map_err(|_| ValueError::new(format!("bad size `{s}`")))?;
        v.checked_mul(mult)
            .ok_or_else(|| ValueError::new(format!("size `{s}` out of range")))
    }
}

/// The longest duration any input may give (10^9 s, about 31 years): far
/// beyond any run, and small enough that a suite's planned time (durations
/// × steps × repetitions) cannot overflow `Duration`.
pub const MAX_DURATION_S: u64 = 1_000_000_000;

/// Parses a duration: a bare number means seconds; otherwise humantime
/// syntax (`500ms`, `5s`, `2m`, `1h 30m`). At most [`MAX_DURATION_S`].
pub fn parse_duration(s: &str) -> Result<Duration, ValueError> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = t.parse::<f64>() {
        if !secs.is_finite() || !(0.0..=MAX_DURATION_S as f64).contains(&secs) {
            return Err(format!("duration `{s}` out of range").into());
        }
        return Ok(Duration::from_secs_f64(secs));
    }
    let d = humantime::parse_duration(t)
        .map_err(|e| ValueError::new(format!("bad duration `{s}`: {e}")))?;
    if d > Duration::from_secs(MAX_DURATION_S) {
        return Err(format!("duration `{s}` out of range").into());
    }
    Ok(d)
}

/// Formats a duration compactly (`1.5s`, `250ms`).
pub fn fmt_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_round_trip_as_todays_strings() {
        for u in Unit::KNOWN {
            let json = serde_json::to_string(&u).unwrap();
            assert_eq!(json, format!("\"{}\"", u.as_str()));
            assert_eq!(serde_json::from_str::<Unit>(&json).unwrap(), u);
        }
        assert_eq!(Unit::from("ops/s"), Unit::OpsPerS);
        // Units of other writers survive a read and write unchanged.
        let other: Unit = serde_json::from_str("\"furlongs/fortnight\"").unwrap();
        assert_eq!(other, Unit::Other("furlongs/fortnight".into()));
        assert_eq!(
            serde_json::to_string(&other).unwrap(),
            "\"furlongs/fortnight\""
        );
        let e = serde_json::from_str::<Unit>("\"\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty metric unit"), "{e}");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4k").unwrap(), 4096);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        assert!(parse_size("4x").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999999999999t").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("0.5").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
        // Found by fuzz/ suite_toml: a suite's planned time overflowed.
        assert!(parse_duration("500000000000years").is_err());
        assert!(parse_duration("31years").is_ok());
    }
}
