//! The result store: result files kept content-addressed and never
//! overwritten, a Parquet history (one file per result, compacted), and
//! named baselines. One layout on every backend, chosen by the location
//! ([`Store::open`]): a directory (or `file://DIR`), `az://container/prefix`
//! (Azure Blob) or `s3://bucket/prefix` (S3-compatible).
//!
//! ```text
//! STORE/results/<id>.json      the result file, byte for byte (id = SHA-256 prefix)
//! STORE/history/<id>.parquet   one row per run × metric of that result
//! STORE/baselines/<name>.json  a named set of result ids
//! STORE/.lock                  exclusive lock for writers (directories only)
//! ```
//!
//! In a directory every write is temp-file + fsync + rename under the
//! lock, so two pipelines writing at once lose nothing, and a crash leaves
//! either the old or the new state. On object storage the same guarantees
//! come from conditional requests instead of a lock (see `remote.rs` and
//! docs/fleet.md): results and history parts are created only where no
//! object is, a baseline is replaced only at the version just read, and a
//! single PUT is never visible half-written.

use std::fs::File;
use std::path::{Path, PathBuf};

use bench_core::result::{write_atomic, ResultFile};
use fs2::FileExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::BaselineError;
use crate::history;
use crate::remote::{Put, Remote};

/// A result store: a directory or an object-storage prefix.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
}

#[derive(Clone, Debug)]
enum Backend {
    Local(PathBuf),
    Object(std::sync::Arc<Remote>),
}

/// What `add` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Added {
    /// Content id.
    pub id: String,
    /// False when the same bytes were already stored.
    pub new: bool,
}

/// One result checked by [`Store::verify`]: its id, and what is wrong with
/// it when something is.
pub type Verified = (String, Result<(), String>);

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
    /// Onboarding tag (`run`/`gate --tag`).
    pub tag: Option<String>,
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
                "tag" => q.tag = Some(v),
                "last" => {
                    q.last = Some(v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        BaselineError::Input(format!(
                            "query `{s}`: last={v} is not a positive integer"
                        ))
                    })?)
                }
                other => {
                    return Err(BaselineError::Input(format!(
                        "query `{s}`: unknown key `{other}` (known: sku, distro, suite, host, tag, last)"
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
    /// A store in the directory `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            backend: Backend::Local(root.into()),
        }
    }

    /// The store at `location`: `az://container/prefix`, `s3://bucket/prefix`
    /// (credentials and endpoints from the cloud's standard environment),
    /// `file://DIR` or a directory. Nothing is contacted until the first
    /// operation; a malformed URL, or one that carries credentials, is an
    /// input error.
    pub fn open(location: &str) -> Result<Self, BaselineError> {
        if crate::remote::is_url(location) {
            return Ok(Self {
                backend: Backend::Object(std::sync::Arc::new(Remote::open(location)?)),
            });
        }
        if let Some(path) = location.strip_prefix("file://") {
            if path.is_empty() {
                return Err(BaselineError::Input(
                    "store URL `file://`: no directory".into(),
                ));
            }
            return Ok(Self::new(path));
        }
        if location.contains("://") {
            let scheme = location.split("://").next().unwrap_or_default();
            return Err(BaselineError::Input(format!(
                "store `{}`: unknown scheme `{scheme}://` (known: az://, s3://, file://, or a directory)",
                crate::remote::scrub(location)
            )));
        }
        if location.is_empty() {
            return Err(BaselineError::Input("store: empty location".into()));
        }
        Ok(Self::new(location))
    }

    /// Where the store is, for messages: the directory or the URL (never
    /// credentials: URLs carrying any are refused by [`Store::open`]).
    pub fn location(&self) -> String {
        match &self.backend {
            Backend::Local(p) => p.display().to_string(),
            Backend::Object(r) => r.url().to_string(),
        }
    }

    /// The directory of a local store; `None` on object storage.
    pub fn local_root(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Local(p) => Some(p),
            Backend::Object(_) => None,
        }
    }

    /// Whether the store is on object storage.
    pub fn is_remote(&self) -> bool {
        matches!(self.backend, Backend::Object(_))
    }

    fn root(&self) -> &Path {
        match &self.backend {
            Backend::Local(p) => p,
            // Only local code paths call this; a remote store has no root.
            Backend::Object(_) => Path::new(""),
        }
    }

    fn dir(&self, sub: &str) -> PathBuf {
        self.root().join(sub)
    }

    fn lock(&self) -> Result<Lock, BaselineError> {
        for d in ["results", "history", "baselines"] {
            let p = self.dir(d);
            std::fs::create_dir_all(&p).map_err(|e| BaselineError::io(&p, e))?;
        }
        let p = self.root().join(".lock");
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
    ///
    /// On object storage this also checks that the service honours
    /// conditional writes (a second create of the probe must be refused):
    /// every guarantee of the store rests on them.
    pub fn check_writable(&self) -> Result<(), BaselineError> {
        if let Backend::Object(r) = &self.backend {
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let probe = format!(".probe/{}-{stamp}", std::process::id());
            let first = r.create(&probe, b"probe".to_vec())?;
            let second = r.create(&probe, b"probe".to_vec());
            let _ = r.delete(&probe);
            return match (first, second?) {
                (Put::Done, Put::Exists) => Ok(()),
                _ => Err(r.err(
                    &probe,
                    "the service does not honour conditional writes (If-None-Match: *); \
                     results could be overwritten, so this store is not used",
                )),
            };
        }
        let _l = self.lock()?;
        let root = self.root();
        let probe = root.join(format!(".probe-{}", std::process::id()));
        std::fs::write(&probe, b"").map_err(|e| BaselineError::io(root, e))?;
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
        if let Backend::Object(r) = &self.backend {
            // History first, as in a directory: a stored result always has
            // its rows. Both are creates: a concurrent writer of the same
            // bytes finds them there and nothing is written twice.
            let part = history::part_bytes(&id, f)?;
            r.create(&format!("history/{id}.parquet"), part)?;
            let new = match r.create(&format!("results/{id}.json"), bytes.to_vec())? {
                Put::Done => true,
                Put::Exists | Put::Changed => false,
            };
            return Ok(Added { id, new });
        }
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
        if let Backend::Object(r) = &self.backend {
            let full = self.resolve_remote(r, id)?;
            let rel = format!("results/{full}.json");
            let Some((bytes, _)) = r.get(&rel)? else {
                return Err(BaselineError::Input(format!(
                    "no result `{id}` in store {}",
                    r.url()
                )));
            };
            if bytes.len() as u64 > bench_core::result::MAX_RESULT_BYTES {
                return Err(r.err(&rel, "larger than the result size limit"));
            }
            let text = std::str::from_utf8(&bytes)
                .map_err(|e| BaselineError::Input(format!("{}/{rel}: {e}", r.url())))?;
            return ResultFile::parse(text)
                .map_err(|e| BaselineError::Input(format!("{}/{rel}: {e}", r.url())));
        }
        let path = self.resolve(id)?;
        Ok(ResultFile::read(&path)?)
    }

    fn check_id(id: &str) -> Result<(), BaselineError> {
        if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(BaselineError::Input(format!("`{id}` is not a result id")));
        }
        Ok(())
    }

    /// The full id of `id` (an id or a unique prefix) on object storage.
    fn resolve_remote(&self, r: &Remote, id: &str) -> Result<String, BaselineError> {
        Self::check_id(id)?;
        if r.exists(&format!("results/{id}.json"))? {
            return Ok(id.to_string());
        }
        let matches: Vec<String> = self
            .ids()?
            .into_iter()
            .filter(|x| x.starts_with(id))
            .collect();
        match matches.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(BaselineError::Input(format!(
                "no result `{id}` in store {}",
                r.url()
            ))),
            _ => Err(BaselineError::Input(format!(
                "result id prefix `{id}` is ambiguous"
            ))),
        }
    }

    fn resolve(&self, id: &str) -> Result<PathBuf, BaselineError> {
        Self::check_id(id)?;
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
                self.root().display()
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
        if let Backend::Object(r) = &self.backend {
            return Ok(r
                .list(sub)?
                .iter()
                .filter_map(|n| n.strip_suffix(".json"))
                .filter(|n| keep(n))
                .map(String::from)
                .collect());
        }
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

    /// Checks every stored result: its bytes hash to its id, it parses as
    /// a result file, and its history part (or a compacted copy) is there.
    /// One entry per result id, with what is wrong with it.
    pub fn verify(&self) -> Result<Vec<Verified>, BaselineError> {
        let in_history: std::collections::HashSet<String> = self
            .history_index()?
            .into_iter()
            .map(|r| r.result_id)
            .collect();
        let mut out = Vec::new();
        for id in self.ids()? {
            let bytes = match &self.backend {
                Backend::Object(r) => r
                    .get(&format!("results/{id}.json"))?
                    .map(|(b, _)| b.to_vec()),
                Backend::Local(_) => {
                    let p = self.dir("results").join(format!("{id}.json"));
                    Some(std::fs::read(&p).map_err(|e| BaselineError::io(&p, e))?)
                }
            };
            let check = match bytes {
                None => Err("listed but not readable (deleted meanwhile?)".to_string()),
                Some(b) if content_id(&b) != id => Err(format!(
                    "content hashes to {}, not to its id ({} bytes): damaged or partial",
                    content_id(&b),
                    b.len()
                )),
                Some(b) => match std::str::from_utf8(&b)
                    .map_err(|e| e.to_string())
                    .and_then(|t| ResultFile::parse(t).map_err(|e| e.to_string()))
                {
                    Err(e) => Err(format!("not a valid result file: {e}")),
                    Ok(_) if !in_history.contains(&id) => Err("no history rows".to_string()),
                    Ok(_) => Ok(()),
                },
            };
            out.push((id, check));
        }
        Ok(out)
    }

    /// Result ids matching a query, oldest first (by run start time).
    /// Only results whose file is stored: a writer stopped between the
    /// history part and the result leaves rows that name no result.
    pub fn query(&self, q: &Query) -> Result<Vec<String>, BaselineError> {
        let rows = self.history_index()?;
        let stored: std::collections::HashSet<String> = self.ids()?.into_iter().collect();
        let mut hits: Vec<&history::ResultRow> = rows
            .iter()
            .filter(|r| {
                stored.contains(&r.result_id)
                    && q.sku.as_ref().is_none_or(|s| r.sku == *s)
                    && q.distro.as_ref().is_none_or(|s| r.distro == *s)
                    && q.suite.as_ref().is_none_or(|s| r.suite == *s)
                    && q.host.as_ref().is_none_or(|s| r.hostname == *s)
                    && q.tag.as_ref().is_none_or(|s| r.tag == *s)
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
        let b = Baseline {
            name: name.into(),
            created_at: bench_core::result::now_rfc3339(),
            source: source.into(),
            results: ids.to_vec(),
        };
        let json =
            serde_json::to_vec_pretty(&b).map_err(|e| BaselineError::Input(e.to_string()))?;
        if let Backend::Object(r) = &self.backend {
            for id in ids {
                self.resolve_remote(r, id)?;
            }
            return self.save_baseline_remote(r, b, json, replace);
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
        write_atomic(&path, &json).map_err(|e| BaselineError::Input(e.to_string()))?;
        Ok(b)
    }

    /// Without `replace` a create (refused when the name exists); with it a
    /// compare-and-swap on the version just read, so of two writers racing
    /// to replace one baseline exactly one wins and the other is told.
    fn save_baseline_remote(
        &self,
        r: &Remote,
        b: Baseline,
        json: Vec<u8>,
        replace: bool,
    ) -> Result<Baseline, BaselineError> {
        let rel = format!("baselines/{}.json", b.name);
        let put = match (replace, r.get(&rel)?) {
            (true, Some((_, version))) => r.update(&rel, json, version)?,
            _ => r.create(&rel, json)?,
        };
        match put {
            Put::Done => Ok(b),
            Put::Exists if !replace => Err(BaselineError::Input(format!(
                "baseline `{}` exists; pass --replace to overwrite it",
                b.name
            ))),
            Put::Exists | Put::Changed => Err(r.err(
                &rel,
                format!(
                    "baseline `{}` was written by another writer while this one saved it; \
                     nothing was written; rerun to replace the version now stored",
                    b.name
                ),
            )),
        }
    }

    /// Loads a named baseline.
    pub fn baseline(&self, name: &str) -> Result<Baseline, BaselineError> {
        if !valid_name(name) {
            return Err(BaselineError::Input(format!(
                "`{name}` is not a valid baseline name"
            )));
        }
        if let Backend::Object(r) = &self.backend {
            let rel = format!("baselines/{name}.json");
            let Some((bytes, _)) = r.get(&rel)? else {
                return Err(self.no_baseline(name));
            };
            if bytes.len() > 16 << 20 {
                return Err(r.err(&rel, "larger than 16 MiB"));
            }
            return serde_json::from_slice(&bytes).map_err(|e| {
                BaselineError::Input(format!("{}/{rel}: corrupt baseline file: {e}", r.url()))
            });
        }
        let path = self.dir("baselines").join(format!("{name}.json"));
        if !path.exists() {
            return Err(self.no_baseline(name));
        }
        let text = crate::read_limited(&path, 16 << 20)?;
        serde_json::from_str(&text).map_err(|e| {
            BaselineError::Input(format!("{}: corrupt baseline file: {e}", path.display()))
        })
    }

    fn no_baseline(&self, name: &str) -> BaselineError {
        let known = self.baselines().unwrap_or_default();
        BaselineError::Input(format!(
            "no baseline `{name}` in store {} (known: {})",
            self.location(),
            if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            }
        ))
    }

    /// Names of all baselines.
    pub fn baselines(&self) -> Result<Vec<String>, BaselineError> {
        self.json_names("baselines", valid_name)
    }

    /// Merges the per-result history files into one (faster queries).
    ///
    /// On object storage: the merged file is created under a new name,
    /// then the files it holds are deleted; readers that race it see each
    /// result once (`history::assemble`), and a part written meanwhile
    /// stays for the next compaction.
    pub fn compact(&self) -> Result<usize, BaselineError> {
        if let Backend::Object(r) = &self.backend {
            let names = r.list("history")?;
            let (c, p): (Vec<String>, Vec<String>) = names
                .into_iter()
                .filter(|n| n.ends_with(".parquet"))
                .partition(|n| history::is_compacted(n));
            if c.len() + p.len() <= 1 {
                return Ok(0);
            }
            let (mut df, warnings) = self.remote_frame(r, &c, &p)?;
            if !warnings.is_empty() {
                return Err(BaselineError::Input(format!(
                    "not compacting: some history files are unreadable: {}",
                    warnings.join("; ")
                )));
            }
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let dest = format!("history/compact-{stamp:032}-{}.parquet", std::process::id());
            let bytes = history::frame_bytes(&mut df, Path::new(&dest))?;
            match r.create(&dest, bytes)? {
                Put::Done => {}
                _ => return Err(r.err(&dest, "exists already; rerun the compaction")),
            }
            for n in c.iter().chain(&p) {
                r.delete(&format!("history/{n}"))?;
            }
            return Ok(df.height());
        }
        let _l = self.lock()?;
        history::compact(&self.dir("history"))
    }

    /// Reads the named history objects (compacted ones first, then the
    /// parts no compacted one holds). `Ok(None)` when one vanished (a
    /// compaction deleted it after the listing): the caller lists again.
    fn remote_frame_once(
        &self,
        r: &Remote,
        c: &[String],
        p: &[String],
    ) -> Result<Option<(polars::prelude::DataFrame, Vec<String>)>, BaselineError> {
        use std::collections::HashMap;
        let at = |n: &str| PathBuf::from(format!("{}/history/{n}", r.url()));
        let mut frames: HashMap<String, Result<polars::prelude::DataFrame, BaselineError>> =
            HashMap::new();
        let mut seen = std::collections::HashSet::new();
        for (n, got) in r.get_many(c.iter().map(|n| format!("history/{n}")).collect()) {
            let n = n.trim_start_matches("history/").to_string();
            let df = match got {
                Ok(None) => return Ok(None),
                Ok(Some(b)) => history::read_bytes(b, &at(&n)),
                Err(e) => Err(e),
            };
            if let Ok(df) = &df {
                if let Ok(ids) = df.column("result_id").and_then(|c| c.str().cloned()) {
                    seen.extend((0..ids.len()).filter_map(|i| ids.get(i)).map(String::from));
                }
            }
            frames.insert(n, df);
        }
        let wanted: Vec<String> = p
            .iter()
            .filter(|n| !seen.contains(n.trim_end_matches(".parquet")))
            .map(|n| format!("history/{n}"))
            .collect();
        for (n, got) in r.get_many(wanted) {
            let n = n.trim_start_matches("history/").to_string();
            let df = match got {
                Ok(None) => return Ok(None),
                Ok(Some(b)) => history::read_bytes(b, &at(&n)),
                Err(e) => Err(e),
            };
            frames.insert(n, df);
        }
        let root = PathBuf::from(format!("{}/history", r.url()));
        let loaded = history::assemble(
            c,
            p,
            |n| {
                frames
                    .remove(n)
                    .unwrap_or_else(|| Err(BaselineError::Input(format!("{n}: not read"))))
            },
            &root,
        )?;
        Ok(Some(loaded))
    }

    fn remote_frame(
        &self,
        r: &Remote,
        c: &[String],
        p: &[String],
    ) -> Result<(polars::prelude::DataFrame, Vec<String>), BaselineError> {
        match self.remote_frame_once(r, c, p)? {
            Some(x) => Ok(x),
            None => Err(r.err("history", "history objects vanished while being read")),
        }
    }

    /// The whole history dataset as one frame, with warnings for files that
    /// could not be read (skipped). On object storage a listing that a
    /// concurrent compaction made stale is read again (three tries).
    pub fn history_frame(
        &self,
    ) -> Result<(polars::prelude::DataFrame, Vec<String>), BaselineError> {
        let r = match &self.backend {
            Backend::Local(_) => return history::read_all(&self.dir("history")),
            Backend::Object(r) => r,
        };
        for _ in 0..3 {
            let (c, p): (Vec<String>, Vec<String>) = r
                .list("history")?
                .into_iter()
                .filter(|n| n.ends_with(".parquet"))
                .partition(|n| history::is_compacted(n));
            if let Some(x) = self.remote_frame_once(r, &c, &p)? {
                return Ok(x);
            }
        }
        Err(r.err(
            "history",
            "history objects kept vanishing while being read (compactions running); retry",
        ))
    }

    fn history_name(&self) -> PathBuf {
        match &self.backend {
            Backend::Local(_) => self.dir("history"),
            Backend::Object(r) => PathBuf::from(format!("{}/history", r.url())),
        }
    }

    /// One row per stored result (id, time, SKU, distro, suite, host, tag).
    pub fn history_index(&self) -> Result<Vec<history::ResultRow>, BaselineError> {
        let (df, _) = self.history_frame()?;
        history::result_index_of(&df, &self.history_name())
    }

    /// The metric histories matching `q`, with change points, and the
    /// warnings of files that could not be read.
    pub fn history_query(
        &self,
        q: &history::HistoryQuery,
        cfg: &crate::changepoint::CpConfig,
        latest_k: usize,
    ) -> Result<(Vec<history::MetricHistory>, Vec<String>), BaselineError> {
        let (df, warnings) = self.history_frame()?;
        let series = history::query_frame(&df, &self.history_name(), q, cfg, latest_k)?;
        Ok((series, warnings))
    }
}

/// The content id of a result file: the first 16 hex digits of its SHA-256.
pub fn content_id(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}
