#!/usr/bin/env bash
# shipshape backup: consistent archives of a stack's data, streamed to S3, and ONE JSON
# result on stdout (schema shipshape.backup/1, see lib/results/backup.ts).
#
#   SQLite   .backup inside the container (busy timeout), integrity_check on the copy,
#            then streamed out; the live file is never read directly.
#   volumes  tar of the volume's mountpoint; paths: tar of the host path.
#   stop     containers stopped for the copy are started again in order, whatever
#            happens (EXIT trap), and waited for until healthy.
#   stream   source | zstd -T0 (or gzip) | tee (sha256, bytes) | aws s3 cp -   : no
#            full-size temporary copy on the host, memory bounded by the CLI's part size.
#   manifest written last, only when every archive succeeded: a run without a manifest
#            is incomplete by definition.
#
# Inputs: SHIPSHAPE_STACK, SHIPSHAPE_RUN_ID, SHIPSHAPE_SPEC_FILE (section backup) (from the document),
# SHIPSHAPE_BUCKET and SHIPSHAPE_PREFIX (document preamble), SHIPSHAPE_S3_ENDPOINT for
# S3-compatible stores, SHIPSHAPE_HEALTH_WAIT_SECONDS (default 120).
# Credentials come from the host's instance role; none travel in parameters or output.
set -euo pipefail
export LC_ALL=C
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "$0")/lib/common.sh" # shipshape:inline lib/common.sh
keep_stdout
# shellcheck source-path=SCRIPTDIR source=lib/s3.sh
. "$(dirname "$0")/lib/s3.sh" # shipshape:inline lib/s3.sh

BUCKET="${SHIPSHAPE_BUCKET:-}"
HEALTH_WAIT="${SHIPSHAPE_HEALTH_WAIT_SECONDS:-120}"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
prefix="${SHIPSHAPE_PREFIX:-backups}/${STACK}/${host_id}/${stamp}"
work=$(mktemp -d)
errors=()
missing_tools=()
archives=()
stopped=()
restarts=()
restarted=0
failed=0
manifest_key=""

note_error() { errors+=("$(json_str "$1" 500)"); failed=1; }

# --- containers stopped for the copy --------------------------------------------
start_stopped() {
  [ "$restarted" = 1 ] && return 0
  restarted=1
  local c ok out state health waited rest
  for c in "${stopped[@]}"; do
    ok=1
    limit 60 docker start "$c" > /dev/null 2> "$work/start.err" || ok=0
    out=$(wait_healthy "$c")
    state=${out%%|*}; rest=${out#*|}; health=${rest%%|*}; waited=${rest##*|}
    if [ "$ok" = 0 ] || [ "$state" != running ]; then
      note_error "container $c did not start again: $(head -c 200 "$work/start.err")"
      ok=0
    elif [ "$health" != healthy ] && [ "$health" != none ]; then
      note_error "container $c started but is $health after ${HEALTH_WAIT}s"
    fi
    restarts+=("{\"container\":$(json_str "$c"),\"started\":$(json_bool "$ok"),\"state\":$(json_str_or_null "$state"),\"health\":$(json_str_or_null "$health"),\"waitedMs\":$(json_num "$waited")}")
  done
}

# shellcheck disable=SC2317 # print_result and on_exit run from the EXIT trap
print_result() {
  result_header shipshape.backup/1
  printf '"bucket":%s,"prefix":%s,"manifestKey":%s,"complete":%s,' \
    "$(json_str "$BUCKET")" "$(json_str "$prefix")" "$(json_str_or_null "$manifest_key")" "$(json_bool "${manifest_key:+1}")"
  printf '"archives":[%s],"restarts":[%s],"missingTools":[%s],"errors":[%s]}\n' \
    "$(join_by_comma "${archives[@]}")" "$(join_by_comma "${restarts[@]}")" \
    "$(join_by_comma "${missing_tools[@]}")" "$(join_by_comma "${errors[@]:0:20}")"
}

# shellcheck disable=SC2317
on_exit() {
  local rc=$?
  [ "$rc" != 0 ] && [ "$RESULT_EMITTED" = 0 ] && note_error "backup aborted with exit code $rc; see the command's standard error"
  start_stopped || true
  clear_busy
  emit_result shipshape.backup/1 print_result '"bucket":"","prefix":"","manifestKey":null,"complete":false,"archives":[],"restarts":[],"missingTools":[]'
  rm -rf "$work"
  exit 0
}
trap on_exit EXIT
trap_signals
mark_busy backup

# --- tools and spec ----------------------------------------------------------------
for tool in docker tar aws sha256sum; do
  have "$tool" || { missing_tools+=("$(json_str "$tool")"); note_error "$tool is not installed on the host"; }
done
spec_error=$(spec_problem)
spec=""
if [ -n "$spec_error" ]; then note_error "$spec_error"; else spec=$(read_spec backup); fi
[ -n "$spec" ] || [ -n "$spec_error" ] || note_error "stack '$STACK' has no backup section in its spec"
[ -n "$BUCKET" ] || note_error "SHIPSHAPE_BUCKET is not set"
[ "$failed" = 0 ] || exit 0

compression=zstd
level=3
stop_timeout=60
excludes=()
while IFS=$'\t' read -r kind a b c _; do
  case "$kind" in
    conf) compression=$a; level=$b; stop_timeout=${c:-60} ;;
    exclude) excludes+=("--exclude=$a") ;;
  esac
done <<< "$spec"
if [ "$compression" = zstd ] && ! have zstd; then
  missing_tools+=("$(json_str zstd)")
  note_error "zstd is not installed; install it or set backup.compression: gzip"
  exit 0
fi
ext=zst
compress() { zstd -q -T0 "-$level" -c; }
if [ "$compression" = gzip ]; then
  ext=gz
  if have pigz; then compress() { pigz -c "-$level"; }; else compress() { gzip -c "-$level"; }; fi
fi

# Reads stdin, uploads it to <key>, and leaves its SHA-256 and size in $work/sum and $work/len.
upload_stream() {
  rm -f "$work/sum.fifo" "$work/len.fifo" "$work/sum" "$work/len"
  mkfifo "$work/sum.fifo" "$work/len.fifo"
  sha256sum < "$work/sum.fifo" > "$work/sum" &
  local p1=$!
  wc -c < "$work/len.fifo" > "$work/len" &
  local p2=$!
  local rc=0
  tee "$work/sum.fifo" "$work/len.fifo" | s3_put "$1" 2> "$work/upload.err" || rc=$?
  wait "$p1" "$p2" || true
  return "$rc"
}

# archive <name> <kind> <source> <method> <key> <started_ms> <producer exit> <compress exit> <upload exit> [integrity]
record_archive() {
  local name=$1 kind=$2 source=$3 method=$4 key=$5 t0=$6 p_rc=$7 c_rc=$8 u_rc=$9 integrity=${10:-}
  local ok=1 bytes sha error=""
  bytes=$(tr -d ' \n' < "$work/len" 2>/dev/null || true)
  sha=$(cut -d' ' -f1 "$work/sum" 2>/dev/null || true)
  if [ "$p_rc" != 0 ]; then ok=0; error="reading the source failed (exit $p_rc): $(head -c 200 "$work/source.err" 2>/dev/null)"; fi
  if [ "$ok" = 1 ] && [ "$c_rc" != 0 ]; then ok=0; error="compression failed (exit $c_rc)"; fi
  if [ "$ok" = 1 ] && [ "$u_rc" != 0 ]; then ok=0; error="upload failed (exit $u_rc): $(head -c 300 "$work/upload.err" 2>/dev/null)"; fi
  [ "$ok" = 1 ] || note_error "$name: $error"
  archives+=("{\"name\":$(json_str "$name"),\"kind\":\"$kind\",\"source\":$(json_str "$source"),\"method\":$(json_str "$method"),\
\"key\":$(json_str "$key"),\"ok\":$(json_bool "$ok"),\"bytes\":$(json_num "$bytes"),\"sha256\":$(json_str_or_null "$sha"),\
\"compression\":\"${archive_compression:-$compression}\",\"integrity\":$(json_str_or_null "$integrity"),\"durationMs\":$(( $(now_ms) - t0 )),\"error\":$(json_str_or_null "$error")}")
}

run_hooks() { # pre|post
  local phase=$1 kind container rest args
  while IFS=$'\t' read -r kind container rest; do
    [ "$kind" = "$phase" ] || continue
    IFS=$'\t' read -r -a args <<< "$rest"
    if ! limit 300 docker exec "$container" "${args[@]}" > /dev/null 2> "$work/hook.err"; then
      note_error "$phase hook in $container failed: $(head -c 200 "$work/hook.err")"
      [ "$phase" = pre ] && return 1
    fi
  done <<< "$spec"
  return 0
}

backup_sqlite() { # name container path
  local name=$1 c=$2 db=$3 t0 snap="/tmp/shipshape-$1-$stamp.db" integrity rc key
  t0=$(now_ms)
  key="$prefix/$name.db.$ext"
  rc=0
  limit 600 docker exec "$c" sqlite3 "$db" ".timeout 10000" ".backup '$snap'" > /dev/null 2> "$work/source.err" || rc=$?
  if [ "$rc" = 126 ] || [ "$rc" = 127 ]; then
    note_error "$name: sqlite3 is not available in $c; add it to the image, or back the volume up with the container stopped (backup.stop)"
    return 0
  fi
  if [ "$rc" != 0 ]; then
    note_error "$name: .backup of $db in $c failed (exit $rc): $(head -c 200 "$work/source.err")"
    limit 60 docker exec "$c" rm -f "$snap" > /dev/null 2>&1 || true
    return 0
  fi
  integrity=$(limit 600 docker exec "$c" sqlite3 "$snap" "PRAGMA integrity_check;" 2>&1 | head -c 300) || true
  if [ "$integrity" != ok ]; then
    note_error "$name: the snapshot of $db fails integrity_check: $integrity"
    limit 60 docker exec "$c" rm -f "$snap" > /dev/null 2>&1 || true
    return 0
  fi
  set +e
  limit 3600 docker exec "$c" cat "$snap" 2> "$work/source.err" | compress | upload_stream "$key"
  local st=("${PIPESTATUS[@]}")
  set -e
  limit 60 docker exec "$c" rm -f "$snap" > /dev/null 2>&1 || true
  record_archive "$name" sqlite "$c:$db" "sqlite3 .backup" "$key" "$t0" "${st[0]}" "${st[1]}" "${st[2]}" ok
}

# pg_dump -Fc is compressed and consistent on its own: streamed straight to S3.
backup_postgres() { # name container database user
  local name=$1 c=$2 db=$3 user=$4 t0 key
  t0=$(now_ms)
  key="$prefix/$name.dump"
  set +e
  limit 21600 docker exec "$c" pg_dump -Fc -U "$user" -d "$db" 2> "$work/source.err" | cat | upload_stream "$key"
  local st=("${PIPESTATUS[@]}")
  set -e
  if [ "${st[0]}" = 126 ] || [ "${st[0]}" = 127 ]; then
    note_error "$name: pg_dump is not available in $c"
    return 0
  fi
  archive_compression=none record_archive "$name" postgres "$c:$db" "pg_dump -Fc" "$key" "$t0" "${st[0]}" "${st[1]}" "${st[2]}"
}

backup_dir() { # name kind dir source
  local name=$1 kind=$2 dir=$3 source=$4 t0 key
  t0=$(now_ms)
  key="$prefix/$name.tar.$ext"
  if [ ! -d "$dir" ]; then
    note_error "$name: $source does not exist"
    return 0
  fi
  set +e
  tar -C "$dir" "${excludes[@]}" --numeric-owner -cf - . 2> "$work/source.err" | compress | upload_stream "$key"
  local st=("${PIPESTATUS[@]}")
  set -e
  record_archive "$name" "$kind" "$source" tar "$key" "$t0" "${st[0]}" "${st[1]}" "${st[2]}"
}

# --- run --------------------------------------------------------------------------
if run_hooks pre; then
  while IFS=$'\t' read -r kind a b c d _; do
    case "$kind" in
      sqlite) backup_sqlite "$a" "$b" "$c" ;;
      postgres) backup_postgres "$a" "$b" "$c" "$d" ;;
    esac
  done <<< "$spec"

  # Stop in reverse order (dependents first); start_stopped starts them in config order.
  to_stop=()
  while IFS=$'\t' read -r kind a _; do
    [ "$kind" = stop ] && to_stop+=("$a")
  done <<< "$spec"
  for (( i = ${#to_stop[@]} - 1; i >= 0; i-- )); do
    c=${to_stop[$i]}
    stopped=("$c" "${stopped[@]}")
    if ! limit $(( stop_timeout + 60 )) docker stop -t "$stop_timeout" "$c" > /dev/null 2> "$work/stop.err"; then
      note_error "container $c would not stop: $(head -c 200 "$work/stop.err"); its data was not copied"
    fi
  done

  if [ "$failed" = 0 ] || [ "${#to_stop[@]}" = 0 ]; then
    while IFS=$'\t' read -r kind a b _; do
      case "$kind" in
        volume)
          if mp=$(limit 20 docker volume inspect --format "${LB}.Mountpoint${RB}" "$a" 2> "$work/source.err"); then
            backup_dir "$a" volume "$mp" "volume $a"
          else
            note_error "$a: docker volume $a does not exist"
          fi
          ;;
        path) backup_dir "$a" path "$b" "$b" ;;
      esac
    done <<< "$spec"
  fi
  start_stopped
fi
run_hooks post || true

# --- manifest, last -----------------------------------------------------------------
if [ "$failed" = 0 ]; then
  tools="\"tar\":$(json_str "$(tar --version | head -n1)"),\"compressor\":$(json_str "$( (zstd --version 2>/dev/null || gzip --version | head -n1) | head -n1)"),\"aws\":$(json_str "$(aws --version 2>&1 | head -n1)")"
  manifest="{\"schema\":\"shipshape.backup-manifest/1\",\"stack\":$(json_str "$STACK"),\"host\":$(json_str "$host_id"),\"runId\":$(json_str "$RUN_ID"),\
\"startedAt\":\"$started_at\",\"finishedAt\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"archives\":[$(join_by_comma "${archives[@]}")],\"tools\":{$tools}}"
  if printf '%s\n' "$manifest" | s3_put "$prefix/manifest.json" 2> "$work/upload.err"; then
    manifest_key="$prefix/manifest.json"
  else
    note_error "manifest upload failed: $(head -c 300 "$work/upload.err")"
  fi
fi
exit 0
