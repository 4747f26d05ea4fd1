#!/usr/bin/env bash
# shipshape maintenance: SQLite VACUUM/ANALYZE/REINDEX and Docker pruning, and ONE JSON result
# (schema shipshape.maintenance/1).
#
#   1. A full backup first (the backup runbook), checked against its checksums in S3. Without
#      it, no database is touched.
#   2. Each database: its container stopped (unless marked online), the operations run, then
#      integrity_check; the container is started again and waited for, whatever happened.
#   3. docker image/container prune with an age filter. Never volume prune.
#
# Inputs: SHIPSHAPE_STACK, SHIPSHAPE_RUN_ID, SHIPSHAPE_SPEC_FILE (sections maintenance and,
# for the backup taken first, backup), SHIPSHAPE_BUCKET, SHIPSHAPE_PREFIX.
# shellcheck disable=SC2031 # the backup runs backup.sh in a subshell on purpose
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
# shellcheck source-path=SCRIPTDIR source=lib/sqlite.sh
. "$script_dir/lib/sqlite.sh" # shipshape:inline lib/sqlite.sh
# shellcheck source-path=SCRIPTDIR source=lib/compose.sh
. "$script_dir/lib/compose.sh" # shipshape:inline lib/compose.sh

BUCKET="${SHIPSHAPE_BUCKET:-}"
HEALTH_WAIT="${SHIPSHAPE_HEALTH_WAIT_SECONDS:-120}"
SQLITE_TIMEOUT="${SHIPSHAPE_SQLITE_TIMEOUT_MS:-30000}"
SQLITE_T="${SHIPSHAPE_MAINTENANCE_TIMEOUT_SECONDS:-3600}"
work=""
errors=()
dbs=()
prunes=()
held_down=""
backup_prefix=""

note_error() { errors+=("$(json_str "$1" 500)"); }

# shellcheck disable=SC2317 # print_result and on_exit run from the EXIT trap
print_result() {
  result_header shipshape.maintenance/1
  printf '"backupPrefix":%s,"sqlite":[%s],"prune":[%s],"errors":[%s]}\n' \
    "$(json_str_or_null "$backup_prefix")" \
    "$(join_by_comma "${dbs[@]}")" "$(join_by_comma "${prunes[@]}")" "$(join_by_comma "${errors[@]:0:20}")"
}

# shellcheck disable=SC2317
on_exit() {
  local rc=$?
  [ "$rc" != 0 ] && note_error "maintenance aborted with exit code $rc"
  # A stopped container always comes back.
  if [ -n "$held_down" ]; then limit "$DOCKER_T" docker start "$held_down" > /dev/null 2>&1 || note_error "container $held_down did not start again"; fi
  clear_busy
  emit_result shipshape.maintenance/1 print_result '"backupPrefix":null,"sqlite":[],"prune":[]'
  [ -z "$work" ] || rm -rf "$work"
  exit 0
}
trap on_exit EXIT
trap_signals
work=$(mktemp -d 2>/dev/null) || { work=""; note_error "cannot create a temporary directory in ${TMPDIR:-/tmp}"; exit 0; }
# The stack stays claimed from before the backup until the databases are done.
claim_stack maintenance || exit 0

spec_error=$(spec_problem)
[ -z "$spec_error" ] || { note_error "$spec_error"; exit 0; }
mspec=$(read_spec maintenance)
# Compose service names become the containers compose made for them.
project=$(compose_spec_project)
if [ -n "$project" ]; then
  mspec=$(compose_resolve_records "$project" <<< "$mspec" 2> "$work/resolve.err") || true
  while IFS= read -r unresolved; do [ -n "$unresolved" ] && note_error "$unresolved"; done < "$work/resolve.err"
fi
stop_timeout=60
while IFS=$'\t' read -r kind _ _ c _; do [ "$kind" = conf ] && stop_timeout=${c:-60}; done <<< "$(read_spec backup)"

# --- 1. a checked backup before any database is touched ----------------------------------
if grep -q '^sqlite' <<< "$mspec"; then
  run_backup() (
    export SHIPSHAPE_RUN_ID="$RUN_ID-before-maintenance"
    # shellcheck source-path=SCRIPTDIR source=backup.sh
    . "$script_dir/backup.sh" # shipshape:inline backup.sh
  )
  run_backup > "$work/backup.json" 2> "$work/backup.err" || true
  backup_prefix=$(grep -o '"manifestKey":"[^"]*"' "$work/backup.json" | sed 's/"manifestKey":"\(.*\)\/manifest.json"/\1/' || true)
  if [ -z "$backup_prefix" ]; then
    note_error "the backup before maintenance did not complete, so no database was touched"
  else
    s3_get "$backup_prefix/manifest.json" > "$work/manifest.json" 2>/dev/null || note_error "cannot read $backup_prefix/manifest.json"
    while IFS=$'\t' read -r name _ key sha _; do
      got=$(s3_get "$key" 2>/dev/null | sha256sum | cut -d' ' -f1) || got=""
      [ "$got" = "$sha" ] || note_error "the backup of $name does not match its checksum in S3, so no database was touched"
    done < <(manifest_archives "$work/manifest.json")
  fi
fi
mark_busy maintenance

# --- 2. databases -------------------------------------------------------------------------
sql_for() { # operations (comma list)
  local op out=""
  for op in ${1//,/ }; do
    case "$op" in vacuum) out+="VACUUM;" ;; analyze) out+="ANALYZE;" ;; reindex) out+="REINDEX;" ;; esac
  done
  printf '%s' "$out"
}

# Puts the copy taken before the operations back (the container is stopped).
put_back() { # target copy
  rm -f "$1-wal" "$1-shm" "$1-journal"
  cp -p "$2" "$1.shipshape-put-back" && mv -f "$1.shipshape-put-back" "$1"
}

while IFS=$'\t' read -r kind name container path operations online; do
  [ "$kind" = sqlite ] || continue
  if [ "${#errors[@]}" -gt 0 ]; then break; fi
  stage "maintenance $name"
  ok=1; error=""; integrity=""; checked=0; was_stopped=0; health=""; rolled=""
  sql=$(sql_for "$operations")
  if [ "$online" = 1 ]; then
    # Online: the host's sqlite3 on the mounted file when it can, else inside the container.
    mode=container
    if have sqlite3 && host_path "$container" "$path" > /dev/null; then mode=host; fi
    sqlite_exec "$mode" "$container" "$path" "$SQLITE_T" "$sql" > /dev/null 2> "$work/sql.err" || { rc=$?; ok=0; error="$(sqlite_reason "$rc" "$work/sql.err" "$SQLITE_T")"; }
    integrity=$(sqlite_exec "$mode" "$container" "$path" "$SQLITE_T" "PRAGMA integrity_check;" 2>&1 | head -c 200) || true
    checked=1
  elif ! target=$(sqlite_locate "$container" "$path" 2> "$work/locate.err"); then
    ok=0; error="$(head -c 300 "$work/locate.err"); mark it online or mount it"
  elif ! have sqlite3; then
    ok=0; error="sqlite3 is not installed on the host"
  else
    state=$(limit "$DOCKER_T" docker inspect --format "${LB}.State.Status${RB}" "$container" 2>/dev/null) || state=""
    if [ "$state" = running ] && ! limit $(( stop_timeout + DOCKER_T )) docker stop -t "$stop_timeout" "$container" > /dev/null 2> "$work/stop.err"; then
      ok=0; error="$container would not stop: $(head -c 200 "$work/stop.err")"
      held_down=$container
    else
      [ "$state" = running ] && { held_down=$container; was_stopped=1; }
      now_state=$(limit "$DOCKER_T" docker inspect --format "${LB}.State.Status${RB}" "$container" 2>/dev/null) || now_state=""
      # A copy to put back when anything fails: the container is stopped, so the file is whole.
      if [ "$now_state" = running ] || [ "$now_state" = restarting ] || [ -z "$now_state" ]; then
        ok=0; error="$container is ${now_state:-unknown} after docker stop; nothing was changed"
      elif ! cp -p "$target" "$work/before.db" 2> "$work/cp.err"; then
        ok=0; error="cannot copy the database aside before changing it (is ${TMPDIR:-/tmp} full?): $(head -c 200 "$work/cp.err"); nothing was changed"
      else
        limit "$SQLITE_T" sqlite3 "$target" ".timeout $SQLITE_TIMEOUT" "$sql" > /dev/null 2> "$work/sql.err" || { rc=$?; ok=0; error="$(sqlite_reason "$rc" "$work/sql.err" "$SQLITE_T")"; }
        integrity=$(limit "$SQLITE_T" sqlite3 "file:$target?mode=ro" "PRAGMA integrity_check;" 2>&1 | head -c 200) || true
        checked=1
        if [ "$ok" = 0 ] || [ "$integrity" != ok ]; then
          if put_back "$target" "$work/before.db"; then rolled=true; else rolled=false; fi
        fi
      fi
      if [ "$was_stopped" = 1 ]; then
        limit "$DOCKER_T" docker start "$container" > /dev/null 2>&1 || true
        held_down=""
        out=$(wait_healthy "$container")
        health=${out%|*}
        if [ "${health%%|*}" != running ] || { [ "${health##*|}" != healthy ] && [ "${health##*|}" != none ]; }; then
          ok=0; error="${error:+$error; }$container is not back and healthy after ${HEALTH_WAIT}s (${health})"
          # Same as a restore: the database goes back to its state before maintenance.
          if [ -z "$rolled" ] && [ -f "$work/before.db" ]; then
            limit $(( stop_timeout + DOCKER_T )) docker stop -t "$stop_timeout" "$container" > /dev/null 2>&1 || true
            if put_back "$target" "$work/before.db"; then rolled=true; else rolled=false; fi
            limit "$DOCKER_T" docker start "$container" > /dev/null 2>&1 || true
            out=$(wait_healthy "$container")
            health=${out%|*}
          fi
        fi
      fi
      rm -f "$work/before.db"
    fi
  fi
  # Once the database was touched, only integrity_check's own "ok" passes: no answer is not ok.
  [ "$checked" = 0 ] || [ "$integrity" = ok ] || { ok=0; error="${error:+$error; }integrity_check after maintenance: ${integrity:-no answer (sqlite3 printed nothing)}"; }
  [ -z "$rolled" ] || error="${error:+$error; }database put back as it was before: $rolled"
  [ "$ok" = 1 ] || note_error "$name: $error"
  dbs+=("{\"name\":$(json_str "$name"),\"container\":$(json_str "$container"),\"operations\":$(json_str "$operations"),\"ok\":$(json_bool "$ok"),\
\"stopped\":$(json_bool "$was_stopped"),\"integrity\":$(json_str_or_null "$integrity"),\"health\":$(json_str_or_null "$health"),\"rolledBack\":${rolled:-null},\"error\":$(json_str_or_null "$error")}")
done <<< "$mspec"

# --- 3. pruning -------------------------------------------------------------------------------
while IFS=$'\t' read -r kind what hours _; do
  [ "$kind" = prune ] || continue
  case "$what" in
    images) args=(image prune -a -f --filter "until=${hours}h") ;;
    containers) args=(container prune -f --filter "until=${hours}h") ;;
    *) note_error "unknown prune '$what'"; continue ;;
  esac
  if out=$(limit 1800 docker "${args[@]}" 2>&1); then
    prunes+=("{\"what\":\"$what\",\"ok\":true,\"reclaimed\":$(json_str_or_null "$(printf '%s\n' "$out" | sed -n 's/^Total reclaimed space: *//p' | head -n 1)")}")
  else
    note_error "docker $what prune failed: $(printf '%s' "$out" | head -c 200)"
    prunes+=("{\"what\":\"$what\",\"ok\":false,\"reclaimed\":null}")
  fi
done <<< "$mspec"
exit 0
