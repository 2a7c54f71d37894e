#!/usr/bin/env bash
# Sourced helpers that build a lab guest from package-registry files only:
#   lab_kernel SUITE       a Debian kernel (linux-image-amd64 of that suite),
#                          apt-get download + dpkg-deb -x; prints its dir
#   lab_busybox            busybox-static of the host's suite; prints the binary
#   lab_binary             the skubench binary the guests run (see below)
#   lab_initramfs SUITE    an initramfs for that kernel: busybox, skubench,
#                          suites, the virtio/ext4 modules, init; prints its path
#
# The binary: the portable one ci/portable-check.sh builds
# ($CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/skubench) if present,
# else the host release build ($CARGO_TARGET_DIR/release/skubench) with the
# shared libraries ldd names, copied into the initramfs at the same paths.
# SKUBENCH_LAB_BINARY overrides both.

# shellcheck source=ci/lab/apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

LAB_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Modules the init loads (with their dependencies from modules.dep) unless the
# kernel has them built in.
LAB_MODULES="virtio_pci virtio_blk virtio_net ext4 crc32c_generic"

lab_kernel() {
  local suite="$1" dir pkg deb
  dir="$LAB_CACHE/kernel/$suite"
  if [ -f "$dir/ready" ]; then
    echo "$dir"
    return
  fi
  pkg=$(lab_apt "$suite" apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $2; exit}')
  [ -n "$pkg" ] || { echo "lab: no linux-image-amd64 in $suite" >&2; return 1; }
  rm -rf "$dir" && mkdir -p "$dir/pkg"
  (cd "$dir/pkg" && lab_apt "$suite" apt-get download -qq "$pkg" >&2) || return 1
  deb=$(ls "$dir"/pkg/*.deb)
  dpkg-deb -x "$deb" "$dir/root"
  rm -f "$deb"
  ls "$dir"/root/boot/vmlinuz-* >/dev/null || { echo "lab: $pkg has no vmlinuz" >&2; return 1; }
  # /lib/modules, or /usr/lib/modules on merged-/usr suites (trixie)
  if [ ! -d "$dir/root/lib/modules" ]; then
    mkdir -p "$dir/root/lib"
    ln -s ../usr/lib/modules "$dir/root/lib/modules"
  fi
  basename "$(ls -d "$dir"/root/lib/modules/*)" >"$dir/version"
  echo "$pkg" >"$dir/package"
  touch "$dir/ready"
  echo "$dir"
}

lab_busybox() {
  local suite dir deb
  suite=$(lab_host_codename)
  dir="$LAB_CACHE/busybox"
  if [ ! -x "$dir/root/bin/busybox" ]; then
    rm -rf "$dir" && mkdir -p "$dir/pkg"
    (cd "$dir/pkg" && lab_apt "$suite" apt-get download -qq busybox-static >&2) || return 1
    deb=$(ls "$dir"/pkg/*.deb)
    dpkg-deb -x "$deb" "$dir/root"
    rm -f "$deb"
  fi
  echo "$dir/root/bin/busybox"
}

lab_binary() {
  local t="${CARGO_TARGET_DIR:-$LAB_REPO/target}"
  if [ -n "${SKUBENCH_LAB_BINARY:-}" ]; then
    echo "$SKUBENCH_LAB_BINARY"
  elif [ -x "$t/x86_64-unknown-linux-gnu/release/skubench" ]; then
    echo "$t/x86_64-unknown-linux-gnu/release/skubench"
  elif [ -x "$t/release/skubench" ]; then
    echo "$t/release/skubench"
  else
    echo "lab: no skubench release binary under $t (cargo build --release, or ci/portable-check.sh)" >&2
    return 1
  fi
}

# Module paths (relative to /lib/modules/VER) for $LAB_MODULES and their
# dependencies, dependencies first, each once. The package has no modules.dep
# (depmod runs in its postinst), so dependencies come from each module's own
# `depends=` modinfo field; built-in modules (modules.builtin) are skipped.
_lab_module_order() {
  local moddir="$1" m
  declare -A _lab_seen=()
  for m in $LAB_MODULES; do _lab_module_visit "$moddir" "$m" || return 1; done
}

_lab_module_visit() {
  local moddir="$1" name="${2//-/_}" path deps d
  [ -n "${_lab_seen[$name]:-}" ] && return 0
  _lab_seen[$name]=1
  path=$(cd "$moddir" && find kernel -name "$name.ko*" -o -name "${name//_/-}.ko*" | head -1)
  if [ -z "$path" ]; then
    grep -q "/${name//_/[-_]}.ko$" "$moddir/modules.builtin" && return 0
    echo "lab: module $name is neither built in nor shipped" >&2
    return 1
  fi
  case "$path" in
    *.xz) deps=$(xz -dc "$moddir/$path" | tr '\0' '\n' | sed -n 's/^depends=//p') ;;
    *.zst) deps=$(zstd -qdc "$moddir/$path" | tr '\0' '\n' | sed -n 's/^depends=//p') ;;
    *) deps=$(tr '\0' '\n' <"$moddir/$path" | sed -n 's/^depends=//p') ;;
  esac
  for d in ${deps//,/ }; do _lab_module_visit "$moddir" "$d" || return 1; done
  echo "$path"
}

lab_initramfs() {
  local suite="$1" kdir ver bin bb out stage m lib mods
  kdir=$(lab_kernel "$suite") || return 1
  ver=$(cat "$kdir/version")
  bin=$(lab_binary) || return 1
  bb=$(lab_busybox) || return 1
  out="$LAB_CACHE/initrd-$suite.cpio.gz"
  if [ -f "$out" ] && [ "$out" -nt "$bin" ] && [ "$out" -nt "$LAB_REPO/ci/lab/init" ] \
    && [ -z "$(find "$LAB_REPO/suites" -newer "$out" -print -quit)" ]; then
    echo "$out"
    return
  fi
  mods=$(_lab_module_order "$kdir/root/lib/modules/$ver") || return 1
  stage=$(mktemp -d "$LAB_CACHE/stage.XXXXXX")
  mkdir -p "$stage"/{bin,dev,proc,sys,tmp,mnt,etc,opt/skubench,lib/modules/"$ver"}
  cp "$bb" "$stage/bin/busybox"
  cp "$LAB_REPO/ci/lab/init" "$stage/init"
  chmod 755 "$stage/init"
  strip -o "$stage/opt/skubench/skubench" "$bin"
  # A dynamically linked host build: its libraries at the paths ldd names.
  if ldd "$bin" >/dev/null 2>&1; then
    for lib in $(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
      mkdir -p "$stage$(dirname "$lib")"
      cp -L "$lib" "$stage$lib"
    done
    echo "host-release+ldd" >"$stage/etc/lab-binary"
  else
    echo "static" >"$stage/etc/lab-binary"
  fi
  case "$bin" in */x86_64-unknown-linux-gnu/*) echo "portable" >"$stage/etc/lab-binary" ;; esac
  cp -r "$LAB_REPO/suites" "$stage/opt/skubench/suites"
  : >"$stage/etc/lab-modules"
  for m in $mods; do
    mkdir -p "$stage/lib/modules/$ver/$(dirname "$m")"
    case "$m" in
      *.xz) xz -dc "$kdir/root/lib/modules/$ver/$m" >"$stage/lib/modules/$ver/${m%.xz}"; m="${m%.xz}" ;;
      *.zst) zstd -qdc "$kdir/root/lib/modules/$ver/$m" >"$stage/lib/modules/$ver/${m%.zst}"; m="${m%.zst}" ;;
      *) cp "$kdir/root/lib/modules/$ver/$m" "$stage/lib/modules/$ver/$m" ;;
    esac
    echo "/lib/modules/$ver/$m" >>"$stage/etc/lab-modules"
  done
  printf 'ID=skubench-lab\nNAME="skubench lab initramfs"\nVERSION_ID=%s\n' "$suite" >"$stage/etc/os-release"
  echo "$(cat "$kdir/package") $ver" >"$stage/etc/lab-kernel"
  (cd "$stage" && find . | "$bb" cpio -o -H newc 2>/dev/null | gzip -1) >"$out.tmp"
  mv "$out.tmp" "$out"
  rm -rf "$stage"
  echo "$out"
}

lab_vmlinuz() {
  local kdir
  kdir=$(lab_kernel "$1") || return 1
  ls "$kdir"/root/boot/vmlinuz-*
}
