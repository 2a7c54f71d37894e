//! The host fingerprint as written matches the result file's JSON Schema,
//! with and without the NUMA nodes (files written before they were recorded).

use bench_core::host::{HostInfo, NumaNode};

fn host_validator() -> jsonschema::Validator {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schema/result.v1.schema.json"
    );
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema["properties"]["host"]).unwrap()
}

fn errors(v: &jsonschema::Validator, doc: &serde_json::Value) -> Vec<String> {
    v.iter_errors(doc).map(|e| e.to_string()).collect()
}

#[test]
fn detected_host_matches_the_schema() {
    let v = host_validator();
    let h = HostInfo::detect(Some("Test_SKU".into()), "tsc");
    assert!(!h.numa.is_empty());
    let doc = serde_json::to_value(&h).unwrap();
    assert_eq!(errors(&v, &doc), Vec::<String>::new(), "{doc}");
}

#[test]
fn numa_is_optional_and_checked() {
    let v = host_validator();
    let mut h = HostInfo::detect(None, "tsc");
    h.numa.clear();
    let old = serde_json::to_value(&h).unwrap();
    assert!(old.get("numa").is_none());
    assert_eq!(errors(&v, &old), Vec::<String>::new());

    h.numa = vec![
        NumaNode {
            node: 0,
            cpus: "0-3".into(),
            memory_bytes: 8 << 30,
            distances: vec![10, 21],
        },
        NumaNode {
            node: 1,
            cpus: String::new(),
            memory_bytes: 0,
            distances: Vec::new(),
        },
    ];
    let doc = serde_json::to_value(&h).unwrap();
    assert_eq!(errors(&v, &doc), Vec::<String>::new());

    let mut bad = doc.clone();
    bad["numa"][0]["node"] = serde_json::json!(-1);
    assert!(!errors(&v, &bad).is_empty());
    let mut bad = doc.clone();
    bad["numa"][1]["cpu_list"] = serde_json::json!("0");
    assert!(!errors(&v, &bad).is_empty());
    // Distances are optional (files before them read), and numbers only.
    assert!(doc["numa"][1].get("distances").is_none());
    let mut bad = doc;
    bad["numa"][0]["distances"] = serde_json::json!([10, "far"]);
    assert!(!errors(&v, &bad).is_empty());
}
