//! Typed workload parameters.
//!
//! Each workload declares its parameters as a table of [`ParamDef`]s. The same
//! table validates suite files, parses `--key value` flags, and prints
//! `skubench list`, so the three can never disagree.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::error::{Location, SpecError, ValueError};
use crate::units::{parse_duration, parse_size};

/// The type (and bounds) of one parameter.
#[derive(Clone, Copy, Debug)]
pub enum ParamKind {
    /// An unsigned integer within `[min, max]`.
    U64 {
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
    /// A float within `[min, max]`.
    F64 {
        /// Smallest accepted value.
        min: f64,
        /// Largest accepted value.
        max: f64,
    },
    /// `true` / `false` (flags also accept 1/0, yes/no).
    Bool,
    /// A duration: a bare number is seconds, or `250ms`, `5s` …
    Duration,
    /// A byte size, base 1024: `4k`, `1g` …
    Size,
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    /// A thread count: a positive number or `all` (every online vCPU).
    Threads,
    /// A list of vCPU numbers: `[0, 2]` in TOML, `0,2` or `0-3` on the command line.
    CpuList,
    /// A list of unsigned integers.
    U64List,
    /// Free text.
    Str,
}

impl ParamKind {
    /// A short human description of the accepted values.
    pub fn describe(&self) -> String {
        match self {
            ParamKind::U64 { min, max } => format!("integer {min}..={max}"),
            ParamKind::F64 { min, max } => format!("number {min}..={max}"),
            ParamKind::Bool => "true|false".into(),
            ParamKind::Duration => "duration".into(),
            ParamKind::Size => "size".into(),
            ParamKind::Choice(c) => c.join("|"),
            ParamKind::Threads => "N|all".into(),
            ParamKind::CpuList => "vCPU list".into(),
            ParamKind::U64List => "integer list".into(),
            ParamKind::Str => "text".into(),
        }
    }
}

/// The declaration of one workload parameter.
#[derive(Clone, Copy, Debug)]
pub struct ParamDef {
    /// Key in suites and flag name on the command line.
    pub name: &'static str,
    /// Accepted values.
    pub kind: ParamKind,
    /// Default, written as a user would write it; `None` means "unset".
    pub default: Option<&'static str>,
    /// One line of help.
    pub help: &'static str,
}

/// Thread count: fixed or every online vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Threads {
    /// Exactly this many.
    Count(usize),
    /// One per online vCPU.
    #[serde(serialize_with = "ser_all")]
    All,
}

fn ser_all<S: serde::Serializer>(s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("all")
}

impl Threads {
    /// Resolves to a count, given the number of online vCPUs.
    pub fn resolve(self, vcpus: usize) -> usize {
        match self {
            Threads::Count(n) => n,
            Threads::All => vcpus.max(1),
        }
    }
}

/// A validated parameter value.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// Unsigned integer.
    U64(u64),
    /// Float.
    F64(f64),
    /// Boolean.
    Bool(bool),
    /// Duration, serialized in seconds.
    #[serde(serialize_with = "ser_dur")]
    Duration(Duration),
    /// Byte size.
    Size(u64),
    /// A word from a choice, or free text.
    Str(String),
    /// Thread count.
    Threads(Threads),
    /// List of vCPUs or integers.
    List(Vec<u64>),
}

fn ser_dur<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// A raw value before validation: from TOML or from a command-line string.
#[derive(Clone, Debug)]
pub enum RawValue {
    /// A string from the command line (or a TOML string).
    Text(String),
    /// A TOML value.
    Toml(toml::Value),
}

/// Validated parameters of one workload: every declared key is present
/// (defaults filled in) unless it has no default and was not given.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params {
    values: BTreeMap<&'static str, Value>,
}

impl Params {
    /// Validates `given` (key → (raw value, location)) against `defs`.
    ///
    /// `kind` names the workload for messages; unknown keys are errors that
    /// list the valid ones. A thin wrapper over [`Params::from_located`] for
    /// callers that hold locations as text.
    pub fn from_raw(
        defs: &'static [ParamDef],
        given: &[(String, RawValue, String)],
        kind: &str,
    ) -> Result<Self, SpecError> {
        let given: Vec<(String, RawValue, Location)> = given
            .iter()
            .map(|(k, v, l)| (k.clone(), v.clone(), Location::from(l)))
            .collect();
        Self::from_located(defs, &given, kind)
    }

    /// Validates `given` (key → (raw value, where it was written)) against
    /// `defs`. Errors carry the given location of the offending key.
    pub fn from_located(
        defs: &'static [ParamDef],
        given: &[(String, RawValue, Location)],
        kind: &str,
    ) -> Result<Self, SpecError> {
        let mut values = BTreeMap::new();
        for def in defs {
            if let Some(d) = def.default {
                let v = parse_value(def, &RawValue::Text(d.to_string())).map_err(|m| {
                    SpecError::other(
                        format!("built-in default of {kind}.{}", def.name),
                        m.to_string(),
                    )
                })?;
                values.insert(def.name, v);
            }
        }
        for (key, raw, loc) in given {
            let Some(def) = defs.iter().find(|d| d.name == key) else {
                let known: Vec<&str> = defs.iter().map(|d| d.name).collect();
                return Err(SpecError::new(
                    loc.clone(),
                    format!(
                        "unknown key `{key}` for workload `{kind}` (known: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            };
            let v = parse_value(def, raw)
                .map_err(|m| SpecError::new(loc.clone(), format!("key `{key}`: {m}")))?;
            values.insert(def.name, v);
        }
        Ok(Self { values })
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// All values, for recording the spec as run.
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.values
            .iter()
            .map(|(k, v)| {
                (
                    (*k).to_string(),
                    serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
                )
            })
            .collect()
    }

    fn typed<T>(&self, key: &str, f: impl Fn(&Value) -> Option<T>) -> Result<T, SpecError> {
        let v = self
            .values
            .get(key)
            .ok_or_else(|| SpecError::key(key, format!("required key `{key}` is missing")))?;
        f(v).ok_or_else(|| SpecError::key(key, format!("key `{key}` has the wrong type")))
    }

    /// An integer parameter.
    pub fn u64(&self, key: &str) -> Result<u64, SpecError> {
        self.typed(key, |v| match v {
            Value::U64(x) | Value::Size(x) => Some(*x),
            _ => None,
        })
    }
    /// A float parameter.
    pub fn f64(&self, key: &str) -> Result<f64, SpecError> {
        self.typed(key, |v| match v {
            Value::F64(x) => Some(*x),
            Value::U64(x) => Some(*x as f64),
            _ => None,
        })
    }
    /// A boolean parameter.
    pub fn bool(&self, key: &str) -> Result<bool, SpecError> {
        self.typed(key, |v| match v {
            Value::Bool(x) => Some(*x),
            _ => None,
        })
    }
    /// A duration parameter.
    pub fn duration(&self, key: &str) -> Result<Duration, SpecError> {
        self.typed(key, |v| match v {
            Value::Duration(x) => Some(*x),
            _ => None,
        })
    }
    /// A text or choice parameter.
    pub fn str(&self, key: &str) -> Result<&str, SpecError> {
        let v = self
            .values
            .get(key)
            .ok_or_else(|| SpecError::key(key, format!("required key `{key}` is missing")))?;
        match v {
            Value::Str(s) => Ok(s),
            _ => Err(SpecError::key(
                key,
                format!("key `{key}` has the wrong type"),
            )),
        }
    }
    /// A thread-count parameter.
    pub fn threads(&self, key: &str) -> Result<Threads, SpecError> {
        self.typed(key, |v| match v {
            Value::Threads(t) => Some(*t),
            _ => None,
        })
    }
    /// A list parameter, or `None` when unset.
    pub fn list(&self, key: &str) -> Option<Vec<u64>> {
        match self.values.get(key) {
            Some(Value::List(l)) => Some(l.clone()),
            _ => None,
        }
    }
    /// Whether `key` has a value.
    pub fn is_set(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }
}

fn toml_type(v: &toml::Value) -> &'static str {
    v.type_str()
}

/// Validates one raw value against its declaration.
pub fn parse_value(def: &ParamDef, raw: &RawValue) -> Result<Value, ValueError> {
    let text = match raw {
        RawValue::Text(s) => Some(s.as_str()),
        RawValue::Toml(toml::Value::String(s)) => Some(s.as_str()),
        _ => None,
    };
    match def.kind {
        ParamKind::U64 { min, max } => {
            let v = match (raw, text) {
                (_, Some(t)) => t
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| format!("expected an integer, got `{t}`"))?,
                (RawValue::Toml(toml::Value::Integer(i)), _) => u64::try_from(*i)
                    .map_err(|_| format!("expected a non-negative integer, got {i}"))?,
                (RawValue::Toml(v), _) => {
                    return Err(ValueError::new(format!(
                        "expected an integer, got a {}",
                        toml_type(v)
                    )))
                }
                _ => return Err("expected an integer".into()),
            };
            if v < min || v > max {
                return Err(ValueError::new(format!(
                    "{v} is out of range {min}..={max}"
                )));
            }
            Ok(Value::U64(v))
        }
        ParamKind::F64 { min, max } => {
            let v = match (raw, text) {
                (_, Some(t)) => t
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| format!("expected a number, got `{t}`"))?,
                (RawValue::Toml(toml::Value::Integer(i)), _) => *i as f64,
                (RawValue::Toml(toml::Value::Float(f)), _) => *f,
                (RawValue::Toml(v), _) => {
                    return Err(ValueError::new(format!(
                        "expected a number, got a {}",
                        toml_type(v)
                    )))
                }
                _ => return Err("expected a number".into()),
            };
            if !v.is_finite() || v < min || v > max {
                return Err(ValueError::new(format!(
                    "{v} is out of range {min}..={max}"
                )));
            }
            Ok(Value::F64(v))
        }
        ParamKind::Bool => match (raw, text) {
            (RawValue::Toml(toml::Value::Boolean(b)), _) => Ok(Value::Bool(*b)),
            (_, Some(t)) => match t.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(Value::Bool(true)),
                "false" | "0" | "no" | "off" => Ok(Value::Bool(false)),
                _ => Err(ValueError::new(format!(
                    "expected true or false, got `{t}`"
                ))),
            },
            (RawValue::Toml(toml::Value::Integer(i)), _) if *i == 0 || *i == 1 => {
                Ok(Value::Bool(*i == 1))
            }
            (RawValue::Toml(v), _) => Err(ValueError::new(format!(
                "expected true or false, got a {}",
                toml_type(v)
            ))),
            _ => Err("expected true or false".into()),
        },
        ParamKind::Duration => match (raw, text) {
            (_, Some(t)) => parse_duration(t).map(Value::Duration),
            (RawValue::Toml(toml::Value::Integer(i)), _)
                if (0..=crate::units::MAX_DURATION_S as i64).contains(i) =>
            {
                Ok(Value::Duration(Duration::from_secs(*i as u64)))
            }
            (RawValue::Toml(toml::Value::Float(f)), _)
                if *f >= 0.0 && f.is_finite() && *f <= crate::units::MAX_DURATION_S as f64 =>
            {
                Ok(Value::Duration(Duration::from_secs_f64(*f)))
            }
            (RawValue::Toml(v), _) => Err(ValueError::new(format!(
                "expected a duration like \"5s\", got {v}"
            ))),
            _ => Err("expected a duration".into()),
        },
        ParamKind::Size => match (raw, text) {
            (_, Some(t)) => parse_size(t).map(Value::Size),
            (RawValue::Toml(toml::Value::Integer(i)), _) if *i >= 0 => Ok(Value::Size(*i as u64)),
            (RawValue::Toml(v), _) => Err(ValueError::new(format!(
                "expected a size like \"4k\", got {v}"
            ))),
            _ => Err("expected a size".into()),
        },
        ParamKind::Choice(choices) => {
            let t = text.ok_or_else(|| format!("expected one of {}", choices.join(", ")))?;
            if choices.contains(&t) {
                Ok(Value::Str(t.to_string()))
            } else {
                Err(ValueError::new(format!(
                    "`{t}` is not one of {}",
                    choices.join(", ")
                )))
            }
        }
        ParamKind::Threads => match (raw, text) {
            (_, Some(t)) if t.trim() == "all" => Ok(Value::Threads(Threads::All)),
            (_, Some(t)) => match t.trim().parse::<usize>() {
                Ok(n) if (1..=4096).contains(&n) => Ok(Value::Threads(Threads::Count(n))),
                _ => Err(ValueError::new(format!(
                    "expected a thread count 1..=4096 or \"all\", got `{t}`"
                ))),
            },
            (RawValue::Toml(toml::Value::Integer(i)), _) if (1..=4096).contains(i) => {
                Ok(Value::Threads(Threads::Count(*i as usize)))
            }
            (RawValue::Toml(v), _) => Err(ValueError::new(format!(
                "expected a thread count 1..=4096 or \"all\", got {v}"
            ))),
            _ => Err("expected a thread count".into()),
        },
        ParamKind::CpuList | ParamKind::U64List => {
            let list = match (raw, text) {
                (_, Some(t)) => parse_list(t)?,
                (RawValue::Toml(toml::Value::Integer(i)), _) => {
                    vec![u64::try_from(*i).map_err(|_| format!("negative value {i}"))?]
                }
                (RawValue::Toml(toml::Value::Array(a)), _) => {
                    let mut out = Vec::with_capacity(a.len());
                    for x in a {
                        match x {
                            toml::Value::Integer(i) if *i >= 0 => out.push(*i as u64),
                            other => {
                                return Err(ValueError::new(format!(
                                    "expected non-negative integers, found {other}"
                                )))
                            }
                        }
                    }
                    out
                }
                (RawValue::Toml(v), _) => {
                    return Err(ValueError::new(format!("expected a list, got {v}")))
                }
                _ => return Err("expected a list".into()),
            };
            if list.is_empty() {
                return Err("empty list".into());
            }
            if list.len() > 65_536 {
                return Err("list longer than 65536 entries".into());
            }
            if matches!(def.kind, ParamKind::CpuList) && list.iter().any(|&c| c >= 4096) {
                return Err("vCPU numbers must be below 4096".into());
            }
            Ok(Value::List(list))
        }
        ParamKind::Str => match text {
            Some(t) => Ok(Value::Str(t.to_string())),
            None => Err("expected text".into()),
        },
    }
}

/// Parses `0,2,4-7` into a list.
pub fn parse_list(t: &str) -> Result<Vec<u64>, ValueError> {
    let mut out = Vec::new();
    for part in t.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some((a, b)) = part.split_once('-') {
            let a: u64 = a
                .trim()
                .parse()
                .map_err(|_| format!("bad range `{part}`"))?;
            let b: u64 = b
                .trim()
                .parse()
                .map_err(|_| format!("bad range `{part}`"))?;
            if a > b || b - a > 65_536 {
                return Err(ValueError::new(format!("bad range `{part}`")));
            }
            out.extend(a..=b);
        } else {
            out.push(part.parse().map_err(|_| format!("bad number `{part}`"))?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFS: &[ParamDef] = &[
        ParamDef {
            name: "iodepth",
            kind: ParamKind::U64 { min: 1, max: 4096 },
            default: Some("1"),
            help: "",
        },
        ParamDef {
            name: "threads",
            kind: ParamKind::Threads,
            default: Some("1"),
            help: "",
        },
        ParamDef {
            name: "pin",
            kind: ParamKind::CpuList,
            default: None,
            help: "",
        },
    ];

    fn given(k: &str, v: RawValue) -> Vec<(String, RawValue, String)> {
        vec![(k.to_string(), v, "here".to_string())]
    }

    #[test]
    fn defaults_fill_and_values_validate() {
        let p = Params::from_raw(DEFS, &[], "x").unwrap();
        assert_eq!(p.u64("iodepth").unwrap(), 1);
        assert!(p.list("pin").is_none());
        let p =
            Params::from_raw(DEFS, &given("iodepth", RawValue::Text("32".into())), "x").unwrap();
        assert_eq!(p.u64("iodepth").unwrap(), 32);
        let p =
            Params::from_raw(DEFS, &given("threads", RawValue::Text("all".into())), "x").unwrap();
        assert_eq!(p.threads("threads").unwrap(), Threads::All);
        let p = Params::from_raw(DEFS, &given("pin", RawValue::Text("0,2-3".into())), "x").unwrap();
        assert_eq!(p.list("pin").unwrap(), vec![0, 2, 3]);
    }

    #[test]
    fn errors_name_the_key_and_place() {
        let e = Params::from_raw(DEFS, &given("iodepht", RawValue::Text("3".into())), "disk")
            .unwrap_err();
        assert_eq!(e.location, "here");
        assert!(
            e.message.contains("iodepht") && e.message.contains("iodepth"),
            "{e}"
        );
        let e = Params::from_raw(
            DEFS,
            &given("iodepth", RawValue::Toml(toml::Value::Integer(-3))),
            "d",
        )
        .unwrap_err();
        assert!(e.message.contains("iodepth"), "{e}");
        let e = Params::from_raw(DEFS, &given("iodepth", RawValue::Text("99999".into())), "d")
            .unwrap_err();
        assert!(e.message.contains("out of range"), "{e}");
    }

    #[test]
    fn typed_locations_pass_through() {
        let at = Location::file("s.toml", 4, 3);
        let given = [(
            "iodepth".to_string(),
            RawValue::Text("0".into()),
            at.clone(),
        )];
        let e = Params::from_located(DEFS, &given, "disk").unwrap_err();
        assert_eq!(e.location, at);
        assert_eq!(
            e.to_string(),
            "s.toml:4:3: key `iodepth`: 0 is out of range 1..=4096"
        );
        let e = Params::from_raw(DEFS, &[], "d")
            .unwrap()
            .u64("pin")
            .unwrap_err();
        assert_eq!(e.location.key_name(), Some("pin"));
    }

    #[test]
    fn value_errors_say_what_is_wrong() {
        assert_eq!(parse_list("0,2-3").unwrap(), vec![0, 2, 3]);
        assert_eq!(
            parse_list("3-1").unwrap_err().to_string(),
            "bad range `3-1`"
        );
        assert_eq!(parse_list("x").unwrap_err().to_string(), "bad number `x`");
        let def = &DEFS[0];
        let e = parse_value(def, &RawValue::Toml(toml::Value::Boolean(true))).unwrap_err();
        assert_eq!(e.to_string(), "expected an integer, got a boolean");
    }
}
