#!/usr/bin/env bash
# Side-by-side: skubench's memory workloads against the peers, on this machine.
#
#   bandwidth: skubench mem.stream (triad, best of N and median) vs
#              stress-ng --stream 0 (read + write rate, all instances),
#              mbw (memcpy and "dumb" b[i]=a[i], 256 MiB arrays, one thread),
#              sysbench memory (read and write, 256 MiB blocks, all vCPUs).
#   latency:   skubench mem.latency at max(256 MiB, 4 x LLC) vs bench/chase.c, an
#              independent C pointer chase (lmbench is not packaged in
#              Debian 12), both with 4 KiB pages and with THP.
#
# Latency: both report the median over batches of 16384 dependent loads
# (robust to the batches another process disturbed) and the mean.
#
# Every round runs each tool once, in the same order, so drift and other
# load spread over all of them; the summary gives medians over rounds and
# ratios. Peers' own units are converted to bytes/s (MiB = 2^20).
#
# usage: bench/mem-vs-peers.sh [ROUNDS [LAT_PAIRS]]  (default 5 and 15; root for apt)
# env:   CARGO_TARGET_DIR (where the release build goes), CPU (vCPU for the
#        latency runs, default the last allowed one), KEEP=1 keeps the work dir.
set -euo pipefail

ROUNDS=${1:-5}
LAT_ROUNDS=${2:-15}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/release/skubench
WORK=$(mktemp -d /tmp/mem-vs-peers.XXXXXX)
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
NPROC=$(nproc)
CPU=${CPU:-$((NPROC - 1))}
# The latency working set: well beyond the LLC on any machine (a 300 MiB
# "L3" would hold a fixed 256 MiB ring): max(256 MiB, 4 x LLC), rounded up
# to a power of two; LAT_BYTES overrides.
LLC=$(getconf LEVEL3_CACHE_SIZE 2>/dev/null || echo 0)
case "$LLC" in ''|*[!0-9]*) LLC=0 ;; esac
[ "$LLC" -gt 0 ] || { LLC=$(getconf LEVEL2_CACHE_SIZE 2>/dev/null || echo 0); case "$LLC" in ''|*[!0-9]*) LLC=0 ;; esac; }
if [ -z "${LAT_BYTES:-}" ]; then
    LAT_BYTES=$((256 << 20))
    while [ "$LAT_BYTES" -lt $((4 * LLC)) ]; do LAT_BYTES=$((LAT_BYTES * 2)); done
fi
if [ $((LAT_BYTES % (1 << 30))) = 0 ]; then LAT=$((LAT_BYTES >> 30))g; else LAT=$((LAT_BYTES >> 20))m; fi

# --- peers -----------------------------------------------------------------
missing=()
for t in stress-ng:stress-ng sysbench:sysbench mbw:mbw gcc:gcc python3:python3; do
    command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- builds ----------------------------------------------------------------
(cd "$ROOT" && cargo build --release --quiet --bin skubench)
gcc -O2 -Wall -o "$WORK/chase" "$ROOT/bench/chase.c"

# --- one round of every tool -------------------------------------------------
RES=$WORK/results.tsv   # round  tool  metric  value
note() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RES"; }

skubench_metrics() { # file metric-name...
    python3 - "$@" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
m = {x["name"]: x["value"] for r in d["runs"] for x in r["metrics"]}
print(" ".join(str(m.get(n, "nan")) for n in sys.argv[2:]))
EOF
}

skubench_lat_mean() { # file: mean ns per load of the (single) curve point
    python3 - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
print(d["runs"][0]["notes"]["mem.latency.curve"][0]["mean_ns_per_load"])
EOF
}

sku_stream() {
    out=$WORK/stream-$r.json
    "$BIN" run mem.stream --no-ebpf --threads all --duration 5 --quiet --output "$out" >/dev/null 2>>"$WORK/log"
    read -r best med copy < <(skubench_metrics "$out" mem.stream.triad.bytes_per_s \
        mem.stream.triad.median_bytes_per_s mem.stream.copy.bytes_per_s)
    note "$r" skubench triad_best "$best"
    note "$r" skubench triad_median "$med"
    note "$r" skubench copy_best "$copy"
}

peers_stream() {
    # stress-ng prints per-instance rates only for runs ≥ 4.5 s of kernel time.
    stress-ng --stream 0 --timeout 7 --metrics-brief 2>&1 |
        awk '/memory rate:/ { for (i = 1; i <= NF; i++) { if ($(i+1) == "MB" && $(i+2) == "read/sec,") rd += $i; if ($(i+1) == "MB" && $(i+2) == "write/sec,") wr += $i } }
             END { printf "%.0f\n", (rd + wr) * 1048576 }' >"$WORK/sng"
    note "$r" stress-ng stream_read_plus_write "$(cat "$WORK/sng")"

    for t in 0 1; do
        v=$(mbw -q -n 10 -t$t 256 | awk '/^AVG/ { for (i = 1; i <= NF; i++) if ($i == "Copy:") print $(i+1) * 1048576 }')
        note "$r" mbw "copy_t$t" "$v"
    done

    for op in read write; do
        v=$(sysbench memory --threads="$NPROC" --time=5 --memory-block-size=256M \
                --memory-total-size=100000G --memory-oper=$op run |
            sed -n 's/.*(\([0-9.]*\) MiB\/sec).*/\1/p' | awk '{ printf "%.0f\n", $1 * 1048576 }')
        note "$r" sysbench "$op" "$v"
    done
}

for r in $(seq 1 "$ROUNDS"); do
    echo "round $r/$ROUNDS" >&2
    # Alternate the order (skubench first, then last) so neither side always
    # runs in the same phase of whatever else the machine is doing.
    if [ $((r % 2)) = 1 ]; then sku_stream; peers_stream; else peers_stream; sku_stream; fi
done

# Latency: many short pairs, each pair back to back, so a pair shares the
# same background; the summary gives the median of the per-pair ratios.
for r in $(seq 1 "$LAT_ROUNDS"); do
    echo "latency pair $r/$LAT_ROUNDS" >&2
    # Alternate which tool goes first.
    for hp in off thp; do
        if [ $((r % 2)) = 1 ]; then order="sku chase"; else order="chase sku"; fi
        for who in $order; do
            if [ "$who" = sku ]; then
                out=$WORK/lat-$hp-$r.json
                "$BIN" run mem.latency --no-ebpf --min_size "$LAT" --max_size "$LAT" --size_duration 2 \
                    --warmup 0.3 --hugepages $hp --pin "$CPU" --quiet --output "$out" >/dev/null 2>>"$WORK/log"
                note "$r" skubench "lat_$hp" "$(skubench_metrics "$out" "mem.latency.s$LAT.ns_per_load")"
                note "$r" skubench "lat_mean_$hp" "$(skubench_lat_mean "$out")"
            else
                read -r _ med mean _ < <("$WORK/chase" "$LAT_BYTES" 2 $hp "$CPU")
                note "$r" chase.c "lat_$hp" "$med"
                note "$r" chase.c "lat_mean_$hp" "$mean"
            fi
        done
    done
done

# --- summary -----------------------------------------------------------------
LAT="$LAT" python3 - "$RES" "$ROUNDS" "$LAT_ROUNDS" <<'EOF'
import os, statistics as st, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
vals, by_round = {}, {}
for rnd, tool, metric, v in rows:
    try:
        vals.setdefault((tool, metric), []).append(float(v))
        by_round[(rnd, tool, metric)] = float(v)
    except ValueError:
        pass
med = {k: st.median(v) for k, v in vals.items() if v}
def g(t, m): return med.get((t, m), float("nan"))
gb = lambda x: f"{x / 1e9:8.2f} GB/s"
import subprocess
load = open("/proc/loadavg").read().split()[:3]
print(f"\nload average at the end: {' '.join(load)} on {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} vCPUs")
print(f"medians of {sys.argv[2]} rounds (bytes/s as each tool counts them; GB = 1e9)\n")
print("bandwidth")
rows = [
    ("skubench mem.stream triad, best of N (STREAM rule)", g("skubench", "triad_best")),
    ("skubench mem.stream triad, median pass", g("skubench", "triad_median")),
    ("skubench mem.stream copy, best of N", g("skubench", "copy_best")),
    ("stress-ng --stream 0, read + write", g("stress-ng", "stream_read_plus_write")),
    ("mbw memcpy (counts bytes copied once)", g("mbw", "copy_t0")),
    ("mbw dumb b[i]=a[i] (counts once)", g("mbw", "copy_t1")),
    ("sysbench memory read, 256 MiB blocks", g("sysbench", "read")),
    ("sysbench memory write, 256 MiB blocks", g("sysbench", "write")),
]
for name, v in rows:
    print(f"  {name:55s} {gb(v)}")
peers = [v for name, v in rows[3:]]
best_peer = max(peers)
triad = g("skubench", "triad_best")
print(f"\n  triad (best of N) / best peer figure        = {triad / best_peer:.2f}")
print(f"  triad (median)    / best peer figure        = {g('skubench', 'triad_median') / best_peer:.2f}")
print(f"  triad (best of N) / stress-ng read+write    = {triad / g('stress-ng', 'stream_read_plus_write'):.2f}")
print(f"  copy  (best of N) / (2 x mbw memcpy)        = {g('skubench', 'copy_best') / (2 * g('mbw', 'copy_t0')):.2f}  (mbw counts a copy's bytes once; STREAM twice)")
print(f"\nlatency at {os.environ['LAT']}, ns per load, medians of {sys.argv[3]} back-to-back pairs")
print("  (each run: median over 16384-load batches; mean in brackets)")
for hp in ("off", "thp"):
    s, c = g("skubench", f"lat_{hp}"), g("chase.c", f"lat_{hp}")
    sm, cm = g("skubench", f"lat_mean_{hp}"), g("chase.c", f"lat_mean_{hp}")
    pairs = [by_round[(r, "skubench", f"lat_{hp}")] / by_round[(r, "chase.c", f"lat_{hp}")]
             for (r, t, m) in list(by_round) if t == "chase.c" and m == f"lat_{hp}"
             and (r, "skubench", f"lat_{hp}") in by_round]
    pr = st.median(pairs) if pairs else float("nan")
    print(f"  hugepages={hp:3s}  skubench {s:7.1f} ({sm:6.1f})   chase.c {c:7.1f} ({cm:6.1f})   "
          f"ratio of medians {s / c:.3f}   median of pair ratios {pr:.3f}")
EOF
