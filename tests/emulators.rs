//! The store's guarantees on object storage, against real emulators:
//! Azurite (Azure Blob) and moto's server (S3), started by
//! `scripts/emulators.sh` (scripts/test does it and exports their
//! environment). Gated by `SKUBENCH_EMULATOR_TESTS=1` (CI sets it).
//!
//! Each test works under its own prefix of the `skubench` container and
//! bucket, so the tests share the emulators and never each other's data.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::null_result;

fn enabled() -> bool {
    if std::env::var("SKUBENCH_EMULATOR_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set SKUBENCH_EMULATOR_TESTS=1 (and start scripts/emulators.sh) to test the object-store backends");
        return false;
    }
    for v in ["AZURITE_BLOB_STORAGE_URL", "AWS_ENDPOINT"] {
        assert!(
            std::env::var_os(v).is_some(),
            "SKUBENCH_EMULATOR_TESTS=1 but ${v} is unset: run the tests through scripts/test, or \
             `scripts/emulators.sh start DIR` and source DIR/env first"
        );
    }
    true
}

/// A fresh prefix under the `skubench` container/bucket of each emulator.
fn urls(test: &str) -> [String; 2] {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let p = format!("{test}-{}-{stamp}", std::process::id());
    [format!("az://skubench/{p}"), format!("s3://skubench/{p}")]
}

/// `n` result files with distinct content: one real null run, its host
/// name changed (the content id is the hash of the bytes).
fn distinct_results(dir: &Path, n: usize) -> Vec<PathBuf> {
    let base = null_result(dir, "base.json", 1000, 2);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&base).unwrap()).unwrap();
    (0..n)
        .map(|i| {
            let mut v = v.clone();
            v["host"]["hostname"] = format!("vm{i:03}").into();
            let p = dir.join(format!("r{i:03}.json"));
            std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
            p
        })
        .collect()
}

fn id_of(p: &Path) -> String {
    baselines::store::content_id(&std::fs::read(p).unwrap())
}

fn store_cmd(url: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_skubench"));
    c.args(args).args(["--store", url]);
    c
}

fn out_text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The ids `store verify` checked, asserting every one is intact.
fn verified_ids(url: &str) -> Vec<String> {
    let o = store_cmd(url, &["store", "verify"]).output().unwrap();
    let (out, err) = out_text(&o);
    assert!(o.status.success(), "store verify {url}: {out}{err}");
    out.lines()
        .filter_map(|l| l.strip_suffix(" ok"))
        .map(String::from)
        .collect()
}

#[test]
fn guarantees_of_the_local_store_hold_on_both_object_stores() {
    if !enabled() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let files = distinct_results(dir.path(), 2);
    let (a, b) = (files[0].to_str().unwrap(), files[1].to_str().unwrap());
    for url in urls("guarantees") {
        // Content-addressed, stored once: the second add is "already stored".
        let o = store_cmd(&url, &["store", "add", a]).output().unwrap();
        assert!(o.status.success(), "{url}: {:?}", out_text(&o));
        assert!(
            out_text(&o).0.contains("added"),
            "{url}: {:?}",
            out_text(&o)
        );
        let o = store_cmd(&url, &["store", "add", a, b]).output().unwrap();
        let (out, _) = out_text(&o);
        assert!(o.status.success(), "{url}: {out}");
        assert!(
            out.contains(&format!("{} already stored", id_of(&files[0]))),
            "{url}: {out}"
        );
        assert!(
            out.contains(&format!("{} added", id_of(&files[1]))),
            "{url}: {out}"
        );
        let mut ids = verified_ids(&url);
        ids.sort();
        let mut want = vec![id_of(&files[0]), id_of(&files[1])];
        want.sort();
        assert_eq!(ids, want, "{url}");

        // Baselines: refused without --replace, replaced with it.
        let save = |from: &str, replace: bool| {
            let mut c = store_cmd(&url, &["baseline", "save", "pred", "--from", from]);
            if replace {
                c.arg("--replace");
            }
            c.output().unwrap()
        };
        assert!(save(a, false).status.success());
        let o = save(b, false);
        assert_eq!(o.status.code(), Some(2), "{url}: {:?}", out_text(&o));
        assert!(out_text(&o).1.contains("exists; pass --replace"), "{url}");
        assert!(save(b, true).status.success(), "{url}");
        let o = store_cmd(&url, &["baseline", "show", "pred"])
            .output()
            .unwrap();
        assert!(
            out_text(&o).0.contains(&id_of(&files[1])),
            "{url}: {:?}",
            out_text(&o)
        );

        // compare and history read the same store; a query selects by host.
        let o = store_cmd(
            &url,
            &[
                "compare",
                "pred",
                "host=vm000",
                "--include-disturbed",
                "--format",
                "json",
            ],
        )
        .output()
        .unwrap();
        let (out, err) = out_text(&o);
        let v: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{url}: {e}: {err}"));
        assert!(
            v["rows"].as_array().is_some_and(|r| !r.is_empty()),
            "{url}: {out}"
        );
        let o = store_cmd(&url, &["history", "--include-disturbed", "--json"])
            .output()
            .unwrap();
        let (out, err) = out_text(&o);
        let h: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{url}: {e}: {err}"));
        let n = h
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["points"].as_array().unwrap().len())
            .max();
        assert_eq!(n, Some(4), "{url}: two results of two runs each: {out}");
    }
}

/// Runs `cmds` all at once; their outputs in order.
fn all_at_once(cmds: Vec<Command>) -> Vec<Output> {
    let children: Vec<_> = cmds
        .into_iter()
        .map(|mut c| {
            c.stdout(Stdio::piped()).stderr(Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

#[test]
fn sixty_four_concurrent_writers_lose_nothing() {
    if !enabled() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // 48 distinct results; 16 writers add one that another writer adds too.
    let files = distinct_results(dir.path(), 48);
    let writers: Vec<&PathBuf> = files.iter().chain(files.iter().take(16)).collect();
    assert_eq!(writers.len(), 64);
    for url in urls("writers64") {
        let outs = all_at_once(
            writers
                .iter()
                .map(|f| store_cmd(&url, &["store", "add", f.to_str().unwrap()]))
                .collect(),
        );
        let mut added = 0;
        for o in &outs {
            let (out, err) = out_text(o);
            assert!(o.status.success(), "{url}: a writer failed: {out}{err}");
            added += out.matches(" added ").count();
        }
        // Each distinct result was added by exactly one of its writers.
        assert_eq!(added, 48, "{url}");
        let mut ids = verified_ids(&url);
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!((n, ids.len()), (48, 48), "{url}: every result once");
        let mut want: Vec<String> = files.iter().map(|f| id_of(f)).collect();
        want.sort();
        assert_eq!(ids, want, "{url}");
        let o = store_cmd(&url, &["store", "list"]).output().unwrap();
        assert_eq!(
            out_text(&o).0.lines().count(),
            49,
            "{url}: header + 48 rows"
        );
    }
}

#[test]
fn eight_concurrent_baseline_saves_one_wins() {
    if !enabled() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let files = distinct_results(dir.path(), 8);
    for url in urls("saves8") {
        // The results first, so every save only races on the baseline.
        let mut add = store_cmd(&url, &["store", "add"]);
        add.args(files.iter());
        assert!(add.output().unwrap().status.success());
        let save = |f: &PathBuf, replace: bool| {
            let f = f.to_str().unwrap();
            let mut args = vec!["baseline", "save", "onboard", "--from", f];
            if replace {
                args.push("--replace");
            }
            store_cmd(&url, &args)
        };
        let outs = all_at_once(files.iter().map(|f| save(f, false)).collect());
        let won: Vec<usize> = (0..8).filter(|&i| outs[i].status.success()).collect();
        assert_eq!(
            won.len(),
            1,
            "{url}: exactly one save wins: {:?}",
            outs.iter().map(out_text).collect::<Vec<_>>()
        );
        for (i, o) in outs.iter().enumerate().filter(|(i, _)| *i != won[0]) {
            let (_, err) = out_text(o);
            assert_eq!(o.status.code(), Some(2), "{url} writer {i}: {err}");
            assert!(
                err.contains("baseline `onboard` exists; pass --replace"),
                "{url}: {err}"
            );
        }
        let shown = |url: &str| {
            let o = store_cmd(url, &["baseline", "show", "onboard"])
                .output()
                .unwrap();
            serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
        };
        assert_eq!(
            shown(&url)["results"][0],
            id_of(&files[won[0]]).as_str(),
            "{url}"
        );

        // Eight replacing at once: compare-and-swap on the version read.
        // Every writer either replaced the version it read or was told
        // that another writer got there first; the baseline is one of the
        // winners', whole.
        let outs = all_at_once(files.iter().map(|f| save(f, true)).collect());
        let mut winners = Vec::new();
        for (i, o) in outs.iter().enumerate() {
            let (_, err) = out_text(o);
            match o.status.code() {
                Some(0) => winners.push(id_of(&files[i])),
                Some(3) => assert!(
                    err.contains("was written by another writer"),
                    "{url}: {err}"
                ),
                c => panic!("{url} writer {i}: exit {c:?}: {err}"),
            }
        }
        assert!(!winners.is_empty(), "{url}");
        let now = shown(&url)["results"][0].as_str().unwrap().to_string();
        assert!(winners.contains(&now), "{url}: {now} not among {winners:?}");
    }
}

/// A TCP proxy to `upstream` that counts the bytes clients send and sets
/// `tripped` once they pass `threshold`.
fn counting_proxy(upstream: u16, threshold: u64) -> (u16, Arc<AtomicBool>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let tripped = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let t = tripped.clone();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let Ok(up) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let (c2, up2) = (c.try_clone().unwrap(), up.try_clone().unwrap());
            let (t, sent) = (t.clone(), sent.clone());
            std::thread::spawn(move || pipe(c, up, Some((sent, threshold, t))));
            std::thread::spawn(move || pipe(up2, c2, None));
        }
    });
    (port, tripped)
}

fn pipe(
    mut from: TcpStream,
    mut to: TcpStream,
    count: Option<(Arc<AtomicU64>, u64, Arc<AtomicBool>)>,
) {
    let mut buf = [0u8; 64 << 10];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || to.write_all(&buf[..n]).is_err() {
            break;
        }
        if let Some((sent, threshold, tripped)) = &count {
            if sent.fetch_add(n as u64, Ordering::Relaxed) + n as u64 > *threshold {
                tripped.store(true, Ordering::Relaxed);
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

#[test]
fn a_writer_killed_mid_upload_leaves_no_partial_object() {
    if !enabled() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A 32 MiB result (a long suite text): its upload takes many reads of
    // the proxy, so the kill lands inside the request body.
    let base = null_result(dir.path(), "base.json", 1000, 1);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&base).unwrap()).unwrap();
    v["invocation"]["suite_text"] = "#".repeat(32 << 20).into();
    let big = dir.path().join("big.json");
    std::fs::write(&big, serde_json::to_vec(&v).unwrap()).unwrap();
    let id = id_of(&big);
    let port = |var: &str| -> u16 {
        let u = std::env::var(var).unwrap();
        u.rsplit(':')
            .next()
            .unwrap()
            .trim_end_matches('/')
            .parse()
            .unwrap()
    };
    for (url, var) in urls("killed")
        .into_iter()
        .zip(["AZURITE_BLOB_STORAGE_URL", "AWS_ENDPOINT"])
    {
        // Killed once 8 MiB of the 32 went out: inside the result's PUT
        // (the history part before it is a few KiB).
        let (proxy, tripped) = counting_proxy(port(var), 8 << 20);
        let mut c = store_cmd(&url, &["store", "add", big.to_str().unwrap()]);
        c.env(var, format!("http://127.0.0.1:{proxy}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = c.spawn().unwrap();
        let t0 = Instant::now();
        while !tripped.load(Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(120) {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(
            tripped.load(Ordering::Relaxed),
            "{url}: the upload never passed 8 MiB"
        );
        child.kill().unwrap();
        let st = child.wait().unwrap();
        assert_eq!(
            st.code(),
            None,
            "{url}: the writer finished before the kill"
        );
        // Nothing half-written is visible: the result is absent and every
        // object that is there is whole.
        let ids = verified_ids(&url);
        assert!(
            !ids.contains(&id),
            "{url}: {id} visible after a killed upload"
        );
        let o = store_cmd(&url, &["compare", "host=vm", "host=vm"])
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(2),
            "{url}: the query must find no result: {:?}",
            out_text(&o)
        );
        // The same file, stored again without the kill, is there once.
        let o = store_cmd(&url, &["store", "add", big.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{url}: {:?}", out_text(&o));
        assert_eq!(verified_ids(&url), vec![id.clone()], "{url}");
    }
}

#[test]
fn emulator_down_is_a_clear_error_and_keeps_the_result_file() {
    if !enabled() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let files = distinct_results(dir.path(), 1);
    let before = std::fs::read(&files[0]).unwrap();
    // Nothing listens on port 1 of loopback.
    for (url, var) in urls("down")
        .into_iter()
        .zip(["AZURITE_BLOB_STORAGE_URL", "AWS_ENDPOINT"])
    {
        let o = store_cmd(&url, &["store", "add", files[0].to_str().unwrap()])
            .env(var, "http://127.0.0.1:1")
            .output()
            .unwrap();
        let (_, err) = out_text(&o);
        assert_eq!(o.status.code(), Some(3), "{url}: {err}");
        assert!(err.contains(&format!("store {url}")), "{url}: {err}");
        assert_eq!(std::fs::read(&files[0]).unwrap(), before, "{url}");
    }
}

#[test]
fn gate_keeps_its_result_when_the_store_goes_down_mid_run() {
    if !enabled() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let emu = dir.path().join("emu");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/emulators.sh");
    let o = Command::new("bash")
        .arg(script)
        .arg("start")
        .arg(&emu)
        .arg("s3")
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}", out_text(&o));
    let env = std::fs::read_to_string(emu.join("env")).unwrap();
    let endpoint = env
        .lines()
        .find_map(|l| l.strip_prefix("export AWS_ENDPOINT="))
        .unwrap()
        .to_string();
    let stop = || {
        Command::new("bash")
            .arg(script)
            .arg("stop")
            .arg(&emu)
            .status()
            .unwrap();
    };
    let suite = dir.path().join("s.toml");
    std::fs::write(
        &suite,
        "name = \"down\"\nwarmup = \"0s\"\nduration = \"1s\"\n[[workload]]\nkind = \"null\"\n",
    )
    .unwrap();
    let reports = dir.path().join("reports");
    let [_, url] = urls("gate-down");
    let mut gate = Command::new(env!("CARGO_BIN_EXE_skubench"));
    gate.args([
        "gate",
        "--history",
        "--repetitions",
        "3",
        "--quiet",
        "--no-ebpf",
        "--tag",
        "t",
    ])
    .arg("--suite")
    .arg(&suite)
    .arg("--report-dir")
    .arg(&reports)
    .args(["--store", &url])
    .env("AWS_ENDPOINT", &endpoint)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let child = gate.spawn().unwrap();
    // The result file appears after the first of three runs: the store
    // was reachable at the start; now it goes away.
    let round = reports.join("results/round1.json");
    let t0 = Instant::now();
    while !round.exists() && t0.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop();
    let o = child.wait_with_output().unwrap();
    let (_, err) = out_text(&o);
    assert!(round.exists(), "{err}");
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains(&format!("store {url}")), "{err}");
    assert!(err.contains("the result file is kept at"), "{err}");
    let kept = bench_core::result::ResultFile::read(&round).unwrap();
    assert_eq!(kept.runs.len(), 3, "{err}");
    assert_eq!(kept.invocation.tag.as_deref(), Some("t"));
}

#[test]
fn credentials_never_reach_output_or_results() {
    if !enabled() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let files = distinct_results(dir.path(), 1);
    let [az, s3] = urls("secrets");
    // A SAS token Azurite rejects: the error must not echo it.
    let o = store_cmd(&az, &["store", "add", files[0].to_str().unwrap()])
        .env(
            "AZURE_STORAGE_SAS_KEY",
            "sv=2022-11-02&ss=b&srt=co&sp=rwl&sig=SECRETMARKERxyz%3D",
        )
        .output()
        .unwrap();
    let (out, err) = out_text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}{err}");
    assert!(
        !out.contains("SECRETMARKER") && !err.contains("SECRETMARKER"),
        "{out}{err}"
    );
    // moto takes any key: the write succeeds and the key is nowhere.
    let o = store_cmd(&s3, &["store", "add", files[0].to_str().unwrap()])
        .env("AWS_SECRET_ACCESS_KEY", "SECRETMARKERabc")
        .output()
        .unwrap();
    let (out, err) = out_text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(!out.contains("SECRETMARKER") && !err.contains("SECRETMARKER"));
    let o = store_cmd(
        &s3,
        &[
            "compare",
            "host=vm000",
            "host=vm000",
            "--include-disturbed",
            "--format",
            "json",
        ],
    )
    .env("AWS_SECRET_ACCESS_KEY", "SECRETMARKERabc")
    .output()
    .unwrap();
    assert!(!String::from_utf8_lossy(&o.stdout).contains("SECRETMARKER"));
    // A URL carrying credentials is refused before anything is sent.
    let o = store_cmd("az://skubench/x?sig=SECRETMARKER", &["store", "list"])
        .output()
        .unwrap();
    let (out, err) = out_text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        !out.contains("SECRETMARKER") && !err.contains("SECRETMARKER"),
        "{err}"
    );
}
