#!/usr/bin/env bash
# Portable binary check: build skubench linked against glibc 2.28 (RHEL 8 class;
# Rust 1.95's std needs getrandom, which glibc has since 2.25, so 2.17 cannot link) with
# cargo-zigbuild, then run the quick suite inside a Debian 11 (bullseye,
# glibc 2.31) userland made with debootstrap. The ordinary build (linked
# against this machine's glibc 2.36) is shown to fail there first, so the
# check proves something.
#
#   ci/portable-check.sh            # needs root (debootstrap, chroot) and the package registries
#
# Output: target/x86_64-unknown-linux-gnu/release/skubench (portable).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOTFS="${SKUBENCH_BULLSEYE_ROOT:-/var/cache/skubench-bullseye}"
# The Debian mirror: the one the machine's own apt sources name (one-line or
# deb822), never a host written here.
# shellcheck source=ci/lab/apt.sh
. ci/lab/apt.sh

need() { command -v "$1" >/dev/null 2>&1; }
if ! need debootstrap; then apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; fi
if ! python3 -c 'import ziglang' 2>/dev/null; then python3 -m pip install --quiet --root-user-action=ignore ziglang; fi
if ! need cargo-zigbuild; then cargo install --locked cargo-zigbuild; fi

echo "== ordinary release build"
cargo build --release --locked
echo "== portable release build (glibc 2.28)"
cargo zigbuild --release --locked --target x86_64-unknown-linux-gnu.2.28

if [ ! -x "$ROOTFS/bin/sh" ]; then
  echo "== debootstrap bullseye into $ROOTFS"
  debootstrap --variant=minbase bullseye "$ROOTFS" "$(lab_debian_uri)" >/dev/null
fi
echo "bullseye glibc: $(chroot "$ROOTFS" /usr/bin/ldd --version | head -1)"

mkdir -p "$ROOTFS/opt/skubench"
cp target/release/skubench "$ROOTFS/opt/skubench/skubench-native"
cp target/x86_64-unknown-linux-gnu/release/skubench "$ROOTFS/opt/skubench/skubench"
mountpoint -q "$ROOTFS/proc" || mount -t proc proc "$ROOTFS/proc"
mountpoint -q "$ROOTFS/sys" || mount -t sysfs sys "$ROOTFS/sys"
trap 'umount "$ROOTFS/proc" "$ROOTFS/sys" 2>/dev/null || true' EXIT

echo "== the ordinary build inside bullseye (expected to fail)"
if chroot "$ROOTFS" /opt/skubench/skubench-native --version 2>/tmp/native.err; then
  echo "unexpected: the native build runs on bullseye; the check proves nothing" >&2
  exit 1
fi
head -2 /tmp/native.err

echo "== the portable build inside bullseye: quick suite"
rm -f "$ROOTFS/tmp/quick.json"
chroot "$ROOTFS" /opt/skubench/skubench run --repetitions 1 --duration 0.5 --warmup 0 --quiet --output /tmp/quick.json
chroot "$ROOTFS" /opt/skubench/skubench show /tmp/quick.json | head -20
echo "portable check: OK"
