#!/usr/bin/env bash
# Builds the portable skubench binary once for a whole onboarding (linked
# against glibc 2.28, the build ci/portable-check.sh proves on an older
# distro) and lays out the artifact every VM under test downloads:
#
#   DIR/skubench            the binary
#   DIR/suites/             the shipped suites
#   DIR/ci/examples/        the example policy and spec
#   DIR/Containerfile       the k8s Job's image (ci/container/Containerfile)
#
#   ci/build-portable.sh [DIR]      # default: dist
#
# Needs Rust and Python's pip (ziglang, cargo-zigbuild are installed here).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dist}"
if ! python3 -c 'import ziglang' 2>/dev/null; then python3 -m pip install --quiet ziglang; fi
if ! command -v cargo-zigbuild >/dev/null 2>&1; then cargo install --locked cargo-zigbuild; fi
cargo zigbuild --release --locked --target x86_64-unknown-linux-gnu.2.28
mkdir -p "$out/ci"
cp target/x86_64-unknown-linux-gnu/release/skubench "$out/skubench"
cp -r suites "$out/"
cp -r ci/examples "$out/ci/"
cp ci/container/Containerfile "$out/Containerfile"
"$out/skubench" --version
