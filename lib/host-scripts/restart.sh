#!/usr/bin/env bash
# shipshape restart: restarts services of a stack in order and waits until each is running
# and healthy; prints ONE JSON result (schema shipshape.restart/1).
#
# Inputs: SHIPSHAPE_STACK, SHIPSHAPE_RUN_ID, SHIPSHAPE_SPEC_FILE (section health-check:
# its "container" lines name the services, by compose service or container name; every
# container of a scaled service is restarted), SHIPSHAPE_SERVICES ("*" or a comma list),
# SHIPSHAPE_HEALTH_WAIT_SECONDS (default 120).
set -euo pipefail
export LC_ALL=C
script_dir=${0%/*}; [ "$script_dir" != "$0" ] || script_dir=. # the libraries' directory, without starting dirname
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$script_dir/lib/common.sh" # shipshape:inline lib/common.sh
keep_stdout
# shellcheck source-path=SCRIPTDIR source=lib/compose.sh
. "$script_dir/lib/compose.sh" # shipshape:inline lib/compose.sh

SERVICES="${SHIPSHAPE_SERVICES:-*}"
HEALTH_WAIT="${SHIPSHAPE_HEALTH_WAIT_SECONDS:-120}"
results=()
errors=()
err_file=$(mktemp)

note_error() { errors+=("$(json_str "$1" 500)"); }

# shellcheck disable=SC2317 # print_result and on_exit run from the EXIT trap
print_result() {
  result_header shipshape.restart/1
  printf '"busy":%s,"services":[%s],"errors":[%s]}\n' \
    "$(json_str_or_null "${busy:-}")" "$(join_by_comma "${results[@]}")" "$(join_by_comma "${errors[@]:0:20}")"
}
# shellcheck disable=SC2317
on_exit() {
  local rc=$?
  [ "$rc" != 0 ] && note_error "restart aborted with exit code $rc"
  emit_result shipshape.restart/1 print_result '"busy":null,"services":[]'
  rm -f "$err_file"
  exit 0
}
trap on_exit EXIT
trap_signals

have docker || { note_error "docker is not installed on the host"; exit 0; }
spec_error=$(spec_problem)
[ -z "$spec_error" ] || { note_error "$spec_error"; exit 0; }
spec=$(read_spec health-check)
busy=$(busy_with || true)
# A backup or restore owns the containers right now; restarting under it would corrupt its copy.
[ -z "$busy" ] || { note_error "a $busy is running on this host; nothing was restarted"; exit 0; }

project=$(compose_spec_project)
wanted() { [ "$SERVICES" = '*' ] || [[ ",$SERVICES," == *",$1,"* ]]; }
found=0
restart_one() { # service container
  local service=$1 container=$2 t0 ok error out state rest health
  t0=$(now_ms)
  ok=1
  error=""
  limit 120 docker restart -t 30 "$container" > /dev/null 2> "$err_file" || { ok=0; error="docker restart failed: $(head -c 200 "$err_file")"; }
  out=$(wait_healthy "$container")
  state=${out%%|*}
  rest=${out#*|}
  health=${rest%%|*}
  if [ "$state" != running ] || { [ "$health" != healthy ] && [ "$health" != none ]; }; then
    [ "$ok" = 1 ] && error="not healthy after ${HEALTH_WAIT}s ($state, $health)"
    ok=0
  fi
  [ "$ok" = 1 ] || note_error "$service: $error"
  results+=("{\"service\":$(json_str "$service"),\"container\":$(json_str "$container"),\"ok\":$(json_bool "$ok"),\"state\":$(json_str "$state"),\"health\":$(json_str "$health"),\"waitedMs\":$(( $(now_ms) - t0 )),\"error\":$(json_str_or_null "$error")}")
}
while IFS=$'\t' read -r kind service ref _; do
  { [ "$kind" = container ] && wanted "$service"; } || continue
  found=1
  if ! names=$(compose_containers "$project" "$ref" 2> "$err_file"); then
    error=$(head -c 400 "$err_file")
    note_error "$service: $error"
    results+=("{\"service\":$(json_str "$service"),\"container\":$(json_str "$ref"),\"ok\":false,\"state\":\"missing\",\"health\":\"none\",\"waitedMs\":0,\"error\":$(json_str "$error" 400)}")
    continue
  fi
  while IFS= read -r container; do [ -n "$container" ] && restart_one "$service" "$container"; done <<< "$names"
done <<< "$spec"
[ "$found" = 1 ] || note_error "no service of stack '$STACK' matches '$SERVICES'"
exit 0
