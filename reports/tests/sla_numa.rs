//! Single-run reports of the disk latency-target search and the NUMA
//! matrix, from real result files (trimmed: no histograms, series or
//! attribution): the curve drawn with its knee and the target marked, the
//! matrix as tables and a heat map.

use bench_core::result::ResultFile;

fn load(name: &str) -> Vec<(String, ResultFile)> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    vec![(name.to_string(), ResultFile::parse(&text).unwrap())]
}

#[test]
fn the_latency_target_curve_is_drawn_with_its_knee_and_target() {
    let files = load("disk-sla-null.json");
    let run = &files[0].1.runs[0];
    let knee = run.metric("disk.randread.sla.knee.iodepth").unwrap().value;
    let html = reports::runs::html(&files);
    assert!(
        html.contains("disk.randread.sla.lat_ns_vs_iops"),
        "no curve"
    );
    assert!(
        html.contains("disk.randread.sla.iops_vs_iodepth"),
        "no depth curve"
    );
    assert!(
        html.contains(&format!("knee: qd {knee}")),
        "knee not marked"
    );
    assert!(html.contains("target 1.000 ms (p99)"), "target not drawn");
    let md = reports::runs::markdown(&files);
    assert!(md.contains("disk.randread.iops_at_target"), "{md}");
    // No NUMA table in a disk report.
    assert!(!md.contains("NUMA latency"));
}

#[test]
fn the_numa_matrix_renders_as_tables_and_a_heat_map() {
    let files = load("numa-one-node.json");
    let md = reports::runs::markdown(&files);
    assert!(md.contains("NUMA latency, ns per load"), "{md}");
    assert!(md.contains("NUMA bandwidth, triad bytes/s"), "{md}");
    assert!(md.contains("| CPU \\ memory | node 0 |"), "{md}");
    assert!(
        md.contains("One NUMA node: the matrix is the single local cell."),
        "{md}"
    );
    let html = reports::runs::html(&files);
    assert_eq!(html.matches("<table class=\"numa\">").count(), 2);
    // One cell is the best cell of its table: green.
    assert!(html.contains("hsl(120,60%,85%)"), "{html}");
}
