#!/usr/bin/env bash
# The virtual SKU lab: qemu guests of chosen shapes run skubench against caps
# that are known for certain (qemu block throttling, tc rate limits).
#
#   ci/lab/lab.sh setup                 # qemu (bookworm-backports), kernels, busybox; no guest
#   ci/lab/lab.sh boot [OPTIONS] -- skubench ARGS…
#   ci/lab/lab.sh check                 # every check of issue 16; exit 0 only if all hold
#
# boot options:
#   --vcpus N  --numa K  --mem MIB     shape (K nodes, vCPUs and memory split evenly)
#   --kernel SUITE                     bookworm (6.1, default), bullseye (5.10), trixie (6.12)
#   --disk-size SIZE                   the SKU's disk (ext4, /mnt/test, the job's cwd; default 1G)
#   --disk-iops N  --disk-bps B        qemu throttling.iops-total / bps-total on that disk
#   --net-mbit R                       a peer guest running `skubench serve` on 192.0.2.11:5201,
#                                      token "lab", behind a tc tbf rate limit of R Mbit/s both ways;
#                                      this guest is 192.0.2.10 (a bridge in a netns lab.sh makes)
#   --sysctl KEY=VALUE                 set in the guest before the job (repeatable)
#   --put PATH                         copied into the guest's /tmp (repeatable)
#   --script FILE                      the job is this sh script instead of the words after --
#   --out DIR                          where the guest's /out lands (default: a new dir under the cache)
#   --timeout S                        the guest is killed after S seconds (default 900)
# The job runs in the guest as `sh -c 'ARGS…'`-like (the words after --, quoted),
# from /mnt/test; it writes its result files under /out. Exit code: the job's.
#
# Environment: SKUBENCH_LAB_CACHE (default /var/cache/skubench-lab),
# SKUBENCH_LAB_ACCEL (kvm|tcg: skip the probe), SKUBENCH_LAB_BINARY, CARGO_TARGET_DIR.
set -euo pipefail
LAB_DIR="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=ci/lab/guest.sh
. "$LAB_DIR/guest.sh"

log() { echo "lab: $*" >&2; }
die() { log "$*"; exit 2; }

# ---------------------------------------------------------------- teardown
LAB_PIDS=()
LAB_NETNS=""
LAB_TMP=()
lab_teardown() {
  local p
  for p in "${LAB_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${LAB_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  LAB_PIDS=()
  if [ -n "$LAB_NETNS" ]; then ip netns del "$LAB_NETNS" 2>/dev/null || true; LAB_NETNS=""; fi
  for p in "${LAB_TMP[@]}"; do rm -rf "$p"; done
  LAB_TMP=()
}
trap lab_teardown EXIT
trap 'lab_teardown; exit 130' INT
trap 'lab_teardown; exit 143' TERM

# ---------------------------------------------------------------- setup
lab_setup() {
  local c
  if ! command -v qemu-system-x86_64 >/dev/null || [ ! -f /usr/share/seabios/bios-256k.bin ]; then
    c=$(lab_host_codename)
    log "installing qemu-system-x86 from $c-backports"
    DEBIAN_FRONTEND=noninteractive lab_apt "$c $c-backports" apt-get install -y -qq \
      --no-install-recommends -t "$c-backports" qemu-system-x86 seabios ipxe-qemu >/dev/null
  fi
  command -v qemu-img >/dev/null || die "qemu-img missing"
  command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 missing (e2fsprogs)"
  lab_busybox >/dev/null
}

# KVM where a guest actually boots with it (nested KVM here gets as far as
# "Booting from ROM" and hangs), TCG otherwise: a bounded boot attempt.
LAB_ACCEL=""
lab_accel() {
  [ -n "$LAB_ACCEL" ] && { echo "$LAB_ACCEL"; return; }
  if [ -n "${SKUBENCH_LAB_ACCEL:-}" ]; then
    LAB_ACCEL="$SKUBENCH_LAB_ACCEL"
  elif [ -f "$LAB_CACHE/accel" ] && [ "$LAB_CACHE/accel" -nt /proc/1 ]; then
    LAB_ACCEL=$(cat "$LAB_CACHE/accel") # probed since this host booted
  else
    LAB_ACCEL=tcg
    local probed=1
    if [ -r /dev/kvm ]; then
      local initrd="" vmlinuz="" con
      # The probe boots the guest image; without one (no release binary
      # yet) it waits for a later call, and nothing is cached.
      if initrd=$(lab_initramfs bookworm) && vmlinuz=$(lab_vmlinuz bookworm); then
        con=$(mktemp)
        timeout 60 nice -n 19 qemu-system-x86_64 -accel kvm -cpu host -smp 1 -m 512 -nodefaults \
          -display none -no-reboot -serial "file:$con" -kernel "$vmlinuz" -initrd "$initrd" \
          -append "console=ttyS0 panic=-1 quiet lab.nojob" >/dev/null 2>&1 || true
        grep -q 'lab-init: no job' "$con" && LAB_ACCEL=kvm
        rm -f "$con"
      else
        probed=0
        log "the KVM probe needs a guest image: not probed, TCG for now"
      fi
    fi
    [ "$probed" = 0 ] || echo "$LAB_ACCEL" >"$LAB_CACHE/accel"
  fi
  log "accelerator: $LAB_ACCEL"
  echo "$LAB_ACCEL"
}

# ---------------------------------------------------------------- qemu
# lab_qemu NAME WORKDIR VCPUS NUMA MEM KERNEL APPEND EXTRA_ARGS…   (background; pid in LAB_PIDS)
lab_qemu() {
  local name="$1" wd="$2" vcpus="$3" numa="$4" mem="$5" kernel="$6" append="$7"
  shift 7
  local accel cpu vmlinuz initrd args=() i per first last
  accel=$(lab_accel)
  vmlinuz=$(lab_vmlinuz "$kernel")
  initrd=$(lab_initramfs "$kernel")
  if [ "$accel" = kvm ]; then args+=(-accel kvm); cpu=host; else args+=(-accel "tcg,thread=multi"); cpu=max; fi
  args+=(-machine q35 -cpu "$cpu" -m "$mem")
  if [ "$numa" -gt 1 ]; then
    if [ $((vcpus % numa)) -ne 0 ] || [ $((mem % numa)) -ne 0 ]; then die "--vcpus and --mem must divide by --numa"; fi
    per=$((vcpus / numa))
    args+=(-smp "$vcpus,sockets=$numa,cores=$per,threads=1")
    for ((i = 0; i < numa; i++)); do
      first=$((i * per)); last=$((first + per - 1))
      args+=(-object "memory-backend-ram,id=m$i,size=$((mem / numa))M"
        -numa "node,nodeid=$i,cpus=$first-$last,memdev=m$i")
    done
  else
    args+=(-smp "$vcpus")
  fi
  args+=(-nodefaults -display none -no-reboot -serial "file:$wd/$name.console"
    -kernel "$vmlinuz" -initrd "$initrd" -append "console=ttyS0 panic=-1 quiet $append" "$@")
  echo "qemu-system-x86_64 ${args[*]}" >"$wd/$name.cmd"
  if [ -n "$LAB_NETNS" ]; then
    nice -n 19 ip netns exec "$LAB_NETNS" qemu-system-x86_64 "${args[@]}" >"$wd/$name.qemu.log" 2>&1 &
  else
    nice -n 19 qemu-system-x86_64 "${args[@]}" >"$wd/$name.qemu.log" 2>&1 &
  fi
  LAB_PIDS+=("$!")
}

# CPU time and run-queue wait of all threads of a qemu (ns, from
# /proc/PID/task/*/schedstat): "RUN WAIT".
lab_qemu_sched() {
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ r += $1; w += $2 } END { printf "%.0f %.0f\n", r, w }'
}

# A job disk: tar of job.sh (+ files); an output disk: raw space.
lab_job_disk() {
  local dir="$1" img="$2"
  tar cf "$img" -C "$dir" .
}

lab_netns() {
  local mbit="$1" t burst
  LAB_NETNS="skubench-lab-$$"
  ip netns add "$LAB_NETNS"
  ip -n "$LAB_NETNS" link set lo up
  ip -n "$LAB_NETNS" link add br0 type bridge
  ip -n "$LAB_NETNS" link set br0 mtu 9000 up
  # A burst of 2 ms at the rate (at least two jumbo frames), and a queue of
  # 400 ms at the rate: well above the bandwidth-delay product of TCG guests
  # (tens of ms of RTT), so TCP's backoff after a tail drop does not leave
  # the link idle and the cap, not the queue, sets the throughput.
  burst=$((mbit * 1000000 / 8 / 500))
  [ "$burst" -lt 20000 ] && burst=20000
  for t in tap0 tap1; do
    ip -n "$LAB_NETNS" tuntap add "$t" mode tap
    ip -n "$LAB_NETNS" link set "$t" master br0 mtu 9000 up
    # Egress of a tap is what its guest receives: both directions capped.
    ip netns exec "$LAB_NETNS" tc qdisc add dev "$t" root tbf rate "${mbit}mbit" burst "$burst" latency 400ms
  done
}

# ---------------------------------------------------------------- boot
lab_boot() {
  local vcpus=2 numa=1 mem=1024 kernel=bookworm disk_size=1G iops="" bps="" mbit="" out="" timeout_s=900
  local sysctls=() puts=() script=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --vcpus) vcpus="$2"; shift 2 ;;
      --numa) numa="$2"; shift 2 ;;
      --mem) mem="$2"; shift 2 ;;
      --kernel) kernel="$2"; shift 2 ;;
      --disk-size) disk_size="$2"; shift 2 ;;
      --disk-iops) iops="$2"; shift 2 ;;
      --disk-bps) bps="$2"; shift 2 ;;
      --net-mbit) mbit="$2"; shift 2 ;;
      --sysctl) sysctls+=("$2"); shift 2 ;;
      --put) puts+=("$2"); shift 2 ;;
      --script) script="$2"; shift 2 ;;
      --out) out="$2"; shift 2 ;;
      --timeout) timeout_s="$2"; shift 2 ;;
      --) shift; break ;;
      *) die "boot: unknown option $1 (the job follows --)" ;;
    esac
  done
  [ $# -gt 0 ] || [ -n "$script" ] || die "boot: no job (… -- skubench ARGS…, or --script FILE)"
  lab_setup
  local wd append="" s p drive rc
  wd=$(mktemp -d "$LAB_CACHE/boot.XXXXXX")
  LAB_TMP+=("$wd")
  [ -n "$out" ] || out="$LAB_CACHE/results/$(date -u +%Y%m%dT%H%M%S)-$$"
  mkdir -p "$out" "$wd/job"
  # The job: the words after --, each quoted for the guest's sh (the guest expands its lines).
  # shellcheck disable=SC2016
  {
    echo 'export PATH=/opt/skubench:/bin SKUBENCH_SKU="${SKUBENCH_SKU:-lab}"'
    if [ -n "$mbit" ]; then
      echo 'i=0; until nc -w 2 192.0.2.11 5201 </dev/null >/dev/null 2>&1; do i=$((i+1)); [ $i -gt 120 ] && { echo "lab: peer not reachable"; exit 3; }; sleep 1; done'
    fi
    if [ -n "$script" ]; then
      cat "$script"
    else
      printf '%s' 'exec'
      for s in "$@"; do printf " '%s'" "${s//\'/\'\\\'\'}"; done
      echo
    fi
  } >"$wd/job/job.sh"
  for p in "${puts[@]}"; do cp -r "$p" "$wd/job/"; done
  lab_job_disk "$wd/job" "$wd/job.tar"
  truncate -s 256M "$wd/out.img"
  truncate -s "$disk_size" "$wd/test.img"
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$wd/test.img"
  drive="file=$wd/test.img,format=raw,if=none,id=test,cache=none,aio=threads"
  [ -n "$iops" ] && drive+=",throttling.iops-total=$iops"
  [ -n "$bps" ] && drive+=",throttling.bps-total=$bps"
  for s in "${sysctls[@]}"; do append+=" lab.sysctl=$s"; done

  local net=()
  if [ -n "$mbit" ]; then
    lab_netns "$mbit"
    mkdir -p "$wd/peerjob"
    echo "exec skubench serve --bind 0.0.0.0 --port 5201 --token lab" >"$wd/peerjob/job.sh"
    lab_job_disk "$wd/peerjob" "$wd/peerjob.tar"
    lab_qemu peer "$wd" 2 1 512 "$kernel" "lab.ip=192.0.2.11/24 lab.mtu=9000" \
      -drive "file=$wd/peerjob.tar,format=raw,if=none,id=job,readonly=on" -device virtio-blk-pci,drive=job,serial=labjob \
      -netdev "tap,id=n0,ifname=tap1,script=no,downscript=no" -device "virtio-net-pci,netdev=n0,mac=52:54:00:00:02:11,romfile="
    append+=" lab.ip=192.0.2.10/24 lab.mtu=9000"
    net=(-netdev "tap,id=n0,ifname=tap0,script=no,downscript=no" -device "virtio-net-pci,netdev=n0,mac=52:54:00:00:02:10,romfile=")
  fi
  lab_qemu guest "$wd" "$vcpus" "$numa" "$mem" "$kernel" "$append" \
    -drive "file=$wd/job.tar,format=raw,if=none,id=job,readonly=on" -device virtio-blk-pci,drive=job,serial=labjob \
    -drive "file=$wd/out.img,format=raw,if=none,id=out" -device virtio-blk-pci,drive=out,serial=labout \
    -drive "$drive" -device virtio-blk-pci,drive=test,serial=labtest "${net[@]}"
  local gpid="${LAB_PIDS[-1]}" start=$SECONDS sched_last="0 0" s1 load0
  load0=$(cut -d' ' -f1 /proc/loadavg)
  log "guest: $vcpus vCPUs, $numa node(s), ${mem} MiB, kernel $kernel${iops:+, disk cap $iops IOPS}${bps:+, $bps B/s}${mbit:+, net cap $mbit Mbit/s}"
  while kill -0 "$gpid" 2>/dev/null; do
    s1=$(lab_qemu_sched "$gpid")
    [ "$s1" = "0 0" ] || sched_last="$s1"
    if [ $((SECONDS - start)) -ge "$timeout_s" ]; then
      log "guest still running after ${timeout_s}s: killed"
      kill "$gpid" 2>/dev/null || true
      break
    fi
    sleep 1
  done
  wait "$gpid" 2>/dev/null || true
  tar xf "$wd/out.img" -C "$out" 2>/dev/null || true
  cp "$wd/guest.console" "$out/console.log"
  cp "$wd/guest.cmd" "$out/qemu.cmd"
  [ -f "$wd/peer.console" ] && cp "$wd/peer.console" "$out/peer-console.log"
  echo "$((SECONDS - start))" >"$out/wall_s"
  printf 'vcpus=%s numa=%s mem_mib=%s kernel=%s accel=%s disk_iops=%s disk_bps=%s net_mbit=%s\n' \
    "$vcpus" "$numa" "$mem" "$kernel" "$(lab_accel 2>/dev/null)" "${iops:--}" "${bps:--}" "${mbit:--}" >"$out/shape"
  # How much the host let the guest run: qemu's CPU seconds and the seconds
  # its threads waited for a host CPU (a starved TCG guest cannot reach a cap).
  awk -v r="${sched_last% *}" -v w="${sched_last#* }" -v t="$((SECONDS - start))" -v l0="$load0" -v l1="$(cut -d' ' -f1 /proc/loadavg)" \
    'BEGIN { printf "qemu_cpu_s %.1f\nqemu_wait_s %.1f\nwall_s %d\nqemu_wait_per_s %.2f\nhost_load_start %s\nhost_load_end %s\n", r/1e9, w/1e9, t, (t > 0 ? w/1e9/t : 0), l0, l1 }' >"$out/host-cpu"
  lab_teardown
  rc=3
  [ -f "$out/rc" ] && rc=$(cat "$out/rc")
  log "guest done in $(cat "$out/wall_s") s, job exit $rc; results in $out"
  echo "$out"
  return "$rc"
}

case "${1:-}" in
  setup) shift; lab_setup; lab_accel >/dev/null ;;
  boot) shift; lab_boot "$@" ;;
  check) shift; exec "$LAB_DIR/check.sh" "$@" ;;
  *) sed -n '2,28p' "$0"; exit 2 ;;
esac
