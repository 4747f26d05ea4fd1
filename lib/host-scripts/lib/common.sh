# shellcheck shell=bash
# Shared by every shipshape host script. Inlined into the SSM documents at synth time
# (lib/runbooks/document.ts), sourced from the repository when a script runs directly.

# The run's identity and clock, the same in every script.
# shellcheck disable=SC2034 # used by the scripts that source this file
STACK="${SHIPSHAPE_STACK:-}"
# shellcheck disable=SC2034
RUN_ID="${SHIPSHAPE_RUN_ID:-manual}"

# The clock without starting date(1), which every run did several times.
# Milliseconds since the epoch in NOW_MS: bash 5's EPOCHREALTIME (seconds.microseconds), else date.
ms_now() {
  local t=${EPOCHREALTIME:-}
  t=${t/[.,]/}
  if [[ $t == +([0-9]) ]] && [ "${#t}" -gt 6 ]; then NOW_MS=${t:0:${#t}-3}; else NOW_MS=$(date +%s%3N); fi
}
now_ms() { ms_now; printf '%s\n' "$NOW_MS"; }
# UTC at <epoch seconds> in UTC_ISO (2026-11-23T04:14:53Z) and UTC_STAMP (20261123T041453Z): the
# civil date of the day count (H. Hinnant's civil_from_days); utc_now takes the clock from
# printf's %(%s)T (bash 4.2+). A TZ=UTC prefix on a builtin is not honoured by every bash.
utc_now() { local s; printf -v s '%(%s)T' -1; utc_at "$s"; }
utc_at() { # epoch
  local s=$1 z era doe yoe doy mp d m y
  z=$(( s / 86400 + 719468 )) s=$(( s % 86400 ))
  era=$(( z / 146097 )) doe=$(( z % 146097 ))
  yoe=$(( (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365 ))
  doy=$(( doe - (365 * yoe + yoe / 4 - yoe / 100) )) mp=$(( (5 * doy + 2) / 153 ))
  d=$(( doy - (153 * mp + 2) / 5 + 1 )) m=$(( mp < 10 ? mp + 3 : mp - 9 ))
  y=$(( yoe + era * 400 + (m <= 2) ))
  printf -v UTC_ISO '%04d-%02d-%02dT%02d:%02d:%02dZ' "$y" "$m" "$d" $(( s / 3600 )) $(( s / 60 % 60 )) $(( s % 60 ))
  UTC_STAMP=${UTC_ISO//[-:]/}
}
ms_now
utc_now
# shellcheck disable=SC2034
started_at=$UTC_ISO
# shellcheck disable=SC2034
started_ms=$NOW_MS
# This host's name (bash sets HOSTNAME itself), and the managed node ID when SSM runs the script.
HOST_NAME=${HOSTNAME:-$(hostname 2>/dev/null || echo unknown)}
# shellcheck disable=SC2034
host_id="${AWS_SSM_INSTANCE_ID:-$HOST_NAME}"

# --- exactly one JSON result on the real stdout, whatever fails ------------------------------
# A script calls keep_stdout right after sourcing this file: the real stdout moves to a
# descriptor of its own (RESULT_FD) and fd 1 becomes stderr, so stray output of any command
# lands on stderr. The EXIT trap calls emit_result, which writes ONE line there, once, even
# when set -e fired inside a function whose stdout was redirected into a file.
RESULT_FD=1
RESULT_EMITTED=0
keep_stdout() {
  # A script run inside another (the safety backup) drops its parent's descriptor first.
  if [ "$RESULT_FD" != 1 ]; then exec {RESULT_FD}>&-; fi
  exec {RESULT_FD}>&1 1>&2
}
# Runs a command without the real stdout: a daemon it starts (podman's conmon) would keep it
# open, and whoever reads the script's output would wait for the end of it forever.
without_result_fd() { if [ "$RESULT_FD" = 1 ]; then "$@"; else "$@" {RESULT_FD}>&-; fi; }

# emit_result <schema> <printer> [fallback fields]: runs <printer>, which prints the result
# document on its stdout, and writes it to the real stdout when it is one line of the form
# {...}. Otherwise (the printer failed or printed something else) writes a minimal document:
# the RunHeader, the fallback fields (e.g. '"ok":false,"archives":[]') and an error.
emit_result() {
  [ "$RESULT_EMITTED" = 1 ] && return 0
  RESULT_EMITTED=1
  local doc rc=0
  doc=$("$2") || rc=$?
  if [ "$rc" != 0 ] || [[ "$doc" == *$'\n'* ]] || [[ "$doc" != '{'*'}' ]]; then
    doc="$(result_header "$1")${3:+$3,}\"errors\":[$(json_str "the result document could not be built (exit $rc); see the command's standard error")]}"
  fi
  printf '%s\n' "$doc" >&"$RESULT_FD"
}

# Progress markers on stderr: the result function names the last one when SSM stops a run
# (TimedOut), so an alert says how far the host got.
stage() {
  local s="$*"
  if [[ $s == *[!' '-'~']* ]]; then s=$(printf '%s' "$s" | tr -c '\40-\176' '?' | head -c 120); else s=${s:0:120}; fi
  printf 'shipshape-stage: %s\n' "$s" >&2
}

# Turns signals into a normal exit, so that the EXIT trap still prints a result.
trap_signals() {
  trap 'exit 143' TERM
  trap 'exit 130' INT
  trap 'exit 129' HUP
}

# Go-template braces, built at run time: SSM would read a literal pair as a parameter.
LB=$'\x7b\x7b'
RB=$'\x7d\x7d'
export LB RB

# Strings keep printable ASCII only (no control bytes, no invalid UTF-8) and are capped.
# json_v <var> <string> [cap] sets <var> to the JSON string (no subshell: a run builds hundreds);
# json_str prints it. Locals carry a prefix: printf -v would set a caller's variable of the same
# name in json_v's own scope instead.
json_v() {
  local _jv_s=${2:-} _jv_cap=${3:-300}
  if [[ $_jv_s == *[!$'\t\n\r'' '-'~']* ]]; then
    _jv_s=$(printf '%s' "$_jv_s" | tr -c '\11\12\15\40-\176' '?' | head -c "$_jv_cap")
  else
    _jv_s=${_jv_s:0:$_jv_cap}
    while [[ $_jv_s == *$'\n' ]]; do _jv_s=${_jv_s%$'\n'}; done
  fi
  _jv_s=${_jv_s//\\/\\\\}
  _jv_s=${_jv_s//\"/\\\"}
  _jv_s=${_jv_s//$'\n'/\\n}
  _jv_s=${_jv_s//$'\r'/\\r}
  _jv_s=${_jv_s//$'\t'/\\t}
  printf -v "$1" '"%s"' "$_jv_s"
}
json_v_or_null() { if [ -z "${2:-}" ]; then printf -v "$1" null; else json_v "$@"; fi; }
json_str() { local _js_v; json_v _js_v "$@"; printf '%s' "$_js_v"; }
json_str_or_null() { if [ -z "${1:-}" ]; then printf 'null'; else json_str "$@"; fi; }
json_num() {
  if [[ "${1:-}" =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then printf '%s' "$1"; else printf 'null'; fi
}
# json_num_v <var> <value>: json_num into <var>.
json_num_v() { if [[ "${2:-}" =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then printf -v "$1" '%s' "$2"; else printf -v "$1" null; fi; }
json_bool() { if [ "${1:-0}" = 1 ]; then printf 'true'; else printf 'false'; fi; }
join_by_comma() { local IFS=,; printf '%s' "$*"; }
# join_v <var> items...: join_by_comma into <var>.
join_v() { local IFS=,; printf -v "$1" '%s' "${*:2}"; }

# Opens a result document with the fields every runbook shares (RunHeader in lib/results/run.ts),
# up to the comma after durationMs; the script prints its own fields and the closing brace.
result_header() { # schema
  local _rh_stack _rh_run _rh_name _rh_host
  json_v _rh_stack "$STACK"; json_v _rh_run "$RUN_ID"; json_v _rh_name "$HOST_NAME"; json_v _rh_host "$host_id"
  ms_now
  printf '{"schema":"%s","stack":%s,"runId":%s,"hostname":%s,"host":%s,"startedAt":"%s","durationMs":%s,' \
    "$1" "$_rh_stack" "$_rh_run" "$_rh_name" "$_rh_host" "$started_at" "$(( NOW_MS - started_ms ))"
}

have() { command -v "$1" >/dev/null 2>&1; }
# rm -f, without starting rm when none of the files exists (often the case: a fresh directory,
# no -wal file).
rm_existing() {
  local f old=()
  for f in "$@"; do if [ -e "$f" ] || [ -L "$f" ]; then old+=("$f"); fi; done
  [ "${#old[@]}" = 0 ] || rm -f "${old[@]}"
}

# Time limit of short docker calls (inspect, start); tests shorten it to exercise hangs.
DOCKER_T="${SHIPSHAPE_DOCKER_TIMEOUT_SECONDS:-20}"
if [[ $DOCKER_T =~ ^[0-9]{1,6}$ ]]; then DOCKER_T=$(( 10#$DOCKER_T )); else DOCKER_T=20; fi # 0: no limit (timeout 0)
# Listings of every container or volume, and docker's own overhead over a limit enforced inside
# a container: half as long again (30 s by default; 0, like DOCKER_T 0, is no limit).
DOCKER_LONG_T=$(( DOCKER_T * 3 / 2 ))

# Runs a command with a time limit when `timeout` exists.
# The child never inherits RESULT_FD: a daemon it starts (podman's conmon on `docker start`,
# `restart`, `run`) would hold the real stdout open, and SSM (or a test) waits for it to close.
limit() {
  local seconds=$1
  shift
  if [ "$RESULT_FD" = 1 ]; then
    if have timeout; then without_result_fd timeout "$seconds" "$@"; else without_result_fd "$@"; fi
  elif have timeout; then timeout "$seconds" "$@" {RESULT_FD}>&-
  else "$@" {RESULT_FD}>&-; fi
}

# The stack's spec (lib/runbooks/spec.ts): a file the SSM agent fetched before the script ran.
# Format 1 only: a script never guesses at a format it does not know.
SPEC_FORMAT=1
# Prints why the spec cannot be used, or nothing when it can.
spec_problem() {
  local file=${SHIPSHAPE_SPEC_FILE:-} header
  if [ -z "$file" ]; then printf 'SHIPSHAPE_SPEC_FILE is not set'; return 0; fi
  if [ ! -f "$file" ] || [ ! -r "$file" ]; then printf 'no spec for stack %s: %s was not fetched (is the stack in the config, and may the host read specs/ in the output bucket?)' "${STACK:-?}" "$file"; return 0; fi
  IFS= read -r header < "$file" || header=""
  if [ "$header" != "shipshape-spec"$'\t'"$SPEC_FORMAT" ]; then
    printf 'spec format %s is not supported by this script (it reads format %s): deploy matching documents and specs' "$(printf '%s' "$header" | tr -c 'A-Za-z0-9 ._-' '?' | head -c 40)" "$SPEC_FORMAT"
    return 0
  fi
}

# Prints the records of one section of the spec (health-check, backup, integrity, maintenance,
# secrets); fails when the spec cannot be used. An absent section prints nothing.
read_spec() { # section
  [ -z "$(spec_problem)" ] || return 1
  awk -F '\t' -v want="$1" 'NR == 1 { next } $1 == "section" { on = ($2 == want); next } $1 == "stack" { next } on' "$SHIPSHAPE_SPEC_FILE"
}

# Every AWS call uses the region the document names: hybrid nodes and AWS CLI v1 have no default.
if [ -n "${SHIPSHAPE_REGION:-}" ]; then
  export AWS_REGION="$SHIPSHAPE_REGION" AWS_DEFAULT_REGION="$SHIPSHAPE_REGION"
fi


# A stack is "busy" while a backup or restore runs on this host: health checks report it and
# remediation leaves the stack alone. Stale marks (over a day old) are ignored.
LOCK_DIR="${SHIPSHAPE_LOCK_DIR:-/run/shipshape}"
mark_busy() {
  claim_stack "$1" || return 1
  { mkdir -p "$LOCK_DIR" && printf '%s\n' "$1" > "$LOCK_DIR/$STACK.busy"; } 2>/dev/null || true
}
# Only the run that holds the stack clears its mark and lets the stack go.
clear_busy() {
  [ "${SHIPSHAPE_STACK_CLAIM:-}" = "$STACK" ] || return 0
  rm -f "$LOCK_DIR/$STACK.busy" 2>/dev/null || true
  # A subshell of the claiming run (maintenance's backup) sees the holder too, but must not end it.
  if [ -n "$STACK_HOLDER" ] && [ "$BASHPID" = "$STACK_HOLDER_OWNER" ]; then kill "$STACK_HOLDER" 2>/dev/null || true; STACK_HOLDER=""; fi
}

# One run that changes a stack at a time on a host (backup, restore, maintenance, apply-secret):
# SSM runs documents side by side, and two runs stopping, swapping or recreating the same
# containers would undo each other. A holder process keeps an flock on $LOCK_DIR/<stack>.lock
# while this script lives (checked every second, so a killed run frees it too); only the holder
# has the lock open, so nothing this script starts (podman's conmon) can keep it. Runs started
# by a run that holds the stack (maintenance's backup, restore's safety backup) inherit the
# claim. Without flock (util-linux) runs are not serialized; preflight says so.
STACK_LOCK_WAIT="${SHIPSHAPE_STACK_LOCK_WAIT_SECONDS:-60}"
STACK_HOLDER="" STACK_HOLDER_OWNER=""
claim_stack() { # runbook
  local dir line="" holder
  [ -n "$STACK" ] && [ "${SHIPSHAPE_STACK_CLAIM:-}" != "$STACK" ] || return 0
  have flock || return 0
  mkdir -p "$LOCK_DIR" 2>/dev/null || true
  if ! dir=$(mktemp -d 2>/dev/null) || ! mkfifo "$dir/claim" 2>/dev/null; then
    note_error "cannot claim stack $STACK (no temporary directory in ${TMPDIR:-/tmp}): $1 did nothing"
    return 1
  fi
  (
    if [ "$RESULT_FD" != 1 ]; then exec {RESULT_FD}>&-; fi
    exec 9>> "$LOCK_DIR/$STACK.lock" || exit 1
    flock -w "$STACK_LOCK_WAIT" 9 || exit 1
    echo locked
    exec 1>&-
    while kill -0 "$$" 2>/dev/null; do sleep 1 9>&-; done
  ) > "$dir/claim" 2> /dev/null < /dev/null &
  holder=$!
  read -r line < "$dir/claim" || true
  rm -rf "$dir"
  if [ "$line" = locked ]; then STACK_HOLDER=$holder STACK_HOLDER_OWNER=$BASHPID; export SHIPSHAPE_STACK_CLAIM="$STACK"; return 0; fi
  wait "$holder" 2>/dev/null || true
  line=$(busy_with || true)
  note_error "stack $STACK is busy on this host with ${line:-another run} (waited ${STACK_LOCK_WAIT} s): $1 did nothing; run it again once that has finished"
  return 1
}
busy_with() {
  local f="$LOCK_DIR/$STACK.busy"
  [ -n "$(find "$f" -mmin -1440 2>/dev/null)" ] && head -c 40 "$f" | tr -cd 'a-z-'
}

# Waits until a container runs and is healthy (or has no HEALTHCHECK), at most
# HEALTH_WAIT seconds; prints "state|health|waited_ms".
wait_healthy() {
  local c=$1 t0 out state health
  ms_now
  t0=$NOW_MS
  while :; do
    out=$(limit "$DOCKER_T" docker inspect --format "${LB}.State.Status${RB}|${LB}if .State.Health${RB}${LB}.State.Health.Status${RB}${LB}end${RB}" "$c" 2>/dev/null) || out="missing|"
    state=${out%%|*}
    health=${out##*|}
    # podman reports an empty status for containers without a HEALTHCHECK.
    [ -n "$health" ] || health=none
    if [ "$state" = running ] && { [ "$health" = healthy ] || [ "$health" = none ]; }; then break; fi
    ms_now
    [ $(( NOW_MS - t0 )) -ge $(( ${HEALTH_WAIT:-120} * 1000 )) ] && break
    sleep 1
  done
  ms_now
  printf '%s|%s|%s' "$state" "$health" "$(( NOW_MS - t0 ))"
}
