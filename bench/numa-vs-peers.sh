#!/usr/bin/env bash
# Side-by-side: skubench's NUMA matrix (mem.numa) against the peers, cell by
# cell, with the peers bound the same way by numactl:
#
#   latency:   mem.numa cCmM ns_per_load  vs  numactl --cpunodebind=C
#              --membind=M bench/chase.c (independent C chase, same working
#              set, same 4 KiB pages, pinned to the cell's first vCPU)
#   bandwidth: mem.numa cCmM bytes_per_s (triad, sustained, the CPU node's
#              vCPUs)  vs  numactl ... skubench mem.stream (triad, median of
#              passes and best of N, same threads)  and  numactl ... mbw
#              memcpy (one thread; it counts a copy's bytes once).
#
# Rounds alternate the order (skubench first on odd rounds). Prints medians
# over rounds and the ratios as Markdown. Intel MLC is not packaged (and not
# free to redistribute), so it is not run here.
#
# usage: bench/numa-vs-peers.sh [ROUNDS]   (default 5; root for apt)
# env:   SIZE (working set and array bytes, default 256m), DUR (s per cell, 2),
#        CARGO_TARGET_DIR, KEEP=1 keeps the work dir.
set -euo pipefail

ROUNDS=${1:-5}
SIZE=${SIZE:-256m}
DUR=${DUR:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/release/skubench
WORK=$(mktemp -d /tmp/numa-vs-peers.XXXXXX)
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT

for t in numactl:numactl mbw:mbw gcc:gcc python3:python3; do
    command -v "${t%%:*}" >/dev/null || apt-get install -y "${t##*:}" >/dev/null 2>&1 ||
        { apt-get update >/dev/null; apt-get install -y "${t##*:}" >/dev/null; }
done
(cd "$ROOT" && cargo build --release --bin skubench >&2)
gcc -O2 -Wall -o "$WORK/chase" "$ROOT/bench/chase.c"
BYTES=$(python3 -c "import sys; s=sys.argv[1].lower(); m={'k':1<<10,'m':1<<20,'g':1<<30}; print(int(s[:-1])*m[s[-1]] if s[-1] in m else int(s))" "$SIZE")
MIB=$((BYTES >> 20))

# The cells: every node with vCPUs × every node with memory.
mapfile -t CELLS < <(python3 - <<'EOF'
import glob, os, re
nodes = {}
for d in sorted(glob.glob("/sys/devices/system/node/node[0-9]*")):
    n = int(re.search(r"(\d+)$", d).group(1))
    cpus = open(os.path.join(d, "cpulist")).read().strip()
    mem = int(re.search(r"MemTotal:\s+(\d+)", open(os.path.join(d, "meminfo")).read()).group(1))
    nodes[n] = (cpus, mem)
for c, (cpus, _) in sorted(nodes.items()):
    if not cpus:
        continue
    first = cpus.split(",")[0].split("-")[0]
    ncpu = sum((int(b) - int(a) + 1) if "-" in p else 1 for p in cpus.split(",") for a, _, b in [p.partition("-")])
    for m, (_, mem) in sorted(nodes.items()):
        if mem > 0:
            print(c, m, first, ncpu, cpus)
EOF
)
RAW=$WORK/raw.tsv
: > "$RAW"
note() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$RAW"; }

sku() { # round
    "$BIN" run mem.numa --lat_size "$SIZE" --bw_size "$SIZE" --cell_duration "$DUR" \
        --hugepages off --warmup 0.5 -q -o "$WORK/numa-$1.json" >/dev/null 2>&1
    python3 - "$WORK/numa-$1.json" "$1" >>"$RAW" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["runs"][0]
for m in r["metrics"]:
    n = m["name"].split(".")
    if len(n) == 4 and n[0] == "mem" and n[1] == "numa" and n[3] in ("ns_per_load", "bytes_per_s"):
        print(f"{sys.argv[2]}\t{n[2]}\tskubench mem.numa\t{n[3]}\t{m['value']}")
EOF
}

peers() { # round
    local c m first ncpu cpus med
    for cell in "${CELLS[@]}"; do
        read -r c m first ncpu cpus <<<"$cell"
        read -r _ med _ < <(numactl --cpunodebind="$c" --membind="$m" "$WORK/chase" "$BYTES" 3 off "$first")
        note "$1" "c${c}m${m}" chase.c ns_per_load "$med"
        numactl --cpunodebind="$c" --membind="$m" "$BIN" run mem.stream --array_size "$SIZE" \
            --threads "$ncpu" --hugepages off --duration "$DUR" --warmup 0.5 -q \
            -o "$WORK/stream-$1-$c-$m.json" >/dev/null 2>&1
        python3 - "$WORK/stream-$1-$c-$m.json" "$1" "c${c}m${m}" >>"$RAW" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["runs"][0]
m = {x["name"]: x["value"] for x in r["metrics"]}
for k, label in (("mem.stream.triad.median_bytes_per_s", "median"), ("mem.stream.triad.bytes_per_s", "best")):
    if k in m:
        print(f"{sys.argv[2]}\t{sys.argv[3]}\tnumactl mem.stream triad ({label})\tbytes_per_s\t{m[k]}")
EOF
        v=$(numactl --cpunodebind="$c" --membind="$m" mbw -q -n 5 -t0 "$MIB" | awk '/^AVG/ { for (i = 1; i <= NF; i++) if ($i == "Copy:") print $(i+1) * 1048576 }')
        note "$1" "c${c}m${m}" "numactl mbw memcpy (one thread, counts once)" bytes_per_s "$v"
    done
}

for r in $(seq 1 "$ROUNDS"); do
    echo "round $r/$ROUNDS …" >&2
    if [ $((r % 2)) = 1 ]; then sku "$r"; peers "$r"; else peers "$r"; sku "$r"; fi
done

python3 - "$RAW" "$SIZE" "$DUR" <<'EOF'
import collections, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
by = collections.defaultdict(list)
for rnd, cell, tool, what, v in rows:
    if v:
        by[(cell, what, tool)].append(float(v))
print(f"working set / arrays {sys.argv[2]}, {sys.argv[3]} s per cell, 4 KiB pages; medians over rounds (n)\n")
print("| cell | figure | tool | median | n |")
print("|---|---|---|---:|---:|")
for (cell, what, tool), v in sorted(by.items()):
    med = statistics.median(v)
    s = f"{med:.1f} ns" if what == "ns_per_load" else f"{med/1e9:.2f} GB/s"
    print(f"| {cell} | {what} | {tool} | {s} | {len(v)} |")
print()
for cell in sorted({k[0] for k in by}):
    g = lambda w, t: statistics.median(by[(cell, w, t)]) if by.get((cell, w, t)) else None
    s, c = g("ns_per_load", "skubench mem.numa"), g("ns_per_load", "chase.c")
    if s and c:
        print(f"- {cell}: latency skubench / chase.c = {s/c:.2f}")
    b, st = g("bytes_per_s", "skubench mem.numa"), g("bytes_per_s", "numactl mem.stream triad (median)")
    if b and st:
        print(f"- {cell}: bandwidth mem.numa / mem.stream triad median (numactl-bound) = {b/st:.2f}")
EOF
