//! Comparison policy (noise thresholds and α per metric family) and SKU
//! spec limits, both TOML files.

use std::path::Path;

use bench_core::result::Role;
use serde::{Deserialize, Serialize};

use crate::error::BaselineError;

/// What a possible regression (whole interval beyond the threshold, not
/// significant) does to a comparison's outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PossiblePolicy {
    /// Called out as a warning (JUnit: a skipped-style message), no failure.
    #[default]
    Warn,
    /// Fails the comparison like a regression.
    Fail,
}

/// What `gate` reports when the comparison is still inconclusive after
/// `max_repetitions`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InconclusivePolicy {
    /// Exit 4, outcome `inconclusive`: the pipeline decides.
    #[default]
    Inconclusive,
    /// Treated as a pass (exit 0), still reported as inconclusive.
    Pass,
    /// Treated as a failure (exit 1).
    Fail,
}

/// One role rule: metrics matching the glob get this role.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRule {
    /// Metric-name glob.
    pub metric: String,
    /// The role they get.
    pub role: Role,
}

/// How comparisons decide.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Per-metric level, used only when `holm = false` (no family-wise
    /// control, benchstat's way): a metric is significant when its own
    /// permutation p-value is at most α.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Family-wise level of one comparison: the chance that a comparison
    /// with no real change flags anything. Split between the headline
    /// family (1 − `secondary_share`) and the secondary family, each
    /// controlled by a Westfall–Young step-down maxT permutation test over
    /// whole runs (docs/statistics.md).
    #[serde(default = "default_family_alpha")]
    pub family_alpha: f64,
    /// Share of `family_alpha` spent on the secondary metrics.
    #[serde(default = "default_secondary_share")]
    pub secondary_share: f64,
    /// Random permutations drawn when the exact enumeration would exceed
    /// `exact_permutations` (about 10 or more runs a side).
    #[serde(default = "default_permutations")]
    pub permutations: usize,
    /// Largest number of run assignments enumerated exactly.
    #[serde(default = "default_exact_permutations")]
    pub exact_permutations: usize,
    /// Role overrides: metric-name glob → headline, secondary or
    /// explanatory (the longest matching pattern wins).
    #[serde(default)]
    pub roles: Vec<RoleRule>,
    /// Whether a possible regression warns (default) or fails.
    #[serde(default)]
    pub possible_regression: PossiblePolicy,
    /// What `gate` reports when still inconclusive after `max_repetitions`.
    #[serde(default)]
    pub inconclusive: InconclusivePolicy,
    /// Confidence of the interval of the ratio (default 0.95, as criterion).
    /// The test controls false alarms at α; the interval decides whether a
    /// significant change is larger than the noise threshold.
    #[serde(default)]
    pub confidence: Option<f64>,
    /// Control false alarms across the metrics of a comparison (the
    /// family-wise maxT test; the name is kept for older policy files).
    /// `false`: every metric on its own at `alpha`, like benchstat.
    #[serde(default = "yes")]
    pub holm: bool,
    /// Runs per side needed for a test; fewer → low-confidence, threshold only.
    #[serde(default = "default_min_runs")]
    pub min_runs: usize,
    /// Keep runs flagged `disturbed`.
    #[serde(default)]
    pub include_disturbed: bool,
    /// Noise thresholds: metric-name glob → relative threshold (0.02 = 2%).
    /// The most specific (longest) matching pattern wins.
    #[serde(default = "default_thresholds")]
    pub thresholds: Vec<Rule>,
    /// Metric-name globs left out of the comparison.
    #[serde(default = "default_ignore")]
    pub ignore: Vec<String>,
    /// Repetitions `gate` runs (and the cap of adaptive repetitions).
    #[serde(default = "default_reps")]
    pub repetitions: u32,
    /// Most repetitions `gate` adds while metrics stay inconclusive.
    #[serde(default = "default_max_reps")]
    pub max_repetitions: u32,
}

/// One threshold rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Metric-name glob (`*` matches any run of characters).
    pub metric: String,
    /// Relative noise threshold.
    pub threshold: f64,
}

fn default_alpha() -> f64 {
    0.01
}
fn default_family_alpha() -> f64 {
    0.05
}
fn default_secondary_share() -> f64 {
    0.2
}
fn default_permutations() -> usize {
    4000
}
fn default_exact_permutations() -> usize {
    20_000
}
fn yes() -> bool {
    true
}
fn default_min_runs() -> usize {
    4
}
fn default_reps() -> u32 {
    7
}
fn default_max_reps() -> u32 {
    14
}
fn default_ignore() -> Vec<String> {
    // The maximum is one sample: too noisy to gate on (it is still shown by `show`).
    vec!["*.max".into(), "*ops_including_warmup*".into()]
}
fn default_thresholds() -> Vec<Rule> {
    let r = |m: &str, t: f64| Rule {
        metric: m.into(),
        threshold: t,
    };
    vec![
        // 3%: below the noise of most cloud VMs' CPU throughput, and small
        // enough that a 10% slowdown at 3% noise clears it with 7 runs.
        r("*", 0.03),
        r("mem.latency.*", 0.05),
        r("*.lat_ns.p50", 0.05),
        r("*.lat_ns.p90", 0.05),
        r("*.lat_ns.p99", 0.08),
        r("*.lat_ns.p99_9", 0.15),
        r("*.lat_ns.p99_99", 0.25),
        r("jitter.*", 0.15),
        r("*_ratio", 0.05),
    ]
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            alpha: default_alpha(),
            family_alpha: default_family_alpha(),
            secondary_share: default_secondary_share(),
            permutations: default_permutations(),
            exact_permutations: default_exact_permutations(),
            roles: Vec::new(),
            possible_regression: PossiblePolicy::Warn,
            inconclusive: InconclusivePolicy::Inconclusive,
            confidence: None,
            holm: true,
            min_runs: default_min_runs(),
            include_disturbed: false,
            thresholds: default_thresholds(),
            ignore: default_ignore(),
            repetitions: default_reps(),
            max_repetitions: default_max_reps(),
        }
    }
}

/// `*`-glob match.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

impl Policy {
    /// Reads a policy file; unknown keys and bad values name the file and line.
    pub fn load(path: &Path) -> Result<Self, BaselineError> {
        Self::parse(&crate::read_limited(path, 1 << 20)?, path)
    }

    /// Parses policy text read from `path` (named in errors); what
    /// [`Policy::load`] does after reading, and the fuzz target's entry.
    pub fn parse(text: &str, path: &Path) -> Result<Self, BaselineError> {
        let p: Policy = toml::from_str(text).map_err(|e| BaselineError::toml(path, text, &e))?;
        p.validate()
            .map_err(|e| BaselineError::Input(format!("{}: {e}", path.display())))?;
        Ok(p)
    }

    /// Range checks; a failure is [`BaselineError::Input`] naming the key.
    pub fn validate(&self) -> Result<(), BaselineError> {
        let bad = |m: String| Err(BaselineError::Input(m));
        if !(self.alpha > 0.0 && self.alpha < 0.5) {
            return bad(format!("alpha = {} must be in (0, 0.5)", self.alpha));
        }
        if !(self.family_alpha > 0.0 && self.family_alpha < 0.5) {
            return bad(format!(
                "family_alpha = {} must be in (0, 0.5)",
                self.family_alpha
            ));
        }
        if let Some(c) = self.confidence {
            if !(c > 0.5 && c < 1.0) {
                return bad(format!("confidence = {c} must be in (0.5, 1)"));
            }
        }
        for r in &self.thresholds {
            if !(r.threshold >= 0.0 && r.threshold < 10.0) {
                return bad(format!(
                    "threshold {} for `{}` must be in [0, 10)",
                    r.threshold, r.metric
                ));
            }
        }
        if !(0.0..1.0).contains(&self.secondary_share) {
            return bad(format!(
                "secondary_share = {} must be in [0, 1)",
                self.secondary_share
            ));
        }
        if !(100..=1_000_000).contains(&self.permutations) {
            return bad(format!(
                "permutations = {} must be in [100, 1000000]",
                self.permutations
            ));
        }
        if self.exact_permutations > 1_000_000 {
            return bad(format!(
                "exact_permutations = {} must be at most 1000000",
                self.exact_permutations
            ));
        }
        if self.min_runs < 2 {
            return bad("min_runs must be at least 2".into());
        }
        if self.repetitions == 0 || self.max_repetitions < self.repetitions {
            return bad("need 1 ≤ repetitions ≤ max_repetitions".into());
        }
        Ok(())
    }

    /// The confidence of intervals.
    pub fn confidence(&self) -> f64 {
        self.confidence.unwrap_or(0.95)
    }

    /// The noise threshold of `metric`: the longest matching rule.
    pub fn threshold(&self, metric: &str) -> f64 {
        self.thresholds
            .iter()
            .filter(|r| glob_match(&r.metric, metric))
            .max_by_key(|r| r.metric.len())
            .map_or(0.03, |r| r.threshold)
    }

    /// The role a rule gives `metric` (longest matching pattern), if any.
    pub fn role_override(&self, metric: &str) -> Option<Role> {
        self.roles
            .iter()
            .filter(|r| glob_match(&r.metric, metric))
            .max_by_key(|r| r.metric.len())
            .map(|r| r.role)
    }

    /// The family-wise level of the headline family.
    pub fn headline_alpha(&self) -> f64 {
        self.family_alpha * (1.0 - self.secondary_share)
    }

    /// The family-wise level of the secondary family.
    pub fn secondary_alpha(&self) -> f64 {
        self.family_alpha * self.secondary_share
    }

    /// Whether `metric` is left out.
    pub fn ignored(&self, metric: &str) -> bool {
        self.ignore.iter().any(|g| glob_match(g, metric))
    }
}

/// Advertised limits of a SKU.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The SKU the limits are for (informational).
    #[serde(default)]
    pub sku: Option<String>,
    /// The limits.
    #[serde(default, rename = "limit")]
    pub limits: Vec<Limit>,
}

/// One advertised limit: the candidate's median must reach `min` (or stay
/// under `max`) within `tolerance`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Metric name (exact or glob).
    pub metric: String,
    /// Restrict to one workload label.
    #[serde(default)]
    pub workload: Option<String>,
    /// Lower bound (throughput caps: IOPS, bandwidth).
    #[serde(default)]
    pub min: Option<f64>,
    /// Upper bound (latency).
    #[serde(default)]
    pub max: Option<f64>,
    /// Relative tolerance (0.05 = 5%).
    #[serde(default)]
    pub tolerance: f64,
    /// Why the limit exists (e.g. "advertised 3750 IOPS").
    #[serde(default)]
    pub note: Option<String>,
}

impl Spec {
    /// Reads a spec file.
    pub fn load(path: &Path) -> Result<Self, BaselineError> {
        Self::parse(&crate::read_limited(path, 1 << 20)?, path)
    }

    /// Parses spec text read from `path` (named in errors); what
    /// [`Spec::load`] does after reading, and the fuzz target's entry.
    pub fn parse(text: &str, path: &Path) -> Result<Self, BaselineError> {
        let s: Spec = toml::from_str(text).map_err(|e| BaselineError::toml(path, text, &e))?;
        for (i, l) in s.limits.iter().enumerate() {
            if l.min.is_none() && l.max.is_none() {
                return Err(BaselineError::Input(format!(
                    "{}: limit #{} (`{}`) needs `min` or `max`",
                    path.display(),
                    i + 1,
                    l.metric
                )));
            }
            if !(0.0..1.0).contains(&l.tolerance) {
                return Err(BaselineError::Input(format!(
                    "{}: limit #{} (`{}`): tolerance must be in [0, 1)",
                    path.display(),
                    i + 1,
                    l.metric
                )));
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*", "a.b"));
        assert!(glob_match("*.lat_ns.p99", "disk.randread.lat_ns.p99"));
        assert!(!glob_match("*.lat_ns.p99", "disk.randread.lat_ns.p99_9"));
        assert!(glob_match("jitter.*", "jitter.vcpu0.wake_lat_ns.p99"));
        assert!(!glob_match("jitter.*", "cpu.int.ops_per_s"));
    }

    #[test]
    fn most_specific_threshold_wins() {
        let p = Policy::default();
        assert_eq!(p.threshold("cpu.int.ops_per_s"), 0.03);
        assert_eq!(p.threshold("disk.randread.lat_ns.p99_9"), 0.15);
        assert!(p.ignored("disk.randread.lat_ns.max"));
    }

    #[test]
    fn bad_policy_names_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.toml");
        std::fs::write(&f, "alpha = 0.01\nalhpa = 3\n").unwrap();
        let e = Policy::load(&f).unwrap_err().to_string();
        assert!(e.contains("p.toml:2") && e.contains("alhpa"), "{e}");
        std::fs::write(&f, "alpha = 0.9\n").unwrap();
        assert!(Policy::load(&f).unwrap_err().to_string().contains("alpha"));
        std::fs::write(&f, "min_runs = 1\n").unwrap();
        assert_eq!(
            Policy::load(&f).unwrap_err().to_string(),
            format!("{}: min_runs must be at least 2", f.display())
        );
    }

    #[test]
    fn validate_is_an_input_error_naming_the_key() {
        assert!(Policy::default().validate().is_ok());
        let p = Policy {
            permutations: 10,
            ..Policy::default()
        };
        let e = p.validate().unwrap_err();
        assert!(matches!(e, BaselineError::Input(_)), "{e:?}");
        assert_eq!(e.to_string(), "permutations = 10 must be in [100, 1000000]");
    }
}
