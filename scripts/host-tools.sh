#!/usr/bin/env bash
# Checks every host tool the test suite runs for real and, as root with apt reachable, installs
# what is missing. As another user it stops with the exact `sudo apt-get install ...` line.
# npm runs it before `npm test` (the "pretest" script), so the README's test command needs
# nothing else; `.ci/run` calls the same command.
#
# Each entry is "command-or-absolute-path:debian-package:why".
#   /usr/bin/aws by its full path: a pyenv `aws` 1.x earlier on PATH does not count.
set -euo pipefail

tools=(
  "bash:bash:host scripts"
  "tar:tar:backup archives"
  "gzip:gzip:backup compression=gzip"
  "zstd:zstd:backup compression=zstd"
  "sha256sum:coreutils:backup checksums"
  "timeout:coreutils:time limits in host scripts"
  "grep:grep:log scans (GNU grep)"
  "awk:mawk:host metrics"
  "sed:sed:host scripts"
  "ps:procps:process checks"
  "hostname:hostname:host identity"
  "sqlite3:sqlite3:SQLite backups, integrity, maintenance"
  "jq:jq:host-script tests"
  "/usr/bin/python3:python3:the fake docker CLI in host-script tests (test/support/fake_docker.py)"
  "curl:curl:HTTP probes"
  "openssl:openssl:certificate checks, SHA-256"
  "shellcheck:shellcheck:the shellcheck test"
  "/usr/bin/aws:awscli:backups, restores, drills against s3rver"
  "podman:podman:container tier"
  "runc:runc:container tier (crun cannot start containers on hybrid cgroups)"
  "newuidmap:uidmap:container tier"
  "slirp4netns:slirp4netns:container tier networking"
  "fuse-overlayfs:fuse-overlayfs:container tier storage"
  "debootstrap:debootstrap:container tier base image"
  "docker-compose:docker-compose:container tier, compose v1 on podman's Docker API"
  "pg_restore:postgresql-client:drills of PostgreSQL dumps (pg_restore --list)"
)

have() {
  case "$1" in
    /*) [ -x "$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] ;;
  esac
}

missing=()
packages=()
for entry in "${tools[@]}"; do
  IFS=: read -r tool package why <<< "$entry"
  have "$tool" && continue
  missing+=("$tool ($why)")
  case " ${packages[*]-} " in *" $package "*) ;; *) packages+=("$package") ;; esac
done

root_note() {
  [ "$(id -u)" -eq 0 ] && return 0
  echo "host-tools: note: some tests need root and fail without it (the container tier runs rootful podman;" >&2
  echo "host-tools:   the full-disk backup tests mount a tmpfs): run the whole suite as root, e.g. sudo npm test" >&2
}

if [ "${#packages[@]}" -eq 0 ]; then
  echo "host-tools: all ${#tools[@]} tools the tests need are installed"
  root_note
  exit 0
fi

printf 'host-tools: missing %s\n' "${missing[@]}" >&2
install_line="apt-get install -y ${packages[*]}"

if [ "$(id -u)" -ne 0 ]; then
  echo "host-tools: the tests need them. Install them with:" >&2
  echo "  sudo $install_line" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "host-tools: no apt-get here; install the equivalent of: $install_line" >&2
  exit 1
fi

echo "host-tools: installing ${packages[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq >&2; then
  echo "host-tools: apt-get update failed (is a Debian mirror reachable?); then run: $install_line" >&2
  exit 1
fi
apt-get install -y -qq "${packages[@]}" > /dev/null

still=()
for entry in "${tools[@]}"; do
  IFS=: read -r tool _ _ <<< "$entry"
  have "$tool" || still+=("$tool")
done
if [ "${#still[@]}" -gt 0 ]; then
  echo "host-tools: still missing after apt-get install: ${still[*]}" >&2
  exit 1
fi
echo "host-tools: installed ${packages[*]}; all ${#tools[@]} tools present"
