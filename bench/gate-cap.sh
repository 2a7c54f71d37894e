#!/usr/bin/env bash
# The gate on a genuinely slower machine, and on the same machine (A/A):
# a baseline of SUITE (7 runs), then `skubench gate` with the candidate inside
# a CPU cgroup capped at half a vCPU, then `skubench gate` uncapped. Prints
# each gate's exit code, outcome, rounds, repetitions and wall time, and the
# median runs behind its verdicts (from gate.json).
#
# usage: bench/gate-cap.sh [SUITE]   (root: the cgroup; default suites/quick.toml)
# env:   CARGO_TARGET_DIR (release build), KEEP=1 keeps the work dir,
#        QUOTA (default 50000 of a 100000 µs period: half a vCPU).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SUITE=$(realpath "${1:-$ROOT/suites/quick.toml}")
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/release/skubench
QUOTA=${QUOTA:-50000}
WORK=$(mktemp -d /tmp/gate-cap.XXXXXX)
CG=""
cleanup() {
    if [ -n "$CG" ] && [ -d "$CG" ]; then rmdir "$CG" 2>/dev/null || true; fi
    [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

[ "$(id -u)" = 0 ] || { echo "gate-cap.sh: needs root for the cgroup" >&2; exit 2; }
(cd "$ROOT" && cargo build --release --quiet --bin skubench)

# A CPU cgroup: v2 cpu.max, else v1 cpu.cfs_quota_us.
if grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
    echo +cpu >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
    CG=/sys/fs/cgroup/skubench-gate-cap-$$
    mkdir "$CG"
    echo "$QUOTA 100000" >"$CG/cpu.max"
elif [ -e /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
    CG=/sys/fs/cgroup/cpu/skubench-gate-cap-$$
    mkdir "$CG"
    echo 100000 >"$CG/cpu.cfs_period_us"
    echo "$QUOTA" >"$CG/cpu.cfs_quota_us"
else
    echo "gate-cap.sh: no CPU cgroup controller (v2 or v1)" >&2
    exit 2
fi

export SKUBENCH_STORE=$WORK/store
echo "baseline: $SUITE, 7 repetitions" >&2
t0=$(date +%s)
"$BIN" run "$SUITE" --repetitions 7 --quiet --output "$WORK/base.json" >/dev/null 2>"$WORK/base.log"
"$BIN" store add "$WORK/base.json" >/dev/null
"$BIN" baseline save ref --from "$WORK/base.json" >/dev/null
echo "baseline took $(( $(date +%s) - t0 )) s" >&2

gate() { # name capped?
    local name=$1 capped=$2 t0 rc=0
    t0=$(date +%s)
    if [ "$capped" = 1 ]; then
        sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$CG" \
            "$BIN" gate --quiet --suite "$SUITE" --baseline ref \
            --report-dir "$WORK/$name" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
    else
        "$BIN" gate --quiet --suite "$SUITE" --baseline ref \
            --report-dir "$WORK/$name" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
    fi
    local secs=$(( $(date +%s) - t0 ))
    python3 - "$WORK/$name/gate.json" "$name" "$rc" "$secs" <<'EOF'
import json, sys
g = json.load(open(sys.argv[1]))
reps = [r["repetitions"] for r in g["rounds"]]
print(f"{sys.argv[2]:10s} exit {sys.argv[3]}  outcome {g['outcome']:12s} rounds {len(reps)} "
      f"(repetitions {'+'.join(map(str, reps))})  {sys.argv[4]} s  "
      f"median runs to a verdict {g.get('median_runs_to_verdict')}")
print(f"           {g['headline']}")
EOF
}
gate capped 1
gate aa 0
echo "work dir: $WORK (KEEP=1 keeps it)" >&2
