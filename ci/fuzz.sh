#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser of untrusted input (fuzz/, cargo
# fuzz + libFuzzer): builds the targets, runs each for SECONDS, one after
# another, and prints per target the executions, executions per second and
# crashes. Exits 1 when any target crashed, hung or ran out of memory (the
# input is kept under the artifacts directory it prints), 2 on a usage or
# setup error.
#
#   ci/fuzz.sh SECONDS [TARGET...]     every target, or the ones named
#
# Needs a nightly toolchain (rustup); installs cargo-fuzz when missing.
# Variables:
#   CARGO_TARGET_DIR        build directory (default /var/cache/skubench-fuzz-target)
#   SKUBENCH_FUZZ_CORPUS    working corpora, kept between runs so coverage
#                           accumulates (default $CARGO_TARGET_DIR/fuzz-corpus);
#                           the committed seeds (fuzz/seeds/) are never written
#   SKUBENCH_FUZZ_ARGS      extra libFuzzer flags, e.g. "-runs=1000000"
#
# Sanitizer: none. The parsers are safe Rust, where AddressSanitizer finds
# next to nothing and halves the execution rate; the build keeps debug
# assertions and overflow checks, so an arithmetic overflow is a crash.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: ci/fuzz.sh SECONDS [TARGET...]" >&2
  exit 2
}
[ $# -ge 1 ] || usage
secs=$1
shift
[[ "$secs" =~ ^[1-9][0-9]*$ ]] || { echo "ci/fuzz.sh: SECONDS must be a positive integer, got '$secs'" >&2; exit 2; }

# Targets that link baselines (and so polars) are built with the `analyse`
# feature; the others build and run without it.
core_targets=(suite_toml fio_job result_json hist_blob peer_frames udp_datagram)
analyse_targets=(policy_toml spec_toml import_fio import_iperf3 imds_reply)
if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=("${core_targets[@]}" "${analyse_targets[@]}")
fi
features=()
for t in "${targets[@]}"; do
  if [[ " ${analyse_targets[*]} " == *" $t "* ]]; then
    features=(--features analyse)
  elif [[ " ${core_targets[*]} " != *" $t "* ]]; then
    echo "ci/fuzz.sh: unknown target '$t'; targets: ${core_targets[*]} ${analyse_targets[*]}" >&2
    exit 2
  fi
done

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "ci/fuzz.sh: cargo fuzz needs a nightly toolchain: rustup toolchain install nightly" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "ci/fuzz.sh: installing cargo-fuzz" >&2
  cargo install --locked cargo-fuzz >&2 \
    || { echo "ci/fuzz.sh: cargo install cargo-fuzz failed" >&2; exit 2; }
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/skubench-fuzz-target}"
mkdir -p "$CARGO_TARGET_DIR" 2>/dev/null || export CARGO_TARGET_DIR="$PWD/fuzz/target"
corpora="${SKUBENCH_FUZZ_CORPUS:-$CARGO_TARGET_DIR/fuzz-corpus}"
artifacts="$CARGO_TARGET_DIR/fuzz-artifacts"
triple=x86_64-unknown-linux-gnu
bindir="$CARGO_TARGET_DIR/$triple/release"

echo "== cargo fuzz build (${features[*]:-core targets only})"
# 16 codegen units: polars builds in a fraction of the time of the default
# single unit, for a few percent of execution rate.
(cd fuzz && cargo +nightly fuzz build --sanitizer none --codegen-units 16 \
  --target "$triple" "${features[@]}") \
  || { echo "ci/fuzz.sh: the fuzz build failed" >&2; exit 2; }

# Inputs libFuzzer kept for a crash, hang, out-of-memory or leak.
count_artifacts() {
  find "$artifacts/$1" -maxdepth 1 \( -name 'crash-*' -o -name 'timeout-*' \
    -o -name 'oom-*' -o -name 'leak-*' \) | wc -l
}

failed=0
rows=()
for t in "${targets[@]}"; do
  mkdir -p "$corpora/$t" "$artifacts/$t"
  log="$artifacts/$t/last.log"
  dict=()
  [ -f "fuzz/dict/$t.dict" ] && dict=("-dict=fuzz/dict/$t.dict")
  echo "== $t: ${secs}s"
  before=$(count_artifacts "$t")
  rc=0
  # New inputs go to the first corpus directory (the working one); the
  # seeds are read only. -timeout: an input that takes 10 s is a hang.
  # shellcheck disable=SC2086
  "$bindir/$t" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$t/" "${dict[@]}" ${SKUBENCH_FUZZ_ARGS:-} \
    "$corpora/$t" "fuzz/seeds/$t" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  crashes=$(($(count_artifacts "$t") - before))
  status=ok
  if [ "$rc" != 0 ] || [ "$crashes" != 0 ]; then
    status="FAILED (exit $rc)"
    failed=1
    echo "--- $t: the end of $log"
    tail -40 "$log"
    grep -h '^artifact_prefix=\|Test unit written to' "$log" || true
  fi
  rows+=("$(printf '%-14s %8ss %14s %10s %8s  %s' "$t" "$secs" "${execs:-?}" "${rate:-?}" "$crashes" "$status")")
done

echo
printf '%-14s %9s %14s %10s %8s  %s\n' target time execs exec/s crashes status
printf '%s\n' "${rows[@]}"
[ "$failed" = 0 ] || { echo "ci/fuzz.sh: a target failed; inputs are under $artifacts" >&2; exit 1; }
