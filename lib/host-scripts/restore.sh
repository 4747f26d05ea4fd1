#!/usr/bin/env bash
# shipshape restore: puts a verified backup back in place on this host, and prints ONE JSON
# result (schema shipshape.restore/1, see lib/results/restore.ts).
#
#   1. Finds the run: the newest verified one, or the timestamp asked for.
#   2. Downloads every archive once and checks its SHA-256 against the manifest, before
#      anything on the host is touched.
#   3. Takes a safety backup of the current state (the backup runbook, in full).
#   4. Stops the containers that use the data, restores, starts them in order and waits for
#      health; SQLite copies are checked with integrity_check.
#   5. On any failure after step 4 began, restores the safety backup the same way.
#
# Inputs (document preamble): SHIPSHAPE_STACK, SHIPSHAPE_RUN_ID, SHIPSHAPE_SPEC_FILE (section backup) (the
# stack's backup spec), SHIPSHAPE_BUCKET, SHIPSHAPE_PREFIX, SHIPSHAPE_TIMESTAMP ("latest"
# or 20261121T020000Z), SHIPSHAPE_SOURCES ("*" or a comma list), SHIPSHAPE_FROM_HOST
# ("self" or the instance whose backup to use).
# shellcheck disable=SC2031 # the safety backup runs backup.sh in a subshell on purpose
set -euo pipefail
export LC_ALL=C
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "$0")/lib/common.sh" # shipshape:inline lib/common.sh
keep_stdout
# shellcheck source-path=SCRIPTDIR source=lib/s3.sh
. "$(dirname "$0")/lib/s3.sh" # shipshape:inline lib/s3.sh
# shellcheck source-path=SCRIPTDIR source=lib/backups.sh
. "$(dirname "$0")/lib/backups.sh" # shipshape:inline lib/backups.sh

BUCKET="${SHIPSHAPE_BUCKET:-}"
PREFIX="${SHIPSHAPE_PREFIX:-backups}"
WANTED="${SHIPSHAPE_TIMESTAMP:-latest}"
SOURCES="${SHIPSHAPE_SOURCES:-*}"
HEALTH_WAIT="${SHIPSHAPE_HEALTH_WAIT_SECONDS:-120}"
from_host="${SHIPSHAPE_FROM_HOST:-self}"
[ "$from_host" = self ] && from_host=$host_id
work=$(mktemp -d)
errors=()
restored=()
restarts=()
stopped=()
failed=0
run_prefix=""
safety_prefix=""
rolled_back=null
touched=0

note_error() { errors+=("$(json_str "$1" 500)"); failed=1; }

# shellcheck disable=SC2317 # runs from the EXIT trap
print_result() {
  result_header shipshape.restore/1
  printf '"from":%s,"safetyPrefix":%s,"ok":%s,"rolledBack":%s,"sources":[%s],"restarts":[%s],"errors":[%s]}\n' \
    "$(json_str_or_null "$run_prefix")" "$(json_str_or_null "$safety_prefix")" "$(json_bool "$([ "$failed" = 0 ] && echo 1)")" "$rolled_back" \
    "$(join_by_comma "${restored[@]}")" "$(join_by_comma "${restarts[@]}")" "$(join_by_comma "${errors[@]:0:20}")"
}

start_all() {
  local c out ok
  for c in "${stopped[@]}"; do
    ok=1
    limit 60 docker start "$c" > /dev/null 2>&1 || ok=0
    out=$(wait_healthy "$c")
    out=${out%|*}
    if [ "$ok" = 0 ] || [ "${out%%|*}" != running ]; then
      note_error "container $c did not start again (${out})"
      ok=0
    fi
    restarts+=("{\"container\":$(json_str "$c"),\"started\":$(json_bool "$ok"),\"state\":$(json_str "${out%%|*}"),\"health\":$(json_str "${out##*|}")}")
  done
  stopped=()
}

# shellcheck disable=SC2317
on_exit() {
  local rc=$?
  [ "$rc" != 0 ] && [ "$RESULT_EMITTED" = 0 ] && note_error "restore aborted with exit code $rc; see the command's standard error"
  [ "${#stopped[@]}" -gt 0 ] && start_all
  clear_busy
  emit_result shipshape.restore/1 print_result '"from":null,"safetyPrefix":null,"ok":false,"rolledBack":null,"sources":[],"restarts":[]'
  rm -rf "$work"
  exit 0
}
trap on_exit EXIT
trap_signals
mark_busy restore

for tool in docker tar aws sha256sum; do
  have "$tool" || note_error "$tool is not installed on the host"
done
spec_error=$(spec_problem)
spec=""
if [ -n "$spec_error" ]; then note_error "$spec_error"; else spec=$(read_spec backup); fi
[ -n "$spec" ] || [ -n "$spec_error" ] || note_error "stack '$STACK' has no backup section in its spec"
[ -n "$BUCKET" ] || note_error "SHIPSHAPE_BUCKET is not set"
[ "$failed" = 0 ] || exit 0

# --- 1. the run --------------------------------------------------------------------
host_prefix="$PREFIX/$STACK/$from_host/"
run_prefix=$(find_run "$host_prefix" "$WANTED" "$work/keys" 2> "$work/find.err") || { note_error "$(head -c 300 "$work/find.err")"; run_prefix=""; exit 0; }
s3_get "$run_prefix/manifest.json" > "$work/manifest.json" 2> "$work/get.err" || { note_error "cannot read $run_prefix/manifest.json"; exit 0; }

selected() { [ "$SOURCES" = '*' ] || [[ ",$SOURCES," == *",$1,"* ]]; }
manifest_archives "$work/manifest.json" > "$work/archives"
: > "$work/selected"
while IFS=$'\t' read -r name kind key sha compression; do
  selected "$name" && printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$kind" "$key" "$sha" "$compression" >> "$work/selected"
done < "$work/archives"
[ -s "$work/selected" ] || { note_error "none of the sources '$SOURCES' is in $run_prefix"; exit 0; }

# --- 2. verify before touching anything -------------------------------------------------
while IFS=$'\t' read -r name _ key sha _; do
  got=$(s3_get "$key" 2> "$work/get.err" | sha256sum | cut -d' ' -f1) || got=""
  [ "$got" = "$sha" ] || note_error "$name: $key does not match its checksum (got ${got:-nothing}); nothing was changed"
done < "$work/selected"
[ "$failed" = 0 ] || exit 0

# --- 3. safety backup of the current state ----------------------------------------------
safety_backup() (
  export SHIPSHAPE_RUN_ID="$RUN_ID-safety"
  # shellcheck source-path=SCRIPTDIR source=backup.sh
  . "$(dirname "$0")/backup.sh" # shipshape:inline backup.sh
)
safety_backup > "$work/safety.json" 2> "$work/safety.err" || true
mark_busy restore
safety_prefix=$(grep -o '"manifestKey":"[^"]*"' "$work/safety.json" | sed 's/"manifestKey":"\(.*\)\/manifest.json"/\1/' || true)
if [ -z "$safety_prefix" ]; then
  note_error "the safety backup did not complete, so nothing was restored: $(grep -o '"errors":\[[^]]*\]' "$work/safety.json" | head -c 400)"
  exit 0
fi

# --- 4. restore --------------------------------------------------------------------------
stop_for() { # container
  local c=$1 s
  for s in "${stopped[@]}"; do [ "$s" = "$c" ] && return 0; done
  limit 120 docker stop -t 30 "$c" > /dev/null 2>&1 || { note_error "container $c would not stop; nothing of its data was restored"; return 1; }
  stopped+=("$c")
}

users_of_volume() { limit 20 docker ps -a --filter "volume=$1" --format "${LB}.Names${RB}" 2>/dev/null || true; }

# restore_archive <name> <kind> <key> <compression> <run prefix>: 0 on success
restore_archive() {
  local name=$1 kind=$2 key=$3 compression=$4 dir target db container
  case "$kind" in
    volume)
      dir=$(limit 20 docker volume inspect --format "${LB}.Mountpoint${RB}" "$name" 2>/dev/null) || { note_error "$name: volume $name does not exist"; return 1; }
      touched=1
      if ! { find "$dir" -mindepth 1 -delete && s3_get "$key" | decompress "$compression" | tar -C "$dir" --numeric-owner -xf -; }; then
        note_error "$name: extracting into volume $name failed"
        return 1
      fi
      ;;
    path)
      while IFS=$'\t' read -r k n p _; do [ "$k" = path ] && [ "$n" = "$name" ] && target=$p; done <<< "$spec"
      [ -n "${target:-}" ] || { note_error "$name: not a path of this stack's backup"; return 1; }
      mkdir -p "$target"
      touched=1
      if ! { find "$target" -mindepth 1 -delete && s3_get "$key" | decompress "$compression" | tar -C "$target" --numeric-owner -xf -; }; then
        note_error "$name: extracting into $target failed"
        return 1
      fi
      ;;
    postgres)
      local database user
      while IFS=$'\t' read -r k n c d u _; do [ "$k" = postgres ] && [ "$n" = "$name" ] && container=$c && database=$d && user=$u; done <<< "$spec"
      [ -n "${database:-}" ] || { note_error "$name: not a database of this stack's backup"; return 1; }
      touched=1
      if ! s3_get "$key" | limit 21600 docker exec -i "$container" pg_restore --clean --if-exists --no-owner -U "$user" -d "$database" 2> "$work/pg.err"; then
        note_error "$name: pg_restore into $database in $container failed: $(head -c 200 "$work/pg.err")"
        return 1
      fi
      ;;
    sqlite)
      while IFS=$'\t' read -r k n c p _; do [ "$k" = sqlite ] && [ "$n" = "$name" ] && container=$c && db=$p; done <<< "$spec"
      [ -n "${db:-}" ] || { note_error "$name: not a database of this stack's backup"; return 1; }
      target=$(host_path "$container" "$db") || { note_error "$name: $db is not on a volume or bind mount of $container, so it cannot be restored from the host"; return 1; }
      touched=1
      rm -f "$target-wal" "$target-shm" "$target-journal"
      if ! { s3_get "$key" | decompress "$compression" > "$target.shipshape-restore" && mv -f "$target.shipshape-restore" "$target"; }; then
        note_error "$name: writing $target failed"
        return 1
      fi
      ;;
  esac
}

# Runs restore_archive for every selected line of <list file>, with the right containers stopped.
restore_all() {
  local list=$1 name kind key sha compression c ok
  while IFS=$'\t' read -r name kind key sha compression; do
    case "$kind" in
      sqlite) while IFS=$'\t' read -r k n c _; do [ "$k" = sqlite ] && [ "$n" = "$name" ] && { stop_for "$c" || return 1; }; done <<< "$spec" ;;
      volume) while read -r c; do [ -n "$c" ] && { stop_for "$c" || return 1; }; done < <(users_of_volume "$name") ;;
    esac
  done < "$list"
  while IFS=$'\t' read -r k c _; do [ "$k" = stop ] && { stop_for "$c" || return 1; }; done <<< "$spec"
  ok=0
  while IFS=$'\t' read -r name kind key sha compression; do
    if restore_archive "$name" "$kind" "$key" "$compression"; then
      restored+=("{\"name\":$(json_str "$name"),\"kind\":\"$kind\",\"key\":$(json_str "$key"),\"sha256\":\"$sha\",\"ok\":true}")
    else
      restored+=("{\"name\":$(json_str "$name"),\"kind\":\"$kind\",\"key\":$(json_str "$key"),\"sha256\":\"$sha\",\"ok\":false}")
      ok=1
    fi
  done < "$list"
  start_all
  return "$ok"
}

check_sqlite() {
  local k n c p result rc target
  while IFS=$'\t' read -r k n c p _; do
    { [ "$k" = sqlite ] && selected "$n"; } || continue
    rc=0
    result=$(limit 300 docker exec "$c" sqlite3 "$p" "PRAGMA integrity_check;" 2>&1) || rc=$?
    if [ "$rc" = 126 ] || [ "$rc" = 127 ]; then
      # No sqlite3 in the image: check the file from the host, if the host has sqlite3.
      if ! target=$(host_path "$c" "$p") || ! have sqlite3; then continue; fi
      result=$(sqlite3 "file:$target?mode=ro" "PRAGMA integrity_check;" 2>&1) || true
    fi
    [ "$(printf '%s' "$result" | head -c 200)" = ok ] || note_error "$n: restored database fails integrity_check: $(printf '%s' "$result" | head -c 200)"
  done <<< "$spec"
}

if restore_all "$work/selected"; then check_sqlite; fi
start_all
if [ "$failed" = 1 ] && [ "$touched" = 1 ]; then
  # --- 5. put the safety backup back ----------------------------------------------------------
  s3_get "$safety_prefix/manifest.json" > "$work/manifest.json" 2>/dev/null || true
  : > "$work/rollback"
  while IFS=$'\t' read -r name kind key sha compression; do
    selected "$name" && printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$kind" "$key" "$sha" "$compression" >> "$work/rollback"
  done < <(manifest_archives "$work/manifest.json")
  restored=()
  errors_before=${#errors[@]}
  if restore_all "$work/rollback" && [ "${#errors[@]}" = "$errors_before" ]; then rolled_back=true; else rolled_back=false; fi
  start_all
fi
exit 0
