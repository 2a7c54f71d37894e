#!/usr/bin/env bash
# Self-test of the lab's host-side pieces that need no guest (seconds, no
# root, no network): the mirror URI read from apt sources in both formats,
# the suite allowance and the zero-rate rule of figures.py. .ci/run runs it.
set -euo pipefail
LAB_DIR="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=ci/lab/apt.sh
. "$LAB_DIR/apt.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
n=0
fail=0
expect() { # NAME WANT GOT
  n=$((n + 1))
  if [ "$2" != "$3" ]; then echo "lab selftest: $1: want '$2', got '$3'" >&2; fail=$((fail + 1)); fi
}

# deb822, with a disabled third-party file and a security stanza first
mkdir -p "$T/a/sources.list.d"
cat >"$T/a/sources.list.d/debian.sources" <<'X'
Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

# a comment
Types: deb
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main
X
echo "deb https://other.example/apt cloud-sdk-bookworm main" >"$T/a/sources.list.d/x.list.disabled"
expect deb822 "http://mirror.example/debian" "$(LAB_APT_ETC=$T/a lab_debian_uri)"

# one-line, with options and a comment
mkdir -p "$T/b/sources.list.d"
cat >"$T/b/sources.list" <<'X'
# deb http://old.example/debian bullseye main
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://one.example/debian bookworm main contrib
X
expect one-line "http://one.example/debian" "$(LAB_APT_ETC=$T/b lab_debian_uri)"

# nothing usable: an error
mkdir -p "$T/c/sources.list.d"
echo "deb https://other.example/apt nodistro main" >"$T/c/sources.list"
expect none-fails 1 "$(LAB_APT_ETC=$T/c lab_debian_uri >/dev/null 2>&1 && echo 0 || echo 1)"
expect override "http://set.example/d" "$(SKUBENCH_DEBIAN_URI=http://set.example/d LAB_APT_ETC=$T/c lab_debian_uri)"

# figures.py: the allowance changes one workload's duration only
python3 "$LAB_DIR/figures.py" allowance "$LAB_DIR/../../suites/quick.toml" "$T/q.toml" mem.stream 12s
expect allowance-lines 1 "$(diff "$LAB_DIR/../../suites/quick.toml" "$T/q.toml" | grep -c '^>')"
expect allowance-value 1 "$(grep -c 'duration = "12s"' "$T/q.toml")"

# figures.py: an ok run with a zero headline rate fails allok
cat >"$T/r.json" <<'X'
{"status": "ok", "host": {}, "runs": [
 {"label": "mem.pagefault", "status": "ok", "notes": {}, "metrics": [
  {"name": "mem.pagefault.faults_per_s", "value": 0}, {"name": "mem.pagefault.thread.x_per_s", "value": 0}]},
 {"label": "disk.randread", "status": "ok", "notes": {}, "metrics": [
  {"name": "disk.randread.iops", "value": 200}, {"name": "disk.randread.dev.write_iops", "value": 0}]}]}
X
expect zero-rate-fails 1 "$(python3 "$LAB_DIR/figures.py" allok "$T/r.json" >/dev/null && echo 0 || echo 1)"
expect median 200 "$(python3 "$LAB_DIR/figures.py" median "$T/r.json" disk.randread.iops | cut -d. -f1)"

# figures.py: scale passes a 2-vCPU result and fails one whose
# mem.stream thp_backed_ratio is above 1
scale_json() { # THP
  cat <<X
{"status": "ok", "host": {"vcpus": 2, "numa": [{"node": 0, "cpus": "0-1"}], "hypervisor": "kvm"}, "runs": [
 {"label": "cpu", "status": "ok", "notes": {}, "metrics": [
  {"name": "cpu.int.vcpu0.ops_per_s", "value": 5}, {"name": "cpu.int.vcpu1.ops_per_s", "value": 5},
  {"name": "cpu.int.scaling.t2.efficiency_ratio", "value": 0.9}, {"name": "jitter.vcpu1.wake_lat_ns.p99", "value": 9}]},
 {"label": "mem.stream", "status": "ok", "notes": {"mem.stream.threads": 2, "mem.stream.thp_backed_ratio": $1}, "metrics": [
  {"name": "mem.stream.triad.bytes_per_s", "value": 1e9}]}]}
X
}
scale_json 0.98 >"$T/s.json"
expect scale-ok 0 "$(python3 "$LAB_DIR/figures.py" scale "$T/s.json" 2 1 >/dev/null && echo 0 || echo 1)"
scale_json 18.9 >"$T/s.json"
expect scale-thp-above-1-fails 1 "$(python3 "$LAB_DIR/figures.py" scale "$T/s.json" 2 1 >/dev/null && echo 0 || echo 1)"

echo "lab selftest: $((n - fail)) of $n held"
[ "$fail" -eq 0 ]
