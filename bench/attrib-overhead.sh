#!/usr/bin/env bash
# The cost of attribution's eBPF histograms on the workloads it is most
# likely to slow: 4k random reads at queue depth 32 on io_uring (block
# tracepoints, two per I/O), net.tcp_stream (tcp_probe per segment),
# net.tcp_rr (no probe attached: the figure shows the rest costs nothing) and
# the cpu workload on every vCPU (run-queue tracepoints). Each round runs the workload with eBPF on and with
# --no-ebpf, adjacent, the order flipped every round; prints medians and the
# ratio on/off. Root (eBPF needs it; without root both sides run without it
# and the script says so).
#
# Usage: bench/attrib-overhead.sh            (from the repository root)
# Environment: REPS=7 rounds, DUR=5 measured s, WARM=1 warm-up s,
#   CASES="disk rr stream cpu",
#   DIR=.disk-bench (the test file: on a real disk, not tmpfs),
#   CARGO_TARGET_DIR (default ./target)
set -euo pipefail
REPS=${REPS:-7}
DUR=${DUR:-5}
WARM=${WARM:-1}
CASES=${CASES:-"disk rr stream cpu"}
# Also the block probe's other forms on the disk case: "pair" (two raw
# programs and a map of requests in flight), "classic" (classic tracepoints).
FORMS=${FORMS:-}
# STATS=1: one more disk run per round with the kernel's BPF run-time
# statistics on (SKUBENCH_EBPF_STATS=1), reporting the tracer's own CPU time
# over the CPU time there was (disk.randread.ebpf.cost.cpu_ratio).
STATS=${STATS:-0}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${DIR:-$ROOT/.disk-bench}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
(cd "$ROOT" && cargo build --release --bin skubench >&2)
SK=$TARGET/release/skubench
[ "$(id -u)" = 0 ] || echo "warning: not root: eBPF cannot run, both sides measure the same thing" >&2
mkdir -p "$DIR"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# metric NAME FILE
metric() { python3 -c 'import json,sys
f=json.load(open(sys.argv[2])); r=f["runs"][0]
v=[m["value"] for m in r["metrics"] if m["name"]==sys.argv[1]]
print(v[0] if v and r["status"]=="ok" else "nan")' "$1" "$2"; }

# one CASE MODE ROUND → value
one() {
    local case=$1 mode=$2 i=$3 out="$TMP/$1-$2-$3.json" flag=()
    [ "$mode" = off ] && flag=(--no-ebpf)
    # pair / classic: the block probe's other forms (SKUBENCH_EBPF_BLOCK).
    local form='' stats=''
    case $mode in pair|classic) form=$mode ;; stats) stats=1 ;; esac
    export SKUBENCH_EBPF_BLOCK=$form SKUBENCH_EBPF_STATS=$stats
    case $case in
    disk) "$SK" run -q disk --rw randread --bs 4k --iodepth 32 --engine io_uring --direct true \
              --size 1g --dir "$DIR" --duration "$DUR" --warmup "$WARM" "${flag[@]}" -o "$out" >/dev/null
          if [ "$mode" = stats ]; then metric disk.randread.ebpf.cost.cpu_ratio "$out"
          else metric disk.randread.iops "$out"; fi ;;
    rr)   "$SK" run -q net.tcp_rr --duration "$DUR" --warmup "$WARM" "${flag[@]}" -o "$out" >/dev/null
          metric net.tcp_rr.transactions_per_s "$out" ;;
    stream) "$SK" run -q net.tcp_stream --duration "$DUR" --warmup "$WARM" "${flag[@]}" -o "$out" >/dev/null
          metric net.tcp_stream.bits_per_s "$out" ;;
    cpu)  "$SK" run -q cpu --stressor int --threads all --duration "$DUR" --warmup "$WARM" "${flag[@]}" -o "$out" >/dev/null
          metric cpu.int.ops_per_s "$out" ;;
    esac
}

: > "$TMP/raw"
for i in $(seq 1 "$REPS"); do
    for case in $CASES; do
        modes="on off"
        [ "$case" = disk ] && modes="on off $FORMS"
        [ "$case" = disk ] && [ "$STATS" = 1 ] && modes+=" stats"
        # Rotate the order each round, so no mode always runs first.
        read -r -a m <<<"$modes"
        order=""
        for ((k = 0; k < ${#m[@]}; k++)); do order+=" ${m[$(((k + i) % ${#m[@]}))]}"; done
        for mode in $order; do
            echo "$case $mode $(one "$case" "$mode" "$i")" >> "$TMP/raw"
        done
    done
    echo "round $i/$REPS done" >&2
done
# RAW=FILE keeps every measurement (case mode value, in run order).
[ -z "${RAW:-}" ] || cp "$TMP/raw" "$RAW"
python3 - "$TMP/raw" "$REPS" "$DUR" "$FORMS" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
forms = sys.argv[4].split()
print(f"# {sys.argv[2]} rounds of {sys.argv[3]} s, medians; modes adjacent, order rotated each round")
print("| workload | eBPF on | --no-ebpf | on/off |" + "".join(f" {f} | {f}/off |" for f in forms))
print("|---|---:|---:|---:|" + "---:|---:|" * len(forms))
names = {"disk": "disk 4k randread qd32 io_uring (IOPS; block tracepoints)",
         "rr": "net.tcp_rr (transactions/s; no eBPF probe: RTT is its own measure)",
         "stream": "net.tcp_stream (bit/s; tcp_probe)",
         "cpu": "cpu int, all vCPUs (ops/s; run-queue tracepoints)"}
for case, name in names.items():
    if not any(c == case for c, _, _ in rows):
        continue
    on = [float(v) for c, m, v in rows if c == case and m == "on" and v != "nan"]
    off = [float(v) for c, m, v in rows if c == case and m == "off" and v != "nan"]
    if not on or not off:
        print(f"| {name} | – | – | no data |"); continue
    a, b = statistics.median(on), statistics.median(off)
    extra = ""
    for f in forms:
        x = [float(v) for c, m, v in rows if c == case and m == f and v != "nan"]
        extra += f" {statistics.median(x):,.0f} | {statistics.median(x) / b:.3f} |" if x else " – | – |"
    print(f"| {name} | {a:,.0f} | {b:,.0f} | {a / b:.3f} |" + extra)
    cost = [float(v) for c, m, v in rows if c == case and m == "stats" and v != "nan"]
    if cost:
        print(f"\n{name}: the tracer's CPU time / CPU time there was (SKUBENCH_EBPF_STATS=1 runs): "
              f"median {statistics.median(cost):.2%}, range {min(cost):.2%} … {max(cost):.2%}")
PY
