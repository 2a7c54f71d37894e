#!/usr/bin/env python3
"""Builds fuzz/seeds/<target>/ from real files.

Usage: fuzz/make_seeds.py GENERATED_DIR

GENERATED_DIR holds outputs of real runs, made as docs/reliability.md says
(`skubench list > list.txt`, a short `skubench run` of null and cpu, `fio --output-format=json` and
`json+`, `iperf3 -J` over TCP, UDP and reverse, and one iperf3 error).
Everything else comes from the repository: suites/, ci/examples/, the
fixtures of baselines/src/import.rs and ci/src/imds.rs, and frames shaped
as workloads/src/net/proto.rs writes them. Rerun it after a format change;
`cargo fuzz cmin` can shrink the result.
"""
import base64
import json
import pathlib
import struct
import re
import sys
import zlib

root = pathlib.Path(__file__).resolve().parent.parent
gen = pathlib.Path(sys.argv[1])
seeds = root / "fuzz" / "seeds"


def put(target, name, data):
    d = seeds / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / name).write_bytes(data)


# Suites: the shipped ones.
for f in sorted((root / "suites").glob("*.toml")):
    put("suite_toml", f.name, f.read_text())
put("suite_toml", "overrides.toml",
    'name = "x"\nwarmup = "1s"\nduration = "2s"\nrepetitions = 3\ninterval = "100ms"\n'
    '[[workload]]\nkind = "null"\nname = "n"\ngroup = "g"\n'
    '[[workload]]\nkind = "disk"\nrw = "randrw"\nbs = "4k"\niodepth = 8\nsize = "64m"\n')

# fio job files: the shipped one and the one of workloads/tests/untrusted.rs.
put("fio_job", "disk-example.fio", (root / "suites" / "disk-example.fio").read_text())
put("fio_job", "untrusted.fio",
    "; a job file with the options skubench takes\n[global]\nioengine=io_uring\n"
    "direct=1\nbs=${BS}\nsize=64m\nruntime=10\ntime_based\nramp_time=2\n\n[rr]\nrw=randread\n"
    "iodepth=32\nnumjobs=2\nbssplit=4k/50:64k/50\n\n[rw]\nrw=randrw\nrwmixread=70\nfsync=8\n"
    "verify=crc32c\nrate_iops=500\nrandom_distribution=zipf:1.2\n")

# Result files from a real run, and histogram blobs out of them.
blobs = []
for f in sorted(gen.glob("r-*.json")):
    text = f.read_text()
    put("result_json", f.name, text)
    for run in json.loads(text)["runs"]:
        blobs += list(run.get("histograms", {}).values())
for i, b in enumerate(blobs[:4]):
    put("hist_blob", f"text-{i}", b"\x00" + b.encode())
    raw = base64.b64decode(b)
    put("hist_blob", f"raw-{i}", b"\x01" + raw)
    # The same histogram uncompressed (V2 without DEFLATE, which decode
    # also takes): mutations of it reach the counts, not the inflater.
    put("hist_blob", f"plain-{i}", b"\x01" + zlib.decompress(raw[8:]))

# Peer tool output, for the importers.
for f in sorted(gen.glob("fio*.json")):
    put("import_fio", f.name, f.read_text())
put("import_fio", "leading-text.json",
    "fio: some warning about ioengine\n" + (gen / "fio.json").read_text())
for f in sorted(gen.glob("iperf*.json")):
    put("import_iperf3", f.name, f.read_text())

# Policy and spec: the examples.
put("policy_toml", "policy.toml", (root / "ci" / "examples" / "policy.toml").read_text())
put("policy_toml", "empty.toml", "")
put("spec_toml", "spec.toml", (root / "ci" / "examples" / "spec.toml").read_text())

# IMDS: the reply ci/src/imds.rs's test server sends, and refusals.
body = ('{"compute":{"vmSize":"Standard_D2s_v5","location":"eastus","storageProfile":'
        '{"imageReference":{"publisher":"Canonical","offer":"ubuntu-24_04-lts","sku":"server",'
        '"version":"latest"}}}}')
put("imds_reply", "ok",
    f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}")
put("imds_reply", "404", "HTTP/1.1 404 Not Found\r\n\r\n")
put("imds_reply", "chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{}")


# Control frames: a whole client session and a peer's answers, as write_msg
# frames them (4-byte big-endian length, compact JSON).
def frame(m):
    b = json.dumps(m, separators=(",", ":")).encode()
    return struct.pack(">I", len(b)) + b


nonce = "ab" * 32
spec = {"kind": "tcp_rr", "roles": ["echo", "echo"], "threads": 0, "msg_size": 0,
        "req_size": 1, "resp_size": 1, "sndbuf": None, "rcvbuf": 262144,
        "congestion": "cubic", "nodelay": True, "pin": [0, 1], "client_closes": False}
udp = dict(spec, kind="udp_stream", roles=["source"], threads=1, msg_size=1200,
           req_size=0, resp_size=0, bitrate=1e9, pin=None, congestion=None)
put("peer_frames", "client-session", b"".join(frame(m) for m in [
    {"type": "hello", "proto": 1, "client_nonce": nonce, "software": "skubench 0.1.0"},
    {"type": "auth", "mac": "cd" * 32},
    {"type": "start", "spec": spec},
    {"type": "mark", "phase": "start"},
    {"type": "mark", "phase": "end"},
    {"type": "stop"},
    {"type": "start", "spec": udp},
    {"type": "bye"},
]))
results = {"rx_bytes": 1000, "tx_bytes": 2000, "transactions": 10, "measured_rx_bytes": 900,
           "measured_tx_bytes": 1800, "measured_s": 1.5,
           "cpu": {"secs": 1.5, "vcpus": 2, "busy_ratio": 0.5, "user_ratio": 0.1,
                   "system_ratio": 0.3, "irq_ratio": 0.0, "softirq_ratio": 0.1, "busy_cpu_s": 1.5},
           "tcp": {"sockets": 2, "retransmits": 0, "rtt_us_mean": 20.5, "rtt_us_max": 40,
                   "snd_cwnd_mean": 10.0},
           "udp": {"datagrams": 5, "bytes": 6000, "reordered": 0, "duplicates": 0,
                   "jitter_ns": 1500.0, "foreign": 1},
           "placement": [0, None], "pinned": True, "errors": ["one"]}
put("peer_frames", "peer-session", b"".join(frame(m) for m in [
    {"type": "challenge", "proto": 1, "server_nonce": nonce, "software": "skubench 0.1.0"},
    {"type": "auth_ok", "mac": "ef" * 32,
     "limits": {"max_duration_s": 3600, "idle_timeout_s": 60, "max_msg": 65536}, "vcpus": 2},
    {"type": "ready", "data_port": 40000, "cookie": "01" * 16},
    {"type": "results", "results": results},
    {"type": "error", "message": "refused: the peer is busy"},
]))
put("peer_frames", "oversized", struct.pack(">I", 0xFFFFFFFF) + b"{}")

# UDP datagrams: records of (2-byte length, 8-byte arrival ns, datagram)
# with the cookie of fuzz_targets/udp_datagram.rs.
cookie = b"skubench-cookie!"


def datagram(flow, seq, sent, size=32):
    d = cookie[:8] + struct.pack(">I", flow) + b"\0" * 4 + struct.pack(">QQ", seq, sent)
    return d + b"\0" * (size - len(d))


def rec(d, arrival):
    return struct.pack(">Hq", len(d), arrival) + d


put("udp_datagram", "in-order", b"".join(
    rec(datagram(f, s, 1000 * s), 1000 * s + 50 + 7 * (s % 3)) for s in range(4) for f in range(2)))
put("udp_datagram", "reordered-dup-foreign", b"".join([
    rec(datagram(0, 5, 5000), 6000), rec(datagram(0, 3, 3000), 6100), rec(datagram(0, 5, 5000), 6200),
    rec(datagram(9, 1, 100), 6300), rec(b"notours!" + b"\0" * 24, 6400), rec(datagram(1, 0, 0, 12), 10),
]))


# Dictionaries: every key and string the seeds hold (JSON keys and values,
# TOML keys), plus tokens of the formats, so the fuzzer combines real names.
def words(target):
    out = set()
    for f in (seeds / target).iterdir():
        text = f.read_bytes().decode("utf-8", "replace")
        out.update(re.findall(r'"([A-Za-z_][A-Za-z0-9_. %-]{0,40})"', text))
        out.update(re.findall(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=", text, re.M))
    return out


extra = {
    "suite_toml": ["[[workload]]", "true", "false", "\"1s\"", "\"4k\"", "\"all\"", "${HOME}"],
    "fio_job": ["[global]", "${BS}", "${SIZE}", "${NOPE}", "4k", "64m", "randrw", "zipf:1.2",
                "bssplit=", "rate_iops=", "time_based"],
    "policy_toml": ["[[threshold]]", "[[role]]", "metric", "threshold", "role", "headline",
                    "secondary", "explanatory", "ignore", "*"],
    "spec_toml": ["[[limit]]", "metric", "min", "max", "tolerance", "workload", "note", "*"],
    "imds_reply": ["HTTP/1.1 200 OK", "\r\n\r\n", "Transfer-Encoding: chunked", "compute",
                   "vmSize", "storageProfile", "imageReference"],
    "udp_datagram": [cookie[:8].decode()],
}
# The suite keys and their enumerated values, from `skubench list` (saved
# as GENERATED_DIR/list.txt).
if (gen / "list.txt").exists():
    lst = (gen / "list.txt").read_text()
    kinds = re.findall(r"^(\S+)  —", lst, re.M)
    keys = re.findall(r"^\s+--(\w+)\s+(\S+)", lst, re.M)
    extra["suite_toml"] += [f'kind = "{k}"' for k in kinds] + [k for k, _ in keys]
    extra["suite_toml"] += sorted({v for _, vs in keys if "|" in vs for v in vs.split("|")})
d = root / "fuzz" / "dict"
d.mkdir(exist_ok=True)
for target in sorted(p.name for p in seeds.iterdir()):
    if target == "hist_blob":
        continue
    ws = sorted(words(target) | set(extra.get(target, [])))
    lines = []
    for w in ws:
        # libFuzzer's dictionary syntax: printable ASCII, \\ \" and \xNN.
        esc = "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\x{b:02X}"
                      for b in w.encode())
        lines.append(f'"{esc}"')
    (d / f"{target}.dict").write_text("\n".join(lines) + "\n")
