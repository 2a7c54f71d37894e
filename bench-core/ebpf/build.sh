#!/bin/sh
# Rebuilds attrib.bpf.o from attrib.bpf.c. Building skubench does not run
# this: the object is committed, so a build needs no clang. Run it after
# editing the C source (it installs clang from the distribution if missing).
set -eu
cd "$(dirname "$0")"
if ! command -v clang >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q clang >/dev/null
    else
        echo "build.sh: clang is missing (apt-get install clang)" >&2
        exit 1
    fi
fi
# -g: BTF for the maps (the loader needs it); no debug line info beyond that.
clang -target bpf -O2 -g -Wall -Werror -c attrib.bpf.c -o attrib.bpf.o.tmp
llvm-strip -g attrib.bpf.o.tmp 2>/dev/null || true
mv attrib.bpf.o.tmp attrib.bpf.o
clang --version | head -1 > attrib.bpf.o.clang
echo "built $(pwd)/attrib.bpf.o ($(wc -c < attrib.bpf.o) bytes)"
