#!/usr/bin/env bash
# Sourced helpers: a private apt configuration for one extra Debian suite
# (bookworm-backports, bullseye, trixie), derived from the machine's own apt
# sources, so that no mirror host is written anywhere and the host's apt
# configuration (sources, lists) is never changed.
#
#   lab_debian_uri                 # the Debian mirror URI the host already uses
#   lab_apt_dir "SUITE…"           # prints a private apt dir for those suites (created, updated once a day)
#   lab_apt "SUITE…" apt-get ARGS… # runs apt-get/apt-cache with that private dir
#
# Both source formats are read: one-line (/etc/apt/sources.list, *.list) and
# deb822 (*.sources). The first entry that carries a Debian main archive suite
# (not -security) wins; SKUBENCH_DEBIAN_URI overrides it.

LAB_CACHE="${SKUBENCH_LAB_CACHE:-/var/cache/skubench-lab}"

lab_debian_uri() {
  if [ -n "${SKUBENCH_DEBIAN_URI:-}" ]; then
    echo "$SKUBENCH_DEBIAN_URI"
    return
  fi
  local f uri=""
  local files=()
  local etc="${LAB_APT_ETC:-/etc/apt}" # another root for the self-test
  [ -f "$etc/sources.list" ] && files+=("$etc/sources.list")
  for f in "$etc"/sources.list.d/*.list "$etc"/sources.list.d/*.sources; do
    [ -f "$f" ] && files+=("$f")
  done
  for f in "${files[@]}"; do
    case "$f" in
      *.sources)
        # deb822: stanzas separated by blank lines; URIs/Suites fields.
        uri=$(awk '
          function flush() { if (u != "" && s ~ /(^| )(buster|bullseye|bookworm|trixie|forky|sid|stable|oldstable|testing|unstable)( |$)/ && t ~ /(^| )deb( |$)/) { print u; found=1; exit } u=""; s=""; t="" }
          /^[ \t]*#/ { next }
          /^[ \t]*$/ { flush(); next }
          tolower($1) == "uris:" { u=$2 }
          tolower($1) == "suites:" { $1=""; s=$0 }
          tolower($1) == "types:" { $1=""; t=$0 }
          END { if (!found) flush() }' "$f")
        ;;
      *)
        # one-line: deb [opts] URI SUITE COMPONENTS…
        uri=$(awk '
          /^[ \t]*#/ { next }
          $1 == "deb" {
            i = 2
            if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
            if ($(i+1) ~ /^(buster|bullseye|bookworm|trixie|forky|sid|stable|oldstable|testing|unstable)(-updates|-backports)?$/) { print $i; exit }
          }' "$f")
        ;;
    esac
    if [ -n "$uri" ]; then
      echo "${uri%/}"
      return
    fi
  done
  echo "lab: no Debian archive entry found in the apt sources (set SKUBENCH_DEBIAN_URI)" >&2
  return 1
}

# Private apt dir for some suites; `apt-get update` runs once per dir (and
# again when its lists are older than a day).
lab_apt_dir() {
  local suites="$1" dir uri s
  dir="$LAB_CACHE/apt/${suites// /+}"
  mkdir -p "$dir/lists/partial" "$dir/archives/partial" "$dir/sources.list.d"
  if [ ! -s "$dir/sources.list" ]; then
    uri=$(lab_debian_uri) || return 1
    for s in $suites; do
      echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $s main"
    done >"$dir/sources.list"
  fi
  if [ -z "$(find "$dir/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null)" ]; then
    _lab_apt_opts "$dir"
    apt-get "${LAB_APT_OPTS[@]}" -qq update >&2 || return 1
  fi
  echo "$dir"
}

_lab_apt_opts() {
  local dir="$1"
  LAB_APT_OPTS=(
    -o "Dir::Etc::sourcelist=$dir/sources.list"
    -o "Dir::Etc::sourceparts=$dir/sources.list.d"
    -o "Dir::State::Lists=$dir/lists"
    -o "Dir::Cache::Archives=$dir/archives"
    -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
    -o "APT::Default-Release="
    -o "APT::Sandbox::User=root"
  )
}

# lab_apt "SUITE…" apt-get|apt-cache ARGS…
lab_apt() {
  local suites="$1" tool="$2" dir
  shift 2
  dir=$(lab_apt_dir "$suites") || return 1
  _lab_apt_opts "$dir"
  "$tool" "${LAB_APT_OPTS[@]}" "$@"
}

# The host's own Debian codename (bookworm on Debian 12).
lab_host_codename() {
  # shellcheck disable=SC1091
  (. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
}
