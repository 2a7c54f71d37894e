//! The pipeline templates parse as YAML and reference only skubench
//! commands, flags and repository files that exist; none compiles on a VM
//! under test (the portable binary is built once by ci/build-portable.sh),
//! every store they name is the shared one, and the Containerfile copies
//! what the build script lays out.

use std::collections::BTreeSet;
use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

fn strings(y: &Yaml, out: &mut Vec<String>) {
    match y {
        Yaml::String(s) => out.push(s.clone()),
        Yaml::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Yaml::Hash(h) => h.iter().for_each(|(k, v)| {
            strings(k, out);
            strings(v, out);
        }),
        _ => {}
    }
}

fn help_of(sub: &str) -> Option<String> {
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("skubench"))
        .args([sub, "--help"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn templates_parse_and_reference_existing_commands() {
    let dir = Path::new("ci/templates");
    let mut checked = 0;
    let mut commands = BTreeSet::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if !matches!(p.extension().and_then(|x| x.to_str()), Some("yml" | "yaml")) {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let docs =
            YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(!docs.is_empty(), "{}: empty", p.display());
        let mut all = Vec::new();
        docs.iter().for_each(|d| strings(d, &mut all));
        for s in &all {
            // The portable binary is built once, by ci/build-portable.sh.
            assert!(!s.contains("cargo "), "{}: compiles: {s}", p.display());
            // Paths of this repository anywhere (also as the artifact's
            // layout, which mirrors the repository) must exist.
            for t in s.split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',')) {
                let t = t.trim_start_matches("../../");
                if t.starts_with("suites/") || t.starts_with("ci/") {
                    assert!(Path::new(t).exists(), "{}: {t} does not exist", p.display());
                }
            }
        }
        if text.contains("skubench gate") || text.contains("skubench matrix") {
            assert!(
                text.contains("--store"),
                "{}: gates without the shared store",
                p.display()
            );
        }
        for s in all {
            let tokens: Vec<&str> = s.split_whitespace().collect();
            for (i, t) in tokens.iter().enumerate() {
                if !(t.ends_with("skubench") || t.ends_with("/skubench")) || i + 1 >= tokens.len() {
                    continue;
                }
                // `chmod +x skubench && ./skubench …`: a file, not a command.
                if i > 0 && tokens[i - 1] == "+x" {
                    continue;
                }
                let sub = tokens[i + 1];
                let help = help_of(sub).unwrap_or_else(|| {
                    panic!("{}: `skubench {sub}` is not a command", p.display())
                });
                commands.insert(sub.to_string());
                // Flags up to the end of this command line must be documented.
                for flag in tokens[i + 2..]
                    .iter()
                    .take_while(|x| !matches!(**x, "|" | "||" | "&&" | ">>" | ">"))
                {
                    if let Some(f) = flag.strip_prefix("--") {
                        let name = f.split('=').next().unwrap();
                        // `store --store DIR add …`: flags of the nested command are checked too.
                        let nested = tokens[i + 2..]
                            .iter()
                            .find(|x| !x.starts_with('-') && help.contains(&format!("  {x} ")));
                        let nested_help = nested.and_then(|n| {
                            let o = std::process::Command::new(assert_cmd::cargo::cargo_bin(
                                "skubench",
                            ))
                            .args([sub, n, "--help"])
                            .output()
                            .ok()?;
                            Some(String::from_utf8_lossy(&o.stdout).into_owned())
                        });
                        let known = help.contains(&format!("--{name}"))
                            || nested_help.is_some_and(|h| h.contains(&format!("--{name}")));
                        assert!(
                            known,
                            "{}: `skubench {sub}` has no flag --{name}",
                            p.display()
                        );
                    }
                }
                // The store is the shared one: a URL or the pipeline's
                // variable holding it, never a directory of the runner.
                if let Some(j) = tokens.iter().position(|t| *t == "--store") {
                    let v = tokens.get(j + 1).copied().unwrap_or("").trim_matches('"');
                    assert!(
                        ["az://", "s3://", "$", "{{"]
                            .iter()
                            .any(|p| v.starts_with(p)),
                        "{}: --store {v} is not the shared store",
                        p.display()
                    );
                }
                // Repository paths it names must exist.
                for arg in &tokens[i + 2..] {
                    if arg.starts_with("suites/") || arg.starts_with("ci/") {
                        assert!(
                            Path::new(arg).exists(),
                            "{}: {arg} does not exist",
                            p.display()
                        );
                    }
                }
            }
        }
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} templates");
    for c in ["gate", "matrix", "serve"] {
        assert!(
            commands.contains(c),
            "no template uses `skubench {c}`: {commands:?}"
        );
    }
}

/// The Containerfile copies what ci/build-portable.sh lays out, runs what
/// it copies, as a user that is not root, and the k8s Job names the paths
/// it installs. (tests/container.rs builds it where podman is.)
#[test]
fn containerfile_matches_the_artifact_and_the_job() {
    let text = std::fs::read_to_string("ci/container/Containerfile").unwrap();
    let build = std::fs::read_to_string("ci/build-portable.sh").unwrap();
    let job = std::fs::read_to_string("ci/templates/k8s-job.yaml").unwrap();
    let mut from = false;
    let mut installed = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (inst, rest) = line.split_once(' ').unwrap_or((line, ""));
        match inst {
            "ARG" | "WORKDIR" | "CMD" => {}
            "FROM" => from = true,
            "COPY" => {
                let parts: Vec<&str> = rest.split_whitespace().collect();
                let (src, dest) = (parts[0], parts[1]);
                let name = src.trim_end_matches('/');
                assert!(
                    build.contains(&format!("\"$out/{name}\""))
                        || build.contains(&format!("cp -r {name} \"$out/\"")),
                    "COPY {src}: ci/build-portable.sh does not put it in the context"
                );
                installed.push(dest.to_string());
            }
            "USER" => assert!(!rest.starts_with('0') && rest != "root", "runs as root"),
            "ENTRYPOINT" => {
                let bin = rest.trim_matches(|c| matches!(c, '[' | ']' | '"'));
                assert!(
                    installed.iter().any(|d| d == bin),
                    "ENTRYPOINT {bin} not copied"
                );
            }
            other => panic!("Containerfile: unexpected instruction {other}"),
        }
    }
    assert!(from, "no FROM");
    for path in [
        "/usr/local/bin/skubench",
        "/usr/share/skubench/suites/quick.toml",
    ] {
        assert!(job.contains(path), "the k8s Job does not use {path}");
        assert!(
            installed.iter().any(|d| path.starts_with(d.as_str())),
            "{path} is not installed by the Containerfile"
        );
    }
    assert!(Path::new("suites/quick.toml").exists());
}

#[test]
fn example_policy_and_spec_load() {
    baselines::policy::Policy::load(Path::new("ci/examples/policy.toml")).unwrap();
    baselines::policy::Spec::load(Path::new("ci/examples/spec.toml")).unwrap();
}

#[test]
fn shipped_suites_validate() {
    // The onboarding suite takes its network peer from the pipeline.
    std::env::set_var("SKUBENCH_PEER", "192.0.2.10:5201");
    std::env::set_var("SKUBENCH_TOKEN", "test-token");
    for s in [
        "suites/quick.toml",
        "suites/onboarding.toml",
        "suites/nightly.toml",
    ] {
        let reg = workloads::registry();
        bench_core::suite::load_suite(Path::new(s), &reg, 2).unwrap_or_else(|e| panic!("{e}"));
    }
}
