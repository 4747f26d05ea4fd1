#!/usr/bin/env bash
# shipshape restore: puts a verified backup back in place on this host, and prints ONE JSON
# result (schema shipshape.restore/1, see lib/results/restore.ts).
#
#   1. Finds the run: the newest verified one, or the timestamp asked for, which must be
#      verified too unless SHIPSHAPE_ALLOW_UNVERIFIED=true (a console parameter behind approval).
#      A differential archive (level 1, chain-format) needs its base: the base run must be
#      verified as well, or the restore refuses and names the missing link.
#   2. Prepares beside, while the containers still run (two sources at a time): each archive is
#      downloaded ONCE and, in the same pass, hashed and decompressed (s3_get | tee >(sha256) |
#      zstd -dc | tar -x, every status checked) into a fresh sibling of the live data on the same filesystem,
#      <dir>.shipshape-restore-<runId> (owner, mode and SELinux label of <dir>); a differential
#      is extracted over its base there (tar --listed-incremental=/dev/null: files deleted since
#      the full are deleted). A SQLite copy is prepared as <db>.shipshape-restore-<runId> and must
#      start with the SQLite header and pass integrity_check (checked as soon as it is there,
#      while directories are still extracted). Volumes start first; the containers to stop, the
#      paths and the databases are looked up while they download. Any mismatch or failure: the
#      prepared copies are removed and nothing on the host changed. Leftovers of a killed run
#      (<dir>.shipshape-restore-*) are removed first and named on stderr.
#      Fallback ("staged"): a mount point, a directory a running container (one not stopped for
#      the restore) bind-mounts, a sibling that cannot be created, or PostgreSQL: the archive is
#      downloaded and hashed in one pass into a staging file, verified before any change, and
#      restored in place after the data was copied aside (cp -a --reflink=auto) or dumped aside.
#   3. Optionally (SHIPSHAPE_UPLOAD_PRE_RESTORE_BACKUP=true) uploads a safety backup of the
#      current state first (the backup runbook, in full).
#   4. Only then stops the running containers that use the data (docker stop -t
#      stopTimeoutSeconds) and swaps: the live directory is renamed to
#      <dir>.shipshape-before-<runId> and the prepared one renamed into its place (two O(1)
#      renames; a SQLite file and its -wal/-shm/-journal the same way). Staged sources are set
#      aside and restored in place. If no safety copy can be made, nothing changes.
#   5. Starts exactly the containers it stopped, in order, and waits for each to run and be
#      healthy (or have no HEALTHCHECK) within its wait; staged SQLite copies must pass
#      integrity_check. Anything short of that is a failure.
#   6. On success the set-aside copies are renamed <dir>.shipshape-drop-<runId> and removed by a
#      process of their own that outlives the script (freeing a large volume's blocks takes
#      seconds to minutes, and the restored services already run): the result names each as
#      "dropping". A later restore removes any such copy a reboot left (named on stderr). On any
#      failure the fresh data is removed and the set-aside copies are put back (renamed back),
#      and the containers started again. An aside copy that remains (a crash, a failed
#      rollback) is named in the result and on stderr.
#
# Inputs (document preamble): SHIPSHAPE_STACK, SHIPSHAPE_RUN_ID, SHIPSHAPE_SPEC_FILE (section backup) (the
# stack's backup spec), SHIPSHAPE_BUCKET, SHIPSHAPE_PREFIX, SHIPSHAPE_TIMESTAMP ("latest"
# or 20261121T020000Z), SHIPSHAPE_SOURCES ("*" or a comma list), SHIPSHAPE_FROM_HOST
# ("self" or the instance whose backup to use), SHIPSHAPE_ALLOW_UNVERIFIED ("false"/"true"),
# SHIPSHAPE_UPLOAD_PRE_RESTORE_BACKUP ("false"/"true"), SHIPSHAPE_SCRATCH_DIR (staging, default /var/tmp).
# shellcheck disable=SC2031 # the safety backup runs backup.sh in a subshell on purpose
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
PREFIX="${SHIPSHAPE_PREFIX:-backups}"
WANTED="${SHIPSHAPE_TIMESTAMP:-latest}"
SOURCES="${SHIPSHAPE_SOURCES:-*}"
ALLOW_UNVERIFIED="${SHIPSHAPE_ALLOW_UNVERIFIED:-false}"
UPLOAD_SAFETY="${SHIPSHAPE_UPLOAD_PRE_RESTORE_BACKUP:-false}"
HEALTH_WAIT="${SHIPSHAPE_HEALTH_WAIT_SECONDS:-120}"
STREAM_T="${SHIPSHAPE_STREAM_TIMEOUT_SECONDS:-21600}"
scratch_root="${SHIPSHAPE_SCRATCH_DIR:-/var/tmp}"
from_host="${SHIPSHAPE_FROM_HOST:-self}"
[ "$from_host" = self ] && from_host=$host_id
# The suffix of set-aside copies: <dir>.shipshape-before-<runId>.
aside_id=${RUN_ID//[^A-Za-z0-9._-]/_}
ASIDE=".shipshape-before-${aside_id:0:80}"
# The suffix of the copies prepared beside the live data: <dir>.shipshape-restore-<runId>.
# PREPARE_JOBS sources are prepared at a time (2: the two pipelines stay under 150 MB together).
PREPARE_JOBS=2
PREP=".shipshape-restore-${ASIDE#.shipshape-before-}"
# The suffix of set-aside copies a successful restore no longer needs, being removed.
DROP=".shipshape-drop-${ASIDE#.shipshape-before-}"
drops=()    # the copies to remove in the background once the restore succeeded
work=""
staging=""
errors=()
restarts=()
stopped=()
ours=()
left_alone=()
killed=()
plan=()     # the containers to stop, in order (computed before anything is stopped)
failed=0
run_prefix=""
safety_prefix=""
rolled_back=null
# changing: 1 from the first set-aside until the result is settled (committed or rolled back);
# the EXIT trap rolls back when the script ends in between.
changing=0
stop_timeout=60

# One entry per selected source, by index.
s_name=(); s_kind=(); s_key=(); s_sha=(); s_comp=(); s_level=(); s_bkey=(); s_bsha=()
s_state=()  # "" untouched, aside, ok, failed
s_net=()    # rename, copy, dump, none (nothing there before)
s_live=()   # the live directory or file
s_aside=()  # the set-aside copy (while it exists)
s_drop=()   # the set-aside copy renamed for removal in the background (after a successful restore)
s_parts=()  # sqlite: the suffixes renamed aside ("main -wal -shm -journal")
s_own=()    # sqlite: "uid:gid mode" of the database file before the restore
s_how=()    # beside (prepared next to the live data, swapped in) or staged (staging file, restored in place)
s_prep=()   # the prepared directory or file, while it exists
s_chk=()    # sqlite: 1 when the prepared copy passed integrity_check before the swap
s_pid=()    # the background job preparing the source, until it was waited for
s_nested=() # sqlite: 1 when prepared inside the prepared copy of a restored directory

note_error() { local j; json_v j "$1" 500; errors+=("$j"); failed=1; }

# shellcheck disable=SC2317 # runs from the EXIT trap
print_result() {
  local i sources=() j_name j_key j_bkey j_net j_aside j_drop j_how j_ok j_from j_safety j_sources j_restarts j_errors
  for i in "${!s_name[@]}"; do
    [ -n "${s_state[$i]}" ] || continue
    json_v j_name "${s_name[$i]}"; json_v j_key "${s_key[$i]}"; json_v_or_null j_bkey "${s_bkey[$i]}"
    json_v_or_null j_net "${s_net[$i]}"; json_v_or_null j_aside "${s_aside[$i]}"; json_v_or_null j_how "${s_how[$i]}"
    json_v_or_null j_drop "${s_drop[$i]:-}"
    j_ok=false; [ "${s_state[$i]}" != ok ] || j_ok=true
    sources+=("{\"name\":$j_name,\"kind\":\"${s_kind[$i]}\",\"key\":$j_key,\"sha256\":\"${s_sha[$i]}\",\"ok\":$j_ok,\
\"level\":${s_level[$i]},\"baseKey\":$j_bkey,\"safetyNet\":$j_net,\"aside\":$j_aside,\"dropping\":$j_drop,\"prepared\":$j_how}")
  done
  json_v_or_null j_from "$run_prefix"; json_v_or_null j_safety "$safety_prefix"
  j_ok=false; [ "$failed" != 0 ] || j_ok=true
  join_v j_sources "${sources[@]}"; join_v j_restarts "${restarts[@]}"; join_v j_errors "${errors[@]:0:20}"
  result_header shipshape.restore/1
  printf '"from":%s,"safetyPrefix":%s,"ok":%s,"rolledBack":%s,"sources":[%s],"restarts":[%s],"errors":[%s]}\n' \
    "$j_from" "$j_safety" "$j_ok" "$rolled_back" "$j_sources" "$j_restarts" "$j_errors"
}

# Starts what this script stopped, in order, and waits for each: running and healthy (or no
# HEALTHCHECK) within HEALTH_WAIT, as the health check judges it. Anything else is an error.
start_all() {
  local c out ok state health rest k was_killed j_c j_state j_health bools=(false true)
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
    json_v j_c "$c"; json_v j_state "$state"; json_v j_health "$health"
    restarts+=("{\"container\":$j_c,\"started\":${bools[$ok]},\"state\":$j_state,\"health\":$j_health,\"killed\":${bools[$was_killed]}}")
  done
  stopped=()
}

# Names every copy still set aside, on stderr (the result names them too).
# shellcheck disable=SC2317 # runs from the EXIT trap
remaining_asides() {
  local i
  for i in "${!s_name[@]}"; do
    [ -z "${s_aside[$i]}" ] || printf 'shipshape-restore: the data of %s from before the restore is still at %s\n' "${s_name[$i]}" "${s_aside[$i]}" >&2
  done
}

# Removes what was prepared and not swapped in (a failure before the swap, a killed run).
# shellcheck disable=SC2317 # runs from the EXIT trap
drop_prepared() {
  local i
  for i in "${!s_name[@]}"; do
    [ -z "${s_pid[$i]:-}" ] || { kill "${s_pid[$i]}" 2>/dev/null || true; s_pid[i]=""; }
  done
  for i in "${!s_name[@]}"; do
    [ -n "${s_prep[$i]:-}" ] || continue
    rm -rf "${s_prep[$i]}" "${s_prep[$i]}-wal" "${s_prep[$i]}-shm" "${s_prep[$i]}-journal" || printf 'shipshape-restore: could not remove %s\n' "${s_prep[$i]}" >&2
    s_prep[i]=""
  done
}

# shellcheck disable=SC2317
on_exit() {
  local rc=$?
  [ "$rc" != 0 ] && [ "$RESULT_EMITTED" = 0 ] && note_error "restore aborted with exit code $rc; see the command's standard error"
  if [ "$changing" = 1 ]; then changing=0; rollback || true; fi
  [ "${#stopped[@]}" -gt 0 ] && start_all
  remaining_asides
  drop_prepared
  clear_busy
  emit_result shipshape.restore/1 print_result '"from":null,"safetyPrefix":null,"ok":false,"rolledBack":null,"sources":[],"restarts":[]'
  [ -z "$staging" ] || rm -rf "$staging"
  [ -z "$work" ] || rm -rf "$work"
  exit 0
}
trap on_exit EXIT
trap_signals
mark_busy restore || exit 0
stage "start restore"
work=$(mktemp -d 2>/dev/null) || { work=""; note_error "cannot create a temporary directory in ${TMPDIR:-/tmp}"; exit 0; }

HASH=(sha256sum)
have openssl && HASH=(openssl dgst -sha256 -r)
for tool in docker tar tee "${HASH[0]}"; do
  have "$tool" || note_error "$tool is not installed on the host"
done
have aws || have curl || note_error "neither curl nor the AWS CLI is installed on the host"
case "$ALLOW_UNVERIFIED" in true|false) ;; *) note_error "SHIPSHAPE_ALLOW_UNVERIFIED must be true or false" ;; esac
case "$UPLOAD_SAFETY" in true|false) ;; *) note_error "SHIPSHAPE_UPLOAD_PRE_RESTORE_BACKUP must be true or false" ;; esac
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
while IFS=$'\t' read -r name kind key sha compression level bkey bsha; do
  selected "$name" || continue
  [ "$bkey" != - ] || bkey=""
  [ "$bsha" != - ] || bsha=""
  s_name+=("$name"); s_kind+=("$kind"); s_key+=("$key"); s_sha+=("$sha"); s_comp+=("$compression"); s_level+=("$level"); s_bkey+=("$bkey"); s_bsha+=("$bsha")
  s_state+=(""); s_net+=(""); s_live+=(""); s_aside+=(""); s_parts+=(""); s_own+=(""); s_how+=(""); s_prep+=(""); s_chk+=(""); s_pid+=(""); s_nested+=("")
done < "$work/archives"
[ "${#s_name[@]}" -gt 0 ] || { note_error "none of the sources '$SOURCES' is in $run_prefix"; exit 0; }

# A differential needs its base, from a verified run too.
for i in "${!s_name[@]}"; do
  [ "${s_level[$i]}" = 1 ] || continue
  if [ -z "${s_bkey[$i]}" ] || [ -z "${s_bsha[$i]}" ]; then
    note_error "${s_name[$i]}: ${s_key[$i]} is a differential without its base in the manifest; nothing was changed"
    continue
  fi
  base_run=$(run_of_key "${s_bkey[$i]}")
  if ! run_verified "$base_run" "$work/keys"; then
    if [ "$ALLOW_UNVERIFIED" = true ]; then
      stage "base run $base_run of ${s_name[$i]} is not verified; restoring it because AllowUnverified=true"
    else
      note_error "${s_name[$i]}: the base of ${s_key[$i]}, ${s_bkey[$i]}, is from $base_run, which was never verified, so nothing was restored; to restore it anyway, run again with AllowUnverified=true (needs approval)"
    fi
  fi
done
[ "$failed" = 0 ] || exit 0

# --- 4. stop, set aside ----------------------------------------------------------------------
is_ours() { local o; for o in "${ours[@]}"; do [ "$o" = "$1" ] && return 0; done; return 1; }
stop_for() { # container
  local c=$1 s state t_stop
  for s in "${stopped[@]}" "${left_alone[@]}"; do [ "$s" = "$c" ] && return 0; done
  state=$(limit "$DOCKER_T" docker inspect --format "${LB}.State.Status${RB}" "$c" 2>/dev/null) || state=""
  [ -n "$state" ] || { note_error "container $c cannot be inspected; nothing of its data was restored"; return 1; }
  if [ "$state" != running ] && [ "$state" != restarting ] && [ "$state" != paused ]; then
    # One this script stopped and could not start (a rollback starts it again), or one that was already stopped.
    if is_ours "$c"; then stopped+=("$c"); else left_alone+=("$c"); fi
    return 0
  fi
  stage "stop $c"
  stopped+=("$c")
  is_ours "$c" || ours+=("$c")
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

# The Docker volume of backup volume <name>, into VOLUME_OF[name], looked up once (without a
# compose project it is the name itself: no docker call).
declare -A VOLUME_OF=()
find_volume() { # name
  [ -n "${VOLUME_OF[$1]:-}" ] && return 0
  if [ -n "$project" ]; then VOLUME_OF[$1]=$(compose_volume_or_key "$project" "$1"); else VOLUME_OF[$1]=$1; fi
}

# The containers whose data is restored (SQLite owners, volume users, the stop list), into
# $plan, in order; read before anything is prepared, stopped only after every byte is verified.
plan_stops() {
  local i c k n
  plan=()
  for i in "${!s_name[@]}"; do
    case "${s_kind[$i]}" in
      sqlite) while IFS=$'\t' read -r k n c _; do [ "$k" = sqlite ] && [ "$n" = "${s_name[$i]}" ] && plan+=("$c"); done <<< "$spec" ;;
      volume)
        find_volume "${s_name[$i]}"
        users_of_volume "${VOLUME_OF[${s_name[$i]}]}" > "$work/users" || { note_error "${s_name[$i]}: cannot list the containers that use volume ${s_name[$i]} (docker ps failed); nothing was restored"; return 1; }
        while read -r c; do [ -n "$c" ] && plan+=("$c"); done < "$work/users"
        ;;
    esac
  done
  while IFS=$'\t' read -r k c _; do [ "$k" = stop ] && plan+=("$c"); done <<< "$spec"
  return 0
}
in_plan() { local c; for c in "${plan[@]}"; do [ "$c" = "$1" ] && return 0; done; return 1; }

# Stops every container of the plan.
stop_users() {
  local c
  for c in "${plan[@]}"; do stop_for "$c" || return 1; done
  return 0
}

# 0 when a running container that the restore does not stop bind-mounts <dir> or something inside
# it: renaming <dir> would leave that container on the old copy, so the data is restored in place.
pinned_by_running() { # dir
  local names=() all=() line
  mapfile -t all < <(limit "$DOCKER_T" docker ps --format "${LB}.Names${RB}" 2>/dev/null || true)
  for line in "${all[@]}"; do [ -z "$line" ] || in_plan "$line" || names+=("$line"); done
  [ "${#names[@]}" -gt 0 ] || return 1
  while IFS= read -r line; do
    [ "${line%%|*}" = running ] || continue
    line="${line#*|};"
    [[ "$line" == *";$1;"* || "$line" == *";$1/"* ]] && return 0
  done < <(limit "$DOCKER_T" docker inspect --format "${LB}.State.Status${RB}|${LB}range .Mounts${RB};${LB}.Source${RB}${LB}end${RB}" "${names[@]}" 2>/dev/null || true)
  return 1
}

# 0 when <dir> is on the same device as its parent (one stat for both); else, or unknown, 1.
same_device() { # dir
  local d
  d=$(stat -c %d "$1" "$1/.." 2>/dev/null) || return 1
  [ "${d%%$'\n'*}" = "${d##*$'\n'}" ]
}

# Fresh directory <dir> with the owner, mode (and SELinux label) of <like>.
fresh_dir_like() { # dir like
  mkdir "$1" && chown --reference="$2" "$1" && chmod --reference="$2" "$1" || return 1
  if have chcon && [ -e /sys/fs/selinux/enforce ]; then chcon --reference="$2" "$1" 2>/dev/null || true; fi
}

# Where the data of source <i> lives on this host, into s_live[i]; 1 (reason noted) when nowhere.
resolve_live() { # i
  local i=$1 name=${s_name[$1]} live target vol k n p c m
  case "${s_kind[$i]}" in
    volume|path)
      if [ "${s_kind[$i]}" = volume ]; then
        find_volume "$name"
        vol=${VOLUME_OF[$name]}
        live=$(limit "$DOCKER_T" docker volume inspect --format "${LB}.Mountpoint${RB}" "$vol" 2>/dev/null) || { note_error "$name: volume $vol does not exist; nothing was restored"; return 1; }
      else
        live=""
        while IFS=$'\t' read -r k n p _; do [ "$k" = path ] && [ "$n" = "$name" ] && live=$p; done <<< "$spec"
        [ -n "$live" ] || { note_error "$name: not a path of this stack's backup; nothing was restored"; return 1; }
      fi
      s_live[i]=${live%/}
      ;;
    sqlite)
      target=""
      while IFS=$'\t' read -r k n c p m _; do [ "$k" = sqlite ] && [ "$n" = "$name" ] && { target=$(host_path "$c" "$p") || target="-"; }; done <<< "$spec"
      [ -n "$target" ] || { note_error "$name: not a database of this stack's backup; nothing was restored"; return 1; }
      [ "$target" != - ] || { note_error "$name: the database is not on a volume or bind mount of its container, so it cannot be restored from the host; nothing was restored"; return 1; }
      s_live[i]=$target
      ;;
  esac
  return 0
}

# Sets the data of source <i> aside; 0 when a safety copy exists (or there was nothing to save).
set_aside() { # i
  local i=$1 name=${s_name[$1]} live aside target k n p c m part moved why container
  case "${s_kind[$i]}" in
    volume|path)
      live=${s_live[$i]}
      aside="$live$ASIDE"
      if [ ! -e "$live" ] && [ "${s_kind[$i]}" = path ]; then
        mkdir -p "$live" || { note_error "$name: cannot create $live; nothing was restored"; return 1; }
        s_net[i]=none; s_state[i]=aside
        return 0
      fi
      [ -d "$live" ] || { note_error "$name: $live is not a directory; nothing was restored"; return 1; }
      [ ! -e "$aside" ] || { note_error "$name: $aside already exists (a copy set aside by an earlier restore?); move it away first; nothing was restored"; return 1; }
      stage "set aside $live"
      why=""
      if mountpoint -q "$live" 2>/dev/null || ! same_device "$live"; then why="it is a mount point"
      elif [ "${s_kind[$i]}" = path ] && pinned_by_running "$live"; then why="a running container bind-mounts it"
      elif ! mv -T "$live" "$aside" 2> "$work/mv.err"; then why="mv: $(head -c 150 "$work/mv.err")"
      else
        s_aside[i]=$aside; s_net[i]=rename; s_state[i]=aside
        printf 'shipshape-restore: %s set aside as %s (renamed)\n' "$live" "$aside" >&2
        if ! fresh_dir_like "$live" "$aside" 2> "$work/mkdir.err"; then
          { [ ! -e "$live" ] || rmdir "$live"; } && mv -T "$aside" "$live" && { s_aside[i]=""; s_state[i]=""; }
          note_error "$name: cannot create a fresh $live ($(head -c 150 "$work/mkdir.err")); nothing was restored"
          return 1
        fi
        return 0
      fi
      # A mount point, or data a running container holds: copy aside, restore in place.
      stage "copy aside $live ($why)"
      if cp -a --reflink=auto "$live" "$aside" 2> "$work/cp.err"; then
        s_aside[i]=$aside; s_net[i]=copy; s_state[i]=aside
        printf 'shipshape-restore: %s copied aside to %s (%s)\n' "$live" "$aside" "$why" >&2
        return 0
      fi
      rm -rf "$aside"
      note_error "$name: $live cannot be renamed ($why) nor copied aside ($(head -c 150 "$work/cp.err")), so there would be no safety copy; nothing was restored"
      return 1
      ;;
    sqlite)
      target=${s_live[$i]}
      for part in "" -wal -shm -journal; do
        [ ! -e "$target$part$ASIDE" ] || { note_error "$name: $target$part$ASIDE already exists (a copy set aside by an earlier restore?); move it away first; nothing was restored"; return 1; }
      done
      if [ ! -e "$target" ]; then s_net[i]=none; s_state[i]=aside; return 0; fi
      stage "set aside $target"
      s_own[i]=$(stat -c '%u:%g %a' "$target" 2>/dev/null) || s_own[i]=""
      moved=""
      s_net[i]=rename
      for part in "" -wal -shm -journal; do
        [ -e "$target$part" ] || continue
        if mv -T "$target$part" "$target$part$ASIDE" 2> "$work/mv.err"; then moved="$moved ${part:-main}"; continue; fi
        # A file bind-mounted on its own cannot be renamed: copy it instead, and write in place.
        if cp -a --reflink=auto "$target$part" "$target$part$ASIDE" 2> "$work/cp.err"; then moved="$moved ${part:-main}"; s_net[i]=copy; continue; fi
        rm -f "$target$part$ASIDE"
        s_parts[i]=$moved; s_aside[i]="$target$ASIDE"; s_state[i]=aside
        unset_aside "$i" || true
        s_state[i]=""
        note_error "$name: $target$part can be neither renamed nor copied aside ($(head -c 150 "$work/cp.err")), so there would be no safety copy; nothing was restored"
        return 1
      done
      s_parts[i]=$moved; s_aside[i]="$target$ASIDE"; s_state[i]=aside
      printf 'shipshape-restore: %s set aside as %s (%s)\n' "$target" "$target$ASIDE" "${s_net[$i]}" >&2
      return 0
      ;;
    postgres)
      local database user
      while IFS=$'\t' read -r k n c p m _; do [ "$k" = postgres ] && [ "$n" = "$name" ] && container=$c && database=$p && user=$m; done <<< "$spec"
      [ -n "${database:-}" ] || { note_error "$name: not a database of this stack's backup; nothing was restored"; return 1; }
      aside="$scratch_root/shipshape-before-${ASIDE#.shipshape-before-}-$name.pgdump"
      stage "dump aside $name"
      if limit "$STREAM_T" docker exec "$container" pg_dump -Fc -U "$user" -d "$database" > "$aside" 2> "$work/pg.err" && [ -s "$aside" ]; then
        s_live[i]="$container/$database"; s_aside[i]=$aside; s_net[i]=dump; s_state[i]=aside
        printf 'shipshape-restore: %s dumped aside to %s\n' "$name" "$aside" >&2
        return 0
      fi
      rm -f "$aside"
      note_error "$name: pg_dump of $database in $container failed ($(head -c 150 "$work/pg.err")), so there would be no safety copy; nothing was restored"
      return 1
      ;;
  esac
}

# Puts the set-aside copy of source <i> back in place of whatever is there now; 0 on success.
unset_aside() { # i
  local i=$1 live=${s_live[$1]} aside=${s_aside[$1]} part failed_dir
  case "${s_net[$i]}" in
    none)
      case "${s_kind[$i]}" in
        path) rm -rf "$live" ;;
        sqlite) rm_existing "$live" "$live-wal" "$live-shm" "$live-journal" ;;
        *) true ;;
      esac
      ;;
    rename|copy)
      case "${s_kind[$i]}" in
        volume|path)
          if [ "${s_net[$i]}" = rename ]; then
            failed_dir="$live.shipshape-failed-${ASIDE#.shipshape-before-}"
            { [ ! -e "$live" ] || mv -T "$live" "$failed_dir"; } && mv -T "$aside" "$live" || return 1
            rm -rf "$failed_dir" || true
          else
            find "$live" -mindepth 1 -delete && cp -a --reflink=auto "$aside/." "$live/" && rm -rf "$aside" || return 1
          fi
          ;;
        sqlite)
          rm_existing "$live-wal" "$live-shm" "$live-journal" "$live.shipshape-restore" || return 1
          [[ " ${s_parts[$i]} " == *" main "* ]] || rm -f "$live" || return 1
          for part in ${s_parts[$i]}; do
            [ "$part" = main ] && part=""
            if [ "${s_net[$i]}" = rename ]; then mv -f -T "$live$part$ASIDE" "$live$part" || return 1
            else cp -a --reflink=auto "$live$part$ASIDE" "$live$part" && rm -f "$live$part$ASIDE" || return 1; fi
          done
          ;;
      esac
      ;;
    dump)
      local container=${live%%/*} database=${live#*/} user k n c p m
      while IFS=$'\t' read -r k n c p m _; do [ "$k" = postgres ] && [ "$n" = "${s_name[$i]}" ] && user=$m; done <<< "$spec"
      limit "$STREAM_T" docker exec -i "$container" pg_restore --clean --if-exists --no-owner -U "$user" -d "$database" < "$aside" 2> "$work/pg.err" || return 1
      rm -f "$aside"
      ;;
  esac
  s_aside[i]=""
}

# Removes the set-aside copy of source <i> after a successful restore: renamed to
# <live>.shipshape-drop-<runId> (O(1)), queued in drops for remove_in_background and named in
# s_drop; a copy that cannot be renamed so (or a dump in the scratch directory) is removed here.
drop_aside() { # i
  local i=$1 part
  [ -n "${s_aside[$i]}" ] || return 0
  case "${s_kind[$i]}" in
    sqlite)
      for part in ${s_parts[$i]}; do
        [ "$part" = main ] && part=""
        queue_drop "$i" "${s_live[$i]}$part$ASIDE" "${s_live[$i]}$part$DROP" || return 1
      done
      ;;
    volume|path) queue_drop "$i" "${s_aside[$i]}" "${s_live[$i]}$DROP" || return 1 ;;
    *) rm -rf "${s_aside[$i]}" || return 1 ;;
  esac
  s_aside[i]=""
}
queue_drop() { # i aside drop
  if mv -T "$2" "$3" 2>/dev/null; then
    drops+=("$3")
    [ -n "${s_drop[$1]:-}" ] || s_drop[$1]=$3
    return 0
  fi
  rm -rf "$2"
}

# Removes <paths> in a process that outlives the script (a session of its own, so a kill of the
# script's process group after it ended spares it), at a lower priority, with none of its output:
# the services run on the restored data already, and freeing a large volume's blocks takes long
# (0.3 s a GB on a filesystem mounted with discard; minutes for millions of files).
remove_in_background() { # paths...
  [ "$#" -gt 0 ] || return 0
  local run=()
  have setsid && run+=(setsid)
  have nice && run+=(nice -n 10)
  ( trap '' HUP; exec "${run[@]}" rm -rf -- "$@" ) < /dev/null > /dev/null 2>&1 {RESULT_FD}>&- &
}

# --- 5. restore ---------------------------------------------------------------------------------
# restore_source <i>: 0 on success
restore_source() {
  local i=$1 name=${s_name[$1]} live=${s_live[$1]} file="$staging/$1" container k n c p m database user
  stage "restore $name"
  case "${s_kind[$i]}" in
    volume|path)
      if [ "${s_net[$i]}" != rename ]; then find "$live" -mindepth 1 -delete 2> "$work/tar.err" || { note_error "$name: emptying $live failed: $(head -c 200 "$work/tar.err")"; return 1; }; fi
      if [ "${s_level[$i]}" = 1 ] && ! extract_into "$staging/$i.base" "${s_comp[$i]}" "$live"; then
        note_error "$name: extracting the base ${s_bkey[$i]} into $live failed: $(head -c 200 "$work/tar.err")"
        return 1
      fi
      if ! extract_into "$file" "${s_comp[$i]}" "$live"; then
        note_error "$name: extracting into ${s_kind[$i]} $name failed: $(head -c 200 "$work/tar.err")"
        return 1
      fi
      ;;
    postgres)
      while IFS=$'\t' read -r k n c p m _; do [ "$k" = postgres ] && [ "$n" = "$name" ] && container=$c && database=$p && user=$m; done <<< "$spec"
      if ! limit "$STREAM_T" docker exec -i "$container" pg_restore --clean --if-exists --no-owner -U "$user" -d "$database" < "$file" 2> "$work/pg.err"; then
        note_error "$name: pg_restore into $database in $container failed: $(head -c 200 "$work/pg.err")"
        return 1
      fi
      ;;
    sqlite)
      if [ "${s_net[$i]}" = copy ]; then
        # In place: the file may be a bind mount of its own.
        rm_existing "$live-wal" "$live-shm" "$live-journal"
        if ! { decompress "${s_comp[$i]}" < "$file" > "$live" 2> "$work/dec.err" && is_sqlite_file "$live" "$work/dec.err"; }; then note_error "$name: writing $live failed: $(head -c 200 "$work/dec.err")"; return 1; fi
      else
        if ! { decompress "${s_comp[$i]}" < "$file" > "$live.shipshape-restore" 2> "$work/dec.err" && is_sqlite_file "$live.shipshape-restore" "$work/dec.err" \
          && { [ -z "${s_own[$i]}" ] || { chown "${s_own[$i]% *}" "$live.shipshape-restore" && chmod "${s_own[$i]#* }" "$live.shipshape-restore"; }; } \
          && mv -f -T "$live.shipshape-restore" "$live"; }; then
          rm -f "$live.shipshape-restore"
          note_error "$name: writing $live failed: $(head -c 200 "$work/dec.err")"
          return 1
        fi
      fi
      ;;
  esac
}

# 0 when the prepared copy of database <name> passed integrity_check before the swap.
checked_before() { local i; for i in "${!s_name[@]}"; do [ "${s_name[$i]}" = "$1" ] && [ "${s_chk[$i]}" = 1 ] && return 0; done; return 1; }

check_sqlite() {
  local k n c p m result
  while IFS=$'\t' read -r k n c p m _; do
    { [ "$k" = sqlite ] && selected "$n"; } || continue
    checked_before "$n" && continue
    stage "integrity_check $n"
    result=$(sqlite_exec "${m:-host}" "$c" "$p" "$SQLITE_TIMEOUT_S" "PRAGMA integrity_check;" 2>&1) || true
    [ "$(printf '%s' "$result" | head -c 200)" = ok ] || note_error "$n: restored database fails integrity_check: $(printf '%s' "$result" | head -c 200)"
  done <<< "$spec"
}

# Puts every set-aside copy back, with the containers stopped again, and starts them.
# shellcheck disable=SC2317 # also runs from the EXIT trap
rollback() {
  local i c errors_before=${#errors[@]} saved_failed=$failed
  stage "roll back"
  rolled_back=false
  failed=0
  for c in "${ours[@]}"; do stop_for "$c" || true; done
  # In the reverse order of setting aside: a database set aside inside a directory that was
  # then renamed aside comes back with that directory first.
  for (( i = ${#s_name[@]} - 1; i >= 0; i-- )); do
    [ "${s_state[$i]}" != "" ] || continue
    if unset_aside "$i"; then
      [ "${s_state[$i]}" = ok ] && s_state[i]=failed
    else
      note_error "${s_name[$i]}: putting the data from before the restore back failed; it is still at ${s_aside[$i]:-?}"
    fi
  done
  start_all
  [ "${#errors[@]}" = "$errors_before" ] && rolled_back=true
  failed=$saved_failed
  [ "$rolled_back" = true ]
}

# --- 2. prepare beside (or stage), verify every byte, while the containers still run ------------
# Removes what a killed run left beside <live> (<live>.shipshape-restore-*), and the copies an
# earlier successful restore was still removing when the host went down (<live>.shipshape-drop-*,
# also those of a database's -wal, -shm and -journal), naming each on stderr.
clean_stale() { # live
  local old
  for old in "$1".shipshape-restore-* "$1".shipshape-restore "$1".shipshape-drop-* "$1"-wal.shipshape-drop-* "$1"-shm.shipshape-drop-* "$1"-journal.shipshape-drop-*; do
    [ -e "$old" ] || [ -L "$old" ] || continue
    case "$old" in
      *.shipshape-drop-*) printf 'shipshape-restore: removing %s, the data from before an earlier restore that succeeded; its removal did not finish\n' "$old" >&2 ;;
      *) printf 'shipshape-restore: removing %s, left by an earlier restore that did not finish\n' "$old" >&2 ;;
    esac
    rm -rf "$old" || { note_error "cannot remove $old, left by an earlier restore; nothing was changed"; return 1; }
  done
}

# Downloads source <i> (and its base) into the staging directory, hashed in the same pass.
stage_source() { # i
  local i=$1
  s_how[i]=staged
  if [ -z "$staging" ]; then
    staging=$(mktemp -d "$scratch_root/shipshape-restore.XXXXXX" 2>/dev/null) || { staging=""; note_error "cannot create a staging directory in $scratch_root"; return 1; }
  fi
  if [ "${s_level[$i]}" = 1 ]; then
    stage "download ${s_name[$i]} (base) into staging"
    download_verified "${s_bkey[$i]}" "${s_bsha[$i]}" "$staging/$i.base" 2> "$work/dl.err" || { note_error "${s_name[$i]}: base $(head -c 400 "$work/dl.err"); nothing was changed"; return 1; }
  fi
  stage "download ${s_name[$i]} into staging"
  download_verified "${s_key[$i]}" "${s_sha[$i]}" "$staging/$i" 2> "$work/dl.err" || { note_error "${s_name[$i]}: $(head -c 400 "$work/dl.err"); nothing was changed"; return 1; }
}

# A volume or path: extracted into a fresh sibling <live>.shipshape-restore-<runId>, or staged.
prepare_dir() { # i
  local i=$1 name=${s_name[$1]} live=${s_live[$1]} prep why=""
  prep="$live$PREP"
  [ ! -e "$live$ASIDE" ] || { note_error "$name: $live$ASIDE already exists (a copy set aside by an earlier restore?); move it away first; nothing was restored"; return 1; }
  clean_stale "$live" || return 1
  if [ ! -d "$live" ]; then why="$live is not a directory"
  elif mountpoint -q "$live" 2>/dev/null || ! same_device "$live"; then why="it is a mount point"
  elif [ "${s_kind[$i]}" = path ] && pinned_by_running "$live"; then why="a running container bind-mounts it"
  elif ! fresh_dir_like "$prep" "$live" 2> "$work/mkdir.err"; then
    why="cannot create $prep: $(head -c 150 "$work/mkdir.err")"
    rm -rf "$prep" 2>/dev/null || true
  fi
  if [ -n "$why" ]; then
    stage "prepare $name in staging ($why)"
    stage_source "$i"
    return
  fi
  s_how[i]=beside
  s_prep[i]=$prep
  launch "$i" "$prep" dir
}

# Prepares source <i> in the background (sources overlap one another): download_extract of the
# base (a differential) then of the archive into <dest>. landed waits for it.
launch() { # i dest dir|file
  local i=$1 j running=0
  # At most PREPARE_JOBS at a time (memory: each is a download, a decompressor and a tar).
  for j in "${!s_name[@]}"; do [ -z "${s_pid[$j]}" ] || running=$(( running + 1 )); done
  if [ "$running" -ge "$PREPARE_JOBS" ]; then
    for j in "${!s_name[@]}"; do [ -z "${s_pid[$j]}" ] || { landed "$j" || true; break; }; done
  fi
  stage "prepare ${s_name[$i]} beside"
  (
    if [ "${s_level[$i]}" = 1 ]; then
      download_extract "${s_bkey[$i]}" "${s_bsha[$i]}" "${s_comp[$i]}" "$2" "$3" 2> "$work/dl.$i.base" || { printf 'base %s' "$(head -c 400 "$work/dl.$i.base")" >&2; exit 1; }
    fi
    download_extract "${s_key[$i]}" "${s_sha[$i]}" "${s_comp[$i]}" "$2" "$3"
  ) 2> "$work/dl.$i.err" &
  s_pid[i]=$!
}

# Waits for the preparation of source <i>; 1 (the reason noted) when it failed.
landed() { # i
  local i=$1 rc=0
  [ -n "${s_pid[$i]}" ] || return 0
  wait "${s_pid[$i]}" || rc=$?
  s_pid[i]=""
  [ "$rc" = 0 ] && return 0
  note_error "${s_name[$i]}: $(head -c 400 "$work/dl.$i.err"); nothing was changed"
  return 1
}

# A SQLite database: decompressed into <db>.shipshape-restore-<runId> (inside the prepared copy of
# a restored directory it lives in), checked (header, integrity_check), or staged.
prepare_sqlite() { # i
  local i=$1 name=${s_name[$1]} live=${s_live[$1]} prep j part k n c p m result nested=0
  prep="$live$PREP"
  for part in "" -wal -shm -journal; do
    [ ! -e "$live$part$ASIDE" ] || { note_error "$name: $live$part$ASIDE already exists (a copy set aside by an earlier restore?); move it away first; nothing was restored"; return 1; }
  done
  clean_stale "$live" || return 1
  for j in "${!s_name[@]}"; do
    case "${s_kind[$j]}" in volume|path) ;; *) continue ;; esac
    { [ -n "${s_live[$j]}" ] && [[ "$live" == "${s_live[$j]}/"* ]]; } || continue
    # Inside a restored directory: prepared inside its prepared copy, or staged with it.
    if [ "${s_how[$j]}" != beside ]; then stage "prepare $name in staging (in ${s_name[$j]}, which is staged)"; stage_source "$i"; return; fi
    # tar -x --listed-incremental purges what its archive does not list: the directory first.
    landed "$j" || return 1
    prep="${s_prep[$j]}/${live#"${s_live[$j]}"/}$PREP"
    nested=1
    mkdir -p "$(dirname "$prep")" 2>/dev/null || true
  done
  if [ "$nested" = 0 ] && ! { [ -d "$(dirname "$live")" ] && : > "$prep"; } 2>/dev/null; then
    rm -f "$prep" 2>/dev/null || true
    stage "prepare $name in staging (cannot create $prep)"
    stage_source "$i"
    return
  fi
  s_how[i]=beside
  s_prep[i]=$prep
  s_nested[i]=$nested
  if [ -e "$live" ]; then s_own[i]=$(stat -c '%u:%g %a' "$live" 2>/dev/null) || s_own[i]=""; fi
  launch "$i" "$prep" file
}

# The prepared copy of SQLite source <i>, once downloaded: the header, the owner and mode of the
# live file, integrity_check (where the container can see it; else after the swap, as staged ones).
check_prepared_sqlite() { # i
  local i=$1 name=${s_name[$1]} live=${s_live[$1]} prep=${s_prep[$1]} nested=${s_nested[$1]} k n c p m result
  : > "$work/dec.err"
  if ! is_sqlite_file "$prep" "$work/dec.err"; then note_error "$name: ${s_key[$i]}: $(head -c 200 "$work/dec.err"); nothing was changed"; return 1; fi
  if [ -n "${s_own[$i]}" ] && ! { chown "${s_own[$i]% *}" "$prep" && chmod "${s_own[$i]#* }" "$prep"; } 2> "$work/own.err"; then
    note_error "$name: cannot give $prep the owner and mode of $live: $(head -c 150 "$work/own.err"); nothing was changed"; return 1
  fi
  while IFS=$'\t' read -r k n c p m _; do
    { [ "$k" = sqlite ] && [ "$n" = "$name" ]; } || continue
    if [ "${m:-host}" = container ]; then
      # The container sees the copy next to its database, not inside a prepared directory.
      [ "$nested" = 0 ] || return 0
      stage "integrity_check $name (prepared)"
      result=$(sqlite_exec container "$c" "$p$PREP" "$SQLITE_TIMEOUT_S" "PRAGMA integrity_check;" 2>&1) || true
    else
      stage "integrity_check $name (prepared)"
      if have sqlite3; then result=$(limit "$SQLITE_TIMEOUT_S" sqlite3 "$prep" "PRAGMA integrity_check;" 2>&1) || true; else result="sqlite3 is not installed on the host"; fi
    fi
    rm_existing "$prep-wal" "$prep-shm" "$prep-journal"
    [ "$(printf '%s' "$result" | head -c 200)" = ok ] || { note_error "$name: the restored copy fails integrity_check: $(printf '%s' "$result" | head -c 200); nothing was changed"; return 1; }
    s_chk[i]=1
  done <<< "$spec"
}

# Swaps the prepared copy of source <i> in: the live data renamed aside, the prepared copy renamed
# into its place. 0 when done (or nothing changed); 1 with the reason noted.
swap_in() { # i
  local i=$1 name=${s_name[$1]} live=${s_live[$1]} prep
  case "${s_kind[$i]}" in
    volume|path)
      prep=${s_prep[$i]}
      stage "swap $live"
      [ ! -e "$live$ASIDE" ] || { note_error "$name: $live$ASIDE already exists; nothing was restored"; return 1; }
      if ! mv -T "$live" "$live$ASIDE" 2> "$work/mv.err"; then
        # Cannot be renamed after all: copied aside, and the prepared entries moved into it.
        stage "copy aside $live (mv: $(head -c 100 "$work/mv.err"))"
        if ! cp -a --reflink=auto "$live" "$live$ASIDE" 2> "$work/cp.err"; then
          rm -rf "$live$ASIDE"
          note_error "$name: $live cannot be renamed (mv: $(head -c 150 "$work/mv.err")) nor copied aside ($(head -c 150 "$work/cp.err")), so there would be no safety copy; nothing was restored"
          return 1
        fi
        s_aside[i]="$live$ASIDE"; s_net[i]=copy; s_state[i]=aside
        printf 'shipshape-restore: %s copied aside to %s\n' "$live" "$live$ASIDE" >&2
        if ! { find "$live" -mindepth 1 -delete && find "$prep" -mindepth 1 -maxdepth 1 -exec mv -t "$live" {} + && rmdir "$prep"; } 2> "$work/mv.err"; then
          note_error "$name: moving the prepared copy into $live failed: $(head -c 150 "$work/mv.err")"
          s_state[i]=failed
          return 1
        fi
        s_prep[i]=""; s_state[i]=ok
        return 0
      fi
      s_aside[i]="$live$ASIDE"; s_net[i]=rename; s_state[i]=aside
      if ! mv -T "$prep" "$live" 2> "$work/mv.err"; then
        mv -T "$live$ASIDE" "$live" && { s_aside[i]=""; s_state[i]=""; }
        note_error "$name: cannot rename $prep into place: $(head -c 150 "$work/mv.err"); nothing was restored"
        return 1
      fi
      s_prep[i]=""; s_state[i]=ok
      printf 'shipshape-restore: %s set aside as %s (renamed), the prepared copy renamed into its place\n' "$live" "$live$ASIDE" >&2
      ;;
    sqlite)
      # A copy prepared inside a restored directory is next to the database now.
      prep="$live$PREP"
      s_prep[i]=$prep
      set_aside "$i" || return 1
      stage "swap $live"
      if [ "${s_net[$i]}" = copy ]; then
        # Bind-mounted on its own: written in place.
        cat "$prep" > "$live" 2> "$work/mv.err" || { note_error "$name: writing $live failed: $(head -c 150 "$work/mv.err")"; s_state[i]=failed; return 1; }
        rm -f "$prep"
      else
        mv -f -T "$prep" "$live" 2> "$work/mv.err" || { note_error "$name: cannot rename $prep into place: $(head -c 150 "$work/mv.err")"; s_state[i]=failed; return 1; }
      fi
      s_prep[i]=""; s_state[i]=ok
      ;;
  esac
}

# Volumes first: their preparation runs in the background while the containers to stop, the
# paths and the databases are looked up (a path needs the plan: is it pinned by a running container?).
for i in "${!s_name[@]}"; do
  [ "${s_kind[$i]}" = volume ] || continue
  resolve_live "$i" && prepare_dir "$i"
  [ "$failed" = 0 ] || break
done
if [ "$failed" = 0 ]; then stage "find what to stop"; plan_stops || true; fi
for i in "${!s_name[@]}"; do
  [ "$failed" = 0 ] || break
  [ "${s_kind[$i]}" = path ] || continue
  resolve_live "$i" && prepare_dir "$i"
done
for i in "${!s_name[@]}"; do
  [ "$failed" = 0 ] || break
  case "${s_kind[$i]}" in
    sqlite) resolve_live "$i" && prepare_sqlite "$i" ;;
    postgres) stage_source "$i" ;;
  esac
done
stage "wait for the prepared copies"
# A database beside its live file is checked as soon as it is there, while directories are still
# being extracted; every job is waited for before anything is removed, even after a failure.
for i in "${!s_name[@]}"; do
  { [ "${s_kind[$i]}" = sqlite ] && [ "${s_how[$i]}" = beside ] && [ "${s_nested[$i]}" = 0 ]; } || continue
  if landed "$i" && [ "$failed" = 0 ]; then check_prepared_sqlite "$i" || true; fi
done
for i in "${!s_name[@]}"; do landed "$i" || true; done
[ "$failed" = 0 ] || exit 0
for i in "${!s_name[@]}"; do
  if [ "${s_kind[$i]}" = sqlite ] && [ "${s_how[$i]}" = beside ] && [ "${s_nested[$i]}" = 1 ]; then check_prepared_sqlite "$i" || exit 0; fi
done

# --- 3. the optional safety backup in S3 ---------------------------------------------------
if [ "$UPLOAD_SAFETY" = true ]; then
  stage "safety backup"
  safety_backup() (
    export SHIPSHAPE_RUN_ID="$RUN_ID-safety"
    # A host state of its own: the safety backup is a full and never becomes the base of a differential.
    export SHIPSHAPE_STATE_DIR="$work/safety-state"
    # shellcheck source-path=SCRIPTDIR source=backup.sh
    . "$script_dir/backup.sh" # shipshape:inline backup.sh
  )
  safety_backup > "$work/safety.json" 2> "$work/safety.err" || true
  mark_busy restore
  safety_prefix=$(grep -o '"manifestKey":"[^"]*"' "$work/safety.json" | sed 's/"manifestKey":"\(.*\)\/manifest.json"/\1/' || true)
  if [ -z "$safety_prefix" ]; then
    note_error "the safety backup did not complete, so nothing was restored: $(grep -o '"errors":\[[^]]*\]' "$work/safety.json" | head -c 400)"
    exit 0
  fi
fi

# --- 4. stop, swap (or set aside and restore in place) -----------------------------------------
stop_users || { start_all; exit 0; }
changing=1
# Directories first, then databases: a database prepared inside a restored directory is next to
# its live path only once that directory was swapped in.
order=()
for i in "${!s_name[@]}"; do case "${s_kind[$i]}" in volume|path) order+=("$i") ;; esac; done
for i in "${!s_name[@]}"; do case "${s_kind[$i]}" in volume|path) ;; *) order+=("$i") ;; esac; done
for i in "${order[@]}"; do
  if [ "${s_how[$i]}" = beside ]; then swap_in "$i" && continue
  else set_aside "$i" && continue; fi
  # No safety copy for this source: put back those already set aside, change nothing.
  changing=0
  for (( j = ${#s_name[@]} - 1; j >= 0; j-- )); do
    [ -n "${s_state[$j]}" ] || continue
    unset_aside "$j" || note_error "${s_name[$j]}: putting it back after a refused restore failed; it is at ${s_aside[$j]:-?}"
    s_state[j]=""
  done
  start_all
  exit 0
done
# Directories first, then databases: a database file that lives in a restored directory (and is
# excluded from its archive) is written after the extraction, which would purge it otherwise.
for i in "${order[@]}"; do
  [ "${s_how[$i]}" = staged ] || continue
  if restore_source "$i"; then s_state[i]=ok; else s_state[i]=failed; fi
done
start_all
[ "$failed" = 1 ] || check_sqlite
if [ "$failed" = 1 ]; then
  changing=0
  rollback || true
else
  changing=0
  stage "drop the copies set aside"
  for i in "${!s_name[@]}"; do drop_aside "$i" || printf 'shipshape-restore: could not remove %s\n' "${s_aside[$i]}" >&2; done
  remove_in_background "${drops[@]}"
fi
stage "done"
exit 0
