#!/usr/bin/env bash
# The object-storage emulators the store's tests (tests/emulators.rs) and the
# fleet walkthrough (docs/fleet.md) run against: Azurite (Azure Blob, from
# npm) and moto's server mode (S3, from PyPI), on 127.0.0.1, free ports.
#
#   scripts/emulators.sh install              install both (idempotent)
#   scripts/emulators.sh start DIR [WHICH]    start them (WHICH: all, azurite or s3), state in DIR;
#                                             prints the `export …` lines a client needs (also DIR/env)
#   scripts/emulators.sh stop DIR             stop the emulators started with DIR (only those)
#
# Each start creates the container `skubench` (Azurite) and the bucket
# `skubench` (moto): tests use their own prefixes inside them. Azurite keeps
# its data in memory, so nothing is left on disk after `stop`.
set -euo pipefail

CACHE="${SKUBENCH_EMULATOR_CACHE:-/var/cache/skubench-emulators}"
AZURITE_VERSION=3.35.0
AZURITE="$CACHE/azurite/node_modules/.bin/azurite-blob"
# The well-known development account of every Azure Storage emulator:
# public, documented by Microsoft, not a secret.
EMU_ACCOUNT=devstoreaccount1
EMU_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

die() { echo "emulators.sh: $*" >&2; exit 1; }

install() {
  if [ ! -x "$AZURITE" ]; then
    command -v npm >/dev/null || die "npm is needed for Azurite (apt-get install -y npm)"
    echo "emulators.sh: installing Azurite $AZURITE_VERSION from npm into $CACHE/azurite" >&2
    mkdir -p "$CACHE/azurite"
    npm install --prefix "$CACHE/azurite" --no-audit --no-fund --loglevel=error \
      "azurite@$AZURITE_VERSION" >&2 || die "npm install azurite failed"
  fi
  if ! python3 -c 'import moto.server' 2>/dev/null; then
    echo "emulators.sh: installing moto[server] from PyPI" >&2
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
      'moto[server]>=5.1,<6' >&2 || die "pip install moto[server] failed"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (at most 30 s) until 127.0.0.1:$1 accepts connections while pid $2 lives.
wait_port() {
  local port=$1 pid=$2 i
  for i in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || return 1
    if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1', $port)))" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# PUT a container on Azurite with Shared Key auth (object_store cannot
# create containers; the Azure SDK for Python would be one more install).
mk_container() {
  python3 - "$1" "$2" "$EMU_ACCOUNT" "$EMU_KEY" <<'PY'
import base64, hashlib, hmac, sys, urllib.request, urllib.error
from email.utils import formatdate
port, name, account, key = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
date = formatdate(usegmt=True)
version = "2021-08-06"
canon_headers = f"x-ms-date:{date}\nx-ms-version:{version}\n"
canon_resource = f"/{account}/{account}/{name}\nrestype:container"
ctype = "application/octet-stream"
# VERB, then 12 standard headers (Content-Type the 5th), then the x-ms ones.
to_sign = "PUT\n" + "\n" * 4 + ctype + "\n" + "\n" * 6 + canon_headers + canon_resource
sig = base64.b64encode(hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()).decode()
req = urllib.request.Request(
    f"http://127.0.0.1:{port}/{account}/{name}?restype=container", method="PUT", data=b"",
    headers={"Content-Type": ctype, "x-ms-date": date, "x-ms-version": version, "Authorization": f"SharedKey {account}:{sig}"})
try:
    urllib.request.urlopen(req, timeout=10)
except urllib.error.HTTPError as e:
    if e.code != 409:  # 409: it exists already
        sys.exit(f"creating container {name}: HTTP {e.code} {e.read()[:300]!r}")
PY
}

mk_bucket() {
  python3 - "$1" "$2" <<'PY'
import sys, urllib.request, urllib.error
port, name = sys.argv[1], sys.argv[2]
try:
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/{name}", method="PUT", data=b""), timeout=10)
except urllib.error.HTTPError as e:
    if e.code != 409:
        sys.exit(f"creating bucket {name}: HTTP {e.code} {e.read()[:300]!r}")
PY
}

start_azurite() {
  local dir=$1 try port pid
  for try in 1 2 3; do
    port=$(free_port)
    # In memory: no --location, and Azurite's debug log is off (--silent).
    (cd "$dir" && exec setsid "$AZURITE" --blobHost 127.0.0.1 --blobPort "$port" \
      --inMemoryPersistence --skipApiVersionCheck --silent) >"$dir/azurite.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/azurite.pid"
    if wait_port "$port" "$pid"; then
      mk_container "$port" skubench || { stop "$dir"; die "Azurite: cannot create the container"; }
      {
        echo "export AZURE_STORAGE_USE_EMULATOR=true"
        echo "export AZURITE_BLOB_STORAGE_URL=http://127.0.0.1:$port"
        echo "export SKUBENCH_AZURITE_PORT=$port"
      } >>"$dir/env"
      return 0
    fi
    kill "$pid" 2>/dev/null || true
  done
  die "Azurite did not start; see $dir/azurite.log"
}

start_s3() {
  local dir=$1 try port pid
  for try in 1 2 3; do
    port=$(free_port)
    setsid python3 -m moto.server -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/moto.pid"
    if wait_port "$port" "$pid"; then
      mk_bucket "$port" skubench || { stop "$dir"; die "moto: cannot create the bucket"; }
      {
        echo "export AWS_ENDPOINT=http://127.0.0.1:$port"
        echo "export AWS_ALLOW_HTTP=true"
        # moto accepts any key; these are placeholders, not credentials.
        echo "export AWS_ACCESS_KEY_ID=skubench-test"
        echo "export AWS_SECRET_ACCESS_KEY=skubench-test"
        echo "export AWS_REGION=us-east-1"
        echo "export SKUBENCH_S3_PORT=$port"
      } >>"$dir/env"
      return 0
    fi
    kill "$pid" 2>/dev/null || true
  done
  die "moto did not start; see $dir/moto.log"
}

stop() {
  local dir=$1 f pid
  for f in "$dir"/azurite.pid "$dir"/moto.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    # setsid made each emulator its own process group: end the group.
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 -- "-$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

cmd=${1:-}
case "$cmd" in
  install) install ;;
  start)
    dir=${2:?usage: emulators.sh start DIR [all|azurite|s3]}
    which=${3:-all}
    install
    mkdir -p "$dir"
    : >"$dir/env"
    case "$which" in
      all) start_azurite "$dir"; start_s3 "$dir" ;;
      azurite) start_azurite "$dir" ;;
      s3) start_s3 "$dir" ;;
      *) die "unknown emulator \`$which\` (all, azurite, s3)" ;;
    esac
    cat "$dir/env"
    ;;
  stop) stop "${2:?usage: emulators.sh stop DIR}" ;;
  *) die "usage: emulators.sh install | start DIR [all|azurite|s3] | stop DIR" ;;
esac
