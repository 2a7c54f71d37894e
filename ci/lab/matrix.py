#!/usr/bin/env python3
"""A Markdown matrix of lab results across shapes and kernels (used by
ci/lab/check.sh until `skubench matrix` is in the build).

  matrix.py RUN_DIR RESULT.json…
"""
import json
import os
import statistics
import sys

COLUMNS = [
    ("cpu.int.ops_per_s", "cpu int ops/s", 1),
    ("disk.randread.iops", "randread IOPS", 1),
    ("mem.stream.triad.bytes_per_s", "triad GB/s", 1e9),
    ("net.tcp_stream.bits_per_s", "tcp_stream Mbit/s", 1e6),
    ("net.udp_stream.loss_ratio", "udp loss", 1),
    ("jitter.wake_lat_ns.p99", "jitter p99 µs", 1e3),
]


def shape(path, run_dir):
    """The `shape` file lab.sh boot wrote beside the result (or above it)."""
    d = os.path.dirname(os.path.abspath(path))
    top = os.path.abspath(run_dir)
    while d.startswith(top):
        p = os.path.join(d, "shape")
        if os.path.exists(p):
            kv = dict(x.split("=", 1) for x in open(p).read().split())
            parts = [f"{kv.get('vcpus')}vCPU/{kv.get('numa')}node", kv.get("kernel", "")]
            if kv.get("disk_iops", "-") != "-":
                parts.append(f"disk {kv['disk_iops']} IOPS")
            if kv.get("net_mbit", "-") != "-":
                parts.append(f"net {kv['net_mbit']} Mbit/s")
            return " ".join(parts)
        d = os.path.dirname(d)
    return ""


def main(argv):
    run_dir, files = argv[1], argv[2:]
    print("# skubench lab matrix\n")
    print("Medians over the ok runs of each result file. TCG guests: throughput")
    print("figures other than the capped ones (disk IOPS, tcp_stream) say nothing about")
    print("real hardware.\n")
    head = ["result", "lab shape (configured)", "kernel", "vCPUs", "NUMA", "hypervisor", "runs ok"] + [c[1] for c in COLUMNS]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for f in files:
        with open(f) as fh:
            r = json.load(fh)
        h = r["host"]
        runs = r["runs"]
        ok = sum(1 for x in runs if x["status"] == "ok")
        row = [os.path.relpath(f, run_dir), shape(f, run_dir), h.get("kernel", ""), str(h.get("vcpus", "")),
               str(len(h.get("numa", []))), h.get("hypervisor", ""), f"{ok}/{len(runs)}"]
        for name, _, scale in COLUMNS:
            v = [m["value"] for x in runs if x["status"] == "ok" for m in x["metrics"] if m["name"] == name]
            row.append(f"{statistics.median(v) / scale:.4g}" if v else "")
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
