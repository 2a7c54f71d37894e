#!/usr/bin/env python3
"""Reads lab result files (skubench.result.v1) for ci/lab/check.sh.

  figures.py median FILE METRIC        median over the ok runs that have METRIC
  figures.py note FILE LABEL KEY       a note of the first run labelled LABEL
  figures.py scale FILE VCPUS NODES    the scale check; prints one line per finding,
                                       exit 1 if any does not hold
  figures.py allok FILE                every run ok (prints the ones that are not)
  figures.py allowance IN OUT KIND D   copy suite IN to OUT with the `duration` of
                                       the [[workload]] of that kind set to D
"""
import json
import statistics
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def values(result, metric):
    return [
        m["value"]
        for run in result["runs"]
        if run["status"] == "ok"
        for m in run["metrics"]
        if m["name"] == metric
    ]


def median(path, metric):
    v = values(load(path), metric)
    if not v:
        print(f"no ok run of {path} has {metric}", file=sys.stderr)
        return 1
    print(statistics.median(v))
    return 0


def note(path, label, key):
    for run in load(path)["runs"]:
        if run["label"] == label and key in run["notes"]:
            v = run["notes"][key]
            print(v if isinstance(v, str) else json.dumps(v))
            return 0
    print(f"no run {label} of {path} has note {key}", file=sys.stderr)
    return 1


def ebpf_p50(path):
    """skubench's own disk.randread p50 and the eBPF block histogram's p50
    (the busiest device) of the first ok run: "own traced", or why not."""
    for run in load(path)["runs"]:
        if run["status"] != "ok":
            continue
        m = {x["name"]: x["value"] for x in run["metrics"]}
        own = m.get("disk.randread.lat_ns.p50")
        traced = [
            (n, v) for n, v in m.items()
            if n.startswith("disk.randread.ebpf.block.") and n.endswith(".lat_ns.p50")
        ]
        if own is None or not traced:
            why = run["notes"].get("ebpf_absent", "no eBPF block histogram")
            print(f"{path}: {why}", file=sys.stderr)
            return 1
        # The device the workload read: the traced p50 nearest its own.
        name, v = min(traced, key=lambda x: abs(x[1] - own))
        print(own, v, name)
        return 0
    print(f"{path}: no ok run", file=sys.stderr)
    return 1


HEADLINE_RATES = (".ops_per_s", ".faults_per_s", ".iops", ".bits_per_s", ".transactions_per_s", ".connections_per_s")


def zero_rates(run):
    """Headline rates (`family.kind.rate`, three parts) of a run that are 0:
    a run that completed no operation in its measured phase measured nothing,
    whatever its status says."""
    return [
        m["name"]
        for m in run["metrics"]
        if m["name"].endswith(HEADLINE_RATES) and m["name"].count(".") <= 2 and m["value"] == 0
    ]


def allok(path):
    r = load(path)
    bad = [f"{run['label']}: {run['status']} {run.get('error', '')}" for run in r["runs"] if run["status"] != "ok"]
    bad += [f"{run['label']}: ok but measured 0: {', '.join(z)}" for run in r["runs"] if (z := zero_rates(run))]
    for b in bad:
        print(b)
    if not r["runs"]:
        print("no runs")
        return 1
    return 1 if bad or r["status"] != "ok" else 0


def scale(path, vcpus, nodes):
    r = load(path)
    h = r["host"]
    ok = True

    def say(good, text):
        nonlocal ok
        ok = ok and good
        print(("ok   " if good else "FAIL ") + text)

    say(h["vcpus"] == vcpus, f"fingerprint vcpus = {h['vcpus']} (configured {vcpus})")
    say(len(h.get("numa", [])) == nodes, f"fingerprint NUMA nodes = {len(h.get('numa', []))} (configured {nodes}): "
        + ", ".join(f"node{n['node']} cpus {n['cpus']}" for n in h.get("numa", [])))
    say(h.get("hypervisor") not in (None, "", "none"), f"fingerprint hypervisor = {h.get('hypervisor')!r}")
    for run in r["runs"]:
        say(run["status"] == "ok", f"{run['label']}: status {run['status']} {run.get('error', '')}".rstrip())
        z = zero_rates(run)
        say(not z, f"{run['label']}: headline rates non-zero" + (f" (0: {', '.join(z)})" if z else ""))
    names = {m["name"] for run in r["runs"] for m in run["metrics"]}
    last = vcpus - 1
    for want in [
        f"cpu.int.vcpu{last}.ops_per_s",  # spread: one step per vCPU
        f"cpu.int.scaling.t{vcpus}.efficiency_ratio",  # scaling curve up to all vCPUs
        f"jitter.vcpu{last}.wake_lat_ns.p99",  # jitter on every vCPU
        "mem.stream.triad.bytes_per_s",
    ]:
        say(want in names, f"metric {want} present")
    spread = [n for n in names if n.startswith("cpu.int.vcpu") and n.endswith(".ops_per_s")]
    say(len(spread) == vcpus, f"spread steps = {len(spread)} (vCPUs {vcpus})")
    for run in r["runs"]:
        if run["label"] == "mem.stream":
            t = run["notes"].get("mem.stream.threads")
            say(t == vcpus, f"mem.stream threads = {t} (pinned, each first-touches its own slice)")
            # A share of the arrays: above 1 means a merged VMA's huge pages
            # were counted once per thread (read 18.9 at 16 threads once).
            thp = run["notes"].get("mem.stream.thp_backed_ratio")
            say(isinstance(thp, (int, float)) and 0 <= thp <= 1,
                f"mem.stream thp_backed_ratio = {thp} (a share of the arrays, 0..1)")
        if run["label"] == "cpu" and "threads" in run["notes"].get("resources", {}):
            t = run["notes"]["resources"]["threads"]
            say(t == vcpus, f"cpu threads=all ran {t} threads")
    return 0 if ok else 1


def allowance(src, dst, kind, duration):
    """TCG runs a guest 10-100x slower than hardware: one workload whose single
    pass outlasts its measured phase gets a longer one (the rest is unchanged)."""
    out, in_it, done = [], False, False
    for line in open(src):
        s = line.strip()
        if s.startswith("[[workload]]"):
            in_it = False
        if s.replace(" ", "") == f'kind="{kind}"':
            in_it = True
            out.append(line)
            out.append(f'duration = "{duration}"  # lab allowance under TCG (ci/lab/check.sh)\n')
            done = True
            continue
        if in_it and s.startswith("duration"):
            continue
        out.append(line)
    if not done:
        print(f"{src}: no [[workload]] of kind {kind}", file=sys.stderr)
        return 1
    with open(dst, "w") as f:
        f.writelines(out)
    return 0


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "median" and len(argv) == 4:
        return median(argv[2], argv[3])
    if cmd == "ebpf_p50" and len(argv) == 3:
        return ebpf_p50(argv[2])
    if cmd == "note" and len(argv) == 5:
        return note(argv[2], argv[3], argv[4])
    if cmd == "scale" and len(argv) == 5:
        return scale(argv[2], int(argv[3]), int(argv[4]))
    if cmd == "allowance" and len(argv) == 6:
        return allowance(*argv[2:6])
    if cmd == "allok" and len(argv) == 3:
        return allok(argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
