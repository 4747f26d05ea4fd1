#!/usr/bin/env bash
# shipshape restore drill: proves the newest verified backup of this host can be restored,
# without touching live data, and prints ONE JSON result (schema shipshape.drill/1).
#
#   1. Downloads each archive of the newest VERIFIED run once and, in the same pass, hashes it
#      and extracts it into a scratch directory, as restore.sh prepares (download_extract: no
#      archive copy on disk); it passes only when its checksum matches the manifest. A differential
#      (level 1) needs its base too: from a verified run, checksum checked, extracted first.
#      A PostgreSQL dump is downloaded (hashed in the same pass) for pg_restore --list.
#   2. SQLite copies must start with the SQLite header and pass integrity_check; directories must
#      have entries.
#   3. Removes the scratch directory, whatever happens.
#
# Inputs: SHIPSHAPE_STACK, SHIPSHAPE_RUN_ID, SHIPSHAPE_BUCKET, SHIPSHAPE_PREFIX,
# SHIPSHAPE_SCRATCH_DIR (default /var/tmp), SHIPSHAPE_FROM_HOST (default this host).
set -euo pipefail
export LC_ALL=C
script_dir=${0%/*}; [ "$script_dir" != "$0" ] || script_dir=. # the libraries' directory, without starting dirname
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$script_dir/lib/common.sh" # shipshape:inline lib/common.sh
keep_stdout
# shellcheck source-path=SCRIPTDIR source=lib/s3.sh
. "$script_dir/lib/s3.sh" # shipshape:inline lib/s3.sh
# shellcheck source-path=SCRIPTDIR source=lib/backups.sh
. "$script_dir/lib/backups.sh" # shipshape:inline lib/backups.sh

BUCKET="${SHIPSHAPE_BUCKET:-}"
PREFIX="${SHIPSHAPE_PREFIX:-backups}"
from_host="${SHIPSHAPE_FROM_HOST:-self}"
[ "$from_host" = self ] && from_host=$host_id
scratch_root="${SHIPSHAPE_SCRATCH_DIR:-/var/tmp}"
STREAM_T="${SHIPSHAPE_STREAM_TIMEOUT_SECONDS:-21600}"
SQLITE_T="${SHIPSHAPE_SQLITE_TIMEOUT_SECONDS:-3600}"
work=""
scratch=""
errors=()
results=()
run_prefix=""

note_error() { errors+=("$(json_str "$1" 500)"); }

# shellcheck disable=SC2317 # print_result and on_exit run from the EXIT trap
print_result() {
  result_header shipshape.drill/1
  printf '"from":%s,"archives":[%s],"errors":[%s]}\n' \
    "$(json_str_or_null "$run_prefix")" \
    "$(join_by_comma "${results[@]}")" "$(join_by_comma "${errors[@]:0:20}")"
}

# shellcheck disable=SC2317
on_exit() {
  local rc=$?
  [ "$rc" != 0 ] && note_error "drill aborted with exit code $rc"
  [ -n "$scratch" ] && rm -rf "$scratch"
  emit_result shipshape.drill/1 print_result '"from":null,"archives":[]'
  [ -z "$work" ] || rm -rf "$work"
  exit 0
}
trap on_exit EXIT
trap_signals
work=$(mktemp -d 2>/dev/null) || { work=""; note_error "cannot create a temporary directory in ${TMPDIR:-/tmp}"; exit 0; }

HASH=(sha256sum)
have openssl && HASH=(openssl dgst -sha256 -r)
for tool in tar tee "${HASH[0]}"; do
  have "$tool" || note_error "$tool is not installed on the host"
done
have aws || have curl || note_error "neither curl nor the AWS CLI is installed on the host"
[ -n "$BUCKET" ] || note_error "SHIPSHAPE_BUCKET is not set"
[ "${#errors[@]}" = 0 ] || exit 0

stage "find run"
run_prefix=$(find_run "$PREFIX/$STACK/$from_host/" latest "$work/keys" 2> "$work/find.err") || { note_error "$(head -c 300 "$work/find.err")"; run_prefix=""; exit 0; }
s3_get "$run_prefix/manifest.json" > "$work/manifest.json" 2> "$work/get.err" || { note_error "cannot read $run_prefix/manifest.json: $(head -c 200 "$work/get.err")"; exit 0; }
scratch=$(mktemp -d "$scratch_root/shipshape-drill.XXXXXX") || { note_error "cannot create a scratch directory in $scratch_root"; exit 0; }

# Downloads <key> once, hashed in the same pass: a directory extracted into $scratch/<name>, a
# database decompressed to $scratch/<name>.db (download_extract), anything else kept as <file>.
fetch() { # key sha256 kind compression name file
  case "$3" in
    volume|path) download_extract "$1" "$2" "$4" "$scratch/$5" dir ;;
    sqlite) download_extract "$1" "$2" "$4" "$scratch/$5.db" file ;;
    *) download_verified "$1" "$2" "$6" ;;
  esac
}

# drill_archive name kind key sha compression level baseKey baseSha256
drill_archive() {
  local name=$1 kind=$2 key=$3 sha=$4 compression=$5 level=$6 bkey=$7 bsha=$8 t0 file="$scratch/$1.archive" ok=1 integrity="" entries="" error="" base_run
  case "$kind" in volume|path) mkdir -p "$scratch/$name" ;; esac
  [ "$bkey" != - ] || bkey=""
  [ "$bsha" != - ] || bsha=""
  t0=$(now_ms)
  stage "drill $name"
  # A differential (chain-format): its base must be there, verified, and match its checksum too.
  if [ "$level" = 1 ]; then
    base_run=$(run_of_key "$bkey")
    if [ -z "$bkey" ] || [ -z "$bsha" ]; then
      ok=0; error="a differential without its base in the manifest"
    elif ! run_verified "$base_run" "$work/keys"; then
      ok=0; error="its base $bkey is from $base_run, which was never verified"
    elif ! fetch "$bkey" "$bsha" "$kind" "$compression" "$name" "$file.base" 2> "$work/dl.err"; then
      ok=0; error="base: $(head -c 300 "$work/dl.err")"
      grep -q 'does not match its checksum' "$work/dl.err" && error="base checksum mismatch: $(head -c 300 "$work/dl.err")"
    fi
  fi
  # As restore.sh prepares: the base first, then the differential over it, incremental-aware.
  if [ "$ok" = 1 ] && ! fetch "$key" "$sha" "$kind" "$compression" "$name" "$file" 2> "$work/dl.err"; then
    ok=0; error="$(head -c 300 "$work/dl.err")"
    grep -q 'does not match its checksum' "$work/dl.err" && error="checksum mismatch: $error"
  fi
  if [ "$ok" = 1 ] && [ "$kind" = postgres ]; then
    if have pg_restore; then
      if pg_restore --list "$file" > "$work/toc" 2> "$work/pg.err"; then entries=$(grep -vc '^;' "$work/toc" || true); else ok=0; error="pg_restore --list: $(head -c 200 "$work/pg.err")"; fi
    else
      integrity="not checked: pg_restore is not installed on the host"
    fi
  elif [ "$ok" = 1 ] && [ "$kind" = sqlite ]; then
    if rm -f "$work/sqlite.why"; ! is_sqlite_file "$scratch/$name.db" "$work/sqlite.why"; then
      ok=0; error=$(cat "$work/sqlite.why" 2>/dev/null) || error="the decompressed copy is not a SQLite database"
    elif have sqlite3; then
      integrity=$(limit "$SQLITE_T" sqlite3 "file:$scratch/$name.db?mode=ro" "PRAGMA integrity_check;" 2>&1 | head -c 200) || true
      [ "$integrity" = ok ] || { ok=0; error="integrity_check: $integrity"; }
    else
      integrity="not checked: sqlite3 is not installed on the host"
    fi
  elif [ "$ok" = 1 ]; then
    entries=$(find "$scratch/$name" | wc -l)
  fi
  rm -rf "${scratch:?}/$name" "$scratch/$name.db" "$file" "$file.base"
  [ "$ok" = 1 ] || note_error "$name: $error"
  results+=("{\"name\":$(json_str "$name"),\"kind\":\"$kind\",\"key\":$(json_str "$key"),\"ok\":$(json_bool "$ok"),\"integrity\":$(json_str_or_null "$integrity"),\
\"entries\":$(json_num "$entries"),\"durationMs\":$(( $(now_ms) - t0 )),\"error\":$(json_str_or_null "$error"),\"level\":$(json_num "$level"),\"baseKey\":$(json_str_or_null "$bkey")}")
}

while IFS=$'\t' read -r name kind key sha compression level bkey bsha; do
  drill_archive "$name" "$kind" "$key" "$sha" "$compression" "$level" "$bkey" "$bsha"
done < <(manifest_archives "$work/manifest.json")
[ "${#results[@]}" -gt 0 ] || note_error "the manifest of $run_prefix lists no archive"
exit 0
