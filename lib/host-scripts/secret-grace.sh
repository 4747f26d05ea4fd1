#!/usr/bin/env bash
# shipshape secret-grace: the grace period of a rotated secret ended, so its previous value
# goes: the previousVariable line leaves the env file, or the previousFile is deleted (both
# atomically, keeping a copy readable by root only is NOT done: the value must be gone). Then
# every receiving container that still holds it is brought up to date the way it receives it:
#   the variable in the environment it was created with (compose env_file:)  recreate through
#       compose (docker compose -p <project> up -d --no-deps --force-recreate <service>)
#   the env file or previous file bind-mounted into it                       restart (reload
#       "none": nothing, the app rereads)
# and verified: no container has the variable in its environment or the line in its mounted env
# file, or the file inside it. Prints ONE JSON result (shipshape.secret-grace/1) without values.
#
# Inputs: SHIPSHAPE_STACK, SHIPSHAPE_RUN_ID, SHIPSHAPE_SPEC_FILE (sections secrets, compose),
# SHIPSHAPE_SECRET (which one), SHIPSHAPE_GRACE_ENDED (when, for the result and messages); runbook secret-grace.
set -euo pipefail
export LC_ALL=C
script_dir=${0%/*}; [ "$script_dir" != "$0" ] || script_dir=. # the libraries' directory, without starting dirname
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$script_dir/lib/common.sh" # shipshape:inline lib/common.sh
keep_stdout
# shellcheck source-path=SCRIPTDIR source=lib/compose.sh
. "$script_dir/lib/compose.sh" # shipshape:inline lib/compose.sh

SECRET="${SHIPSHAPE_SECRET:-}"
GRACE_ENDED="${SHIPSHAPE_GRACE_ENDED:-}"
HEALTH_WAIT="${SHIPSHAPE_HEALTH_WAIT_SECONDS:-120}"
errors=()
restarts=()
checks=()
changed=0
verified=0
previous=""
work=$(mktemp -d)

note_error() { errors+=("$(json_str "$1" 500)"); }

# shellcheck disable=SC2317 # print_result and on_exit run from the EXIT trap
print_result() {
  result_header shipshape.secret-grace/1
  printf '"secret":%s,"graceEnded":%s,"previous":%s,"changed":%s,"restarts":[%s],"verified":%s,"containers":[%s],"errors":[%s]}\n' \
    "$(json_str "$SECRET")" "$(json_str_or_null "$GRACE_ENDED")" "$(json_str_or_null "$previous")" "$(json_bool "$changed")" \
    "$(join_by_comma "${restarts[@]}")" "$(json_bool "$verified")" "$(join_by_comma "${checks[@]}")" "$(join_by_comma "${errors[@]:0:20}")"
}
# shellcheck disable=SC2317
on_exit() {
  local rc=$?
  [ "$rc" != 0 ] && note_error "secret-grace aborted with exit code $rc"
  emit_result shipshape.secret-grace/1 print_result '"secret":null,"graceEnded":null,"previous":null,"changed":false,"restarts":[],"verified":false,"containers":[]'
  rm -rf "$work"
  exit 0
}
trap on_exit EXIT
trap_signals

spec_error=$(spec_problem)
[ -z "$spec_error" ] || { note_error "$spec_error"; exit 0; }
spec=$(read_spec secrets)
line=$(grep -P "^secret\t\Q$SECRET\E\t" <<< "$spec" || true)
[ -n "$line" ] || { note_error "stack '$STACK' has no secret named '$SECRET'"; exit 0; }
IFS=$'\t' read -r _ _ _ kind file _ prev _ refs reload <<< "$line"
[ -n "$reload" ] || reload=restart
project=$(compose_spec_project)
if [ "$prev" = - ]; then
  # Nothing is kept, so nothing is left to remove.
  verified=1
  exit 0
fi
if [ "$kind" = env ]; then previous="$prev in $file"; else previous=$prev; fi

# A removal written but not yet taken by the services (a run that stopped half way) is remembered.
STATE_DIR="${SHIPSHAPE_STATE_DIR:-/var/lib/shipshape}"
pending_mark="$STATE_DIR/${STACK:-unknown}.secret-${SECRET}.grace-pending"
pending=0; [ -e "$pending_mark" ] && pending=1
mark_pending() { { mkdir -p "$STATE_DIR" && : > "$pending_mark"; } 2>/dev/null || true; }

# --- the host: the previous value leaves the env file, or its file goes ------------------------
stage "removing the previous value"
if [ "$kind" = env ]; then
  if [ -f "$file" ] && grep -qE "^$prev=" "$file"; then
    tmp=$(mktemp "$(dirname "$file")/.shipshape-secret.XXXXXX")
    chmod --reference="$file" "$tmp"
    chown --reference="$file" "$tmp" 2>/dev/null || true
    grep -vE "^$prev=" "$file" > "$tmp" || true
    mark_pending
    mv -f "$tmp" "$file"
    # The copy apply-secret kept of the file before the rotation holds the old value too.
    rm -f "$file.shipshape-prev"
    changed=1
  fi
elif [ -e "$prev" ]; then
  mark_pending
  rm -f "$prev"
  changed=1
fi

[ "$refs" != - ] || { verified=1; exit 0; }
have docker || { note_error "docker is not installed on the host"; exit 0; }

# Where a host path appears inside a container: its bind mount (or that of a parent directory).
path_in_container() { # container host-path
  local src dst
  while IFS='|' read -r src dst; do
    [ -n "$src" ] || continue
    if [ "$2" = "$src" ]; then printf '%s' "$dst"; return 0; fi
    case "$2" in "${src%/}"/*) printf '%s%s' "${dst%/}" "${2#"${src%/}"}"; return 0 ;; esac
  done < <(limit 20 docker inspect --format "${LB}range .Mounts${RB}${LB}.Source${RB}|${LB}.Destination${RB}${LB}println${RB}${LB}end${RB}" "$1" 2>/dev/null)
  return 1
}

# Whether a container still holds the previous value: "env" (created with the variable), "file"
# (sees the line or the file through a mount), or nothing. Never reads a value out.
holds_previous() { # container
  local c=$1 inner
  if [ "$kind" = env ]; then
    # Output read whole, then searched: `docker … | grep -q` under pipefail fails whenever grep
    # stops at its first match while docker is still writing (SIGPIPE).
    local out
    if out=$(limit 20 docker inspect --format "${LB}range .Config.Env${RB}${LB}.${RB}${LB}println${RB}${LB}end${RB}" "$c" 2>/dev/null) && grep -q "^$prev=" <<< "$out"; then echo env; return 0; fi
    if inner=$(path_in_container "$c" "$file") && out=$(limit 20 docker exec "$c" cat -- "$inner" 2>/dev/null) && grep -q "^$prev=" <<< "$out"; then echo file; return 0; fi
  else
    if inner=$(path_in_container "$c" "$prev") && limit 20 docker exec "$c" cat -- "$inner" > /dev/null 2>&1; then echo file; return 0; fi
  fi
  return 0
}

declare -A svc_of=() proj_of=()
targets=()
resolve_targets() {
  local ref names c labels
  targets=()
  for ref in ${refs//,/ }; do
    if ! names=$(compose_containers "$project" "$ref" 2> "$work/resolve.err"); then
      [ "${1:-}" = quiet ] || note_error "$(head -c 400 "$work/resolve.err")"
      continue
    fi
    while IFS= read -r c; do
      [ -n "$c" ] || continue
      targets+=("$c")
      labels=$(limit 20 docker inspect --format "${LB}index .Config.Labels \"com.docker.compose.project\"${RB}|${LB}index .Config.Labels \"com.docker.compose.service\"${RB}" "$c" 2>/dev/null) || labels="|"
      proj_of["$c"]=${labels%%|*}
      svc_of["$c"]=${labels#*|}
    done <<< "$names"
  done
}
resolve_targets
[ "${#errors[@]}" = 0 ] || exit 0

# --- delivery: recreate what was created with it, restart what read it at start ---------------
recreate=()
to_restart=()
for c in "${targets[@]}"; do
  how=$(holds_previous "$c")
  if [ "$how" = env ]; then recreate+=("$c")
  elif [ "$reload" != none ] && { [ "$how" = file ] || [ "$changed" = 1 ] || [ "$pending" = 1 ]; }; then
    # The process read the old file at start; a mounted file it rereads needs nothing.
    path_in_container "$c" "$([ "$kind" = env ] && echo "$file" || echo "$prev")" > /dev/null && to_restart+=("$c")
  fi
done

if [ "${#recreate[@]}" -gt 0 ]; then
  stage "recreating services"
  if ! cli=$(compose_cli 2> "$work/cli.err"); then
    note_error "the previous value was passed as an environment variable, which a container drops only when it is recreated, and $(cat "$work/cli.err"): recreate the services by hand (docker compose up -d --force-recreate)"
  else
    declare -A done_svc=()
    for c in "${recreate[@]}"; do
      p=${proj_of[$c]:-}; s=${svc_of[$c]:-}
      if [ -z "$p" ] || [ -z "$s" ]; then note_error "container $c was not created by compose (no com.docker.compose labels): recreate it by hand without $prev"; continue; fi
      [ -z "${done_svc[$p/$s]:-}" ] || continue
      done_svc["$p/$s"]=1
      ok=1
      compose_run "$p" up -d --no-deps --force-recreate "$s" > "$work/compose.out" 2>&1 || { ok=0; note_error "$cli up --force-recreate $s (project $p) failed: $(tail -c 300 "$work/compose.out" | tr -cd '[:print:]\n' | tail -n 3 | tr '\n' ' ')"; }
      restarts+=("{\"service\":$(json_str "$s"),\"container\":$(json_str "$c"),\"action\":\"recreate\",\"ok\":$(json_bool "$ok")}")
    done
  fi
fi
for c in "${to_restart[@]}"; do
  stage "restarting $c"
  ok=1
  limit 120 docker restart -t 30 "$c" > /dev/null 2>&1 || ok=0
  restarts+=("{\"service\":$(json_str "${svc_of[$c]:-}"),\"container\":$(json_str "$c"),\"action\":\"restart\",\"ok\":$(json_bool "$ok")}")
  [ "$ok" = 1 ] || note_error "docker restart $c failed"
done

# --- verification: running, healthy, and without the previous value ----------------------------
stage "verifying"
acted=$(( ${#recreate[@]} + ${#to_restart[@]} ))
[ "${#recreate[@]}" = 0 ] || resolve_targets quiet
verified=1
for c in "${targets[@]}"; do
  state=""; health=""
  if [ "$acted" -gt 0 ]; then
    out=$(wait_healthy "$c")
    state=${out%%|*}; rest=${out#*|}; health=${rest%%|*}
    if [ "$state" != running ] || { [ "$health" != healthy ] && [ "$health" != none ]; }; then
      note_error "$c is not running and healthy after dropping the previous value ($state, $health)"
    fi
  fi
  how=$(holds_previous "$c")
  still=0
  if [ -n "$how" ]; then still=1; verified=0; note_error "$c still holds the previous value ($([ "$how" = env ] && echo "$prev in its environment" || echo "$previous inside it"))"; fi
  checks+=("{\"container\":$(json_str "$c"),\"service\":$(json_str "${svc_of[$c]:-}"),\"holdsPrevious\":$(json_bool "$still"),\"state\":$(json_str_or_null "$state"),\"health\":$(json_str_or_null "$health")}")
done
[ "${#errors[@]}" != 0 ] || rm -f "$pending_mark" 2>/dev/null || true
exit 0
