//! The result store: result files kept content-addressed and never
//! overwritten, a Parquet history (one file per result, compacted under a
//! lock), and named baselines.
//!
//! ```text
//! STORE/results/<id>.json      the result file, byte for byte (id = SHA-256 prefix)
//! STORE/history/<id>.parquet   one row per run × metric of that result
//! STORE/baselines/<name>.json  a named set of result ids
//! STORE/.lock                  exclusive lock for writers
//! ```
//!
//! Every write is temp-file + fsync + rename under the lock, so two
//! pipelines writing at once lose nothing, and a crash leaves either the
//! old or the new state.

use std::fs::File;
use std::path::{Path, PathBuf};

use bench_core::result::{write_atomic, ResultFile};
use fs2::FileExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::BaselineError;
use crate::history;

/// A store directory.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

/// What `add` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Added {
    /// Content id.
    pub id: String,
    /// False when the same bytes were already stored.
    pub new: bool,
}

/// A named baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Name.
    pub name: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// How the results were chosen (files or a query).
    pub source: String,
    /// Result ids.
    pub results: Vec<String>,
}

/// A query over stored results: `sku=…,distro=…,suite=…,last=N`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Query {
    /// SKU name.
    pub sku: Option<String>,
    /// Distro ID.
    pub distro: Option<String>,
    /// Suite name.
    pub suite: Option<String>,
    /// Host name.
    pub host: Option<String>,
    /// Keep only the most recent N results.
    pub last: Option<usize>,
}

impl Query {
    /// Parses `key=value,…`.
    pub fn parse(s: &str) -> Result<Self, BaselineError> {
        let mut q = Query::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                BaselineError::Input(format!("query `{s}`: `{part}` is not key=value"))
            })?;
            let v = v.trim().to_string();
            match k.trim() {
                "sku" => q.sku = Some(v),
                "distro" => q.distro = Some(v),
                "suite" => q.suite = Some(v),
                "host" => q.host = Some(v),
                "last" => {
                    q.last = Some(v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        BaselineError::Input(format!(
                            "query `{s}`: last={v} is not a positive integer"
                        ))
                    })?)
                }
                other => {
                    return Err(BaselineError::Input(format!(
                        "query `{s}`: unknown key `{other}` (known: sku, distro, suite, host, last)"
                    )))
                }
            }
        }
        Ok(q)
    }
}

/// Baseline names: letters, digits, `.`, `_`, `-`; no path tricks.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

struct Lock(File);

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.0);
    }
}

impl Store {
    /// A store at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The store directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, sub: &str) -> PathBuf {
        self.root.join(sub)
    }

    fn lock(&self) -> Result<Lock, BaselineError> {
        for d in ["results", "history", "baselines"] {
            let p = self.dir(d);
            std::fs::create_dir_all(&p).map_err(|e| BaselineError::io(&p, e))?;
        }
        let p = self.root.join(".lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|e| BaselineError::io(&p, e))?;
        f.lock_exclusive().map_err(|e| BaselineError::io(&p, e))?;
        Ok(Lock(f))
    }

    /// Checks that the store can be written, before any work is done.
    pub fn check_writable(&self) -> Result<(), BaselineError> {
        let _l = self.lock()?;
        let probe = self.root.join(format!(".probe-{}", std::process::id()));
        std::fs::write(&probe, b"").map_err(|e| BaselineError::io(&self.root, e))?;
        let _ = std::fs::remove_file(&probe);
        Ok(())
    }

    /// Adds a result file (validated first). Same bytes → same id, stored once.
    pub fn add_path(&self, path: &Path) -> Result<Added, BaselineError> {
        let f = ResultFile::read(path)?;
        let bytes = std::fs::read(path).map_err(|e| BaselineError::io(path, e))?;
        self.add_bytes(&bytes, &f)
    }

    /// Adds an in-memory result.
    pub fn add_result(&self, f: &ResultFile) -> Result<Added, BaselineError> {
        let json = f
            .to_json()
            .map_err(|e| BaselineError::Input(format!("cannot serialize result: {e}")))?;
        self.add_bytes(json.as_bytes(), f)
    }

    fn add_bytes(&self, bytes: &[u8], f: &ResultFile) -> Result<Added, BaselineError> {
        let id = content_id(bytes);
        let _l = self.lock()?;
        let dest = self.dir("results").join(format!("{id}.json"));
        let hist = self.dir("history").join(format!("{id}.parquet"));
        if dest.exists() && hist.exists() {
            return Ok(Added { id, new: false });
        }
        // History first: a result file in results/ always has its rows.
        history::write_part(&hist, &id, f)?;
        if !dest.exists() {
            write_atomic(&dest, bytes).map_err(|e| BaselineError::Input(e.to_string()))?;
        }
        Ok(Added { id, new: true })
    }

    /// Loads a stored result by id (or unique id prefix).
    pub fn load(&self, id: &str) -> Result<ResultFile, BaselineError> {
        let path = self.resolve(id)?;
        Ok(ResultFile::read(&path)?)
    }

    fn resolve(&self, id: &str) -> Result<PathBuf, BaselineError> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(BaselineError::Input(format!("`{id}` is not a result id")));
        }
        let exact = self.dir("results").join(format!("{id}.json"));
        if exact.exists() {
            return Ok(exact);
        }
        let matches: Vec<PathBuf> = self
            .ids()?
            .into_iter()
            .filter(|x| x.starts_with(id))
            .map(|x| self.dir("results").join(format!("{x}.json")))
            .collect();
        match matches.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(BaselineError::Input(format!(
                "no result `{id}` in store {}",
                self.root.display()
            ))),
            _ => Err(BaselineError::Input(format!(
                "result id prefix `{id}` is ambiguous"
            ))),
        }
    }

    /// Ids of all stored results.
    pub fn ids(&self) -> Result<Vec<String>, BaselineError> {
        self.json_names("results", |id| id.chars().all(|c| c.is_ascii_hexdigit()))
    }

    /// The names of the `NAME.json` files in `sub` that `keep` accepts,
    /// sorted; none when the directory does not exist yet.
    fn json_names(
        &self,
        sub: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<Vec<String>, BaselineError> {
        let d = self.dir(sub);
        let rd = match std::fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(BaselineError::io(&d, e)),
        };
        let mut v: Vec<String> = rd
            .filter_map(|e| {
                let n = e.ok()?.file_name().into_string().ok()?;
                let name = n.strip_suffix(".json")?;
                keep(name).then(|| name.to_string())
            })
            .collect();
        v.sort();
        Ok(v)
    }

    /// Result ids matching a query, oldest first (by run start time).
    pub fn query(&self, q: &Query) -> Result<Vec<String>, BaselineError> {
        let rows = history::result_index(&self.dir("history"))?;
        let mut hits: Vec<&history::ResultRow> = rows
            .iter()
            .filter(|r| {
                q.sku.as_ref().is_none_or(|s| r.sku == *s)
                    && q.distro.as_ref().is_none_or(|s| r.distro == *s)
                    && q.suite.as_ref().is_none_or(|s| r.suite == *s)
                    && q.host.as_ref().is_none_or(|s| r.hostname == *s)
            })
            .collect();
        hits.sort_by(|a, b| a.time.cmp(&b.time).then(a.result_id.cmp(&b.result_id)));
        if let Some(n) = q.last {
            let skip = hits.len().saturating_sub(n);
            hits.drain(..skip);
        }
        Ok(hits.into_iter().map(|r| r.result_id.clone()).collect())
    }

    /// Saves a named baseline. An existing name is kept unless `replace`.
    pub fn save_baseline(
        &self,
        name: &str,
        ids: &[String],
        source: &str,
        replace: bool,
    ) -> Result<Baseline, BaselineError> {
        if !valid_name(name) {
            return Err(BaselineError::Input(format!(
                "baseline name `{name}`: use letters, digits, `.`, `_`, `-` (max 100)"
            )));
        }
        if ids.is_empty() {
            return Err(BaselineError::Input(format!(
                "baseline `{name}`: no results selected"
            )));
        }
        for id in ids {
            self.resolve(id)?;
        }
        let _l = self.lock()?;
        let path = self.dir("baselines").join(format!("{name}.json"));
        if path.exists() && !replace {
            return Err(BaselineError::Input(format!(
                "baseline `{name}` exists; pass --replace to overwrite it"
            )));
        }
        let b = Baseline {
            name: name.into(),
            created_at: bench_core::result::now_rfc3339(),
            source: source.into(),
            results: ids.to_vec(),
        };
        let json =
            serde_json::to_vec_pretty(&b).map_err(|e| BaselineError::Input(e.to_string()))?;
        write_atomic(&path, &json).map_err(|e| BaselineError::Input(e.to_string()))?;
        Ok(b)
    }

    /// Loads a named baseline.
    pub fn baseline(&self, name: &str) -> Result<Baseline, BaselineError> {
        if !valid_name(name) {
            return Err(BaselineError::Input(format!(
                "`{name}` is not a valid baseline name"
            )));
        }
        let path = self.dir("baselines").join(format!("{name}.json"));
        if !path.exists() {
            let known = self.baselines().unwrap_or_default();
            return Err(BaselineError::Input(format!(
                "no baseline `{name}` in store {} (known: {})",
                self.root.display(),
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            )));
        }
        let text = crate::read_limited(&path, 16 << 20)?;
        serde_json::from_str(&text).map_err(|e| {
            BaselineError::Input(format!("{}: corrupt baseline file: {e}", path.display()))
        })
    }

    /// Names of all baselines.
    pub fn baselines(&self) -> Result<Vec<String>, BaselineError> {
        self.json_names("baselines", valid_name)
    }

    /// Merges the per-result history files into one (faster queries).
    pub fn compact(&self) -> Result<usize, BaselineError> {
        let _l = self.lock()?;
        history::compact(&self.dir("history"))
    }

    /// The history directory.
    pub fn history_dir(&self) -> PathBuf {
        self.dir("history")
    }
}

/// The content id of a result file: the first 16 hex digits of its SHA-256.
pub fn content_id(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}
