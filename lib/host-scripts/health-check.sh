#!/usr/bin/env bash
# shipshape health-check: observes one Docker host and prints ONE JSON document
# (schema shipshape.health-check/1, see lib/results/health.ts). It only observes:
# thresholds are applied by the result Lambda, so one config decides severity.
#
# Inputs (environment, set by the SSM document preamble or by tests):
#   SHIPSHAPE_STACK      stack name (validated by the document's allowedValues)
#   SHIPSHAPE_RUN_ID     run ID (validated by the document's allowedPattern)
#   SHIPSHAPE_SPEC_FILE  the stack's spec (lib/runbooks/spec.ts), section health-check
#   SHIPSHAPE_PROC_ROOT  /proc by default; tests point it at fixtures
#   SHIPSHAPE_CPU_SAMPLE_SECONDS  CPU sampling interval, default 1
#   SHIPSHAPE_EXECUTION_TIMEOUT   the document's execution timeout (default 300): probes run
#                        concurrently and the script returns what it has before it, naming the
#                        probes still waiting (SHIPSHAPE_PROBE_BUDGET_SECONDS overrides the budget)
#   SHIPSHAPE_PROBE_PARALLEL      probes at once, default 16
#   SHIPSHAPE_STATE_DIR  where restart counts are kept between runs (default /var/lib/shipshape)
#
# Names in the spec are compose names (a service's containers are found through the labels
# compose sets, all of them when scaled) or literal container names (lib/compose.sh).
#
# A failing probe is a result, never a crash. The script exits 0 whenever it printed
# its JSON; if it is killed half way, the EXIT trap still prints a minimal document.
set -euo pipefail
export LC_ALL=C
script_dir=${0%/*}; [ "$script_dir" != "$0" ] || script_dir=. # the libraries' directory, without starting dirname
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$script_dir/lib/common.sh" # shipshape:inline lib/common.sh
keep_stdout
# shellcheck source-path=SCRIPTDIR source=lib/compose.sh
. "$script_dir/lib/compose.sh" # shipshape:inline lib/compose.sh

PROC_ROOT="${SHIPSHAPE_PROC_ROOT:-/proc}"
CPU_SAMPLE="${SHIPSHAPE_CPU_SAMPLE_SECONDS:-1}"

work=$(mktemp -d)
errors=()
missing_tools=()

note_error() { local j; json_v j "$1"; errors+=("$j"); }

EMPTY_FIELDS='"system":{"disks":[],"memoryPercent":null,"memoryTotalMiB":null,"cpuPercent":null,"load1":null,"cpus":null},"busy":null,"containers":[],"probes":[],"missingTools":[]'
finished=0
# shellcheck disable=SC2317 # print_result and on_exit run from the EXIT trap
print_result() {
  if [ "$finished" = 0 ]; then
    result_header shipshape.health-check/1
    printf '%s,"errors":[%s]}\n' "$EMPTY_FIELDS" "$(json_str "health-check aborted with exit code $1 before finishing; see the command's standard error")"
    return 0
  fi
  local j_disks j_mem j_total j_cpu j_load j_cpus j_busy j_containers j_probes j_budget j_waiting j_missing j_errors
  join_v j_disks "${disk_json[@]}"; json_num_v j_mem "$mem_percent"; json_num_v j_total "$mem_total"
  json_num_v j_cpu "$cpu_percent"; json_num_v j_load "$load1"; json_num_v j_cpus "$cpus"
  json_v_or_null j_busy "$(busy_with || true)"; join_v j_containers "${container_json[@]}"; join_v j_probes "${probe_json[@]}"
  json_num_v j_budget "$probe_budget"; join_v j_waiting "${waiting_json[@]}"; join_v j_missing "${missing_tools[@]}"; join_v j_errors "${errors[@]:0:20}"
  result_header shipshape.health-check/1
  printf '"system":{"disks":[%s],"memoryPercent":%s,"memoryTotalMiB":%s,"cpuPercent":%s,"load1":%s,"cpus":%s},' \
    "$j_disks" "$j_mem" "$j_total" "$j_cpu" "$j_load" "$j_cpus"
  printf '"busy":%s,"containers":[%s],"probes":[%s],"probeBudgetSeconds":%s,"probesWaiting":[%s],"missingTools":[%s],"errors":[%s]}\n' \
    "$j_busy" "$j_containers" "$j_probes" "$j_budget" "$j_waiting" "$j_missing" "$j_errors"
}
# shellcheck disable=SC2317
on_exit() {
  local rc=$?
  # Probes still running are stopped: nothing outlives the run.
  for pid in "${probe_pids[@]}"; do kill_tree "$pid"; done
  exit_status=$rc
  # shellcheck disable=SC2329
  print_with_rc() { print_result "$exit_status"; }
  emit_result shipshape.health-check/1 print_with_rc "$EMPTY_FIELDS"
  rm -rf "$work"
  exit 0
}
probe_pids=()
# Stops a background probe and what it started (curl, timeout), children first.
kill_tree() {
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null || true); do kill_tree "$child"; done
  kill "$1" 2>/dev/null || true
}
trap on_exit EXIT
trap_signals

for tool in docker curl timeout; do
  have "$tool" || missing_tools+=("$(json_str "$tool")")
done
have_docker=0; have docker && have_docker=1
have_curl=0; have curl && have_curl=1

# --- spec ---------------------------------------------------------------------
[ -n "$STACK" ] || note_error "SHIPSHAPE_STACK is not set"
spec=""
spec_error=$(spec_problem)
if [ -n "$spec_error" ]; then
  note_error "$spec_error"
else
  spec=$(read_spec health-check)
fi
project=$(compose_spec_project)

# --- system -------------------------------------------------------------------
disk_json=()
disk_usage() {
  local path=$1 line used avail
  [ -e "$path" ] || { note_error "disk path $path does not exist"; return 0; }
  line=$(df -P -k "$path" 2>/dev/null | awk 'NR==2 {print $5" "$4}') || line=""
  used=${line%% *}; used=${used%\%}
  avail=${line##* }
  [[ "$avail" =~ ^[0-9]+$ ]] && avail=$((avail / 1024)) || avail=""
  disk_json+=("{\"path\":$(json_str "$path"),\"usedPercent\":$(json_num "$used"),\"availMiB\":$(json_num "$avail")}")
}

disk_paths=("/")
if [ "$have_docker" = 1 ]; then
  docker_root=$(limit 15 docker info --format "${LB}.DockerRootDir${RB}" 2>/dev/null) || docker_root=""
  if [ -n "$docker_root" ] && [ "$docker_root" != "/" ]; then disk_paths+=("$docker_root"); fi
fi
while IFS=$'\t' read -r kind a _; do
  [ "$kind" = disk ] && disk_paths+=("$a")
done <<< "$spec"
for p in "${disk_paths[@]}"; do disk_usage "$p"; done

mem_percent=""; mem_total=""
if [ -r "$PROC_ROOT/meminfo" ]; then
  read -r mem_percent mem_total < <(awk '/^MemTotal:/ {t=$2} /^MemAvailable:/ {a=$2}
    END { if (t > 0) printf "%.1f %d\n", (t - a) * 100 / t, t / 1024; else print "" }' "$PROC_ROOT/meminfo") || true
else
  note_error "cannot read $PROC_ROOT/meminfo"
fi

cpu_sample() { awk '/^cpu / { idle = $5 + $6; total = 0; for (i = 2; i <= NF; i++) total += $i; print idle" "total }' "$PROC_ROOT/stat"; }
cpu_percent=""
if [ -r "$PROC_ROOT/stat" ]; then
  read -r idle1 total1 < <(cpu_sample) || true
  sleep "$CPU_SAMPLE"
  read -r idle2 total2 < <(cpu_sample) || true
  if [ -n "${total2:-}" ] && [ -n "${total1:-}" ] && [ "$total2" -gt "$total1" ]; then
    cpu_percent=$(awk -v i1="$idle1" -v t1="$total1" -v i2="$idle2" -v t2="$total2" \
      'BEGIN { printf "%.1f", (1 - (i2 - i1) / (t2 - t1)) * 100 }')
  fi
fi
load1=""
[ -r "$PROC_ROOT/loadavg" ] && read -r load1 _ < "$PROC_ROOT/loadavg"
cpus=$(grep -c '^processor' "$PROC_ROOT/cpuinfo" 2>/dev/null || true)
[[ "$cpus" =~ ^[1-9][0-9]*$ ]] || cpus=$(nproc 2>/dev/null || echo "")

# --- containers ---------------------------------------------------------------
# Memory strings from docker stats ("12.5MiB / 1.9GiB", podman "12.5MB / 2GB") to MiB.
to_mib() {
  awk -v v="$1" 'BEGIN {
    if (match(v, /^[0-9.]+/) == 0) { print ""; exit }
    n = substr(v, 1, RLENGTH); u = substr(v, RLENGTH + 1)
    f["B"] = 1 / 1048576; f["KiB"] = 1 / 1024; f["MiB"] = 1; f["GiB"] = 1024; f["TiB"] = 1048576
    f["kB"] = 1000 / 1048576; f["KB"] = 1000 / 1048576; f["MB"] = 1e6 / 1048576; f["GB"] = 1e9 / 1048576; f["TB"] = 1e12 / 1048576
    if (!(u in f)) { print ""; exit }
    printf "%.1f", n * f[u]
  }'
}

declare -A c_state=() c_health=() c_restarts=() c_started=() c_id=() c_exit=() c_oom=() c_since=() c_prev_at=()
running=()
# Which containers each spec line means: a compose service (all its containers) or a literal name.
declare -A resolved=() resolve_error=()
stage "resolving containers"
[ "$have_docker" = 1 ] && [ -n "$project" ] && compose_memo "$project"
while IFS=$'\t' read -r kind _ ref _; do
  [ "$kind" = container ] || continue
  [ "$have_docker" = 1 ] || continue
  if names=$(compose_containers "$project" "$ref" 2> "$work/resolve.err"); then
    resolved["$ref"]=$names
  else
    resolve_error["$ref"]=$(head -c 400 "$work/resolve.err")
  fi
done <<< "$spec"

# One inspect for every container (docker prints the ones it finds, in order, and exits 1 naming
# the others): a call per container cost a docker CLI start-up each.
inspect_format="${LB}.Name${RB}|${LB}.Id${RB}|${LB}.State.Status${RB}|${LB}if .State.Health${RB}${LB}.State.Health.Status${RB}${LB}else${RB}none${LB}end${RB}|${LB}.RestartCount${RB}|${LB}.State.StartedAt${RB}|${LB}.State.ExitCode${RB}|${LB}.State.OOMKilled${RB}"
targets=()
declare -A targeted=()
while IFS=$'\t' read -r kind _ ref _; do
  [ "$kind" = container ] || continue
  [ -n "${resolved[$ref]:-}" ] || continue
  while IFS= read -r container; do
    if [ -z "$container" ] || [ -n "${targeted[$container]+x}" ]; then continue; fi
    targeted["$container"]=1
    targets+=("$container")
  done <<< "${resolved[$ref]}"
done <<< "$spec"
if [ "${#targets[@]}" -gt 0 ]; then
  inspect_rc=0
  limit "$DOCKER_T" docker inspect --format "$inspect_format" "${targets[@]}" > "$work/inspect" 2> "$work/err" || inspect_rc=$?
  declare -A by_name=() by_id=()
  while IFS= read -r line; do
    name=${line%%|*}
    rest=${line#*|}
    by_name["${name#/}"]=$rest
    by_id["${rest%%|*}"]=$rest
  done < "$work/inspect"
  for container in "${targets[@]}"; do
    out=${by_name[$container]:-}
    if [ -z "$out" ]; then
      # Named by ID (or an ID prefix) in the config rather than by name.
      for id in "${!by_id[@]}"; do
        if [[ $id == "$container"* ]]; then out=${by_id[$id]}; break; fi
      done
    fi
    [ -n "$out" ] || continue
    IFS='|' read -r c_id["$container"] c_state["$container"] c_health["$container"] c_restarts["$container"] c_started["$container"] c_exit["$container"] c_oom["$container"] <<< "$out"
    [ "${c_state[$container]}" = running ] && running+=("$container")
  done
  # Containers that are gone are reported as not existing; any other failure is an error.
  if [ "$inspect_rc" != 0 ] && grep -qvi 'no such' "$work/err"; then
    note_error "docker inspect failed: $(grep -vi 'no such' "$work/err" | head -c 200)"
  fi
fi

# Restarts since the previous check: Docker counts restarts by the restart policy (a crash loop
# keeps the container "up" between crashes); kept per container ID in a small state file.
STATE_DIR="${SHIPSHAPE_STATE_DIR:-/var/lib/shipshape}"
state_file="$STATE_DIR/${STACK:-unknown}.restarts"
declare -A prev_id=() prev_count=() prev_at=()
if [ -r "$state_file" ]; then
  while IFS='|' read -r name id count at; do
    prev_id["$name"]=$id; prev_count["$name"]=$count; prev_at["$name"]=$at
  done < "$state_file"
fi
utc_now
now_iso=$UTC_ISO
: > "$work/restarts"
for container in "${!c_state[@]}"; do
  count=${c_restarts[$container]}
  [[ "$count" =~ ^[0-9]+$ ]] || continue
  id=${c_id[$container]:-}
  [ "$id" = "<no value>" ] && id=""
  if [ -n "${prev_count[$container]+x}" ]; then
    c_prev_at["$container"]=${prev_at[$container]}
    if [ "${prev_id[$container]}" = "$id" ]; then
      since=$(( count - prev_count[$container] ))
      [ "$since" -ge 0 ] || since=$count
    else
      since=$count # recreated since: every restart of the new container counts
    fi
    c_since["$container"]=$since
  fi
  printf '%s|%s|%s|%s\n' "$container" "$id" "$count" "$now_iso" >> "$work/restarts"
done
if [ -n "$STACK" ] && [ "${#c_state[@]}" -gt 0 ]; then
  { mkdir -p "$STATE_DIR" && cp "$work/restarts" "$state_file.tmp" && mv -f "$state_file.tmp" "$state_file"; } 2> /dev/null ||
    note_error "cannot keep restart counts in $STATE_DIR (crash loops are seen only through the current restart count)"
fi

declare -A c_mem c_cpu
if [ "${#running[@]}" -gt 0 ]; then
  if limit 30 docker stats --no-stream --format "${LB}.Name${RB}|${LB}.MemUsage${RB}|${LB}.CPUPerc${RB}" "${running[@]}" > "$work/stats" 2>"$work/err"; then
    while IFS='|' read -r name mem cpu; do
      c_mem["$name"]=$(to_mib "${mem%% /*}")
      c_cpu["$name"]=${cpu%\%}
    done < "$work/stats"
  else
    note_error "docker stats failed: $(head -c 200 "$work/err")"
  fi
fi

# Sets log_count; streams the logs so a chatty container cannot fill memory.
count_log_lines() {
  local container=$1 window=$2 pattern=$3
  log_count=$( (limit 60 docker logs --since "${window}m" "$container" 2>&1; echo $? > "$work/logs_rc") | grep -ciE -e "$pattern" || true)
  if [ "$(cat "$work/logs_rc" 2>/dev/null || echo 1)" != 0 ]; then
    note_error "docker logs $container failed"
    log_count=""
  fi
}

container_json=()
add_container() { # service ref container window pattern
  local service=$1 ref=$2 container=$3 window=$4 pattern=$5 exists=0 oom=0
  log_count=""
  if [ -n "${c_state[$container]+x}" ]; then
    exists=1
    if [ "${c_state[$container]}" = running ]; then count_log_lines "$container" "$window" "$pattern"; fi
  fi
  [ "${c_oom[$container]:-}" = true ] && oom=1
  local j_service j_ref j_container j_resolve j_state j_health j_restarts j_started j_since j_prev j_exit j_oom=null j_mem j_cpu j_lines j_window
  json_v j_service "$service"; json_v j_ref "$ref"; json_v j_container "$container"
  json_v_or_null j_resolve "${resolve_error[$ref]:-}" 400; json_v_or_null j_state "${c_state[$container]:-}"; json_v_or_null j_health "${c_health[$container]:-}"
  json_num_v j_restarts "${c_restarts[$container]:-}"; json_v_or_null j_started "${c_started[$container]:-}"; json_num_v j_since "${c_since[$container]:-}"
  json_v_or_null j_prev "${c_prev_at[$container]:-}"; json_num_v j_exit "${c_exit[$container]:-}"
  local j_exists=false
  if [ "$exists" = 1 ]; then j_exists=true; if [ "$oom" = 1 ]; then j_oom=true; else j_oom=false; fi; fi
  json_num_v j_mem "${c_mem[$container]:-}"; json_num_v j_cpu "${c_cpu[$container]:-}"; json_num_v j_lines "$log_count"; json_num_v j_window "$window"
  container_json+=("{\"service\":$j_service,\"ref\":$j_ref,\"container\":$j_container,\"exists\":$j_exists,\
\"resolveError\":$j_resolve,\"state\":$j_state,\"health\":$j_health,\"restartCount\":$j_restarts,\"startedAt\":$j_started,\
\"restartsSincePreviousCheck\":$j_since,\"previousCheckAt\":$j_prev,\"lastExitCode\":$j_exit,\"oomKilled\":$j_oom,\
\"memoryMiB\":$j_mem,\"cpuPercent\":$j_cpu,\"errorLines\":$j_lines,\"logWindowMinutes\":$j_window}")
}
stage "containers"
while IFS=$'\t' read -r kind service ref window pattern; do
  [ "$kind" = container ] || continue
  if [ -n "${resolved[$ref]:-}" ]; then
    while IFS= read -r container; do add_container "$service" "$ref" "$container" "$window" "$pattern"; done <<< "${resolved[$ref]}"
  else
    add_container "$service" "$ref" "$ref" "$window" "$pattern"
  fi
done <<< "$spec"

# --- probes -------------------------------------------------------------------
# Every probe runs in the background, at most PROBE_PARALLEL at once, within one budget: the
# document's execution timeout less a reserve for the result. Probes still waiting when it runs
# out are stopped and reported by name, so a run never ends as an empty TimedOut.
EXECUTION_TIMEOUT="${SHIPSHAPE_EXECUTION_TIMEOUT:-300}"
[[ "$EXECUTION_TIMEOUT" =~ ^[0-9]+$ ]] || EXECUTION_TIMEOUT=300
probe_budget="${SHIPSHAPE_PROBE_BUDGET_SECONDS:-$(( EXECUTION_TIMEOUT > 60 ? EXECUTION_TIMEOUT - 30 : EXECUTION_TIMEOUT / 2 ))}"
[[ "$probe_budget" =~ ^[0-9]+$ ]] || probe_budget=270
PROBE_PARALLEL="${SHIPSHAPE_PROBE_PARALLEL:-16}"
[[ "$PROBE_PARALLEL" =~ ^[1-9][0-9]*$ ]] || PROBE_PARALLEL=16
probe_json=()
waiting_json=()

# Each probe prints its one JSON object; the caller collects it from a file.
add_probe() { # id service type target ok status latency error
  local j_id j_service j_target j_ok=false j_status j_latency j_error
  json_v j_id "$1"; json_v j_service "$2"; json_v j_target "$4"; [ "$5" != 1 ] || j_ok=true
  json_num_v j_status "$6"; json_num_v j_latency "$7"; json_v_or_null j_error "$8"
  printf '%s\n' "{\"id\":$j_id,\"service\":$j_service,\"type\":\"$3\",\"target\":$j_target,\
\"ok\":$j_ok,\"status\":$j_status,\"latencyMs\":$j_latency,\"error\":$j_error,\"waiting\":false}"
}
probe_process() {
  local id=$1 service=$2 ref=$3 pattern=$4 err=$5 rc container failed="" code=""
  if [ -z "${resolved[$ref]:-}" ]; then
    add_probe "$id" "$service" process "$pattern" 0 "" "" "container $ref is not running"; return 0
  fi
  while IFS= read -r container; do
    if [ "${c_state[$container]:-}" != running ]; then failed="container $container is not running"; break; fi
    rc=0
    limit 15 docker exec "$container" pgrep -f -- "$pattern" > /dev/null 2> "$err" || rc=$?
    case $rc in
      0) ;;
      1) failed="no process matches '$pattern' in $container"; code=1; break ;;
      124) failed="pgrep timed out in $container"; code=124; break ;;
      126 | 127) failed="pgrep is not available in $container"; code=$rc; break ;;
      *) failed="docker exec failed ($rc): $(head -c 200 "$err")"; code=$rc; break ;;
    esac
  done <<< "${resolved[$ref]}"
  if [ -z "$failed" ]; then add_probe "$id" "$service" process "$pattern" 1 0 "" ""
  else add_probe "$id" "$service" process "$pattern" 0 "$code" "" "$failed"; fi
}

probe_http() {
  local id=$1 service=$2 timeout_s=$3 insecure=$4 url=$5 err=$6 out rc code secs ms
  if [ "$have_curl" = 0 ]; then add_probe "$id" "$service" http "$url" 0 "" "" "curl is not installed on the host"; return 0; fi
  # --globoff: [1-3] and {a,b} in a URL are characters, never several requests.
  local args=(-sS --globoff -o /dev/null -w '%{http_code} %{time_total}' --max-time "$timeout_s")
  [ "$insecure" = 1 ] && args+=(-k)
  rc=0
  out=$(curl "${args[@]}" -- "$url" 2> "$err") || rc=$?
  code=${out%% *}; secs=${out##* }
  ms=$(awk -v s="$secs" 'BEGIN { if (s ~ /^[0-9.]+$/) printf "%d", s * 1000 }')
  if [ "$rc" = 0 ]; then
    add_probe "$id" "$service" http "$url" 1 "$code" "$ms" ""
  else
    [ "$code" = 000 ] && code=""
    add_probe "$id" "$service" http "$url" 0 "$code" "$ms" "$(head -c 200 "$err" | sed 's/^curl: //')"
  fi
}

probe_tcp() {
  local id=$1 service=$2 timeout_s=$3 host=$4 port=$5 err=$6 t0 t1 rc
  ms_now; t0=$NOW_MS rc=0
  # shellcheck disable=SC2016 # $1 and $2 expand in the child shell, never in this one
  limit "$timeout_s" bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2> "$err" || rc=$?
  ms_now; t1=$NOW_MS
  if [ "$rc" = 0 ]; then
    add_probe "$id" "$service" tcp "$host:$port" 1 "" "$((t1 - t0))" ""
  elif [ "$rc" = 124 ]; then
    add_probe "$id" "$service" tcp "$host:$port" 0 "" "$((t1 - t0))" "no answer within ${timeout_s}s"
  else
    add_probe "$id" "$service" tcp "$host:$port" 0 "" "$((t1 - t0))" "connection refused or host unreachable"
  fi
}

# Queue: one line per probe (the spec line), started in order.
probe_lines=()
while IFS= read -r line; do
  case "${line%%$'\t'*}" in
    process | http | tcp) probe_lines+=("$line") ;;
    container | disk | "") ;;
    *) note_error "unknown spec line kind '${line%%$'\t'*}'" ;;
  esac
done <<< "$spec"

stage "probes (${#probe_lines[@]}, budget ${probe_budget}s)"
deadline_ms=$(( started_ms + probe_budget * 1000 ))
declare -A probe_pid=() probe_started=()
next=0
# RUNNING: how many probes still run (no subshell: the loop below polls every 0.1 s).
running_probes() { local i; RUNNING=0; for i in "${!probe_pid[@]}"; do ! kill -0 "${probe_pid[$i]}" 2>/dev/null || RUNNING=$((RUNNING + 1)); done; return 0; }
while :; do
  while [ "$next" -lt "${#probe_lines[@]}" ] && running_probes && [ "$RUNNING" -lt "$PROBE_PARALLEL" ] && ms_now && [ "$NOW_MS" -lt "$deadline_ms" ]; do
    IFS=$'\t' read -r kind a b c d e <<< "${probe_lines[$next]}"
    i=$next
    case "$kind" in
      process) probe_process "$a" "$b" "$c" "$d" "$work/probe.$i.err" > "$work/probe.$i.json" 2>/dev/null {RESULT_FD}>&- & ;;
      http) probe_http "$a" "$b" "$c" "$d" "$e" "$work/probe.$i.err" > "$work/probe.$i.json" 2>/dev/null {RESULT_FD}>&- & ;;
      tcp) probe_tcp "$a" "$b" "$c" "$d" "$e" "$work/probe.$i.err" > "$work/probe.$i.json" 2>/dev/null {RESULT_FD}>&- & ;;
    esac
    probe_pid[$i]=$!
    probe_pids+=("$!")
    ms_now
    probe_started[$i]=$NOW_MS
    next=$((next + 1))
  done
  running_probes
  if [ "$RUNNING" = 0 ] && [ "$next" -ge "${#probe_lines[@]}" ]; then break; fi
  ms_now
  if [ "$NOW_MS" -ge "$deadline_ms" ]; then break; fi
  sleep 0.1
done
for i in "${!probe_lines[@]}"; do
  IFS=$'\t' read -r kind a b c d e <<< "${probe_lines[$i]}"
  if [ -n "${probe_pid[$i]:-}" ] && ! kill -0 "${probe_pid[$i]}" 2>/dev/null; then
    wait "${probe_pid[$i]}" 2>/dev/null || true
    line=$(head -n 1 "$work/probe.$i.json" 2>/dev/null || true)
    if [[ "$line" == '{'*'}' ]]; then probe_json+=("$line"); continue; fi
  fi
  # Still waiting at the budget (or never started): reported by name, never silently dropped.
  if [ -n "${probe_pid[$i]:-}" ]; then kill_tree "${probe_pid[$i]}"; fi
  case "$kind" in
    process) target=$d ;;
    http) target=$e ;;
    tcp) target="$d:$e" ;;
  esac
  waited=""
  ms_now
  [ -n "${probe_started[$i]:-}" ] && waited=$(( NOW_MS - probe_started[$i] ))
  why="no answer before the health check's time budget of ${probe_budget}s ran out"
  [ -n "${probe_started[$i]:-}" ] || why="not started before the health check's time budget of ${probe_budget}s ran out"
  json_v j_id "$a"; json_v j_service "$b"; json_v j_target "$target"; json_num_v j_waited "$waited"; json_v j_why "$why"
  probe_json+=("{\"id\":$j_id,\"service\":$j_service,\"type\":\"$kind\",\"target\":$j_target,\"ok\":false,\"status\":null,\"latencyMs\":$j_waited,\"error\":$j_why,\"waiting\":true}")
  waiting_json+=("$j_id")
done

# --- output -------------------------------------------------------------------
finished=1
exit 0
