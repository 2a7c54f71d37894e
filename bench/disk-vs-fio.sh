#!/usr/bin/env bash
# Side-by-side: fio and skubench, same parameters, same file, alternating
# (fio first on odd repetitions, skubench first on even ones), several
# times; prints medians and skubench/fio ratios as a Markdown table.
#
# Usage: bench/disk-vs-fio.sh            (from the repository root)
# Environment:
#   REPS=5        repetitions per tool and case
#   DUR=10        measured seconds per run (fio runtime, skubench duration)
#   RAMP=2        warm-up seconds (fio ramp_time, skubench warmup)
#   SIZE=1g       test file size
#   DIR=.disk-bench  where the test file and raw results go (not tmpfs:
#                 O_DIRECT and the device are the point)
#   CASES="null qd1 qd32r qd32w seq1m"   subset to run
#   CARGO_TARGET_DIR  where cargo builds (default: ./target)
set -euo pipefail

REPS=${REPS:-5}
DUR=${DUR:-10}
RAMP=${RAMP:-2}
SIZE=${SIZE:-1g}
DIR=${DIR:-$PWD/.disk-bench}
CASES=${CASES:-"null qd1 qd32r qd32w seq1m"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

if ! command -v fio >/dev/null 2>&1; then
    echo "installing fio …" >&2
    if ! apt-get install -y fio >/dev/null 2>&1; then
        apt-get update >/dev/null
        apt-get install -y fio >/dev/null
    fi
fi
command -v python3 >/dev/null || { echo "python3 is needed to parse the results" >&2; exit 2; }

(cd "$ROOT" && cargo build --release --bin skubench >&2)
SK=$TARGET/release/skubench
[ -x "$SK" ] || { echo "no skubench binary at $SK" >&2; exit 2; }

mkdir -p "$DIR"
FILE=$DIR/bench.dat
RAW=$DIR/raw.tsv
: > "$RAW"

# Lay out the file with real writes (a fallocated file reads at a fake rate).
if [ ! -f "$FILE" ]; then
    echo "laying out $FILE ($SIZE) …" >&2
    fio --name=layout --filename="$FILE" --size="$SIZE" --rw=write --bs=1m \
        --direct=1 --ioengine=psync --output=/dev/null
fi

# case → "fio options|skubench options|direction"
spec() {
    local common_fio="--filename=$FILE --size=$SIZE --direct=1"
    local common_sk="--filename $FILE --size $SIZE --direct true"
    case $1 in
    null)  echo "--ioengine=null --rw=randread --bs=4k --size=1g --norandommap=1|--engine null --rw randread --bs 4k --size 1g|read" ;;
    qd1)   echo "$common_fio --ioengine=psync --rw=randread --bs=4k --iodepth=1|$common_sk --engine sync --rw randread --bs 4k --iodepth 1|read" ;;
    qd32r) echo "$common_fio --ioengine=io_uring --fixedbufs=1 --registerfiles=1 --rw=randread --bs=4k --iodepth=32|$common_sk --engine io_uring --rw randread --bs 4k --iodepth 32|read" ;;
    qd32w) echo "$common_fio --ioengine=io_uring --fixedbufs=1 --registerfiles=1 --rw=randwrite --bs=4k --iodepth=32|$common_sk --engine io_uring --rw randwrite --bs 4k --iodepth 32 --allow-destructive|write" ;;
    seq1m) echo "$common_fio --ioengine=io_uring --fixedbufs=1 --registerfiles=1 --rw=read --bs=1m --iodepth=16|$common_sk --engine io_uring --rw read --bs 1m --iodepth 16|read" ;;
    *) echo "unknown case $1" >&2; exit 2 ;;
    esac
}

run_fio() { # case rep
    local s fio_opts dirn out
    s=$(spec "$1"); fio_opts=${s%%|*}; dirn=${s##*|}
    out=$DIR/fio-$1-$2.json
    # shellcheck disable=SC2086
    fio --name="$1" $fio_opts --time_based --runtime="$DUR" --ramp_time="$RAMP" \
        --output-format=json --output="$out" >/dev/null
    python3 - "$out" "$dirn" "$1" "$2" >>"$RAW" <<'EOF'
import json, sys
path, d, case, rep = sys.argv[1:]
j = json.load(open(path))["jobs"][0][d]
p = j["clat_ns"]["percentile"]
print(f"{case}\tfio\t{rep}\t{j['iops']}\t{j['bw_bytes']}\t{p['50.000000']}\t{p['99.000000']}")
EOF
}

run_sk() { # case rep
    local s sk_opts dirn out
    s=$(spec "$1"); sk_opts=${s#*|}; sk_opts=${sk_opts%|*}; dirn=${s##*|}
    out=$DIR/sk-$1-$2.json
    rm -f "$out"
    # shellcheck disable=SC2086
    # --no-ebpf: like with like (fio traces nothing; the tracer's cost is
    # bench/attrib-overhead.sh's figure).
    "$SK" run disk $sk_opts --no-ebpf --duration "$DUR" --warmup "$RAMP" --output "$out" >/dev/null 2>"$DIR/sk-$1-$2.log" || {
        echo "skubench failed ($1 #$2):" >&2; cat "$DIR/sk-$1-$2.log" >&2; exit 3; }
    python3 - "$out" "$1" "$2" >>"$RAW" <<'EOF'
import json, sys
path, case, rep = sys.argv[1:]
run = json.load(open(path))["runs"][0]
m = {x["name"]: x["value"] for x in run["metrics"]}
pre = [k for k in m if k.endswith(".iops") and k.count(".") == 2][0][:-len(".iops")]
print(f"{case}\tskubench\t{rep}\t{m[pre + '.iops']}\t{m[pre + '.bytes_per_s']}\t{m[pre + '.lat_ns.p50']}\t{m[pre + '.lat_ns.p99']}")
EOF
}

echo "fio $(fio --version) vs skubench $("$SK" --version 2>/dev/null || echo '?'), kernel $(uname -r), $REPS × ${DUR}s (+${RAMP}s warm-up) per tool and case" >&2
for c in $CASES; do
    for r in $(seq 1 "$REPS"); do
        echo "  $c #$r" >&2
        if [ $((r % 2)) -eq 1 ]; then run_fio "$c" "$r"; run_sk "$c" "$r"; else run_sk "$c" "$r"; run_fio "$c" "$r"; fi
    done
done

python3 - "$RAW" <<'EOF'
import sys, statistics as st
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
cases = []
for r in rows:
    if r[0] not in cases:
        cases.append(r[0])
title = {"null": "null engine, 1 job (fio norandommap=1)", "qd1": "4k randread direct qd1 sync",
         "qd32r": "4k randread direct qd32 io_uring", "qd32w": "4k randwrite direct qd32 io_uring",
         "seq1m": "1M read direct qd16 io_uring"}
def med(case, tool, col):
    return st.median(float(r[col]) for r in rows if r[0] == case and r[1] == tool)
def paired(case, col):
    # Ratio within each repetition (the two runs were back to back), then
    # the median: robust to the machine drifting over the whole bench.
    by = {}
    for r in rows:
        if r[0] == case:
            by.setdefault(r[2], {})[r[1]] = float(r[col])
    rs = [v["skubench"] / v["fio"] for v in by.values() if v.get("fio") and "skubench" in v]
    return st.median(rs) if rs else float("nan")
print("| case | metric | fio (median) | skubench (median) | ratio of medians | median of paired ratios |")
print("|---|---|---:|---:|---:|---:|")
for c in cases:
    n = sum(1 for r in rows if r[0] == c and r[1] == "fio")
    metrics = [("IOPS", 3), ("p50 clat µs", 5), ("p99 clat µs", 6)]
    if c == "seq1m":
        metrics = [("MiB/s", 4), ("p50 clat µs", 5), ("p99 clat µs", 6)]
    if c == "null":
        # No I/O: latencies are the harness's per-op cost, not comparable.
        metrics = [("IOPS", 3)]
    for name, col in metrics:
        f, s = med(c, "fio", col), med(c, "skubench", col)
        scale = 1e-3 if "µs" in name else (1 / 1048576 if name == "MiB/s" else 1)
        ratio = s / f if f else float("nan")
        print(f"| {title.get(c, c)} (n={n}) | {name} | {f*scale:,.1f} | {s*scale:,.1f} | {ratio:.3f} | {paired(c, col):.3f} |")
EOF
