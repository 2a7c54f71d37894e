//! Checks of the parsers in baselines and ci (which link polars): policy
//! and spec TOML, the fio and iperf3 importers and the IMDS reply. Each
//! takes the fuzzer's bytes and panics when an invariant fails; an input
//! the parser refuses with a proper error passes.

use std::path::Path;

use baselines::policy::{Policy, Spec};
use bench_core::host::HostInfo;
use bench_core::result::ResultFile;

/// Policy files through `Policy::parse` (what `Policy::load` runs on the
/// file's text): an error names the file; a policy that parses serialises
/// to TOML that parses back to an equal policy.
pub fn policy_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Policy::parse(text, Path::new("p.toml")) {
        Ok(p) => {
            let again = toml::to_string(&p).expect("a parsed policy serialises");
            let q = Policy::parse(&again, Path::new("p.toml"))
                .unwrap_or_else(|e| panic!("a re-serialised policy fails: {e}\n{again}"));
            assert_eq!(p, q, "the policy changed through TOML:\n{again}");
        }
        Err(e) => {
            let m = e.to_string();
            assert!(m.contains("p.toml"), "error without the file name: {m}");
        }
    }
}

/// SKU spec files (advertised limits) through `Spec::parse`: an error
/// names the file; a spec that parses serialises to TOML that parses back
/// to an equal spec.
pub fn spec_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Spec::parse(text, Path::new("s.toml")) {
        Ok(s) => {
            let again = toml::to_string(&s).expect("a parsed spec serialises");
            let t = Spec::parse(&again, Path::new("s.toml"))
                .unwrap_or_else(|e| panic!("a re-serialised spec fails: {e}\n{again}"));
            assert_eq!(s, t, "the spec changed through TOML:\n{again}");
        }
        Err(e) => {
            let m = e.to_string();
            assert!(m.contains("s.toml"), "error without the file name: {m}");
        }
    }
}

/// An imported result must be a valid result file: it serialises, parses
/// back with `ResultFile::parse` (what every analysis command reads it
/// with) and its histograms decode. An error names the source.
fn imported(r: Result<ResultFile, baselines::error::BaselineError>) {
    match r {
        Ok(f) => {
            let json = f.to_json().expect("an imported result serialises");
            let back = ResultFile::parse(&json).unwrap_or_else(|e| {
                panic!("an imported result is not a valid result file: {e}\n{json}")
            });
            for r in &back.runs {
                for name in r.histograms.keys() {
                    if let Some(Err(e)) = r.histogram(name) {
                        panic!("imported histogram {name} does not decode: {e}");
                    }
                }
            }
        }
        Err(e) => {
            let m = e.to_string();
            assert!(m.contains("out.json"), "error without the source: {m}");
        }
    }
}

/// fio `--output-format=json`/`json+` through `baselines::import::fio`
/// (`skubench import fio`); see [`imported`] for the invariants.
pub fn import_fio(data: &[u8]) {
    // The importer reads the file as UTF-8 text.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    imported(baselines::import::fio(
        text,
        "out.json",
        HostInfo::default(),
    ));
}

/// iperf3 `-J` output through `baselines::import::iperf3` (`skubench
/// import iperf3`); see [`imported`] for the invariants.
pub fn import_iperf3(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    imported(baselines::import::iperf3(
        text,
        "out.json",
        HostInfo::default(),
    ));
}

/// The instance-metadata reply through `imds::parse_response`, the parser
/// of the HTTP answer SKU discovery reads: an accepted reply has a
/// non-empty VM size; a refused one says why.
pub fn imds_reply(data: &[u8]) {
    match skubench_ci::imds::parse_response(data) {
        Ok(i) => assert!(!i.vm_size.is_empty(), "an empty vmSize accepted"),
        Err(e) => assert!(!e.to_string().is_empty(), "an error without a message"),
    }
}
