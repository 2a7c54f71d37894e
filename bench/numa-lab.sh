#!/usr/bin/env bash
# mem.numa on an emulated 2-node guest: QEMU TCG, 4 vCPUs (0-1 on node 0,
# 2-3 on node 1), 1 GiB per node, SLIT distance 21; Debian's kernel and
# busybox (apt-get download, nothing installed), the release skubench
# (stripped, with its glibc) in an initramfs. Prints the guest's topology
# as skubench recorded it, each cell's figures and its verified placement.
#
# TCG emulates every memory access: the latency and bandwidth figures are
# meaningless (remote may read faster than local). What the run checks is
# the shape (4 cells), that memory bound to node 1 is on node 1 when the
# kernel is asked, and the topology with distances in the fingerprint.
#
# usage: bench/numa-lab.sh            (root; about 30 s of boot and run on 2 cores)
# env:   CARGO_TARGET_DIR, WORK (default a temp dir, removed), KEEP=1
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=${WORK:-$(mktemp -d /tmp/numa-lab.XXXXXX)}
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
for t in qemu-system-x86_64:qemu-system-x86 cpio:cpio python3:python3; do
    command -v "${t%%:*}" >/dev/null || apt-get install -y "${t##*:}" >/dev/null 2>&1 ||
        { apt-get update >/dev/null; apt-get install -y "${t##*:}" >/dev/null; }
done
(cd "$ROOT" && cargo build --release --bin skubench >&2)
cd "$WORK"
KPKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$KPKG" ] || { echo "no Debian kernel package found (apt-get update?)" >&2; exit 2; }
apt-get download "$KPKG" busybox-static >/dev/null 2>&1
dpkg-deb -x linux-image-*.deb k
dpkg-deb -x busybox-static*.deb bb
KERNEL=$(ls k/boot/vmlinuz-*)
mkdir -p root/{bin,lib64,lib/x86_64-linux-gnu,proc,sys,tmp,dev}
cp bb/bin/busybox root/bin/
strip -o root/skubench "$TARGET/release/skubench"
# The binary's shared libraries, as this host's loader resolves them.
for l in $(ldd "$TARGET/release/skubench" | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }'); do
    mkdir -p "root$(dirname "$l")"
    cp -L "$l" "root$l"
done
cat > root/init <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t tmpfs tmp /tmp
cd /tmp
/skubench run mem.numa --lat_size 8m --bw_size 8m --cell_duration 0.5 --warmup 0.1 -o /tmp/n.json -q
echo "LAB-RC $?"
echo "LAB-JSON-BEGIN"; tr -d '\n' < /tmp/n.json; echo; echo "LAB-JSON-END"
poweroff -f
EOF
chmod +x root/init
(cd root && find . | cpio -o -H newc 2>/dev/null | gzip -1 > ../initrd.gz)
timeout 600 qemu-system-x86_64 -accel tcg -m 2G -smp 4 \
    -object memory-backend-ram,id=m0,size=1G -object memory-backend-ram,id=m1,size=1G \
    -numa node,nodeid=0,cpus=0-1,memdev=m0 -numa node,nodeid=1,cpus=2-3,memdev=m1 \
    -numa dist,src=0,dst=1,val=21 \
    -kernel "$KERNEL" -initrd initrd.gz -append "console=ttyS0 quiet panic=-1" \
    -nographic -no-reboot > console.txt 2>&1
python3 - console.txt <<'EOF'
import json, sys
t = open(sys.argv[1], errors="replace").read()
if "LAB-JSON-BEGIN" not in t:
    sys.exit("the guest printed no result:\n" + t[-2000:])
d = json.loads(t.split("LAB-JSON-BEGIN")[-1].split("LAB-JSON-END")[0].strip())
h = d["host"]
print(f"guest: {h['cpu_model']}, {h['vcpus']} vCPUs, kernel {h['kernel']}, hypervisor {h['hypervisor']}")
print("topology (host.numa):", json.dumps(h["numa"]))
r = d["runs"][0]
print("status:", r["status"], r.get("error") or "")
m = {x["name"]: x["value"] for x in r["metrics"]}
print("\n| cell | CPUs | ns/load (TCG) | triad bytes/s (TCG) | loaded ns/load (TCG) | latency pages on node | bandwidth pages on node | loaded pages on node |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for c in r["notes"]["mem.numa"]["cells"]:
    lp, bp, xp = c["latency_placement"], c["bandwidth_placement"], c.get("loaded_placement") or {}
    x = lambda p: f"{p['on_node']}/{p['sampled']} on {p['node']}" if p else "-"
    print(f"| {c['cell']} | {c['cpus']} | {m.get('mem.numa.' + c['cell'] + '.ns_per_load', 0):.0f} | "
          f"{m.get('mem.numa.' + c['cell'] + '.bytes_per_s', 0)/1e9:.2f} G | "
          f"{m.get('mem.numa.' + c['cell'] + '.loaded_ns_per_load', 0):.0f} | {x(lp)} | {x(bp)} | {x(xp)} |")
ok = r["status"] == "ok" and len(r["notes"]["mem.numa"]["cells"]) == 4
sys.exit(0 if ok else 1)
EOF
