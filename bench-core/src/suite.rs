//! Suite files (TOML) and their validation into a runnable plan.
//!
//! Top-level keys are defaults; each `[[workload]]` names its `kind` and its
//! own parameters flat. Every error names the file, line, column and key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use crate::error::{Location, SpecError, ValueError};
use crate::params::{parse_value, ParamDef, ParamKind, Params, RawValue, Value};
use crate::workload::{Registry, Workload};

/// Timing of a workload's runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// Warm-up before each step (not recorded).
    pub warmup: Duration,
    /// Measured phase per step; `None` when bounded by `ops` alone.
    pub duration: Option<Duration>,
    /// Operations per step (split across workers).
    pub ops: Option<u64>,
    /// Series interval.
    pub interval: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            warmup: Duration::from_secs(1),
            duration: Some(Duration::from_secs(5)),
            ops: None,
            interval: Duration::from_secs(1),
        }
    }
}

/// Suite-wide settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Runs of each workload, interleaved A B C A B C …
    pub repetitions: u32,
    /// Default timing.
    pub timing: Timing,
    /// Foreign-CPU threshold for the `disturbed` flag, vCPUs.
    pub disturbance_threshold: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            repetitions: 1,
            timing: Timing::default(),
            disturbance_threshold: crate::disturb::DEFAULT_THRESHOLD_VCPUS,
        }
    }
}

/// One validated workload of a suite.
pub struct PlannedWorkload {
    /// Kind.
    pub kind: String,
    /// Label: the suite's `name` key, or the workload's first step label.
    pub label: String,
    /// Validated parameters.
    pub params: Params,
    /// Timing.
    pub timing: Timing,
    /// Where it was declared (`file:line`), for messages.
    pub origin: String,
    /// The configured workload.
    pub workload: Box<dyn Workload>,
    /// Workloads of one suite with the same group run at the same time
    /// (a stress or soak test); `None` runs alone.
    pub group: Option<String>,
}

impl std::fmt::Debug for PlannedWorkload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlannedWorkload")
            .field("kind", &self.kind)
            .field("label", &self.label)
            .field("params", &self.params)
            .field("timing", &self.timing)
            .field("origin", &self.origin)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl PlannedWorkload {
    /// The spec as run, for the result file.
    pub fn spec_json(&self) -> serde_json::Value {
        let mut m = self.params.to_json();
        m.insert("kind".into(), self.kind.clone().into());
        m.insert("warmup_s".into(), self.timing.warmup.as_secs_f64().into());
        if let Some(d) = self.timing.duration {
            m.insert("duration_s".into(), d.as_secs_f64().into());
        }
        if let Some(o) = self.timing.ops {
            m.insert("ops".into(), o.into());
        }
        m.insert(
            "interval_s".into(),
            self.timing.interval.as_secs_f64().into(),
        );
        serde_json::Value::Object(m)
    }

    /// Expected wall time of one run (all steps).
    pub fn planned(&self) -> Duration {
        let steps = self.workload.steps();
        steps
            .iter()
            .map(|s| self.timing.warmup + s.duration.or(self.timing.duration).unwrap_or_default())
            .sum()
    }
}

/// A validated suite, ready to run.
#[derive(Debug)]
pub struct Suite {
    /// Suite name.
    pub name: String,
    /// The file it came from.
    pub path: Option<PathBuf>,
    /// The file's text.
    pub text: Option<String>,
    /// Settings.
    pub settings: Settings,
    /// Workloads in declaration order.
    pub workloads: Vec<PlannedWorkload>,
}

impl Suite {
    /// Expected wall time of the whole suite.
    pub fn planned(&self) -> Duration {
        self.workloads.iter().map(|w| w.planned()).sum::<Duration>() * self.settings.repetitions
    }
}

const SETTING_KEYS: &[&str] = &[
    "name",
    "description",
    "repetitions",
    "warmup",
    "duration",
    "ops",
    "interval",
    "disturbance_threshold",
    "workload",
];

/// Keys every `[[workload]]` table accepts besides its kind's parameters.
pub const WORKLOAD_COMMON_KEYS: &[ParamDef] = &[
    ParamDef {
        name: "name",
        kind: ParamKind::Str,
        default: None,
        help: "label of the workload in results (default: its metric prefix)",
    },
    ParamDef {
        name: "warmup",
        kind: ParamKind::Duration,
        default: None,
        help: "warm-up before each measured phase (not recorded)",
    },
    ParamDef {
        name: "duration",
        kind: ParamKind::Duration,
        default: None,
        help: "measured phase per step",
    },
    ParamDef {
        name: "ops",
        kind: ParamKind::U64 {
            min: 1,
            max: u64::MAX,
        },
        default: None,
        help: "measured operations per step instead of a duration",
    },
    ParamDef {
        name: "interval",
        kind: ParamKind::Duration,
        default: None,
        help: "length of one point of the per-interval series",
    },
    ParamDef {
        name: "group",
        kind: ParamKind::Str,
        default: None,
        help: "workloads with the same group run at the same time (stress/soak); each keeps its own timing and results",
    },
];

/// Expands `${NAME}` in a string value from the environment, so pipelines
/// can pass secrets and addresses (`peer = "${SKUBENCH_PEER}"`) without
/// writing them into the suite. An unset variable is an error at `loc`.
pub fn expand_env(
    v: &toml::Value,
    key: &str,
    loc: impl Into<Location>,
) -> Result<toml::Value, SpecError> {
    let toml::Value::String(s) = v else {
        return Ok(v.clone());
    };
    if !s.contains("${") {
        return Ok(v.clone());
    }
    let loc: Location = loc.into();
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find('}').ok_or_else(|| {
            SpecError::new(
                loc.clone(),
                format!("key `{key}`: unclosed `${{` in \"{s}\""),
            )
        })?;
        let name = &after[..end];
        let val = std::env::var(name).map_err(|_| {
            SpecError::new(
                loc.clone(),
                format!("key `{key}`: environment variable `{name}` is not set"),
            )
        })?;
        out.push_str(&val);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(toml::Value::String(out))
}

/// Maps a byte offset in `text` to 1-based (line, column).
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, col)
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn loc(&self, span: std::ops::Range<usize>) -> Location {
        let (line, col) = line_col(self.text, span.start);
        Location::file(self.file, line, col)
    }
}

type SpannedTable = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

#[derive(serde::Deserialize)]
struct WorkloadsOnly {
    #[serde(default)]
    workload: Vec<Spanned<SpannedTable>>,
}

/// Applies a timing/common key to `timing`.
fn apply_timing(
    timing: &mut Timing,
    key: &str,
    raw: &toml::Value,
    loc: &Location,
) -> Result<bool, SpecError> {
    let def = match WORKLOAD_COMMON_KEYS.iter().find(|d| d.name == key) {
        Some(d) if key != "name" && key != "group" => d,
        _ => return Ok(false),
    };
    let v = parse_value(def, &RawValue::Toml(raw.clone()))
        .map_err(|m| SpecError::new(loc.clone(), format!("key `{key}`: {m}")))?;
    match (key, v) {
        ("warmup", Value::Duration(d)) => timing.warmup = d,
        ("duration", Value::Duration(d)) => {
            if d.is_zero() {
                return Err(SpecError::new(
                    loc.clone(),
                    "key `duration`: must be greater than 0",
                ));
            }
            timing.duration = Some(d);
            timing.ops = None;
        }
        ("ops", Value::U64(n)) => {
            timing.ops = Some(n);
            timing.duration = None;
        }
        ("interval", Value::Duration(d)) => {
            if d < Duration::from_millis(10) {
                return Err(SpecError::new(
                    loc.clone(),
                    "key `interval`: must be at least 10ms",
                ));
            }
            timing.interval = d;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Parses and validates suite text. `file` is used in messages.
pub fn parse_suite(
    text: &str,
    file: &str,
    registry: &Registry,
    vcpus: usize,
) -> Result<Suite, SpecError> {
    let cx = Ctx { file, text };
    let toml_err = |e: toml::de::Error| {
        let loc = e
            .span()
            .map_or_else(|| Location::Path(file.to_string()), |s| cx.loc(s));
        SpecError::new(loc, e.message().trim().to_string())
    };
    let top: SpannedTable = toml::from_str(text).map_err(toml_err)?;
    let workloads: WorkloadsOnly = toml::from_str(text).map_err(toml_err)?;

    let mut settings = Settings::default();
    let mut name = Path::new(file)
        .file_stem()
        .map_or_else(|| "suite".to_string(), |s| s.to_string_lossy().into_owned());
    // Top-level keys that are workload parameters: defaults for every
    // workload that has such a parameter.
    let mut param_defaults: Vec<(String, toml::Value, Location)> = Vec::new();

    for (k, v) in &top {
        let key = k.get_ref().as_str();
        let loc = cx.loc(k.span());
        let raw = v.get_ref();
        match key {
            "workload" => {}
            "name" => {
                name = raw
                    .as_str()
                    .ok_or_else(|| SpecError::new(&loc, "key `name`: expected text"))?
                    .to_string();
            }
            "description" => {}
            "repetitions" => {
                // An integer prints as its digits; anything else (a string,
                // a float) prints in a form the parser refuses.
                settings.repetitions = parse_repetitions(&raw.to_string())
                    .map_err(|e| SpecError::new(&loc, format!("key `repetitions`: {e}")))?;
            }
            "disturbance_threshold" => {
                let x = raw
                    .as_float()
                    .or_else(|| raw.as_integer().map(|i| i as f64))
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| {
                        SpecError::new(
                            &loc,
                            format!("key `disturbance_threshold`: expected vCPUs ≥ 0, got {raw}"),
                        )
                    })?;
                settings.disturbance_threshold = x;
            }
            _ => {
                if apply_timing(&mut settings.timing, key, raw, &loc)? {
                    continue;
                }
                let used_by_some = registry
                    .kinds()
                    .any(|f| f.params().iter().any(|d| d.name == key));
                if !used_by_some {
                    return Err(SpecError::new(
                        loc,
                        format!(
                            "unknown top-level key `{key}` (suite keys: {}; or a workload parameter)",
                            SETTING_KEYS.join(", ")
                        ),
                    ));
                }
                let raw = expand_env(raw, key, &loc)?;
                param_defaults.push((key.to_string(), raw, loc));
            }
        }
    }

    if workloads.workload.is_empty() {
        return Err(SpecError::file(
            file,
            "the suite has no [[workload]] tables",
        ));
    }

    let mut planned = Vec::new();
    let mut labels: BTreeMap<String, usize> = BTreeMap::new();
    for w in &workloads.workload {
        let table = w.get_ref();
        let origin = cx.loc(w.span());
        let kind_entry = table.iter().find(|(k, _)| k.get_ref() == "kind");
        let Some((_, kind_v)) = kind_entry else {
            return Err(SpecError::new(origin, "[[workload]] has no `kind` key"));
        };
        let kind_loc = cx.loc(kind_v.span());
        let kind = kind_v
            .get_ref()
            .as_str()
            .ok_or_else(|| SpecError::new(&kind_loc, "key `kind`: expected text"))?;
        let factory = registry.get(kind).ok_or_else(|| {
            let known: Vec<&str> = registry.kinds().map(|f| f.kind()).collect();
            SpecError::new(
                &kind_loc,
                format!(
                    "key `kind`: unknown workload `{kind}` (known: {})",
                    known.join(", ")
                ),
            )
        })?;
        let mut timing = settings.timing;
        let mut label = None;
        let mut group = None;
        let mut given: Vec<(String, RawValue, Location)> = Vec::new();
        for (k, d, loc) in &param_defaults {
            if factory.params().iter().any(|p| p.name == k) {
                given.push((k.clone(), RawValue::Toml(d.clone()), loc.clone()));
            }
        }
        for (k, v) in table {
            let key = k.get_ref().as_str();
            let loc = cx.loc(k.span());
            if key == "kind" {
                continue;
            }
            if key == "name" {
                label = Some(
                    v.get_ref()
                        .as_str()
                        .filter(|s| !s.trim().is_empty())
                        .ok_or_else(|| SpecError::new(&loc, "key `name`: expected non-empty text"))?
                        .to_string(),
                );
                continue;
            }
            if key == "group" {
                group = Some(
                    v.get_ref()
                        .as_str()
                        .filter(|s| !s.trim().is_empty())
                        .ok_or_else(|| {
                            SpecError::new(&loc, "key `group`: expected non-empty text")
                        })?
                        .to_string(),
                );
                continue;
            }
            if apply_timing(&mut timing, key, v.get_ref(), &loc)? {
                continue;
            }
            given.retain(|(gk, _, _)| gk != key);
            let value = expand_env(v.get_ref(), key, &loc)?;
            given.push((key.to_string(), RawValue::Toml(value), loc));
        }
        let params = Params::from_located(factory.params(), &given, kind)?;
        let workload = factory
            .build(&params, vcpus)
            .map_err(|e| place_build_error(e, kind, &given, &origin))?;
        let base = label.unwrap_or_else(|| default_label(kind, workload.as_ref()));
        let n = labels.entry(base.clone()).or_insert(0);
        *n += 1;
        let label = if *n == 1 { base } else { format!("{base}~{n}") };
        planned.push(PlannedWorkload {
            kind: kind.to_string(),
            label,
            params,
            timing,
            origin: origin.to_string(),
            workload,
            group,
        });
    }
    Ok(Suite {
        name,
        path: Some(PathBuf::from(file)),
        text: Some(text.to_string()),
        settings,
        workloads: planned,
    })
}

/// Points an error of `WorkloadFactory::build` at the line that set the key
/// it names (the workload's own key, else the suite-wide default), or at the
/// `[[workload]]` header when the key was not written (a default that does
/// not fit with another value) or the error names no key. Errors that are
/// placed already pass through.
fn place_build_error(
    e: SpecError,
    kind: &str,
    given: &[(String, RawValue, Location)],
    origin: &Location,
) -> SpecError {
    if e.location.is_placed() {
        return e;
    }
    let written = e
        .location
        .key_name()
        .and_then(|key| given.iter().rev().find(|(k, _, _)| k == key))
        .map(|(_, _, at)| at.clone());
    let location = match (e.location, written) {
        (Location::Key { key, .. }, Some(at)) => Location::Key {
            key,
            at: Some(Box::new(at)),
        },
        _ => origin.clone(),
    };
    SpecError::new(location, format!("{kind}: {}", e.message))
}

/// The label of a workload without a `name`: its step's metric prefix when
/// it has one step (`cpu.int`), else the kind (`cpu`).
fn default_label(kind: &str, w: &dyn Workload) -> String {
    match w.steps().as_slice() {
        [one] => one.label.clone(),
        _ => kind.to_string(),
    }
}

/// Reads and validates a suite file.
pub fn load_suite(path: &Path, registry: &Registry, vcpus: usize) -> Result<Suite, SpecError> {
    let file = path.display().to_string();
    let meta = std::fs::metadata(path)
        .map_err(|e| SpecError::file(&file, format!("cannot read suite: {e}")))?;
    if meta.len() > 4 << 20 {
        return Err(SpecError::file(&file, "suite file larger than 4 MiB"));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| SpecError::file(&file, format!("cannot read suite: {e}")))?;
    parse_suite(&text, &file, registry, vcpus)
}

/// Most runs of each workload a suite or `--repetitions` may ask for.
pub const MAX_REPETITIONS: u32 = 10_000;

/// The one parser of a repetition count, for a suite's `repetitions` and the
/// `--repetitions` flags: an integer 1..=[`MAX_REPETITIONS`]. The error
/// quotes what was given; the caller says where.
pub fn parse_repetitions(v: &str) -> Result<u32, ValueError> {
    v.parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_REPETITIONS).contains(n))
        .ok_or_else(|| {
            ValueError::new(format!(
                "expected an integer 1..={MAX_REPETITIONS}, got `{v}`"
            ))
        })
}

/// Builds a one-workload suite from command-line `--key value` pairs.
pub fn single_workload(
    kind: &str,
    args: &[(String, String)],
    registry: &Registry,
    vcpus: usize,
) -> Result<Suite, SpecError> {
    let factory = registry.get(kind).ok_or_else(|| {
        let known: Vec<&str> = registry.kinds().map(|f| f.kind()).collect();
        SpecError::other(
            kind,
            format!("unknown workload `{kind}` (known: {})", known.join(", ")),
        )
    })?;
    let mut settings = Settings::default();
    let mut label = None;
    let mut given = Vec::new();
    for (k, v) in args {
        let loc = Location::Flag(k.clone());
        match k.as_str() {
            "repetitions" => {
                settings.repetitions =
                    parse_repetitions(v).map_err(|e| SpecError::new(loc.clone(), e.to_string()))?;
            }
            "disturbance_threshold" => {
                settings.disturbance_threshold = v
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| {
                        SpecError::new(loc.clone(), format!("expected vCPUs ≥ 0, got `{v}`"))
                    })?;
            }
            "name" => label = Some(v.clone()),
            _ => {
                if apply_timing(
                    &mut settings.timing,
                    k,
                    &toml::Value::String(v.clone()),
                    &loc,
                )? {
                    continue;
                }
                given.push((k.clone(), RawValue::Text(v.clone()), loc));
            }
        }
    }
    let params = Params::from_located(factory.params(), &given, kind)?;
    let workload = factory.build(&params, vcpus)?;
    let label = label.unwrap_or_else(|| default_label(kind, workload.as_ref()));
    Ok(Suite {
        name: kind.to_string(),
        path: None,
        text: None,
        workloads: vec![PlannedWorkload {
            kind: kind.to_string(),
            label,
            params,
            timing: settings.timing,
            origin: "command line".into(),
            workload,
            group: None,
        }],
        settings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::null::NullFactory;
    use crate::workload::WorkloadFactory;

    fn reg() -> Registry {
        let mut r = Registry::new();
        r.add(Box::new(NullFactory));
        r.add(Box::new(Checked));
        r
    }

    /// The null workload with cross-parameter checks in `build`, which name
    /// a key but not where it was written.
    struct Checked;

    impl WorkloadFactory for Checked {
        fn kind(&self) -> &'static str {
            "checked"
        }
        fn about(&self) -> &'static str {
            "null with build-time checks"
        }
        fn params(&self) -> &'static [ParamDef] {
            NullFactory.params()
        }
        fn build(&self, p: &Params, vcpus: usize) -> Result<Box<dyn Workload>, SpecError> {
            if p.u64("bytes")? == 3 {
                // The string API, as workloads call it.
                return Err(SpecError::new("bytes", "key `bytes`: must be even"));
            }
            if p.threads("threads")?.resolve(vcpus) == 3 {
                return Err(SpecError::key(
                    "spin",
                    "key `spin`: needs an even thread count",
                ));
            }
            if p.list("latency_ns").is_some_and(|l| l.len() > 2) {
                return Err(SpecError::other("somewhere", "too many latencies"));
            }
            NullFactory.build(p, vcpus)
        }
    }

    #[test]
    fn parses_defaults_and_overrides() {
        let text = r#"
name = "t"
repetitions = 3
warmup = "0.5s"
duration = 2
threads = 2

[[workload]]
kind = "null"

[[workload]]
kind = "null"
name = "second"
threads = 1
ops = 100
"#;
        let s = parse_suite(text, "t.toml", &reg(), 2).unwrap();
        assert_eq!(s.name, "t");
        assert_eq!(s.settings.repetitions, 3);
        assert_eq!(s.workloads.len(), 2);
        let a = &s.workloads[0];
        assert_eq!(a.label, "null");
        assert_eq!(a.timing.warmup, Duration::from_millis(500));
        assert_eq!(a.timing.duration, Some(Duration::from_secs(2)));
        assert_eq!(a.workload.steps()[0].threads, 2);
        let b = &s.workloads[1];
        assert_eq!(b.label, "second");
        assert_eq!(b.timing.ops, Some(100));
        assert_eq!(b.timing.duration, None);
        assert_eq!(b.workload.steps()[0].threads, 1);
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let text = "repetitions = 2\n\n[[workload]]\nkind = \"null\"\nthreds = 4\n";
        let e = parse_suite(text, "bad.toml", &reg(), 2).unwrap_err();
        assert_eq!(e.location, "bad.toml:5:1", "{e}");
        assert!(e.message.contains("threds"), "{e}");

        let text = "[[workload]]\nkind = \"null\"\nthreads = -1\n";
        let e = parse_suite(text, "bad.toml", &reg(), 2).unwrap_err();
        assert_eq!(e.location, "bad.toml:3:1", "{e}");
        assert!(e.message.contains("threads"), "{e}");

        let text = "bogus = 1\n[[workload]]\nkind = \"null\"\n";
        let e = parse_suite(text, "bad.toml", &reg(), 2).unwrap_err();
        assert!(e.to_string().starts_with("bad.toml:1:1"), "{e}");
        assert!(e.message.contains("bogus"), "{e}");

        let text = "[[workload]]\nkind = \"nope\"\n";
        let e = parse_suite(text, "bad.toml", &reg(), 2).unwrap_err();
        assert!(e.to_string().starts_with("bad.toml:2:"), "{e}");
        assert!(e.message.contains("nope"), "{e}");

        let text = "[[workload]\nkind = 1\n";
        let e = parse_suite(text, "bad.toml", &reg(), 2).unwrap_err();
        assert!(e.to_string().starts_with("bad.toml:1:"), "{e}");

        for bad in ["group = \"\"", "group = 3"] {
            let text = format!("[[workload]]\nkind = \"null\"\n{bad}\n");
            let e = parse_suite(&text, "bad.toml", &reg(), 2).unwrap_err();
            assert_eq!(e.location, "bad.toml:3:1", "{e}");
            assert!(e.message.contains("`group`"), "{e}");
        }

        let e = parse_suite("name = \"x\"\n", "empty.toml", &reg(), 2).unwrap_err();
        assert!(e.message.contains("no [[workload]]"), "{e}");

        let text = "[[workload]]\nkind = \"null\"\nduration = \"fast\"\n";
        let e = parse_suite(text, "bad.toml", &reg(), 2).unwrap_err();
        assert_eq!(e.location, "bad.toml:3:1", "{e}");
        assert!(e.message.contains("duration"), "{e}");
    }

    #[test]
    fn build_errors_point_at_the_line_of_their_key() {
        // The workload's own key, on line 3: not the `[[workload]]` header.
        let text = "[[workload]]\nkind = \"checked\"\nbytes = 3\n";
        let e = parse_suite(text, "bs0.toml", &reg(), 2).unwrap_err();
        assert_eq!(
            e.to_string(),
            "bs0.toml:3:1: checked: key `bytes`: must be even"
        );
        assert_eq!(e.location.key_name(), Some("bytes"));

        // Indented, in the second workload: its own line and column.
        let text = "[[workload]]\nkind = \"null\"\n\n[[workload]]\nkind = \"checked\"\nthreads = 2\n  bytes = 3\n";
        let e = parse_suite(text, "t.toml", &reg(), 2).unwrap_err();
        assert_eq!(e.location, "t.toml:7:3", "{e}");

        // A suite-wide default: the top-level line that set it.
        let text = "name = \"x\"\nbytes = 3\n[[workload]]\nkind = \"checked\"\n";
        let e = parse_suite(text, "t.toml", &reg(), 2).unwrap_err();
        assert_eq!(e.location, "t.toml:2:1", "{e}");

        // A workload's key overrides the default, and is the one shown.
        let text = "bytes = 3\n[[workload]]\nkind = \"checked\"\nbytes = 3\n";
        let e = parse_suite(text, "t.toml", &reg(), 2).unwrap_err();
        assert_eq!(e.location, "t.toml:4:1", "{e}");

        // The named key was not written (its default does not fit another
        // value): the workload's header, as before.
        let text = "\n[[workload]]\nkind = \"checked\"\nthreads = 3\n";
        let e = parse_suite(text, "t.toml", &reg(), 2).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.toml:2:1: checked: key `spin`: needs an even thread count"
        );

        // An error that names no key: the header too.
        let text = "[[workload]]\nkind = \"checked\"\nlatency_ns = [1, 2, 3]\n";
        let e = parse_suite(text, "t.toml", &reg(), 2).unwrap_err();
        assert_eq!(e.to_string(), "t.toml:1:1: checked: too many latencies");
    }

    #[test]
    fn unknown_and_bad_keys_point_at_their_own_line_and_column() {
        let text = "[[workload]]\nkind = \"null\"\n\n    threds = 4\n";
        let e = parse_suite(text, "t.toml", &reg(), 2).unwrap_err();
        assert_eq!(e.location, Location::file("t.toml", 4, 5), "{e}");
        assert!(e.message.contains("threds"), "{e}");

        let text = "[[workload]]\nkind = \"null\"\nspin = \"maybe\"\n";
        let e = parse_suite(text, "t.toml", &reg(), 2).unwrap_err();
        assert!(e.to_string().starts_with("t.toml:3:1: key `spin`"), "{e}");
    }

    #[test]
    fn settings_errors_point_at_their_own_line() {
        let head = "name = \"s\"\n";
        let tail = "\n[[workload]]\nkind = \"null\"\n";
        for (bad, key) in [
            ("repetitions = 0", "repetitions"),
            ("disturbance_threshold = -1", "disturbance_threshold"),
            ("interval = \"1ms\"", "interval"),
            ("duration = 0", "duration"),
            ("warmup = \"soon\"", "warmup"),
            ("name = 3", "name"),
            ("bogus = 1", "bogus"),
        ] {
            // A bad `name` cannot follow `head`: TOML refuses a repeated key.
            let text = if key == "name" {
                format!("description = \"d\"\n{bad}{tail}")
            } else {
                format!("{head}{bad}{tail}")
            };
            let e = parse_suite(&text, "s.toml", &reg(), 2).unwrap_err();
            assert_eq!(e.location, "s.toml:2:1", "{bad}: {e}");
            assert!(e.message.contains(key), "{bad}: {e}");
        }
    }

    #[test]
    fn repetitions_have_one_range_in_files_and_flags() {
        let tail = "\n[[workload]]\nkind = \"null\"\n";
        let at = |v: &str| parse_suite(&format!("repetitions = {v}{tail}"), "r.toml", &reg(), 2);
        assert_eq!(at("10000").unwrap().settings.repetitions, MAX_REPETITIONS);
        assert_eq!(at("1_0").unwrap().settings.repetitions, 10);
        for bad in ["0", "10001", "-1", "2.0", "\"3\""] {
            let e = at(bad).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "r.toml:1:1: key `repetitions`: expected an integer 1..=10000, got `{bad}`"
                ),
                "{bad}"
            );
        }
        let flag = |v: &str| {
            let args = vec![("repetitions".to_string(), v.to_string())];
            single_workload("null", &args, &reg(), 2)
        };
        assert_eq!(flag("10000").unwrap().settings.repetitions, MAX_REPETITIONS);
        assert!(flag("10001").is_err());
        assert_eq!(parse_repetitions("7"), Ok(7));
    }

    #[test]
    fn command_line_errors_name_the_flag() {
        let args = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        let e = single_workload("null", &args("threads", "0"), &reg(), 2).unwrap_err();
        assert_eq!(e.location, Location::Flag("threads".into()));
        assert!(e.to_string().starts_with("--threads: key `threads`"), "{e}");
        let e = single_workload("null", &args("repetitions", "x"), &reg(), 2).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--repetitions: expected an integer 1..=10000, got `x`"
        );
        let e = single_workload("nope", &[], &reg(), 2).unwrap_err();
        assert!(e.to_string().starts_with("nope: unknown workload"), "{e}");
        // Build errors keep today's form on the command line: the key.
        let e = single_workload("checked", &args("bytes", "3"), &reg(), 2).unwrap_err();
        assert_eq!(e.to_string(), "bytes: key `bytes`: must be even");
    }

    #[test]
    fn environment_variables_expand_in_string_values() {
        std::env::set_var("SKUBENCH_TEST_SPREAD", "spread");
        let v = expand_env(
            &toml::Value::String("a-${SKUBENCH_TEST_SPREAD}-b".into()),
            "k",
            "f:1:1",
        )
        .unwrap();
        assert_eq!(v.as_str(), Some("a-spread-b"));
        let e = expand_env(
            &toml::Value::String("${SKUBENCH_SURELY_UNSET_VAR}".into()),
            "peer",
            "f:3:1",
        )
        .unwrap_err();
        assert_eq!(e.location, "f:3:1");
        assert!(
            e.message.contains("peer") && e.message.contains("SKUBENCH_SURELY_UNSET_VAR"),
            "{e}"
        );
        assert!(expand_env(&toml::Value::String("${OPEN".into()), "k", "f").is_err());
    }

    #[test]
    fn duplicate_labels_are_made_unique() {
        let text = "[[workload]]\nkind = \"null\"\n[[workload]]\nkind = \"null\"\n";
        let s = parse_suite(text, "d.toml", &reg(), 2).unwrap();
        assert_eq!(s.workloads[0].label, "null");
        assert_eq!(s.workloads[1].label, "null~2");
    }

    #[test]
    fn line_col_maps_offsets() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
