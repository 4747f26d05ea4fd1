#!/usr/bin/env bash
# shipshape backup: consistent archives of a stack's data, streamed to S3, and ONE JSON
# result on stdout (schema shipshape.backup/1, see lib/results/backup.ts).
#
#   SQLite   VACUUM INTO (one read transaction: it finishes under any write load), by the
#            host's sqlite3 on the mounted file (runIn: host) or inside the container with the
#            time limit enforced there (runIn: container); integrity_check on the copy. With
#            nothing to stop, the copies (one database after another) run beside the volume
#            and path streams; with a stop list, before the stop.
#   volumes  tar of the volume's mountpoint; paths: tar of the host path. tar --listed-incremental:
#            a full (level 0) every fullEvery-th run, else a differential (level 1) against the
#            newest verified full (docs/decisions/incremental-backups.md). State per source in
#            $SHIPSHAPE_STATE_DIR/<stack>/backup/<source>/, moved only after the manifest.
#   stop     running containers on the stop list are stopped for the copy (docker stop -t
#            stopTimeoutSeconds; those it had to kill are reported) and started again in
#            order, whatever happens (EXIT trap), and waited for until healthy. Containers
#            that were already stopped are left stopped.
#   stream   source | zstd -T0 (or gzip) | s3_put over curl, which hashes and counts the parts it
#            reads (or tee to the hash and wc | aws s3 cp -): every element's exit status
#            counts, each has a time limit, and an archive counts only with a size above zero,
#            a SHA-256 and a successful upload.
#   check    one listing of the run's prefix: every archive is in S3 with the size the host
#            counted.
#   depends  an empty <run prefix>/depends-on/<full's stamp> per full built on (for retention).
#   manifest written last, only when all of the above held: a run without a manifest is
#            incomplete by definition. Archives carry level, baseKey and baseSha256.
#
# Inputs: SHIPSHAPE_STACK, SHIPSHAPE_RUN_ID, SHIPSHAPE_SPEC_FILE (section backup) (from the document),
# SHIPSHAPE_BUCKET and SHIPSHAPE_PREFIX (document preamble), SHIPSHAPE_S3_ENDPOINT for
# S3-compatible stores, SHIPSHAPE_HEALTH_WAIT_SECONDS (default 120), SHIPSHAPE_STATE_DIR
# (default /var/lib/shipshape; the backup keeps its state in <it>/<stack>/backup). Time limits (tests shorten
# them): SHIPSHAPE_SQLITE_TIMEOUT_SECONDS (600), SHIPSHAPE_STREAM_TIMEOUT_SECONDS (21600, each
# element of an archive's stream), SHIPSHAPE_DOCKER_TIMEOUT_SECONDS (20), SHIPSHAPE_HOOK_TIMEOUT_SECONDS (300).
# Credentials come from the host's instance role; none travel in parameters or output.
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
STREAM_T="${SHIPSHAPE_STREAM_TIMEOUT_SECONDS:-21600}"
HOOK_T="${SHIPSHAPE_HOOK_TIMEOUT_SECONDS:-300}"
stamp=$UTC_STAMP
host_prefix="${SHIPSHAPE_PREFIX:-backups}/${STACK}/${host_id}/"
prefix="${host_prefix}${stamp}"
state_dir="${SHIPSHAPE_STATE_DIR:-/var/lib/shipshape}/${STACK:-unknown}/backup"
work=""
errors=()
missing_tools=()
archives=()
stopped=()
left_stopped=()
restarts=()
restarted=0
failed=0
manifest_key=""
full_every=7
commits=()            # name<TAB>level<TAB>key<TAB>sha256<TAB>bytes<TAB>source: state to keep once the manifest is written
declare -A depends=() # base stamp -> 1: the fulls this run's differentials build on
# The level fields of the next archive recorded (record_archive/record_failure reset them).
a_level=0
a_base_key=""
a_base_sha=""
a_slot=""    # set for SQLite copies (see slot)
a_end=""     # when the archive ended, if not now (SQLite copies recorded later)
next_slot=0
sw=""        # the current stream's directory (upload_stream, record_archive)
lane_pid=""

note_error() { local j; json_v j "$1" 500; errors+=("$j"); failed=1; }
bools=(false true) # ${bools[$flag]} for a 0/1 flag (json_bool without a subshell)

# --- containers stopped for the copy --------------------------------------------
start_stopped() {
  [ "$restarted" = 1 ] && return 0
  restarted=1
  [ "${#stopped[@]}" -gt 0 ] || return 0
  stage "start ${stopped[*]}"
  local c ok out state health waited rest killed err="${work:-/tmp}/start.err" j_c j_state j_health
  for c in "${stopped[@]}"; do
    ok=1
    killed=0
    [ -e "${work:-/nonexistent}/killed.$c" ] && killed=1
    limit "$DOCKER_T" docker start "$c" > /dev/null 2> "$err" || ok=0
    out=$(wait_healthy "$c")
    state=${out%%|*}; rest=${out#*|}; health=${rest%%|*}; waited=${rest##*|}
    if [ "$ok" = 0 ] || [ "$state" != running ]; then
      note_error "container $c did not start again: $(head -c 200 "$err" 2>/dev/null)"
      ok=0
    elif [ "$health" != healthy ] && [ "$health" != none ]; then
      note_error "container $c started but is $health after ${HEALTH_WAIT}s"
    fi
    json_v j_c "$c"; json_v_or_null j_state "$state"; json_v_or_null j_health "$health"
    [[ $waited =~ ^[0-9]+$ ]] || waited=null
    restarts+=("{\"container\":$j_c,\"started\":${bools[$ok]},\"state\":$j_state,\"health\":$j_health,\"waitedMs\":$waited,\"killed\":${bools[$killed]}}")
  done
}

# shellcheck disable=SC2317 # print_result and on_exit run from the EXIT trap
print_result() {
  local j_bucket j_prefix j_manifest j_archives j_restarts j_left j_missing j_errors
  json_v j_bucket "$BUCKET"; json_v j_prefix "$prefix"; json_v_or_null j_manifest "$manifest_key"
  join_v j_archives "${archives[@]}"; join_v j_restarts "${restarts[@]}"; join_v j_left "${left_stopped[@]}"
  join_v j_missing "${missing_tools[@]}"; join_v j_errors "${errors[@]:0:20}"
  result_header shipshape.backup/1
  printf '"bucket":%s,"prefix":%s,"manifestKey":%s,"complete":%s,' "$j_bucket" "$j_prefix" "$j_manifest" "$([ -n "$manifest_key" ] && echo true || echo false)"
  printf '"archives":[%s],"restarts":[%s],"leftStopped":[%s],"missingTools":[%s],"errors":[%s]}\n' \
    "$j_archives" "$j_restarts" "$j_left" "$j_missing" "$j_errors"
}

# shellcheck disable=SC2317
on_exit() {
  local rc=$?
  [ "$rc" != 0 ] && [ "$RESULT_EMITTED" = 0 ] && note_error "backup aborted with exit code $rc; see the command's standard error"
  # An aborted run: the SQLite lane's elements end by their own time limits.
  [ -z "$lane_pid" ] || kill "$lane_pid" 2>/dev/null || true
  start_stopped || true
  clear_busy
  emit_result shipshape.backup/1 print_result '"bucket":"","prefix":"","manifestKey":null,"complete":false,"archives":[],"restarts":[],"missingTools":[]'
  [ -z "$work" ] || rm -rf "$work"
  exit 0
}
trap on_exit EXIT
trap_signals
mark_busy backup || exit 0
stage "start backup"
work=$(mktemp -d 2>/dev/null) || { work=""; note_error "cannot create a temporary directory in ${TMPDIR:-/tmp}: is it full or read-only?"; exit 0; }
sw=$work
# Runs are stamped to the second, and a run never writes into an earlier run's prefix: one that
# starts in the second of an earlier run of this host (a restore's safety backup right after the
# backup it restores, two runs one after the other) waits that second out. A failed listing here
# is left to the upload checks, which list again.
for attempt in 1 2 3 4 5 6; do
  taken=$(S3_SHORT_T=$(( S3_SHORT_T < 30 ? S3_SHORT_T : 30 )) s3_keys "$prefix/" 2>/dev/null) || { taken=""; break; }
  if [ -z "$taken" ] || [ "$attempt" = 6 ]; then break; fi
  sleep 1
  utc_now
  stamp=$UTC_STAMP
  prefix="${host_prefix}${stamp}"
done
[ -z "$taken" ] || { note_error "the run prefix $prefix already holds objects, as did those of the 5 seconds before: nothing was uploaded"; exit 0; }

# --- tools and spec ----------------------------------------------------------------
HASH=(sha256sum)
have openssl && HASH=(openssl dgst -sha256 -r)
stream_tools=(tee wc)
[ "$S3_TRANSPORT" = curl ] && stream_tools=(dd)
for tool in docker tar "$S3_TOOL" "${HASH[0]}" "${stream_tools[@]}" mkfifo; do
  have "$tool" || { missing_tools+=("$(json_str "$tool")"); note_error "$tool is not installed on the host"; }
done
load_backup_spec
[ -n "$BUCKET" ] || note_error "SHIPSHAPE_BUCKET is not set"
[ "$failed" = 0 ] || exit 0

compression=zstd
level=3
stop_timeout=60
excludes=()
while IFS=$'\t' read -r kind a b c d _; do
  case "$kind" in
    conf) compression=$a; level=$b; stop_timeout=${c:-60}; full_every=${d:-7} ;;
    exclude) excludes+=("--exclude=$a") ;;
  esac
done <<< "$spec"
if [ "$compression" = zstd ] && ! have zstd; then
  missing_tools+=("$(json_str zstd)")
  note_error "zstd is not installed; install it or set backup.compression: gzip"
  exit 0
fi
[[ "$full_every" =~ ^[1-9][0-9]?$ ]] || full_every=7
# What a differential's full must have been made with: the same excludes.
excludes_fp=$(printf '%q ' "${excludes[@]}")
ext=zst
COMPRESS=(zstd -q -T0 "-$level" -c)
if [ "$compression" = gzip ]; then
  ext=gz
  if have pigz; then COMPRESS=(pigz -c "-$level"); else COMPRESS=(gzip -c "-$level"); fi
fi

# Reads stdin and uploads it to <key>; leaves its checksum (the manifest's form: lib/s3.sh) and
# size in $sw/sum and $sw/len ($sw: the stream's directory, $work or an SQLite copy's). Fails,
# with the reason in $sw/stream.why, unless the hash, the count and the upload all succeeded.
# Over curl, s3_put hashes and counts the parts it read (no tee, no wc: the stream is read once,
# in big blocks, and each byte hashed once); with the CLI, tee feeds the hash and wc. Each runs under a time
# limit, so a hung element cannot hang the run.
upload_stream() { # key
  local p1 p2 st rc_hash rc_len why="" rc=0 sha bytes
  rm_existing "$sw/sum.fifo" "$sw/len.fifo" "$sw/sum" "$sw/len" "$sw/hash.rc" "$sw/len.rc" "$sw/stream.why" "$sw/sums"
  if [ "$S3_TRANSPORT" = curl ]; then
    s3_put "$1" "" "$sw/sums" 2> "$sw/upload.err" || rc=$?
    if [ "$rc" = 0 ] && read -r sha bytes < "$sw/sums" 2>/dev/null && printf '%s\n' "$sha" > "$sw/sum" && printf '%s\n' "$bytes" > "$sw/len"; then return 0; fi
    if [ "$rc" = 0 ]; then why="the upload's SHA-256 and size could not be kept in ${TMPDIR:-/tmp}"
    else why="upload failed ($(rc_text "$rc")): $(head -c 300 "$sw/upload.err" 2>/dev/null)"
    fi
    printf '%s' "$why" > "$sw/stream.why" 2>/dev/null || true
    return 1
  fi
  if ! mkfifo "$sw/sum.fifo" "$sw/len.fifo" 2> "$sw/stream.why"; then cat > /dev/null; return 1; fi
  { rc=0; limit "$STREAM_T" "${HASH[@]}" < "$sw/sum.fifo" > "$sw/sum" 2> "$sw/hash.err" || rc=$?; printf '%s' "$rc" > "$sw/hash.rc"; } &
  p1=$!
  { rc=0; limit "$STREAM_T" wc -c < "$sw/len.fifo" > "$sw/len" 2> "$sw/len.err" || rc=$?; printf '%s' "$rc" > "$sw/len.rc"; } &
  p2=$!
  set +e
  limit_exec "$STREAM_T" tee "$sw/sum.fifo" "$sw/len.fifo" 2> "$sw/tee.err" | s3_put "$1" 2> "$sw/upload.err"
  st=("${PIPESTATUS[@]}")
  # A reader still waiting to open its FIFO (tee never opened it) gets end-of-file now.
  : 1<> "$sw/sum.fifo"
  : 1<> "$sw/len.fifo"
  wait "$p1"
  wait "$p2"
  set -e
  rc_hash=$(cat "$sw/hash.rc" 2>/dev/null || echo none)
  rc_len=$(cat "$sw/len.rc" 2>/dev/null || echo none)
  [ "${st[0]}" = 0 ] || why="tee failed ($(rc_text "${st[0]}")): $(head -c 200 "$sw/tee.err" 2>/dev/null)"
  [ "$rc_hash" = 0 ] || why="${why:+$why; }the hash (${HASH[0]}) failed ($(rc_text "$rc_hash")): $(head -c 200 "$sw/hash.err" 2>/dev/null)"
  [ "$rc_len" = 0 ] || why="${why:+$why; }the byte count (wc) failed ($(rc_text "$rc_len")): $(head -c 200 "$sw/len.err" 2>/dev/null)"
  [ "${st[1]}" = 0 ] || why="${why:+$why; }upload failed ($(rc_text "${st[1]}")): $(head -c 300 "$sw/upload.err" 2>/dev/null)"
  [ -z "$why" ] && return 0
  printf '%s' "$why" > "$sw/stream.why" 2>/dev/null || true
  return 1
}

# "exit N", or "timed out after N s" for the exit code of `timeout`.
rc_text() { if [ "$1" = 124 ]; then printf 'timed out after %s s' "$STREAM_T"; else printf 'exit %s' "$1"; fi; }

# "; <why>" when the temporary directory cannot be written (a full disk), else nothing.
tmp_full_note() {
  if ! { printf 'probe' > "$work/.probe"; } 2>/dev/null || [ "$(cat "$work/.probe" 2>/dev/null)" != probe ]; then
    printf '; the temporary directory %s is full or not writable (%s free)' "${TMPDIR:-/tmp}" "$(df -Ph "$work" 2>/dev/null | awk 'NR == 2 { print $4 }')"
  fi
  rm -f "$work/.probe" 2>/dev/null || true
}

# record_archive <name> <kind> <source> <method> <key> <started_ms> <producer exit> <compress exit> <stream exit> [integrity]
record_archive() {
  local name=$1 kind=$2 source=$3 method=$4 key=$5 t0=$6 p_rc=$7 c_rc=$8 u_rc=$9 integrity=${10:-}
  local ok=1 bytes sha error=""
  bytes=$(tr -d ' \n' < "$sw/len" 2>/dev/null || true)
  sha=$(cut -d' ' -f1 "$sw/sum" 2>/dev/null || true)
  [[ "$bytes" =~ ^[0-9]+$ ]] || bytes=""
  [[ "$sha" =~ $CHECKSUM_RE ]] || sha=""
  # Killed by SIGPIPE (141) after the upload stopped reading: the upload's reason comes first.
  if [ "$u_rc" != 0 ] && [ -s "$sw/stream.why" ] && { [ "$p_rc" = 141 ] || [ "$c_rc" = 141 ]; }; then ok=0; error=$(cat "$sw/stream.why"); fi
  if [ "$ok" = 1 ] && [ "$p_rc" != 0 ]; then ok=0; error="reading the source failed ($(rc_text "$p_rc")): $(head -c 200 "$sw/source.err" 2>/dev/null)"; fi
  if [ "$ok" = 1 ] && [ "$c_rc" != 0 ]; then ok=0; error="compression (${COMPRESS[0]}) failed ($(rc_text "$c_rc")): $(head -c 200 "$sw/compress.err" 2>/dev/null)"; fi
  if [ "$ok" = 1 ] && [ "$u_rc" != 0 ]; then ok=0; error="$(cat "$sw/stream.why" 2>/dev/null || echo "the stream failed (exit $u_rc); is the temporary directory ${TMPDIR:-/tmp} full?")"; fi
  if [ "$ok" = 1 ] && [ -z "$sha" ]; then ok=0; error="no SHA-256 was computed (is the temporary directory ${TMPDIR:-/tmp} full?)"; fi
  if [ "$ok" = 1 ] && { [ -z "$bytes" ] || [ "$bytes" = 0 ]; }; then ok=0; error="no bytes were counted (${bytes:-no count}); is the temporary directory ${TMPDIR:-/tmp} full?"; fi
  if [ "$ok" = 1 ]; then printf '%s\t%s\n' "$key" "$bytes" >> "$work/uploaded" || { ok=0; error="cannot write to ${TMPDIR:-/tmp}"; }; fi
  [ "$ok" = 1 ] || { error+=$(tmp_full_note); note_error "$name: $error"; }
  last_ok=$ok last_sha=$sha last_bytes=$bytes
  local j_name j_source j_method j_key j_sha j_integrity j_error
  json_v j_name "$name"; json_v j_source "$source"; json_v j_method "$method"; json_v j_key "$key"
  json_v_or_null j_sha "$sha"; json_v_or_null j_integrity "$integrity"; json_v_or_null j_error "$error"
  level_fields
  ms_now
  archives[${a_slot:-$next_slot}]="{\"name\":$j_name,\"kind\":\"$kind\",\"source\":$j_source,\"method\":$j_method,\
\"key\":$j_key,\"ok\":${bools[$ok]},\"bytes\":${bytes:-null},\"sha256\":$j_sha,\
\"compression\":\"${archive_compression:-$compression}\",\"integrity\":$j_integrity,\"durationMs\":$(( ${a_end:-$NOW_MS} - t0 )),\"error\":$j_error$LEVEL_FIELDS}"
  slot_taken
  reset_level
}

# LEVEL_FIELDS: ,"level":N,"baseKey":...,"baseSha256":... of the archive being recorded (appended
# after "error", see lib/results/backup.ts); reset_level resets them to a full's for the next archive.
level_fields() {
  local j_base_key j_base_sha
  json_v_or_null j_base_key "$a_base_key"; json_v_or_null j_base_sha "$a_base_sha"
  LEVEL_FIELDS=",\"level\":$a_level,\"baseKey\":$j_base_key,\"baseSha256\":$j_base_sha"
}
reset_level() { a_level=0; a_base_key=""; a_base_sha=""; a_slot=""; a_end=""; }
# The archive's place in the result, ${a_slot:-$next_slot}: SQLite copies keep theirs (spec order)
# even when recorded after the volumes they ran beside; the others take the next.
slot_taken() { [ -n "$a_slot" ] || next_slot=$((next_slot + 1)); }

# A failed archive that produced no stream.
record_failure() { # name kind source method key started_ms error
  note_error "$1: $7"
  local j_name j_source j_method j_key j_error
  json_v j_name "$1"; json_v j_source "$3"; json_v j_method "$4"; json_v j_key "$5"; json_v j_error "$7" 500
  level_fields
  ms_now
  archives[${a_slot:-$next_slot}]="{\"name\":$j_name,\"kind\":\"$2\",\"source\":$j_source,\"method\":$j_method,\
\"key\":$j_key,\"ok\":false,\"bytes\":null,\"sha256\":null,\"compression\":\"$compression\",\"integrity\":null,\"durationMs\":$(( ${a_end:-$NOW_MS} - $6 )),\"error\":$j_error$LEVEL_FIELDS}"
  slot_taken
  reset_level
}

run_hooks() { # pre|post
  local phase=$1 kind container rest args
  while IFS=$'\t' read -r kind container rest; do
    [ "$kind" = "$phase" ] || continue
    stage "hook $phase $container"
    IFS=$'\t' read -r -a args <<< "$rest"
    if ! limit "$HOOK_T" docker exec "$container" "${args[@]}" > /dev/null 2> "$work/hook.err"; then
      note_error "$phase hook in $container failed: $(head -c 200 "$work/hook.err")"
      [ "$phase" = pre ] && return 1
    fi
  done <<< "$spec"
  return 0
}

# SQLite: a snapshot, then its stream, one database after another; each leaves its outcome in
# $work/db.<i>/ (t0, failed or rc, t1) for record_sqlite. Run in the background beside the
# volumes when nothing is stopped (the copies are independent), else in turn.
sqlite_lane() {
  local i=0 kind a b c d
  while IFS=$'\t' read -r kind a b c d _; do
    [ "$kind" = sqlite ] || continue
    sqlite_copy "$a" "$b" "$c" "$d" "$work/db.$i"
    i=$((i + 1))
  done <<< "$spec"
}
sqlite_copy() { # name container path runIn dir
  local name=$1 c=$2 db=$3 mode=${4:-host} sw=$5 why
  [ "$mode" = container ] || mode=host
  mkdir "$sw" 2> /dev/null || return 0
  now_ms > "$sw/t0"
  stage "snapshot $name ($mode)"
  if ! why=$(sqlite_snapshot "$mode" "$c" "$db" "$sw/snapshot.db"); then
    printf '%s' "${why:-the snapshot failed}" > "$sw/failed"
    now_ms > "$sw/t1"
    return 0
  fi
  stage "archive $name"
  set +e
  limit_exec "$STREAM_T" "${COMPRESS[@]}" < "$sw/snapshot.db" 2> "$sw/compress.err" | upload_stream "$prefix/$name.db.$ext"
  local st=("${PIPESTATUS[@]}")
  set -e
  rm -f "$sw/snapshot.db"
  printf '%s %s\n' "${st[0]}" "${st[1]}" > "$sw/rc"
  now_ms > "$sw/t1"
}
record_sqlite() {
  local i=0 kind a b c d mode key t0 c_rc u_rc
  while IFS=$'\t' read -r kind a b c d _; do
    [ "$kind" = sqlite ] || continue
    mode=$d key="$prefix/$a.db.$ext" t0="" c_rc="" u_rc=""
    [ "$mode" = container ] || mode=host
    read -r t0 < "$work/db.$i/t0" 2> /dev/null || t0=$(now_ms)
    read -r a_end < "$work/db.$i/t1" 2> /dev/null || a_end=""
    a_slot=$i
    if [ -f "$work/db.$i/failed" ]; then
      record_failure "$a" sqlite "$b:$c" "sqlite3 VACUUM INTO" "$key" "$t0" "$(cat "$work/db.$i/failed")$(tmp_full_note)"
    elif read -r c_rc u_rc < "$work/db.$i/rc" 2> /dev/null; then
      sw="$work/db.$i" record_archive "$a" sqlite "$b:$c" "sqlite3 VACUUM INTO ($mode)" "$key" "$t0" 0 "$c_rc" "$u_rc" ok
    else
      record_failure "$a" sqlite "$b:$c" "sqlite3 VACUUM INTO" "$key" "$t0" "the snapshot and its stream ended without an outcome$(tmp_full_note)"
    fi
    i=$((i + 1))
  done <<< "$spec"
}

# pg_dump -Fc is compressed and consistent on its own: streamed straight to S3.
backup_postgres() { # name container database user
  local name=$1 c=$2 db=$3 user=$4 t0 key
  t0=$(now_ms)
  key="$prefix/$name.dump"
  stage "archive $name (pg_dump)"
  set +e
  limit_exec "$STREAM_T" docker exec "$c" pg_dump -Fc -U "$user" -d "$db" 2> "$work/source.err" | upload_stream "$key"
  local st=("${PIPESTATUS[@]}")
  set -e
  if [ "${st[0]}" = 126 ] || [ "${st[0]}" = 127 ]; then
    record_failure "$name" postgres "$c:$db" "pg_dump -Fc" "$key" "$t0" "pg_dump is not available in $c"
    return 0
  fi
  archive_compression=none record_archive "$name" postgres "$c:$db" "pg_dump -Fc" "$key" "$t0" "${st[0]}" 0 "${st[1]}"
}

# --- differentials ---------------------------------------------------------------
# Level of <name>'s archive: plan_level 1 with the full (plan_stamp/key/sha/snar), or 0 and plan_why.
plan_source() { # name source_fingerprint
  local d="$state_dir/$1" k v s_prefix="" s_key="" s_sha="" s_bytes="" s_since="" s_last="" s_bucket="" s_comp="" s_source="" s_excl="" s_snar=""
  plan_level=0 plan_why="" plan_stamp="" plan_key="" plan_sha="" plan_snar=""
  if [ "$full_every" = 1 ]; then plan_why="fullEvery is 1"; return 0; fi
  if [ ! -f "$d/state" ]; then plan_why="no earlier full on this host"; return 0; fi
  while IFS=$'\t' read -r k v; do
    case "$k" in
      prefix) s_prefix=$v ;; key) s_key=$v ;; sha256) s_sha=$v ;; bytes) s_bytes=$v ;; since) s_since=$v ;; last) s_last=$v ;;
      bucket) s_bucket=$v ;; compression) s_comp=$v ;; source) s_source=$v ;; excludes) s_excl=$v ;; snar) s_snar=$v ;;
    esac
  done < "$d/state" 2> /dev/null || true
  plan_stamp=${s_prefix##*/}
  if [[ ! "$plan_stamp" =~ ^[0-9]{8}T[0-9]{6}Z$ ]] || [ "$s_prefix" != "$host_prefix$plan_stamp" ] || [[ "$s_key" != "$s_prefix/"* ]] \
    || [[ ! "$s_sha" =~ $CHECKSUM_RE ]] || [[ ! "$s_bytes" =~ ^[1-9][0-9]{0,17}$ ]] || [[ ! "$s_since" =~ ^[0-9]{1,9}$ ]] \
    || [[ ! "$s_last" =~ ^[0-9]{1,18}$ ]] || [ "$s_snar" != "$plan_stamp.snar" ]; then
    plan_why="the state on this host is unreadable or belongs to another prefix"; return 0
  fi
  if [ "$s_bucket" != "$BUCKET" ] || [ "$s_comp" != "$compression" ] || [ "$s_source" != "$2" ]; then
    plan_why="the bucket, compression or source changed since the full"; return 0
  fi
  if [ "$s_excl" != "$excludes_fp" ]; then plan_why="the excludes changed since the full"; return 0; fi
  if [[ ! "$plan_stamp" < "$stamp" ]]; then plan_why="the full ($plan_stamp) is not older than this run"; return 0; fi
  if [ $(( s_since + 1 )) -ge "$full_every" ]; then plan_why="fullEvery ($full_every) reached"; return 0; fi
  if [ $(( s_last * 2 )) -gt "$s_bytes" ]; then plan_why="the last differential ($s_last bytes) was over half the full ($s_bytes bytes)"; return 0; fi
  if [ ! -s "$d/$s_snar" ]; then plan_why="the full's snapshot file is missing"; return 0; fi
  if ! run_verified "$s_prefix"; then plan_why="the full's run $s_prefix is not verified in S3"; return 0; fi
  plan_level=1 plan_key=$s_key plan_sha=$s_sha plan_snar=$s_snar
}

# After the manifest: a full becomes the base (new .snar first, then the state renamed over the
# old one); a differential counts one more run. A failed write costs a full, never a wrong base.
commit_state() {
  local entry name lvl key sha bytes fp d old
  for entry in "${commits[@]}"; do
    IFS=$'\t' read -r name lvl key sha bytes fp <<< "$entry"
    d="$state_dir/$name"
    if [ "$lvl" = 0 ]; then
      if { mkdir -p "$d" && cp "$work/snar.$name" "$d/$stamp.snar.tmp" && mv -f "$d/$stamp.snar.tmp" "$d/$stamp.snar" \
        && printf 'prefix\t%s\nkey\t%s\nsha256\t%s\nbytes\t%s\nsince\t0\nlast\t0\nbucket\t%s\ncompression\t%s\nsource\t%s\nexcludes\t%s\nsnar\t%s\n' \
          "$prefix" "$key" "$sha" "$bytes" "$BUCKET" "$compression" "$fp" "$excludes_fp" "$stamp.snar" > "$d/state.tmp" \
        && mv -f "$d/state.tmp" "$d/state"; } 2> "$work/state.err"; then
        for old in "$d"/*.snar; do [ "$old" = "$d/$stamp.snar" ] || rm -f "$old"; done
      else
        printf 'shipshape: cannot keep the state of %s in %s (the next run is a full): %s\n' "$name" "$d" "$(head -c 200 "$work/state.err")" >&2
      fi
    else
      { awk -F '\t' -v OFS='\t' -v b="$bytes" '$1 == "since" { $2 = $2 + 1 } $1 == "last" { $2 = b } { print }' "$d/state" > "$d/state.tmp" \
        && mv -f "$d/state.tmp" "$d/state"; } 2> "$work/state.err" \
        || printf 'shipshape: cannot count the differential of %s in %s: %s\n' "$name" "$d" "$(head -c 200 "$work/state.err")" >&2
    fi
  done
}

# The depends-on markers, checked with the archives by check_uploads.
write_depends() {
  local st
  for st in "${!depends[@]}"; do
    stage "depends-on $st"
    if printf '' | S3_LIMIT=$S3_SHORT_T s3_put "$prefix/depends-on/$st" 2> "$work/upload.err"; then
      printf '%s\t0\n' "$prefix/depends-on/$st" >> "$work/uploaded" || note_error "cannot write to ${TMPDIR:-/tmp}"
    else
      note_error "the marker $prefix/depends-on/$st (this run builds on $st) could not be written: $(head -c 300 "$work/upload.err")"
    fi
  done
}

# A volume or path: a full or a differential (plan_source), tar --listed-incremental.
backup_dir() { # name kind dir source
  local name=$1 kind=$2 dir=$3 source=$4 t0 key p_rc lvl fp snar="$work/snar.$1"
  t0=$(now_ms)
  key="$prefix/$name.tar.$ext"
  if [ ! -d "$dir" ]; then
    record_failure "$name" "$kind" "$source" tar "$key" "$t0" "$source does not exist"
    return 0
  fi
  fp=$(printf '%q' "$kind $source")
  plan_source "$name" "$fp"
  rm_existing "$snar"
  if [ "$plan_level" = 1 ] && ! cp "$state_dir/$name/$plan_snar" "$snar" 2> /dev/null; then
    plan_level=0 plan_why="the full's snapshot file cannot be copied to ${TMPDIR:-/tmp}"
    rm -f "$snar" 2> /dev/null || true
  fi
  lvl=$plan_level
  if [ "$lvl" = 1 ]; then
    stage "archive $name (differential on $plan_stamp)"
    a_level=1 a_base_key=$plan_key a_base_sha=$plan_sha
  else
    stage "archive $name (full: $plan_why)"
  fi
  set +e
  limit_exec "$STREAM_T" tar -C "$dir" "${excludes[@]}" --numeric-owner --totals --listed-incremental="$snar" --no-check-device -cf - . 2> "$work/source.err" \
    | limit_exec "$STREAM_T" "${COMPRESS[@]}" 2> "$work/compress.err" | upload_stream "$key"
  local st=("${PIPESTATUS[@]}")
  set -e
  p_rc=${st[0]}
  # GNU tar reports what it wrote; a tar that wrote nothing made no archive.
  if [ "$p_rc" = 0 ] && ! grep -q '^Total bytes written: [1-9]' "$work/source.err" 2>/dev/null; then
    p_rc="0, but it reported writing nothing"
  fi
  record_archive "$name" "$kind" "$source" tar "$key" "$t0" "$p_rc" "${st[1]}" "${st[2]}"
  if [ "$last_ok" = 1 ]; then
    commits+=("$name"$'\t'"$lvl"$'\t'"$key"$'\t'"$last_sha"$'\t'"$last_bytes"$'\t'"$fp")
    [ "$lvl" = 0 ] || depends[$plan_stamp]=1
  fi
}

# Every archive that counts is in S3 with the size the host counted: one listing.
check_uploads() {
  local key bytes got
  [ -s "$work/uploaded" ] || return 0
  stage "check uploads"
  if ! s3_sizes "$prefix/" > "$work/sizes" 2> "$work/list.err"; then
    note_error "cannot list $prefix/ to check the uploads: $(head -c 200 "$work/list.err")"
    return 0
  fi
  while IFS=$'\t' read -r key bytes; do
    got=$(awk -F '\t' -v k="$key" '$1 == k { print $2; exit }' "$work/sizes")
    [ "$got" = "$bytes" ] || note_error "$key is ${got:-missing} in S3 but $bytes bytes were uploaded"
  done < "$work/uploaded"
}

# --- run --------------------------------------------------------------------------
: > "$work/uploaded" || { note_error "cannot write to ${TMPDIR:-/tmp}"; exit 0; }
if run_hooks pre; then
  to_stop=()
  while IFS=$'\t' read -r kind a _; do
    case "$kind" in
      stop) to_stop+=("$a") ;;
      sqlite) next_slot=$((next_slot + 1)) ;;
    esac
  done <<< "$spec"
  # Nothing to stop: the SQLite copies run beside the other archives (2 streams fill the cores
  # better than one), else all before the stop, as its window is the app's downtime.
  if [ "${#to_stop[@]}" = 0 ]; then
    without_result_fd sqlite_lane &
    lane_pid=$!
  else
    sqlite_lane
    record_sqlite
  fi
  while IFS=$'\t' read -r kind a b c d _; do
    [ "$kind" = postgres ] && backup_postgres "$a" "$b" "$c" "$d"
  done <<< "$spec"

  # Stop in reverse order (dependents first); start_stopped starts them in config order.
  # Only running containers are stopped, and only those are started again.
  for (( i = ${#to_stop[@]} - 1; i >= 0; i-- )); do
    c=${to_stop[$i]}
    state=$(limit "$DOCKER_T" docker inspect --format "${LB}.State.Status${RB}" "$c" 2> "$work/stop.err") || state=""
    if [ -z "$state" ]; then
      note_error "container $c cannot be inspected: $(head -c 200 "$work/stop.err"); its data was not copied"
      continue
    fi
    if [ "$state" != running ] && [ "$state" != restarting ] && [ "$state" != paused ]; then
      left_stopped=("$(json_str "$c")" "${left_stopped[@]}")
      continue
    fi
    stage "stop $c"
    stopped=("$c" "${stopped[@]}")
    t_stop=$(now_ms)
    if ! limit $(( stop_timeout + DOCKER_T )) docker stop -t "$stop_timeout" "$c" > /dev/null 2> "$work/stop.err"; then
      note_error "container $c would not stop: $(head -c 200 "$work/stop.err"); its data was not copied"
    else
      # Exit code 137 after the full timeout: it ignored SIGTERM and was killed.
      after=$(limit "$DOCKER_T" docker inspect --format "${LB}.State.Status${RB}|${LB}.State.ExitCode${RB}" "$c" 2>/dev/null) || after=""
      if [ "${after%%|*}" != exited ] && [ "${after%%|*}" != stopped ] && [ "${after%%|*}" != created ]; then
        note_error "container $c is ${after%%|*} after docker stop (${after:-no answer from docker inspect}); its data was not copied"
      elif [ "${after##*|}" = 137 ] || [ $(( $(now_ms) - t_stop )) -ge $(( stop_timeout * 1000 )) ]; then
        : > "$work/killed.$c"
      fi
    fi
  done

  if [ "$failed" = 0 ] || [ "${#to_stop[@]}" = 0 ]; then
    while IFS=$'\t' read -r kind a b _; do
      case "$kind" in
        volume)
          # The archive keeps the configured name; the Docker volume may be <project>_<key>.
          vol=$(compose_volume_or_key "$project" "$a")
          if mp=$(limit "$DOCKER_T" docker volume inspect --format "${LB}.Mountpoint${RB}" "$vol" 2> "$work/source.err") && [ -n "$mp" ]; then
            backup_dir "$a" volume "$mp" "volume $vol"
          else
            record_failure "$a" volume "volume $vol" tar "$prefix/$a.tar.$ext" "$(now_ms)" "docker volume $vol does not exist ($(head -c 200 "$work/source.err"))"
          fi
          ;;
        path) backup_dir "$a" path "$b" "$b" ;;
      esac
    done <<< "$spec"
  fi
  if [ -n "$lane_pid" ]; then
    wait "$lane_pid" || true
    lane_pid=""
    record_sqlite
  fi
  start_stopped
fi
run_hooks post || true

# --- manifest, last -----------------------------------------------------------------
[ "$failed" = 0 ] && write_depends
[ "$failed" = 0 ] && check_uploads
if [ "$failed" = 0 ]; then
  stage "manifest"
  j_tar="" j_comp="" j_hash="" j_stack="" j_host="" j_run="" j_archives="" # set by json_v/join_v
  json_v j_tar "$(tar --version | head -n1)"; json_v j_comp "$( ("${COMPRESS[0]}" --version 2>&1 || true) | head -n1)"; json_v j_hash "${HASH[*]}"
  json_v j_stack "$STACK"; json_v j_host "$host_id"; json_v j_run "$RUN_ID"; join_v j_archives "${archives[@]}"
  utc_now
  manifest="{\"schema\":\"shipshape.backup-manifest/1\",\"stack\":$j_stack,\"host\":$j_host,\"runId\":$j_run,\
\"startedAt\":\"$started_at\",\"finishedAt\":\"$UTC_ISO\",\"archives\":[$j_archives],\"tools\":{\"tar\":$j_tar,\"compressor\":$j_comp,\"hash\":$j_hash}}"
  if printf '%s\n' "$manifest" | S3_LIMIT=$S3_SHORT_T s3_put "$prefix/manifest.json" 2> "$work/upload.err"; then
    manifest_key="$prefix/manifest.json"
    stage "state"
    commit_state
  else
    note_error "manifest upload failed: $(head -c 300 "$work/upload.err")"
  fi
fi
stage "done"
exit 0
