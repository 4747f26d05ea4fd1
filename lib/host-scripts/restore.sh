#!/usr/bin/env bash
# shipshape restore: puts a verified backup back in place on this host, and prints ONE JSON
# result (schema shipshape.restore/1, see lib/results/restore.ts).
#
#   1. Finds the run: the newest verified one, or the timestamp asked for, which must be
#      verified too unless SHIPSHAPE_ALLOW_UNVERIFIED=true (a console parameter behind approval).
#   2. Downloads every archive ONCE into a staging directory and checks its SHA-256 against
#      the manifest, before anything on the host is touched. The restore reads exactly these
#      verified files, never S3 again.
#   3. Takes a safety backup of the current state (the backup runbook, in full).
#   4. Stops the running containers that use the data (docker stop -t stopTimeoutSeconds),
#      restores, starts exactly those again in order, and waits for each to run and be
#      healthy (or have no HEALTHCHECK) within its wait; SQLite copies must pass
#      integrity_check. Anything short of that is a failure.
#   5. On any failure after the first file changed, restores the safety backup the same way
#      (downloaded once and verified too).
#
# Inputs (document preamble): SHIPSHAPE_STACK, SHIPSHAPE_RUN_ID, SHIPSHAPE_SPEC_FILE (section backup) (the
# stack's backup spec), SHIPSHAPE_BUCKET, SHIPSHAPE_PREFIX, SHIPSHAPE_TIMESTAMP ("latest"
# or 20261121T020000Z), SHIPSHAPE_SOURCES ("*" or a comma list), SHIPSHAPE_FROM_HOST
# ("self" or the instance whose backup to use), SHIPSHAPE_ALLOW_UNVERIFIED ("false"/"true"),
# SHIPSHAPE_SCRATCH_DIR (staging, default /var/tmp).
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
# shellcheck source-path=SCRIPTDIR source=lib/sqlite.sh
. "$(dirname "$0")/lib/sqlite.sh" # shipshape:inline lib/sqlite.sh
# shellcheck source-path=SCRIPTDIR source=lib/compose.sh
. "$(dirname "$0")/lib/compose.sh" # shipshape:inline lib/compose.sh

BUCKET="${SHIPSHAPE_BUCKET:-}"
PREFIX="${SHIPSHAPE_PREFIX:-backups}"
WANTED="${SHIPSHAPE_TIMESTAMP:-latest}"
SOURCES="${SHIPSHAPE_SOURCES:-*}"
ALLOW_UNVERIFIED="${SHIPSHAPE_ALLOW_UNVERIFIED:-false}"
HEALTH_WAIT="${SHIPSHAPE_HEALTH_WAIT_SECONDS:-120}"
STREAM_T="${SHIPSHAPE_STREAM_TIMEOUT_SECONDS:-21600}"
scratch_root="${SHIPSHAPE_SCRATCH_DIR:-/var/tmp}"
from_host="${SHIPSHAPE_FROM_HOST:-self}"
[ "$from_host" = self ] && from_host=$host_id
work=""
staging=""
errors=()
restored=()
restarts=()
stopped=()
left_alone=()
killed=()
failed=0
run_prefix=""
safety_prefix=""
rolled_back=null
touched=0
stop_timeout=60

note_error() { errors+=("$(json_str "$1" 500)"); failed=1; }

# shellcheck disable=SC2317 # runs from the EXIT trap
print_result() {
  result_header shipshape.restore/1
  printf '"from":%s,"safetyPrefix":%s,"ok":%s,"rolledBack":%s,"sources":[%s],"restarts":[%s],"errors":[%s]}\n' \
    "$(json_str_or_null "$run_prefix")" "$(json_str_or_null "$safety_prefix")" "$(json_bool "$([ "$failed" = 0 ] && echo 1)")" "$rolled_back" \
    "$(join_by_comma "${restored[@]}")" "$(join_by_comma "${restarts[@]}")" "$(join_by_comma "${errors[@]:0:20}")"
}

# Starts what this script stopped, in order, and waits for each: running and healthy (or no
# HEALTHCHECK) within HEALTH_WAIT, as the health check judges it. Anything else is an error.
start_all() {
  local c out ok state health rest k was_killed
  for c in "${stopped[@]}"; do
    was_killed=0
    for k in "${killed[@]}"; do [ "$k" = "$c" ] && was_killed=1; done
    stage "start $c"
    ok=1
    limit "$DOCKER_T" docker start "$c" > /dev/null 2>&1 || ok=0
    out=$(wait_healthy "$c")
    state=${out%%|*}; rest=${out#*|}; health=${rest%%|*}
    if [ "$ok" = 0 ] || [ "$state" != running ]; then
      note_error "container $c did not start again ($state)"
      ok=0
    elif [ "$health" != healthy ] && [ "$health" != none ]; then
      note_error "container $c runs but is $health after ${HEALTH_WAIT}s"
    fi
    restarts+=("{\"container\":$(json_str "$c"),\"started\":$(json_bool "$ok"),\"state\":$(json_str "$state"),\"health\":$(json_str "$health"),\"killed\":$(json_bool "$was_killed")}")
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
  [ -z "$staging" ] || rm -rf "$staging"
  [ -z "$work" ] || rm -rf "$work"
  exit 0
}
trap on_exit EXIT
trap_signals
mark_busy restore
stage "start restore"
work=$(mktemp -d 2>/dev/null) || { work=""; note_error "cannot create a temporary directory in ${TMPDIR:-/tmp}"; exit 0; }

HASH=(sha256sum)
have openssl && HASH=(openssl dgst -sha256 -r)
for tool in docker tar aws "${HASH[0]}"; do
  have "$tool" || note_error "$tool is not installed on the host"
done
load_backup_spec
[ -n "$BUCKET" ] || note_error "SHIPSHAPE_BUCKET is not set"
[ "$failed" = 0 ] || exit 0
while IFS=$'\t' read -r kind _ _ c _; do [ "$kind" = conf ] && stop_timeout=${c:-60}; done <<< "$spec"

# --- 1. the run --------------------------------------------------------------------
stage "find run"
host_prefix="$PREFIX/$STACK/$from_host/"
run_prefix=$(find_run "$host_prefix" "$WANTED" "$work/keys" 2> "$work/find.err") || { note_error "$(head -c 300 "$work/find.err")"; run_prefix=""; exit 0; }
if [ "$WANTED" != latest ] && ! grep -qx "$run_prefix/verified.json" "$work/keys"; then
  if [ "$ALLOW_UNVERIFIED" = true ]; then
    stage "run $run_prefix is not verified; restoring it because AllowUnverified=true"
  else
    note_error "$run_prefix was never verified, so it is not restored; to restore it anyway, run again with AllowUnverified=true (needs approval)"
    exit 0
  fi
fi
s3_get "$run_prefix/manifest.json" > "$work/manifest.json" 2> "$work/get.err" || { note_error "cannot read $run_prefix/manifest.json: $(head -c 200 "$work/get.err")"; exit 0; }

selected() { [ "$SOURCES" = '*' ] || [[ ",$SOURCES," == *",$1,"* ]]; }
manifest_archives "$work/manifest.json" > "$work/archives" || true
: > "$work/selected"
while IFS=$'\t' read -r name kind key sha compression; do
  selected "$name" && printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$kind" "$key" "$sha" "$compression" >> "$work/selected"
done < "$work/archives"
[ -s "$work/selected" ] || { note_error "none of the sources '$SOURCES' is in $run_prefix"; exit 0; }

# --- 2. download once, verify before touching anything ----------------------------------
staging=$(mktemp -d "$scratch_root/shipshape-restore.XXXXXX" 2>/dev/null) || { staging=""; note_error "cannot create a staging directory in $scratch_root"; exit 0; }

# Downloads every archive of <list> into <dir> (one file each, named by its line number) and
# checks its SHA-256; the restore reads only these files. 0 when all match.
fetch_verified() { # list dir
  local list=$1 dir=$2 n=0 name key sha got rc
  mkdir -p "$dir" || return 1
  while IFS=$'\t' read -r name _ key sha _; do
    n=$((n + 1))
    stage "download $name"
    rc=0
    s3_get "$key" > "$dir/$n" 2> "$work/get.err" || rc=$?
    if [ "$rc" != 0 ]; then
      note_error "$name: downloading $key failed (exit $rc): $(head -c 200 "$work/get.err")$( [ -s "$dir/$n" ] || df -Ph "$dir" 2>/dev/null | awk 'NR == 2 { printf "; %s free in the staging directory", $4 }')"
      continue
    fi
    got=$(limit "$STREAM_T" "${HASH[@]}" < "$dir/$n" 2> "$work/hash.err" | cut -d' ' -f1) || got=""
    [ "$got" = "$sha" ] || note_error "$name: $key does not match its checksum (got ${got:-nothing}: $(head -c 100 "$work/hash.err")); nothing was changed"
  done < "$list"
  [ "$failed" = 0 ]
}
fetch_verified "$work/selected" "$staging/run" || exit 0

# --- 3. safety backup of the current state ----------------------------------------------
stage "safety backup"
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
  local c=$1 s state t_stop
  for s in "${stopped[@]}" "${left_alone[@]}"; do [ "$s" = "$c" ] && return 0; done
  state=$(limit "$DOCKER_T" docker inspect --format "${LB}.State.Status${RB}" "$c" 2>/dev/null) || state=""
  [ -n "$state" ] || { note_error "container $c cannot be inspected; nothing of its data was restored"; return 1; }
  if [ "$state" != running ] && [ "$state" != restarting ] && [ "$state" != paused ]; then
    left_alone+=("$c")
    return 0
  fi
  stage "stop $c"
  stopped+=("$c")
  t_stop=$(now_ms)
  limit $(( stop_timeout + DOCKER_T )) docker stop -t "$stop_timeout" "$c" > /dev/null 2>&1 || { note_error "container $c would not stop; nothing of its data was restored"; return 1; }
  state=$(limit "$DOCKER_T" docker inspect --format "${LB}.State.Status${RB}|${LB}.State.ExitCode${RB}" "$c" 2>/dev/null) || state=""
  case "${state%%|*}" in
    exited|stopped|created) ;;
    *) note_error "container $c is ${state%%|*} after docker stop; nothing of its data was restored"; return 1 ;;
  esac
  # Killed at the end of stopTimeoutSeconds (exit 137): reported with its start.
  if [ "${state##*|}" = 137 ] || [ $(( $(now_ms) - t_stop )) -ge $(( stop_timeout * 1000 )) ]; then killed+=("$c"); fi
}

users_of_volume() { limit "$DOCKER_T" docker ps -a --filter "volume=$1" --format "${LB}.Names${RB}" 2>/dev/null; }

# Extracts a verified local archive into a directory that was emptied first.
extract_into() { # file compression dir
  local st
  set +e
  decompress "$2" < "$1" | limit "$STREAM_T" tar -C "$3" --numeric-owner --totals -xf - 2> "$work/tar.err"
  st=("${PIPESTATUS[@]}")
  set -e
  # GNU tar reports what it read: a tar that read nothing restored nothing.
  if [ "${st[0]}" = 0 ] && [ "${st[1]}" = 0 ] && grep -q 'Total bytes read: [1-9]' "$work/tar.err"; then return 0; fi
  printf ' (decompress exit %s, tar exit %s)' "${st[0]}" "${st[1]}" >> "$work/tar.err"
  return 1
}

# restore_archive <name> <kind> <verified file> <compression>: 0 on success
restore_archive() {
  local name=$1 kind=$2 file=$3 compression=$4 dir target db container mode k n c p m d u
  stage "restore $name"
  case "$kind" in
    volume)
      local vol
      vol=$(compose_volume_or_key "$project" "$name")
      dir=$(limit "$DOCKER_T" docker volume inspect --format "${LB}.Mountpoint${RB}" "$vol" 2>/dev/null) || { note_error "$name: volume $vol does not exist"; return 1; }
      touched=1
      if ! { find "$dir" -mindepth 1 -delete && extract_into "$file" "$compression" "$dir"; }; then
        note_error "$name: extracting into volume $name failed: $(head -c 200 "$work/tar.err")"
        return 1
      fi
      ;;
    path)
      while IFS=$'\t' read -r k n p _; do [ "$k" = path ] && [ "$n" = "$name" ] && target=$p; done <<< "$spec"
      [ -n "${target:-}" ] || { note_error "$name: not a path of this stack's backup"; return 1; }
      mkdir -p "$target"
      touched=1
      if ! { find "$target" -mindepth 1 -delete && extract_into "$file" "$compression" "$target"; }; then
        note_error "$name: extracting into $target failed: $(head -c 200 "$work/tar.err")"
        return 1
      fi
      ;;
    postgres)
      local database user
      while IFS=$'\t' read -r k n c d u _; do [ "$k" = postgres ] && [ "$n" = "$name" ] && container=$c && database=$d && user=$u; done <<< "$spec"
      [ -n "${database:-}" ] || { note_error "$name: not a database of this stack's backup"; return 1; }
      touched=1
      if ! limit "$STREAM_T" docker exec -i "$container" pg_restore --clean --if-exists --no-owner -U "$user" -d "$database" < "$file" 2> "$work/pg.err"; then
        note_error "$name: pg_restore into $database in $container failed: $(head -c 200 "$work/pg.err")"
        return 1
      fi
      ;;
    sqlite)
      while IFS=$'\t' read -r k n c p m _; do [ "$k" = sqlite ] && [ "$n" = "$name" ] && container=$c && db=$p && mode=${m:-host}; done <<< "$spec"
      [ -n "${db:-}" ] || { note_error "$name: not a database of this stack's backup"; return 1; }
      target=$(host_path "$container" "$db") || { note_error "$name: $db is not on a volume or bind mount of $container, so it cannot be restored from the host"; return 1; }
      touched=1
      rm -f "$target-wal" "$target-shm" "$target-journal"
      if ! { decompress "$compression" < "$file" > "$target.shipshape-restore" && mv -f "$target.shipshape-restore" "$target"; }; then
        rm -f "$target.shipshape-restore"
        note_error "$name: writing $target failed"
        return 1
      fi
      ;;
  esac
}

# Restores every line of <list> from the verified files in <dir>, with the right containers
# stopped, and starts them again.
restore_all() { # list dir
  local list=$1 dir=$2 name kind key sha compression c ok n i k
  while IFS=$'\t' read -r name kind key sha compression; do
    case "$kind" in
      sqlite) while IFS=$'\t' read -r k i c _; do [ "$k" = sqlite ] && [ "$i" = "$name" ] && { stop_for "$c" || return 1; }; done <<< "$spec" ;;
      volume)
        users_of_volume "$(compose_volume_or_key "$project" "$name")" > "$work/users" || { note_error "$name: cannot list the containers that use volume $name (docker ps failed); nothing was restored"; return 1; }
        while read -r c; do [ -n "$c" ] && { stop_for "$c" || return 1; }; done < "$work/users"
        ;;
    esac
  done < "$list"
  while IFS=$'\t' read -r k c _; do [ "$k" = stop ] && { stop_for "$c" || return 1; }; done <<< "$spec"
  ok=0
  n=0
  while IFS=$'\t' read -r name kind key sha compression; do
    n=$((n + 1))
    if restore_archive "$name" "$kind" "$dir/$n" "$compression"; then
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
  local k n c p m result rc
  while IFS=$'\t' read -r k n c p m _; do
    { [ "$k" = sqlite ] && selected "$n"; } || continue
    stage "integrity_check $n"
    rc=0
    result=$(sqlite_exec "${m:-host}" "$c" "$p" "$SQLITE_TIMEOUT_S" "PRAGMA integrity_check;" 2>&1) || rc=$?
    [ "$(printf '%s' "$result" | head -c 200)" = ok ] || note_error "$n: restored database fails integrity_check: $(printf '%s' "$result" | head -c 200)"
  done <<< "$spec"
}

if restore_all "$work/selected" "$staging/run"; then check_sqlite; fi
start_all
if [ "$failed" = 1 ] && [ "$touched" = 1 ]; then
  # --- 5. put the safety backup back ----------------------------------------------------------
  stage "roll back to $safety_prefix"
  rolled_back=false
  errors_before=${#errors[@]}
  : > "$work/rollback"
  if s3_get "$safety_prefix/manifest.json" > "$work/safety-manifest.json" 2> "$work/get.err"; then
    while IFS=$'\t' read -r name kind key sha compression; do
      selected "$name" && printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$kind" "$key" "$sha" "$compression" >> "$work/rollback"
    done < <(manifest_archives "$work/safety-manifest.json")
  else
    note_error "cannot read the safety backup's manifest: $(head -c 200 "$work/get.err")"
  fi
  restored=()
  saved_failed=$failed
  failed=0
  if [ -s "$work/rollback" ] && fetch_verified "$work/rollback" "$staging/safety" && restore_all "$work/rollback" "$staging/safety" \
    && [ "${#errors[@]}" = "$errors_before" ]; then rolled_back=true; fi
  failed=$saved_failed
  start_all
fi
stage "done"
exit 0
