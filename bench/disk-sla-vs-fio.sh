#!/usr/bin/env bash
# Side-by-side: IOPS at a latency target, fio's latency_target mode against
# skubench's latency_target search, same file, same target, alternating
# order (fio first on odd repetitions); prints every repetition and the
# medians as Markdown tables.
#
# fio's mode (io_u.c's lat_target_*): starts at iodepth 1, doubles the depth
# while a latency_window meets the target at latency_percentile, bisects
# down on a miss, and when the depth stops changing (latency_run=0) resets
# its statistics, runs one more window at that depth and ends: its JSON is
# that last window (latency_depth, iops, percentiles). It stays at the
# runtime cap when it never settles (reported as "not settled").
# skubench: a depth sweep 1…QDMAX (one window each), then paced steps
# between the last depth that met the target and the first that missed.
#
# Usage: bench/disk-sla-vs-fio.sh            (from the repository root)
# Environment:
#   REPS=3          repetitions per tool
#   TARGET_US=1000  latency target, µs
#   PCT=99          percentile judged
#   WINDOW_S=2      seconds per window / step
#   QDMAX=64        deepest queue either tool may use (fio's iodepth)
#   CAP_S=90        fio's runtime cap
#   RW=randread BS=4k SIZE=1g
#   DIR=.disk-bench where the test file and raw results go (not tmpfs)
#   CARGO_TARGET_DIR  where cargo builds (default: ./target)
set -euo pipefail

REPS=${REPS:-3}
TARGET_US=${TARGET_US:-1000}
PCT=${PCT:-99}
WINDOW_S=${WINDOW_S:-2}
QDMAX=${QDMAX:-64}
CAP_S=${CAP_S:-90}
RW=${RW:-randread}
BS=${BS:-4k}
SIZE=${SIZE:-1g}
DIR=${DIR:-$PWD/.disk-bench}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

if ! command -v fio >/dev/null 2>&1; then
    echo "installing fio …" >&2
    apt-get install -y fio >/dev/null 2>&1 || { apt-get update >/dev/null; apt-get install -y fio >/dev/null; }
fi
command -v python3 >/dev/null || { echo "python3 is needed to parse the results" >&2; exit 2; }
(cd "$ROOT" && cargo build --release --bin skubench >&2)
SK=$TARGET/release/skubench
[ -x "$SK" ] || { echo "no skubench binary at $SK" >&2; exit 2; }

mkdir -p "$DIR"
FILE=$DIR/sla.dat
RAW=$DIR/sla-raw.tsv
: > "$RAW"
if [ ! -f "$FILE" ]; then
    echo "laying out $FILE ($SIZE) with real writes …" >&2
    fio --name=layout --filename="$FILE" --size="$SIZE" --rw=write --bs=1m \
        --direct=1 --ioengine=psync --output=/dev/null
fi
WINDOW_US=$((WINDOW_S * 1000000))

run_fio() { # rep
    local out=$DIR/sla-fio-$1.json
    timeout $((CAP_S + 30)) fio --name=sla --filename="$FILE" --size="$SIZE" --direct=1 \
        --ioengine=io_uring --rw="$RW" --bs="$BS" --iodepth="$QDMAX" \
        --latency_target="$TARGET_US" --latency_window="$WINDOW_US" \
        --latency_percentile="$PCT" --lat_percentiles=1 --runtime="$CAP_S" --time_based \
        --output-format=json --output="$out" >/dev/null
    python3 - "$out" "$1" "$PCT" "$CAP_S" >>"$RAW" <<'EOF'
import json, sys
path, rep, pct, cap = sys.argv[1:]
j = json.load(open(path))["jobs"][0]
d = j["read"] if j["read"]["total_ios"] > 0 else j["write"]
key = f"{float(pct):.6f}"
settled = j["job_runtime"] < float(cap) * 1000 - 500
lat = d["lat_ns"].get("percentile", {}).get(key, "")
clat = d["clat_ns"].get("percentile", {}).get(key, "")
outcome = "settled" if settled else "not settled"
print(f"fio\t{rep}\t{j['latency_depth']}\t\t{d['iops']:.0f}\t{lat}\t{clat}\t{outcome}\t{j['job_runtime']/1000:.1f}")
EOF
}

run_sk() { # rep
    local out=$DIR/sla-sk-$1.json
    rm -f "$out"
    local t0=$SECONDS
    "$SK" run disk --engine io_uring --direct true --filename "$FILE" --size "$SIZE" \
        --rw "$RW" --bs "$BS" --latency_target "${TARGET_US}us" --latency_percentile "$PCT" \
        --latency_window "${WINDOW_S}s" --latency_qd_max "$QDMAX" --warmup 0.5 \
        --output "$out" -q >/dev/null 2>&1 || true
    python3 - "$out" "$1" "$RW" "$((SECONDS - t0))" >>"$RAW" <<'EOF'
import json, sys
path, rep, rw, secs = sys.argv[1:]
r = json.load(open(path))["runs"][0]
m = {x["name"]: x["value"] for x in r["metrics"]}
note = r["notes"].get(f"disk.{rw}.sla", {})
qd = [s for s in note.get("steps", []) if s.get("step", "").startswith("qd") and s.get("met")]
best_qd = max(qd, key=lambda s: s["iops"]) if qd else None
iops = m.get(f"disk.{rw}.iops_at_target")
status = r["status"] if iops is not None else "missed: " + (r.get("error") or "")[:60]
pn = [k for k in m if k.startswith(f"disk.{rw}.lat_ns_at_target.")]
lat = m[pn[0]] if pn else ""
rate = m.get(f"disk.{rw}.rate_iops_at_target", "")
print(f"skubench-qd\t{rep}\t{best_qd['iodepth'] if best_qd else ''}\t\t{best_qd['iops'] if best_qd else ''}\t{best_qd['lat_ns'] if best_qd else ''}\t\t{status}\t{secs}")
print(f"skubench\t{rep}\t{m.get(f'disk.{rw}.iodepth_at_target', '')}\t{rate}\t{iops if iops is not None else ''}\t{lat}\t\t{status}\t{secs}")
EOF
}

for rep in $(seq 1 "$REPS"); do
    echo "repetition $rep/$REPS …" >&2
    if [ $((rep % 2)) -eq 1 ]; then run_fio "$rep"; run_sk "$rep"; else run_sk "$rep"; run_fio "$rep"; fi
done

python3 - "$RAW" "$TARGET_US" "$PCT" "$RW" "$BS" "$QDMAX" "$WINDOW_S" <<'EOF'
import statistics, sys
raw, target, pct, rw, bs, qdmax, window = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(raw) if l.strip()]
print(f"{rw} {bs}, O_DIRECT io_uring, target p{pct} ≤ {target} µs, window {window} s, depth ≤ {qdmax}\n")
print("| tool | rep | depth | rate_iops | IOPS | p-lat (µs) | fio clat (µs) | outcome | wall s |")
print("|---|---:|---:|---:|---:|---:|---:|---|---:|")
for r in rows:
    f = lambda v, d=1000: f"{float(v)/d:.0f}" if v not in ("", None) else ""
    print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {f(r[4],1)} | {f(r[5])} | {f(r[6])} | {r[7]} | {r[8]} |")
def med(tool, i):
    v = [float(r[i]) for r in rows if r[0] == tool and r[i] not in ("",)]
    return statistics.median(v) if v else None
print("\n| tool | median depth | median IOPS | median p-lat (µs) |")
print("|---|---:|---:|---:|")
for t in ("fio", "skubench-qd", "skubench"):
    d, i, l = med(t, 2), med(t, 4), med(t, 5)
    fmt = lambda x, s=1: "-" if x is None else f"{x/s:.0f}"
    print(f"| {t} | {fmt(d)} | {fmt(i)} | {fmt(l, 1000)} |")
fi, si = med("fio", 4), med("skubench-qd", 4)
if fi and si:
    print(f"\nskubench depth-sweep answer / fio's: {si/fi:.2f}")
EOF
echo "raw rows: $RAW" >&2
