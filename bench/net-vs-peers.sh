#!/usr/bin/env bash
# Side-by-side: skubench's net workloads against iperf3 and netperf on
# loopback, same machine, same run. Each test runs as an adjacent pair
# (peer tool, skubench) whose order flips every round, so drift and other
# load land on both; prints the median of each and the ratio skubench / peer.
#
#   bench/net-vs-peers.sh                 # REPS=5 DUR=5 rounds
#   REPS=7 DUR=10 bench/net-vs-peers.sh
#   MODE=flows bench/net-vs-peers.sh      # many flows, connection rate, latency under load
#
# MODE=flows compares net.tcp_flows with iperf3 -P 128 (and the same 128
# flows on one thread, as iperf3 3.12 runs them), 16 flows of RR with 16
# concurrent netperf TCP_RR, net.tcp_cps (one connector) with netperf
# TCP_CRR, and net.rr_under_load's p99 with netperf TCP_RR's p99 (-j)
# while iperf3 -P 1 runs beside it. neper is not compared: its source is
# on GitHub only, not in a package registry this script may use.
#
# Installs iperf3 and netperf when missing (netperf lives in Debian's
# non-free component: for bookworm the script adds a sources entry for it).
# Only loopback is used; the peers listen on 127.0.0.1 on non-default ports.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS="${REPS:-5}"
DUR="${DUR:-5}"
WARM="${WARM:-1}"
CRR_PAUSE="${CRR_PAUSE:-5}"       # seconds between CRR runs: let TIME-WAIT drain
IPERF_PORT="${IPERF_PORT:-5299}"
NETPERF_PORT="${NETPERF_PORT:-12899}"

need_install=()
command -v iperf3 >/dev/null || need_install+=(iperf3)
command -v netperf >/dev/null || need_install+=(netperf)
if [ "${#need_install[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "need root to install ${need_install[*]}" >&2
        exit 2
    fi
    if [[ " ${need_install[*]} " == *" netperf "* ]] && grep -q 'VERSION_CODENAME=bookworm' /etc/os-release \
        && ! grep -rqs 'non-free\b' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        cat > /etc/apt/sources.list.d/skubench-nonfree.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_install[@]}" >/dev/null
fi

cargo build --release --quiet
SKU="${CARGO_TARGET_DIR:-target}/release/skubench"
TMP="$(mktemp -d)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

iperf3 -s -B 127.0.0.1 -p "$IPERF_PORT" >/dev/null 2>&1 &
PIDS+=($!)
netserver -D -L 127.0.0.1 -p "$NETPERF_PORT" >/dev/null 2>&1 &
PIDS+=($!)
sleep 1

# metric NAME FILE: a metric's value from a skubench result file.
metric() {
    python3 - "$1" "$2" <<'PY'
import json, sys
name, path = sys.argv[1], sys.argv[2]
f = json.load(open(path))
vals = [m["value"] for r in f["runs"] for m in r["metrics"] if m["name"] == name]
print(vals[0] if vals and f["runs"][0]["status"] == "ok" else "nan")
PY
}

sku() { # sku METRIC WORKLOAD ARGS…
    local name="$1"; shift
    local out="$TMP/r.json"
    rm -f "$out"
    if "$SKU" run "$@" --no-ebpf --placement "$PLACEMENT" --duration "$DUR" --warmup "$WARM" --output "$out" --quiet >/dev/null 2>"$TMP/err"; then
        metric "$name" "$out"
    else
        echo "skubench $* failed: $(tail -1 "$TMP/err")" >&2
        echo nan
    fi
}

# Like with like: skubench's default placement with its in-process peer puts
# each client worker and its peer thread on one vCPU, so the peers are
# pinned the same way (iperf3 -A 0,0 for one stream, netperf -T 0,0).
# PLACEMENT=none runs everything unpinned instead. iperf3 -P 2 stays
# unpinned: before 3.16 it is one thread for all streams.
export PLACEMENT=${PLACEMENT:-colocate}
case $PLACEMENT in
colocate) IPERF_PIN="-A 0,0"; NP_PIN="-T 0,0" ;;
none) IPERF_PIN=""; NP_PIN="" ;;
*) echo "PLACEMENT is colocate or none" >&2; exit 2 ;;
esac

iperf() { # iperf STREAMS → bits/s received
    local pin=""
    [ "$1" = 1 ] && pin=$IPERF_PIN
    # shellcheck disable=SC2086
    iperf3 -c 127.0.0.1 -p "$IPERF_PORT" -P "$1" $pin -t "$((DUR + WARM))" -O "$WARM" -J 2>/dev/null \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"])' \
        || echo nan
}

netperf_() { # netperf TEST → transactions/s
    # shellcheck disable=SC2086
    netperf -H 127.0.0.1 -p "$NETPERF_PORT" -t "$1" -l "$DUR" $NP_PIN -P 0 -- -r 1,1 -o THROUGHPUT 2>/dev/null \
        | tail -1 || echo nan
}

declare -A R
add() { R[$1]="${R[$1]:-} $2"; }

MODE="${MODE:-base}"

np_many() { # np_many N → summed TCP_RR transactions/s of N concurrent netperfs
    local i
    for i in $(seq 1 "$1"); do
        netperf -H 127.0.0.1 -p "$NETPERF_PORT" -t TCP_RR -l "$DUR" -P 0 -- -r 1,1 -o THROUGHPUT \
            >"$TMP/np$i" 2>/dev/null &
    done
    wait
    cat "$TMP"/np* | python3 -c 'import sys; v=[float(x) for x in sys.stdin.read().split() if x.strip()]; print(sum(v) if v else "nan")'
    rm -f "$TMP"/np*
}

np_p99() { # np_p99 [loaded] → TCP_RR p99 latency in ns (netperf -j), optionally beside iperf3 -P 1
    local ip="" load_pin=""
    # As net.rr_under_load places them by default: the RR pair on vCPU 0,
    # the load's pair on vCPU 1.
    [ "$PLACEMENT" = colocate ] && load_pin="-A 1,1"
    # shared: the load on the RR pair's vCPU, as load_placement = "shared".
    [ "$PLACEMENT" = colocate ] && [ "${1:-}" = shared ] && load_pin="-A 0,0"
    if [ "${1:-}" = loaded ] || [ "${1:-}" = shared ]; then
        # shellcheck disable=SC2086
        iperf3 -c 127.0.0.1 -p "$IPERF_PORT" -P 1 $load_pin -t "$((DUR + 2))" >/dev/null 2>&1 &
        ip=$!
        sleep 1
    fi
    # shellcheck disable=SC2086
    netperf -H 127.0.0.1 -p "$NETPERF_PORT" -t TCP_RR -l "$DUR" $NP_PIN -j -P 0 -- -r 1,1 -o P99_LATENCY 2>/dev/null \
        | tail -1 | python3 -c 'import sys; print(float(sys.stdin.read())*1e3)' || echo nan
    [ -n "$ip" ] && wait "$ip" || true
}


# pair A_KEY A_CMD B_KEY B_CMD: runs both, adjacent, in an order that flips
# every round, so slow drift and other load land on both alike.
pair() {
    if [ $((rep % 2)) = 0 ]; then
        add "$1" "$(eval "$2")"; add "$3" "$(eval "$4")"
    else
        add "$3" "$(eval "$4")"; add "$1" "$(eval "$2")"
    fi
}

if [ "$MODE" = flows ]; then
    for rep in $(seq 1 "$REPS"); do
        echo "round $rep/$REPS" >&2
        pair iperf_128 "iperf 128" sku_f128 "sku net.tcp_flows.bits_per_s net.tcp_flows --flows 128"
        add sku_f128_t1 "$(sku net.tcp_flows.bits_per_s net.tcp_flows --flows 128 --threads 1)"
        add sku_f1000 "$(sku net.tcp_flows.bits_per_s net.tcp_flows --flows 1000)"
        add sku_f1000_jain "$(sku net.tcp_flows.fairness.jain_ratio net.tcp_flows --flows 1000)"
        add sku_f1 "$(sku net.tcp_flows.bits_per_s net.tcp_flows --flows 1)"
        pair np_rr16 "np_many 16" sku_rr16 "sku net.tcp_flows.transactions_per_s net.tcp_flows --mode rr --flows 16"
        pair np_crr "sleep $CRR_PAUSE; netperf_ TCP_CRR" sku_cps1 "sku net.tcp_cps.connections_per_s net.tcp_cps --connectors 1 --threads 1"
        add sku_cps64 "$(sku net.tcp_cps.connections_per_s net.tcp_cps --connectors 64)"
        add sku_cps64_p99 "$(sku net.tcp_cps.connect_ns.p99 net.tcp_cps --connectors 64)"
        pair np_p99_un "np_p99" sku_p99_un "sku net.rr_under_load.unloaded.lat_ns.p99 net.rr_under_load"
        pair np_p99_lo "np_p99 loaded" sku_p99_lo "sku net.rr_under_load.lat_ns.p99 net.rr_under_load"
        pair np_p99_sh "np_p99 shared" sku_p99_sh "sku net.rr_under_load.lat_ns.p99 net.rr_under_load --load_placement shared"
    done
    for k in "${!R[@]}"; do echo "raw $k:${R[$k]}" >&2; done
    python3 - "$REPS" "$DUR" <<PY
import math, os, statistics, sys
R = {$(for k in "${!R[@]}"; do printf '"%s": "%s", ' "$k" "${R[$k]}"; done)}
def vals(k):
    return [float(x) for x in R.get(k, "").split() if not math.isnan(float(x))]
def med(k):
    v = vals(k)
    return statistics.median(v) if v else float("nan")
rows = [
    ("TCP stream, 128 flows (Gbit/s)", "skubench net.tcp_flows --flows 128", "iperf3 -P 128", "sku_f128", "iperf_128", 1e9),
    ("TCP stream, 128 flows on 1 thread (Gbit/s)", "skubench net.tcp_flows --flows 128 --threads 1", "iperf3 -P 128", "sku_f128_t1", "iperf_128", 1e9),
    ("TCP stream, 1000 flows (Gbit/s)", "skubench net.tcp_flows --flows 1000", "iperf3 -P 128", "sku_f1000", "iperf_128", 1e9),
    ("TCP stream, 1000 flows vs 1 flow (Gbit/s)", "skubench net.tcp_flows --flows 1000", "skubench net.tcp_flows --flows 1", "sku_f1000", "sku_f1", 1e9),
    ("TCP_RR, 16 flows (K trans/s)", "skubench net.tcp_flows --mode rr --flows 16", "16 × netperf TCP_RR", "sku_rr16", "np_rr16", 1e3),
    ("connections, 1 connector (K conn/s)", "skubench net.tcp_cps --connectors 1 --threads 1", "netperf TCP_CRR", "sku_cps1", "np_crr", 1e3),
    ("connections, 64 connectors (K conn/s)", "skubench net.tcp_cps --connectors 64", "netperf TCP_CRR", "sku_cps64", "np_crr", 1e3),
    ("RR p99 unloaded (µs)", "skubench net.rr_under_load (unloaded step)", "netperf TCP_RR -j", "sku_p99_un", "np_p99_un", 1e3),
    ("RR p99 beside 1 stream (µs)", "skubench net.rr_under_load", "netperf TCP_RR -j + iperf3 -P 1", "sku_p99_lo", "np_p99_lo", 1e3),
    ("RR p99, stream on the same vCPU (µs)", "skubench net.rr_under_load --load_placement shared", "netperf TCP_RR -j + iperf3 -P 1 -A 0,0", "sku_p99_sh", "np_p99_sh", 1e3),
]
print(f"# MODE=flows: {sys.argv[1]} rounds of {sys.argv[2]} s, medians; pairs adjacent, order flipped each round; placement {os.environ.get('PLACEMENT', 'colocate')}")
print("| test | skubench | reference | ratio | runs (skubench / reference) |")
print("|---|---|---|---|---|")
for name, a, b, ka, kb, scale in rows:
    ma, mb = med(ka), med(kb)
    ratio = ma / mb if mb and not math.isnan(mb) else float("nan")
    runs = " ".join(f"{x/scale:.2f}" for x in vals(ka)) + " / " + " ".join(f"{x/scale:.2f}" for x in vals(kb))
    print(f"| {name}: \`{a}\` vs \`{b}\` | {ma/scale:.2f} | {mb/scale:.2f} | {ratio:.2f} | {runs} |")
for name, k, scale in [("Jain's index, 1000 flows", "sku_f1000_jain", 1), ("connect p99, 64 connectors (µs)", "sku_cps64_p99", 1e3)]:
    v = vals(k)
    print(f"| {name} | {med(k)/scale:.3f} | | | {' '.join(f'{x/scale:.3f}' for x in v)} |")
un_s, un_p = med("sku_p99_un"), med("np_p99_un")
for what, ks, kp in [("apart", "sku_p99_lo", "np_p99_lo"), ("shared", "sku_p99_sh", "np_p99_sh")]:
    print(f"\nloaded ({what}) ÷ unloaded p99: skubench {med(ks)/un_s:.2f}, netperf {med(kp)/un_p:.2f}")
PY
    exit 0
fi

for rep in $(seq 1 "$REPS"); do
    echo "round $rep/$REPS" >&2
    pair iperf_1 "iperf 1" sku_1 "sku net.tcp_stream.bits_per_s net.tcp_stream --streams 1"
    pair iperf_2 "iperf 2" sku_2 "sku net.tcp_stream.bits_per_s net.tcp_stream --streams 2"
    pair np_rr "netperf_ TCP_RR" sku_rr "sku net.tcp_rr.transactions_per_s net.tcp_rr"
    pair np_crr "sleep $CRR_PAUSE; netperf_ TCP_CRR" sku_crr "sleep $CRR_PAUSE; sku net.tcp_crr.connections_per_s net.tcp_crr"
    # The client closing first (TIME-WAIT on the client), for reference.
    sleep "$CRR_PAUSE"; add sku_crr_cc "$(sku net.tcp_crr.connections_per_s net.tcp_crr --closer client)"
done

# The raw figures first, so a failing summary loses nothing.
for k in "${!R[@]}"; do echo "raw $k:${R[$k]}" >&2; done
python3 - "${R[sku_1]}" "${R[iperf_1]}" "${R[sku_2]}" "${R[iperf_2]}" \
    "${R[sku_rr]}" "${R[np_rr]}" "${R[sku_crr]}" "${R[np_crr]}" "$REPS" "$DUR" "${R[sku_crr_cc]}" <<'PY'
import math, os, statistics, sys
a = sys.argv[1:]
def vals(s):
    return [float(x) for x in s.split() if not math.isnan(float(x))]
def med(s):
    v = vals(s)
    return statistics.median(v) if v else float("nan")
rows = [
    ("TCP stream, 1 stream (Gbit/s)", "skubench net.tcp_stream --streams 1", "iperf3 -P 1", a[0], a[1], 1e9, 1.2),
    ("TCP stream, 2 streams (Gbit/s)", "skubench net.tcp_stream --streams 2", "iperf3 -P 2", a[2], a[3], 1e9, 1.0),
    ("TCP_RR 1/1 byte (K trans/s)", "skubench net.tcp_rr", "netperf TCP_RR", a[4], a[5], 1e3, 1.0),
    ("TCP_CRR 1/1 byte (K conn/s)", "skubench net.tcp_crr", "netperf TCP_CRR", a[6], a[7], 1e3, 1.0),
    ("TCP_CRR, client closes first (K conn/s), reference", "skubench net.tcp_crr --closer client", "netperf TCP_CRR", a[10], a[7], 1e3, None),
]
print(f"# {a[8]} rounds of {a[9]} s, medians; each test an adjacent skubench/peer pair, order flipped each round; placement {os.environ.get('PLACEMENT', 'colocate')}")
print(f"| test | skubench | peer | ratio | target | runs (skubench / peer) |")
print(f"|---|---|---|---|---|---|")
for name, _, peer, s, p, scale, target in rows:
    ms, mp = med(s), med(p)
    ratio = ms / mp if mp and not math.isnan(mp) else float("nan")
    ok = "" if target is None else ("ok" if ratio >= target else "BELOW")
    runs = " ".join(f"{x/scale:.1f}" for x in vals(s)) + " / " + " ".join(f"{x/scale:.1f}" for x in vals(p))
    tgt = f"≥ {target} {ok}" if target else "reference only"
    print(f"| {name}: `{_}` vs `{peer}` | {ms/scale:.2f} | {mp/scale:.2f} | {ratio:.2f} | {tgt} | {runs} |")
PY
