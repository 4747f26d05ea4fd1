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
#
# A failing probe is a result, never a crash. The script exits 0 whenever it printed
# its JSON; if it is killed half way, the EXIT trap still prints a minimal document.
set -euo pipefail
export LC_ALL=C
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "$0")/lib/common.sh" # shipshape:inline lib/common.sh

PROC_ROOT="${SHIPSHAPE_PROC_ROOT:-/proc}"
CPU_SAMPLE="${SHIPSHAPE_CPU_SAMPLE_SECONDS:-1}"

work=$(mktemp -d)
printed=0
errors=()
missing_tools=()

note_error() { errors+=("$(json_str "$1")"); }

on_exit() {
  local rc=$?
  if [ "$printed" = 0 ]; then
    printf '{"schema":"shipshape.health-check/1","stack":%s,"runId":%s,"hostname":%s,"startedAt":"%s","durationMs":null,' \
      "$(json_str "$STACK")" "$(json_str "$RUN_ID")" "$(json_str "$(hostname 2>/dev/null || echo unknown)")" "$started_at"
    printf '"system":{"disks":[],"memoryPercent":null,"memoryTotalMiB":null,"cpuPercent":null,"load1":null,"cpus":null},'
    printf '"busy":null,"containers":[],"probes":[],"missingTools":[],"errors":[%s]}\n' \
      "$(json_str "health-check aborted with exit code $rc before finishing; see the command's standard error")"
  fi
  rm -rf "$work"
  exit 0
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

declare -A c_state c_health c_restarts c_started
running=()
inspect_format="${LB}.State.Status${RB}|${LB}if .State.Health${RB}${LB}.State.Health.Status${RB}${LB}else${RB}none${LB}end${RB}|${LB}.RestartCount${RB}|${LB}.State.StartedAt${RB}"
while IFS=$'\t' read -r kind _ container _; do
  [ "$kind" = container ] || continue
  [ "$have_docker" = 1 ] || continue
  if out=$(limit 20 docker inspect --format "$inspect_format" "$container" 2>"$work/err"); then
    IFS='|' read -r c_state["$container"] c_health["$container"] c_restarts["$container"] c_started["$container"] <<< "$out"
    [ "${c_state[$container]}" = running ] && running+=("$container")
  elif ! grep -qi 'no such' "$work/err"; then
    note_error "docker inspect $container failed: $(head -c 200 "$work/err")"
  fi
done <<< "$spec"

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
while IFS=$'\t' read -r kind service container window pattern; do
  [ "$kind" = container ] || continue
  exists=0; log_count=""
  if [ -n "${c_state[$container]+x}" ]; then
    exists=1
    if [ "${c_state[$container]}" = running ]; then count_log_lines "$container" "$window" "$pattern"; fi
  fi
  container_json+=("{\"service\":$(json_str "$service"),\"container\":$(json_str "$container"),\"exists\":$(json_bool "$exists"),\
\"state\":$(json_str_or_null "${c_state[$container]:-}"),\"health\":$(json_str_or_null "${c_health[$container]:-}"),\
\"restartCount\":$(json_num "${c_restarts[$container]:-}"),\"startedAt\":$(json_str_or_null "${c_started[$container]:-}"),\
\"memoryMiB\":$(json_num "${c_mem[$container]:-}"),\"cpuPercent\":$(json_num "${c_cpu[$container]:-}"),\
\"errorLines\":$(json_num "$log_count"),\"logWindowMinutes\":$(json_num "$window")}")
done <<< "$spec"

# --- probes -------------------------------------------------------------------
probe_json=()
add_probe() { # id service type target ok status latency error
  probe_json+=("{\"id\":$(json_str "$1"),\"service\":$(json_str "$2"),\"type\":\"$3\",\"target\":$(json_str "$4"),\
\"ok\":$(json_bool "$5"),\"status\":$(json_num "$6"),\"latencyMs\":$(json_num "$7"),\"error\":$(json_str_or_null "$8")}")
}
probe_process() {
  local id=$1 service=$2 container=$3 pattern=$4 rc
  if [ "${c_state[$container]:-}" != running ]; then
    add_probe "$id" "$service" process "$pattern" 0 "" "" "container $container is not running"; return 0
  fi
  rc=0
  limit 15 docker exec "$container" pgrep -f -- "$pattern" > /dev/null 2> "$work/err" || rc=$?
  case $rc in
    0) add_probe "$id" "$service" process "$pattern" 1 0 "" "" ;;
    1) add_probe "$id" "$service" process "$pattern" 0 1 "" "no process matches '$pattern' in $container" ;;
    124) add_probe "$id" "$service" process "$pattern" 0 "$rc" "" "pgrep timed out in $container" ;;
    126 | 127) add_probe "$id" "$service" process "$pattern" 0 "$rc" "" "pgrep is not available in $container" ;;
    *) add_probe "$id" "$service" process "$pattern" 0 "$rc" "" "docker exec failed ($rc): $(head -c 200 "$work/err")" ;;
  esac
}

probe_http() {
  local id=$1 service=$2 timeout_s=$3 insecure=$4 url=$5 out rc code secs ms
  if [ "$have_curl" = 0 ]; then add_probe "$id" "$service" http "$url" 0 "" "" "curl is not installed on the host"; return 0; fi
  local args=(-sS -o /dev/null -w '%{http_code} %{time_total}' --max-time "$timeout_s")
  [ "$insecure" = 1 ] && args+=(-k)
  rc=0
  out=$(curl "${args[@]}" "$url" 2> "$work/err") || rc=$?
  code=${out%% *}; secs=${out##* }
  ms=$(awk -v s="$secs" 'BEGIN { if (s ~ /^[0-9.]+$/) printf "%d", s * 1000 }')
  if [ "$rc" = 0 ]; then
    add_probe "$id" "$service" http "$url" 1 "$code" "$ms" ""
  else
    [ "$code" = 000 ] && code=""
    add_probe "$id" "$service" http "$url" 0 "$code" "$ms" "$(head -c 200 "$work/err" | sed 's/^curl: //')"
  fi
}

probe_tcp() {
  local id=$1 service=$2 timeout_s=$3 host=$4 port=$5 t0 t1 rc
  t0=$(now_ms); rc=0
  # shellcheck disable=SC2016 # $1 and $2 expand in the child shell, never in this one
  limit "$timeout_s" bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2> "$work/err" || rc=$?
  t1=$(now_ms)
  if [ "$rc" = 0 ]; then
    add_probe "$id" "$service" tcp "$host:$port" 1 "" "$((t1 - t0))" ""
  elif [ "$rc" = 124 ]; then
    add_probe "$id" "$service" tcp "$host:$port" 0 "" "$((t1 - t0))" "no answer within ${timeout_s}s"
  else
    add_probe "$id" "$service" tcp "$host:$port" 0 "" "$((t1 - t0))" "connection refused or host unreachable"
  fi
}

while IFS=$'\t' read -r kind a b c d e; do
  case "$kind" in
    process) probe_process "$a" "$b" "$c" "$d" ;;
    http) probe_http "$a" "$b" "$c" "$d" "$e" ;;
    tcp) probe_tcp "$a" "$b" "$c" "$d" "$e" ;;
    container | disk | "") ;;
    *) note_error "unknown spec line kind '$kind'" ;;
  esac
done <<< "$spec"

# --- output -------------------------------------------------------------------
ended_ms=$(date +%s%3N)
printf '{"schema":"shipshape.health-check/1","stack":%s,"runId":%s,"hostname":%s,"startedAt":"%s","durationMs":%s,' \
  "$(json_str "$STACK")" "$(json_str "$RUN_ID")" "$(json_str "$(hostname 2>/dev/null || echo unknown)")" \
  "$started_at" "$((ended_ms - started_ms))"
printf '"system":{"disks":[%s],"memoryPercent":%s,"memoryTotalMiB":%s,"cpuPercent":%s,"load1":%s,"cpus":%s},' \
  "$(join_by_comma "${disk_json[@]}")" "$(json_num "$mem_percent")" "$(json_num "$mem_total")" \
  "$(json_num "$cpu_percent")" "$(json_num "$load1")" "$(json_num "$cpus")"
printf '"busy":%s,"containers":[%s],"probes":[%s],"missingTools":[%s],"errors":[%s]}\n' "$(json_str_or_null "$(busy_with || true)")" \
  "$(join_by_comma "${container_json[@]}")" "$(join_by_comma "${probe_json[@]}")" \
  "$(join_by_comma "${missing_tools[@]}")" "$(join_by_comma "${errors[@]:0:20}")"
printed=1
