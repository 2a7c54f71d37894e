//! The JSON comparison validates against the checked-in schema, and the
//! schema is strict enough to catch a malformed document.

use reports::{json, sample};

fn validator() -> jsonschema::Validator {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schema/comparison.v1.schema.json"
    );
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn errors(v: &jsonschema::Validator, doc: &serde_json::Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

#[test]
fn sample_and_real_comparisons_validate() {
    let v = validator();
    for c in [sample::comparison(), sample::fifty_metrics().0] {
        let doc: serde_json::Value = serde_json::from_slice(&json::render(&c).unwrap()).unwrap();
        assert_eq!(errors(&v, &doc), Vec::<String>::new());
    }
}

#[test]
fn nan_ratios_are_written_as_null_and_still_validate() {
    let mut c = sample::comparison();
    c.rows[0].ratio = f64::NAN;
    c.rows[0].ratio_ci = None;
    let doc: serde_json::Value = serde_json::from_slice(&json::render(&c).unwrap()).unwrap();
    assert!(doc["rows"][0]["ratio"].is_null());
    assert_eq!(errors(&validator(), &doc), Vec::<String>::new());
}

#[test]
fn malformed_documents_are_rejected() {
    let v = validator();
    let good: serde_json::Value =
        serde_json::from_slice(&json::render(&sample::comparison()).unwrap()).unwrap();
    let mut bad = good.clone();
    bad["rows"][0]["verdict"] = "worse".into();
    assert!(!v.is_valid(&bad), "unknown verdict accepted");
    let mut bad = good.clone();
    bad["rows"][0].as_object_mut().unwrap().remove("p_value");
    assert!(!v.is_valid(&bad), "missing p_value accepted");
    let mut bad = good.clone();
    bad["schema"] = "skubench.comparison.v2".into();
    assert!(!v.is_valid(&bad), "wrong schema id accepted");
    let mut bad = good;
    bad["counts"]["surprise"] = 1.into();
    assert!(!v.is_valid(&bad), "unknown counts field accepted");
}
