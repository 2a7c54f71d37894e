//! The k8s Job's image: ci/container/Containerfile built with podman from
//! the skubench binary under test and the suites (the layout
//! ci/build-portable.sh writes), on a base made of this machine's glibc
//! (the default base, debian:12-slim, would need a container registry).
//! The built image's filesystem is then run: its skubench prints its
//! version under chroot (crun cannot set rlimits in this sandbox, so
//! `podman run` is not used). Gated by `SKUBENCH_CONTAINER_TESTS=1` (CI
//! sets it; scripts/test installs Debian's podman); needs root.

use std::path::Path;
use std::process::Command;

fn enabled() -> bool {
    if std::env::var("SKUBENCH_CONTAINER_TESTS").as_deref() == Ok("1") {
        return true;
    }
    eprintln!("skipped: set SKUBENCH_CONTAINER_TESTS=1 (root, podman) to build the Containerfile");
    false
}

fn ok(c: &mut Command) -> String {
    let o = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{c:?}: {text}");
    text
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn containerfile_builds_an_image_whose_skubench_runs() {
    if !enabled() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (base, ctx) = (tmp.path().join("base"), tmp.path().join("ctx"));
    // The build context of ci/build-portable.sh: the binary and suites/.
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_skubench"), ctx.join("skubench")).unwrap();
    ok(Command::new("strip").arg(ctx.join("skubench")));
    copy_dir(Path::new("suites"), &ctx.join("suites"));
    // A base image of the libraries the binary links (as ldd says).
    let ldd = ok(Command::new("ldd").arg(ctx.join("skubench")));
    for lib in ldd.split_whitespace().filter(|w| w.starts_with('/')) {
        let dest = base.join(lib.trim_start_matches('/'));
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(lib, &dest).unwrap();
    }
    std::fs::create_dir_all(base.join("tmp")).unwrap();
    let root = tmp.path().join("storage");
    let run = tmp.path().join("run");
    let podman = || {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(&root)
            .arg("--runroot")
            .arg(&run)
            .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"])
            .args(["--events-backend", "file"]);
        c
    };
    let tar = tmp.path().join("base.tar");
    ok(Command::new("tar")
        .arg("-C")
        .arg(&base)
        .arg("-cf")
        .arg(&tar)
        .arg("."));
    ok(podman()
        .args(["import"])
        .arg(&tar)
        .arg("localhost/skubench-test-base:1"));
    let containerfile = Path::new("ci/container/Containerfile")
        .canonicalize()
        .unwrap();
    ok(podman()
        .args(["build", "--isolation", "chroot", "--build-arg"])
        .arg("BASE=localhost/skubench-test-base:1")
        .arg("-f")
        .arg(&containerfile)
        .args(["-t", "localhost/skubench:test"])
        .arg(&ctx));
    let conf = ok(podman().args([
        "image",
        "inspect",
        "localhost/skubench:test",
        "--format",
        "{{.Config.Entrypoint}} {{.Config.User}}",
    ]));
    assert!(
        conf.contains("[/usr/local/bin/skubench] 65534:65534"),
        "{conf}"
    );
    let mnt = ok(podman().args(["image", "mount", "localhost/skubench:test"]));
    let mnt = Path::new(mnt.trim());
    let version = Command::new("chroot")
        .arg(mnt)
        .args(["/usr/local/bin/skubench", "--version"])
        .output()
        .unwrap();
    let suites_there = mnt.join("usr/share/skubench/suites/quick.toml").is_file();
    ok(podman().args(["image", "unmount", "localhost/skubench:test"]));
    // The k8s Job's paths: the binary it runs and the suite it names.
    let text = String::from_utf8_lossy(&version.stdout);
    assert!(
        version.status.success() && text.starts_with("skubench "),
        "{text}"
    );
    assert!(
        suites_there,
        "the suites are not where ci/templates/k8s-job.yaml looks"
    );
    ok(podman().args(["rmi", "-a", "-f"]));
}
