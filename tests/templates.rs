//! The pipeline templates parse as YAML and reference only skubench
//! commands, flags and repository files that exist.

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
        for s in all {
            let tokens: Vec<&str> = s.split_whitespace().collect();
            for (i, t) in tokens.iter().enumerate() {
                if !(t.ends_with("skubench") || t.ends_with("/skubench")) || i + 1 >= tokens.len() {
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
    for c in ["gate", "run", "store"] {
        assert!(
            commands.contains(c),
            "no template uses `skubench {c}`: {commands:?}"
        );
    }
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
