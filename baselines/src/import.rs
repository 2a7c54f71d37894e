//! Import of peer tools' JSON output (fio, iperf3) into skubench result
//! files, units converted and the tool version recorded, so existing data
//! can be compared with skubench runs.

use std::collections::BTreeMap;

use bench_core::disturb::Disturbance;
use bench_core::hist::{encode, new_hist};
use bench_core::host::HostInfo;
use bench_core::result::{
    now_rfc3339, Better, Invocation, Metric, ResultFile, RunRecord, Status, ToolInfo,
};
use serde_json::Value;

use crate::error::BaselineError;

/// Extracts the JSON document from peer output that may carry error text
/// before it, or several documents (fio `--status-interval`): the last
/// complete document is the final one. Returns it and a note on what was skipped.
pub fn extract_json(text: &str, what: &str) -> Result<(Value, Option<String>), BaselineError> {
    let Some(start) = text.find('{') else {
        let head: String = text.chars().take(200).collect();
        return Err(BaselineError::Input(format!(
            "{what}: no JSON document found; the file starts with: {head:?}"
        )));
    };
    let mut docs = Vec::new();
    let mut rest = &text[start..];
    let mut trailing_error = None;
    loop {
        let mut it = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
        match it.next() {
            Some(Ok(v)) => {
                let used = it.byte_offset();
                docs.push(v);
                rest = &rest[used..];
                match rest.find('{') {
                    Some(i) => rest = &rest[i..],
                    None => break,
                }
            }
            Some(Err(e)) => {
                trailing_error = Some(e.to_string());
                break;
            }
            None => break,
        }
    }
    let Some(doc) = docs.pop() else {
        return Err(BaselineError::Input(format!(
            "{what}: the JSON is incomplete or invalid: {}",
            trailing_error.unwrap_or_default()
        )));
    };
    let mut notes = Vec::new();
    if start > 0 {
        let head: String = text[..start].chars().take(200).collect();
        notes.push(format!(
            "ignored {start} bytes of non-JSON text before the document: {:?}",
            head.trim()
        ));
    }
    if !docs.is_empty() {
        notes.push(format!(
            "{} earlier JSON documents (interval reports) skipped; the last one is used",
            docs.len()
        ));
    }
    Ok((doc, (!notes.is_empty()).then(|| notes.join("; "))))
}

fn f(v: &Value, path: &[&str]) -> Option<f64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_f64()
}

fn run_record(
    workload: &str,
    label: String,
    spec: Value,
    metrics: Vec<Metric>,
    histograms: BTreeMap<String, String>,
    measured_s: f64,
    notes: BTreeMap<String, Value>,
) -> RunRecord {
    let now = now_rfc3339();
    RunRecord {
        id: format!("{label}#1"),
        workload: workload.into(),
        label,
        repetition: 1,
        spec,
        status: Status::Ok,
        error: None,
        started_at: now.clone(),
        finished_at: now,
        warmup_s: 0.0,
        measured_s,
        metrics,
        histograms,
        series: Vec::new(),
        curves: Vec::new(),
        disturbance: Disturbance::default(),
        notes,
    }
}

fn wrap(
    tool: &str,
    version: String,
    host: HostInfo,
    runs: Vec<RunRecord>,
    source: &str,
) -> ResultFile {
    let now = now_rfc3339();
    ResultFile {
        schema: bench_core::RESULT_SCHEMA.into(),
        tool: ToolInfo {
            name: tool.into(),
            version,
            git_revision: "imported".into(),
        },
        status: Status::Ok,
        error: None,
        started_at: now.clone(),
        finished_at: now,
        host,
        invocation: Invocation {
            argv: vec![
                "skubench".into(),
                "import".into(),
                tool.into(),
                source.into(),
            ],
            suite: format!("import:{tool}"),
            suite_file: Some(source.into()),
            suite_text: None,
            repetitions: 1,
            tag: None,
        },
        runs,
    }
}

// The percentiles a native disk run reports (one table, in bench-core),
// so an imported fio job names its percentiles exactly as a native run
// does (p95 included) and the two compare metric by metric. Every one is in
// fio's default percentile list; one a job's `percentile_list` left out is
// not imported.
use bench_core::hist::{fio_percentile_key, FIO_PERCENTILES as DISK_PERCENTILES};

/// Converts fio `--output-format=json` or `json+` output.
pub fn fio(text: &str, source: &str, host: HostInfo) -> Result<ResultFile, BaselineError> {
    let (doc, skipped) = extract_json(text, source)?;
    let version = doc
        .get("fio version")
        .and_then(Value::as_str)
        .unwrap_or("fio (unknown version)")
        .to_string();
    let jobs = doc.get("jobs").and_then(Value::as_array).ok_or_else(|| {
        BaselineError::Input(format!("{source}: not fio JSON output (no `jobs` array)"))
    })?;
    let global = doc.get("global options").cloned().unwrap_or(Value::Null);
    let mut runs = Vec::new();
    for (ji, job) in jobs.iter().enumerate() {
        let name = job
            .get("jobname")
            .and_then(Value::as_str)
            .unwrap_or("job")
            .to_string();
        let opts = job.get("job options").cloned().unwrap_or(Value::Null);
        let rw = opts
            .get("rw")
            .or_else(|| global.get("rw"))
            .and_then(Value::as_str)
            .unwrap_or("read")
            .to_string();
        let mixed = matches!(rw.as_str(), "randrw" | "rw" | "readwrite");
        let mut metrics = Vec::new();
        let mut hists = BTreeMap::new();
        let mut runtime_ms: f64 = 0.0;
        for dir in ["read", "write", "trim"] {
            let Some(d) = job.get(dir) else { continue };
            let ios = f(d, &["total_ios"]).unwrap_or(0.0);
            if ios <= 0.0 {
                continue;
            }
            runtime_ms = runtime_ms.max(f(d, &["runtime"]).unwrap_or(0.0));
            let prefix = if mixed {
                format!("disk.{rw}.{dir}")
            } else {
                format!("disk.{rw}")
            };
            if let Some(iops) = f(d, &["iops"]) {
                metrics.push(Metric::new(
                    format!("{prefix}.iops"),
                    iops,
                    "ops/s",
                    Better::Higher,
                ));
            }
            if let Some(bw) = f(d, &["bw_bytes"]) {
                metrics.push(Metric::new(
                    format!("{prefix}.bytes_per_s"),
                    bw,
                    "bytes/s",
                    Better::Higher,
                ));
            }
            if let Some(clat) = d.get("clat_ns") {
                if let Some(p) = clat.get("percentile") {
                    for (q, s) in DISK_PERCENTILES {
                        if let Some(v) = p.get(fio_percentile_key(*q)).and_then(Value::as_f64) {
                            metrics.push(Metric::new(
                                format!("{prefix}.lat_ns.{s}"),
                                v,
                                "ns",
                                Better::Lower,
                            ));
                        }
                    }
                }
                if let Some(m) = f(clat, &["max"]) {
                    metrics.push(Metric::new(
                        format!("{prefix}.lat_ns.max"),
                        m,
                        "ns",
                        Better::Lower,
                    ));
                }
                // json+ carries fio's histogram bins (ns → count): keep them as an HDR histogram.
                if let Some(bins) = clat.get("bins").and_then(Value::as_object) {
                    let mut h = new_hist();
                    for (k, c) in bins {
                        if let (Ok(v), Some(c)) = (k.parse::<u64>(), c.as_u64()) {
                            h.saturating_record_n(v.max(1), c);
                        }
                    }
                    if !h.is_empty() {
                        let enc = encode(&h).map_err(|e| BaselineError::Input(e.to_string()))?;
                        hists.insert(format!("{prefix}.lat_ns"), enc);
                    }
                }
            }
        }
        if metrics.is_empty() {
            continue;
        }
        let mut notes = BTreeMap::new();
        notes.insert("imported_from".into(), Value::from(source));
        notes.insert(
            "fio.latency".into(),
            Value::from(
                "clat_ns: completion latency; fio percentiles are bucket midpoints (≤ 0.78% error)",
            ),
        );
        if let Some(s) = &skipped {
            notes.insert("import.warning".into(), Value::from(s.clone()));
        }
        let mut spec = serde_json::Map::new();
        spec.insert("kind".into(), Value::from("disk"));
        spec.insert("fio_job_options".into(), opts.clone());
        spec.insert("fio_global_options".into(), global.clone());
        // Job names may repeat; labels (and run ids) must not.
        let mut label = format!("fio.{name}");
        if runs.iter().any(|r: &RunRecord| r.label == label) {
            label = format!("fio.{name}~{}", ji + 1);
        }
        runs.push(run_record(
            "disk",
            label,
            Value::Object(spec),
            metrics,
            hists,
            runtime_ms / 1000.0,
            notes,
        ));
    }
    if runs.is_empty() {
        return Err(BaselineError::Input(format!(
            "{source}: fio JSON has no job with completed I/O"
        )));
    }
    Ok(wrap("fio", version, host, runs, source))
}

/// Converts iperf3 `-J` output.
pub fn iperf3(text: &str, source: &str, host: HostInfo) -> Result<ResultFile, BaselineError> {
    let (doc, skipped) = extract_json(text, source)?;
    if let Some(e) = doc.get("error").and_then(Value::as_str) {
        return Err(BaselineError::Input(format!(
            "{source}: iperf3 reported an error: {e}"
        )));
    }
    let end = doc.get("end").ok_or_else(|| {
        BaselineError::Input(format!(
            "{source}: not iperf3 JSON output (no `end` object)"
        ))
    })?;
    let start = doc.get("start").cloned().unwrap_or(Value::Null);
    let version = start
        .get("version")
        .and_then(Value::as_str)
        .unwrap_or("iperf3 (unknown version)")
        .to_string();
    let proto = start
        .get("test_start")
        .and_then(|t| t.get("protocol"))
        .and_then(Value::as_str)
        .unwrap_or("TCP")
        .to_ascii_lowercase();
    let reverse = start
        .get("test_start")
        .and_then(|t| t.get("reverse"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
        != 0;
    let w = if proto == "udp" {
        "net.udp_stream"
    } else {
        "net.tcp_stream"
    };
    let mut metrics = Vec::new();
    let mut measured = 0.0;
    if proto == "udp" {
        let sum = end.get("sum").cloned().unwrap_or(Value::Null);
        if let Some(b) = f(&sum, &["bits_per_second"]) {
            metrics.push(Metric::new(
                format!("{w}.bits_per_s"),
                b,
                "bits/s",
                Better::Higher,
            ));
        }
        if let Some(j) = f(&sum, &["jitter_ms"]) {
            metrics.push(Metric::new(
                format!("{w}.jitter_ns"),
                j * 1e6,
                "ns",
                Better::Lower,
            ));
        }
        if let Some(l) = f(&sum, &["lost_percent"]) {
            metrics.push(Metric::new(
                format!("{w}.loss_ratio"),
                l / 100.0,
                "ratio",
                Better::Lower,
            ));
        }
        measured = f(&sum, &["seconds"]).unwrap_or(0.0);
    } else {
        if let Some(b) = f(end, &["sum_received", "bits_per_second"]) {
            metrics.push(Metric::new(
                format!("{w}.bits_per_s"),
                b,
                "bits/s",
                Better::Higher,
            ));
            measured = f(end, &["sum_received", "seconds"]).unwrap_or(0.0);
        }
        if let Some(b) = f(end, &["sum_sent", "bits_per_second"]) {
            metrics.push(Metric::new(
                format!("{w}.sent.bits_per_s"),
                b,
                "bits/s",
                Better::Higher,
            ));
        }
        if let Some(r) = f(end, &["sum_sent", "retransmits"]) {
            metrics.push(Metric::new(
                format!("{w}.retransmits"),
                r,
                "count",
                Better::Lower,
            ));
        }
    }
    if metrics.is_empty() {
        return Err(BaselineError::Input(format!(
            "{source}: iperf3 JSON has no end-of-test sums"
        )));
    }
    let mut notes = BTreeMap::new();
    notes.insert("imported_from".into(), Value::from(source));
    notes.insert("iperf3.reverse".into(), Value::from(reverse));
    notes.insert(
        "iperf3.bits_per_s".into(),
        Value::from("receiver side (end.sum_received); sent side as .sent.bits_per_s"),
    );
    if let Some(s) = skipped {
        notes.insert("import.warning".into(), Value::from(s));
    }
    let mut spec = serde_json::Map::new();
    spec.insert("kind".into(), Value::from(w));
    spec.insert(
        "iperf3_test_start".into(),
        start.get("test_start").cloned().unwrap_or(Value::Null),
    );
    let run = run_record(
        w,
        format!("iperf3.{proto}"),
        Value::Object(spec),
        metrics,
        BTreeMap::new(),
        measured,
        notes,
    );
    Ok(wrap("iperf3", version, host, vec![run], source))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIO: &str = r#"{
  "fio version" : "fio-3.33",
  "global options" : { "rw" : "randread", "bs" : "4k" },
  "jobs" : [ {
      "jobname" : "rr", "job options" : { "iodepth" : "32" },
      "read" : { "io_bytes" : 409600, "bw_bytes" : 4096000, "iops" : 1000.5, "runtime" : 100, "total_ios" : 100,
        "clat_ns" : { "min" : 1000, "max" : 90000, "mean" : 5000.0,
          "percentile" : { "50.000000" : 4992, "99.000000" : 80384, "99.900000" : 89600 },
          "bins" : { "4992" : 60, "10000" : 39, "89600" : 1 } } },
      "write" : { "io_bytes" : 0, "bw_bytes" : 0, "iops" : 0.0, "runtime" : 0, "total_ios" : 0 }
  } ]
}"#;

    #[test]
    fn fio_json_with_leading_error_text_imports() {
        let text = format!("fio: some warning about ioengine\n{FIO}");
        let r = fio(&text, "x.json", HostInfo::default()).unwrap();
        assert_eq!(r.tool.version, "fio-3.33");
        let run = &r.runs[0];
        assert_eq!(run.metric("disk.randread.iops").unwrap().value, 1000.5);
        assert_eq!(
            run.metric("disk.randread.bytes_per_s").unwrap().value,
            4096000.0
        );
        assert_eq!(
            run.metric("disk.randread.lat_ns.p99").unwrap().value,
            80384.0
        );
        assert!(run.metric("disk.randread.lat_ns.p50").is_some());
        let h = run.histogram("disk.randread.lat_ns").unwrap().unwrap();
        assert_eq!(h.len(), 100);
        assert!(run.notes["import.warning"]
            .as_str()
            .unwrap()
            .contains("some warning"));
        r.validate().unwrap();
    }

    #[test]
    fn broken_inputs_are_clear_errors() {
        assert!(fio("no json here", "a.json", HostInfo::default())
            .unwrap_err()
            .to_string()
            .contains("no JSON"));
        let trunc = &FIO[..FIO.len() / 2];
        assert!(fio(trunc, "a.json", HostInfo::default())
            .unwrap_err()
            .to_string()
            .contains("incomplete"));
        assert!(fio("{\"x\": 1}", "a.json", HostInfo::default())
            .unwrap_err()
            .to_string()
            .contains("jobs"));
        let e = iperf3(
            "{\"start\":{},\"intervals\":[],\"end\":{},\"error\":\"unable to connect to server\"}",
            "i.json",
            HostInfo::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("unable to connect"));
    }

    #[test]
    fn iperf3_tcp_imports_in_bits_per_second() {
        let text = r#"{"start":{"version":"iperf 3.12","test_start":{"protocol":"TCP","num_streams":1,"reverse":0}},
          "intervals":[],"end":{"sum_sent":{"seconds":10.0,"bits_per_second":2.1e10,"retransmits":3},
          "sum_received":{"seconds":10.0,"bits_per_second":2.0e10}}}"#;
        let r = iperf3(text, "i.json", HostInfo::default()).unwrap();
        let run = &r.runs[0];
        assert_eq!(
            run.metric("net.tcp_stream.bits_per_s").unwrap().value,
            2.0e10
        );
        assert_eq!(run.metric("net.tcp_stream.retransmits").unwrap().value, 3.0);
        assert_eq!(r.tool.version, "iperf 3.12");
    }

    #[test]
    fn imported_fio_and_native_disk_name_the_same_percentiles() {
        // A job as fio writes it with its default percentile list.
        let fio_default = [
            1.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 99.0, 99.5, 99.9,
            99.95, 99.99,
        ];
        let percentile: serde_json::Map<String, Value> = fio_default
            .iter()
            .map(|p| (format!("{p:.6}"), Value::from((p * 1000.0) as u64)))
            .collect();
        let doc = serde_json::json!({
            "fio version": "fio-3.33",
            "jobs": [{
                "jobname": "rr",
                "job options": { "rw": "randread" },
                "read": { "iops": 1000.0, "bw_bytes": 4096000, "runtime": 100, "total_ios": 100,
                    "clat_ns": { "max": 100000, "percentile": percentile } }
            }]
        });
        let imported = fio(&doc.to_string(), "x.json", HostInfo::default()).unwrap();
        let percentiles = |names: &mut dyn Iterator<Item = &str>| -> Vec<String> {
            let mut v: Vec<String> = names
                .filter(|n| n.starts_with("disk.randread.lat_ns.p"))
                .map(String::from)
                .collect();
            v.sort();
            v
        };
        let from_fio = percentiles(&mut imported.runs[0].metrics.iter().map(|m| m.name.as_str()));

        // The same latencies measured natively by the disk workload.
        let mut h = new_hist();
        for v in 1..=100_000u64 {
            h.record(v).unwrap();
        }
        let mut native = Default::default();
        workloads::disk::latency_metrics(&mut native, "disk.randread.lat_ns", &h);
        let from_native = percentiles(&mut native.metrics.iter().map(|m| m.name.as_str()));

        assert_eq!(from_fio, from_native);
        assert!(from_fio.contains(&"disk.randread.lat_ns.p95".to_string()));
        let p95 = imported.runs[0].metric("disk.randread.lat_ns.p95").unwrap();
        assert_eq!(p95.value, 95_000.0);
    }

    #[test]
    fn concatenated_documents_use_the_last() {
        let text = format!("{{\"jobs\": []}}\n{FIO}");
        let r = fio(&text, "x.json", HostInfo::default()).unwrap();
        assert_eq!(r.runs.len(), 1);
    }
}
