//! The object-storage backend of the store: Azure Blob (`az://container/prefix`)
//! and S3-compatible (`s3://bucket/prefix`) through the `object_store` crate.
//!
//! The store's guarantees rest on the object store's conditional requests
//! instead of a lock: results and history parts are created with
//! `PutMode::Create` (If-None-Match: *), so a second writer of the same
//! content gets "already exists" and nothing is overwritten; a baseline is
//! replaced only with `PutMode::Update` on the version just read (If-Match),
//! so of two writers racing one loses with a clear error. A single PUT is
//! atomic on both services: a writer killed mid-upload leaves no object.
//!
//! Credentials come only from each cloud's standard environment
//! (`MicrosoftAzureBuilder::from_env`, `AmazonS3Builder::from_env`: account
//! keys, SAS, managed identity, web identity, instance profiles); the URL
//! may not carry any, and error messages are scrubbed of query strings.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjPath;
use object_store::{
    ClientConfigKey, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig,
    UpdateVersion,
};

use crate::error::BaselineError;

/// How many object reads are in flight at once when the history is loaded.
const PARALLEL_READS: usize = 16;

/// An object-storage location: a client, a prefix inside its container or
/// bucket, and a runtime to drive the client's futures from blocking code.
pub(crate) struct Remote {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    url: String,
    rt: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

/// The outcome of a conditional write.
pub(crate) enum Put {
    /// Written.
    Done,
    /// `Create` found an object there already.
    Exists,
    /// `Update` found another version than the one it was given.
    Changed,
}

/// Whether `s` names an object store (a URL with a scheme this store knows).
pub(crate) fn is_url(s: &str) -> bool {
    s.starts_with("az://") || s.starts_with("s3://")
}

/// Removes URL query strings (a SAS token is one) from a message: errors
/// of the HTTP client name the URL they failed on.
pub(crate) fn scrub(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut in_url = false;
    let mut skipping = false;
    let bytes: Vec<char> = msg.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let rest: String = bytes[i..bytes.len().min(i + 8)].iter().collect();
        if !in_url
            && ["http://", "https://", "az://", "s3://"]
                .iter()
                .any(|p| rest.starts_with(p))
        {
            in_url = true;
        }
        if in_url && (c.is_whitespace() || matches!(c, '"' | '\'' | ')' | '>')) {
            in_url = false;
            skipping = false;
        }
        if in_url && c == '?' && !skipping {
            skipping = true;
            out.push_str("?<redacted>");
        }
        if !skipping {
            out.push(c);
        }
        i += 1;
    }
    out
}

fn parse(url: &str) -> Result<(&str, &str, String), BaselineError> {
    let bad = |why: &str| BaselineError::Input(format!("store URL `{}`: {why}", scrub(url)));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("expected az://CONTAINER/PREFIX or s3://BUCKET/PREFIX"))?;
    if rest.contains('?') || rest.contains('#') {
        return Err(bad(
            "query strings and fragments are not accepted (credentials come from the environment, never the URL)",
        ));
    }
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.contains('@') || bucket.contains(':') {
        return Err(bad(
            "user names, passwords and ports are not accepted in the URL (credentials and endpoints come from the environment)",
        ));
    }
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'));
    if !bucket_ok {
        return Err(bad(
            "the container or bucket name must be 3 to 63 lower-case letters, digits, `-` or `.`",
        ));
    }
    let prefix = prefix.trim_matches('/');
    for seg in prefix.split('/').filter(|s| !s.is_empty()) {
        if seg == "." || seg == ".." || seg.chars().any(|c| c.is_control() || c == '\\') {
            return Err(bad(&format!("prefix segment `{seg}` is not allowed")));
        }
    }
    Ok((scheme, bucket, prefix.to_string()))
}

impl Remote {
    /// Opens `url` with credentials from the environment. Nothing is sent
    /// until the first operation.
    pub(crate) fn open(url: &str) -> Result<Self, BaselineError> {
        let (scheme, bucket, prefix) = parse(url)?;
        // A store that does not answer must fail in seconds, not after the
        // client's default three minutes of retries.
        let retry = RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(20),
            ..Default::default()
        };
        let timeout = ClientConfigKey::Timeout;
        let connect = ClientConfigKey::ConnectTimeout;
        let conf_err = |e: object_store::Error| {
            BaselineError::Input(format!("store URL `{url}`: {}", scrub(&e.to_string())))
        };
        let store: Arc<dyn ObjectStore> = match scheme {
            "az" => {
                use object_store::azure::{AzureConfigKey as K, MicrosoftAzureBuilder};
                let mut b = MicrosoftAzureBuilder::from_env().with_container_name(bucket);
                if std::env::var_os("AZURE_STORAGE_TIMEOUT").is_none() {
                    b = b.with_config(K::Client(timeout), "60s");
                }
                b = b.with_config(K::Client(connect), "5s");
                Arc::new(b.with_retry(retry).build().map_err(conf_err)?)
            }
            "s3" => {
                use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey as K};
                let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
                if std::env::var_os("AWS_TIMEOUT").is_none() {
                    b = b.with_config(K::Client(timeout), "60s");
                }
                b = b.with_config(K::Client(connect), "5s");
                Arc::new(b.with_retry(retry).build().map_err(conf_err)?)
            }
            other => {
                return Err(BaselineError::Input(format!(
                    "store URL `{url}`: unknown scheme `{other}://` (known: az://, s3://, file://, or a path)"
                )))
            }
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| BaselineError::Input(format!("store URL `{url}`: runtime: {e}")))?;
        Ok(Self {
            store,
            prefix,
            url: url.trim_end_matches('/').to_string(),
            rt,
        })
    }

    /// The URL as given (it holds no credentials: `parse` refuses them).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, rel: &str) -> ObjPath {
        if self.prefix.is_empty() {
            ObjPath::from(rel)
        } else {
            ObjPath::from(format!("{}/{rel}", self.prefix))
        }
    }

    /// An operation failure, naming the object and the store.
    pub(crate) fn err(&self, rel: &str, e: impl std::fmt::Display) -> BaselineError {
        BaselineError::Remote {
            location: format!("{}/{rel}", self.url),
            message: scrub(&e.to_string()),
        }
    }

    /// Writes `bytes` at `rel` only if nothing is there (`PutMode::Create`).
    pub(crate) fn create(&self, rel: &str, bytes: Vec<u8>) -> Result<Put, BaselineError> {
        self.put(rel, bytes, PutMode::Create)
    }

    /// Replaces `rel` only if it is still at `version` (`PutMode::Update`).
    pub(crate) fn update(
        &self,
        rel: &str,
        bytes: Vec<u8>,
        version: UpdateVersion,
    ) -> Result<Put, BaselineError> {
        self.put(rel, bytes, PutMode::Update(version))
    }

    fn put(&self, rel: &str, bytes: Vec<u8>, mode: PutMode) -> Result<Put, BaselineError> {
        let p = self.path(rel);
        let opts = PutOptions {
            mode,
            ..Default::default()
        };
        let r = self.rt.block_on(self.store.put_opts(
            &p,
            PutPayload::from(Bytes::from(bytes)),
            opts,
        ));
        match r {
            Ok(_) => Ok(Put::Done),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(Put::Exists),
            Err(object_store::Error::Precondition { .. }) => Ok(Put::Changed),
            Err(e) => Err(self.err(rel, e)),
        }
    }

    /// The object's bytes and version, or `None` when there is none.
    pub(crate) fn get(&self, rel: &str) -> Result<Option<(Bytes, UpdateVersion)>, BaselineError> {
        let p = self.path(rel);
        let r = self.rt.block_on(async {
            let g = self.store.get(&p).await?;
            let v = UpdateVersion {
                e_tag: g.meta.e_tag.clone(),
                version: g.meta.version.clone(),
            };
            Ok::<_, object_store::Error>((g.bytes().await?, v))
        });
        match r {
            Ok(x) => Ok(Some(x)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(rel, e)),
        }
    }

    /// Whether `rel` exists.
    pub(crate) fn exists(&self, rel: &str) -> Result<bool, BaselineError> {
        let p = self.path(rel);
        match self.rt.block_on(self.store.head(&p)) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.err(rel, e)),
        }
    }

    /// Deletes `rel` (absent is fine).
    pub(crate) fn delete(&self, rel: &str) -> Result<(), BaselineError> {
        let p = self.path(rel);
        match self.rt.block_on(self.store.delete(&p)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(rel, e)),
        }
    }

    /// The names (last path segment) of the objects directly under `sub`.
    pub(crate) fn list(&self, sub: &str) -> Result<Vec<String>, BaselineError> {
        let p = self.path(sub);
        let r: Result<Vec<_>, _> = self
            .rt
            .block_on(self.store.list(Some(&p)).try_collect::<Vec<_>>());
        let metas = r.map_err(|e| self.err(sub, e))?;
        let mut names: Vec<String> = metas
            .into_iter()
            .filter_map(|m| {
                let rel = m.location.prefix_match(&p)?.collect::<Vec<_>>();
                // Only direct children: `sub/NAME`, never `sub/x/NAME`.
                match rel.as_slice() {
                    [one] => Some(one.as_ref().to_string()),
                    _ => None,
                }
            })
            .collect();
        names.sort();
        Ok(names)
    }

    /// Reads many objects at once; each entry is its own result, so one bad
    /// object does not hide the others.
    pub(crate) fn get_many(
        &self,
        rels: Vec<String>,
    ) -> Vec<(String, Result<Option<Bytes>, BaselineError>)> {
        let store = &self.store;
        self.rt.block_on(
            futures::stream::iter(rels.into_iter().map(|rel| {
                let p = self.path(&rel);
                async move {
                    let r = match store.get(&p).await {
                        Ok(g) => g.bytes().await.map(Some),
                        Err(object_store::Error::NotFound { .. }) => Ok(None),
                        Err(e) => Err(e),
                    };
                    let r = r.map_err(|e| self.err(&rel, e));
                    (rel, r)
                }
            }))
            .buffered(PARALLEL_READS)
            .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_credentials_or_bad_names_are_refused() {
        for bad in [
            "az://c/p?sig=secret",
            "s3://user:pw@bucket/p",
            "s3://bucket:9000/p",
            "az://UPPER/p",
            "az://ab/p",
            "s3://bucket/../x",
            "s3://bucket/a/./b",
            "gs://bucket/p",
        ] {
            let e = Remote::open(bad).unwrap_err().to_string();
            assert!(e.contains("store URL"), "{bad}: {e}");
            assert!(!e.contains("secret"), "{bad}: {e}");
        }
    }

    #[test]
    fn parse_splits_bucket_and_prefix() {
        let (s, b, p) = parse("az://skubench/fleet/a/").unwrap();
        assert_eq!((s, b, p.as_str()), ("az", "skubench", "fleet/a"));
        let (_, b, p) = parse("s3://bucket").unwrap();
        assert_eq!((b, p.as_str()), ("bucket", ""));
    }

    #[test]
    fn scrub_removes_query_strings_of_urls_only() {
        let m = "error sending request for url (http://127.0.0.1:1/c/x.json?sv=2020&sig=abc%2F): refused? yes";
        let s = scrub(m);
        assert!(!s.contains("sig=abc"), "{s}");
        assert!(s.contains("http://127.0.0.1:1/c/x.json?<redacted>"), "{s}");
        assert!(s.ends_with("refused? yes"), "{s}");
    }
}
