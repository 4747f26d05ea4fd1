#!/usr/bin/env bash
# shipshape apply-secret: fetches one version of an application secret from Secrets Manager
# with this host's own role, writes it into its env file or secret file atomically (temp file +
# rename, keeping the previous file and, if asked, the previous value), makes the services that
# receive it take it, and proves that they did. Prints ONE JSON result (shipshape.apply-secret/1)
# that never contains the value.
#
# How a container receives the secret decides what is done:
#   env file (compose env_file:/environment:)  the value is fixed when the container is created:
#       the services are recreated through compose, in the project's working directory from the
#       labels: docker compose -p <project> up -d --no-deps --force-recreate <service>
#       (docker-compose where that is what the host has). No compose: the run fails clearly.
#   file, bind-mounted                         docker restart (reload "none": nothing, the app
#                                               rereads it)
# Verification: for every container of those services, the SHA-256 of the value as the container
# sees it (the variable in the environment it was created with, from docker inspect; or the file
# read inside it) is compared with the SHA-256 of the version applied. Neither value nor hash of
# the old value is printed; the result carries match true/false per container. Containers that
# already hold the value are left alone, so a retried step changes nothing.
#
# Inputs: SHIPSHAPE_STACK, SHIPSHAPE_RUN_ID, SHIPSHAPE_SPEC_FILE (sections secrets, compose),
# SHIPSHAPE_SECRET (which one), SHIPSHAPE_STAGE (AWSPENDING, AWSCURRENT or AWSPREVIOUS).
set -euo pipefail
export LC_ALL=C
script_dir=${0%/*}; [ "$script_dir" != "$0" ] || script_dir=. # the libraries' directory, without starting dirname
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$script_dir/lib/common.sh" # shipshape:inline lib/common.sh
keep_stdout
# shellcheck source-path=SCRIPTDIR source=lib/compose.sh
. "$script_dir/lib/compose.sh" # shipshape:inline lib/compose.sh

SECRET="${SHIPSHAPE_SECRET:-}"
STAGE="${SHIPSHAPE_STAGE:-AWSPENDING}"
HEALTH_WAIT="${SHIPSHAPE_HEALTH_WAIT_SECONDS:-120}"
MAX_LENGTH=4096
errors=()
restarts=()
verifications=()
changed=0
verified=0
delivery=""
file=""
work=$(mktemp -d)

note_error() { errors+=("$(json_str "$1" 500)"); }

# shellcheck disable=SC2317 # print_result and on_exit run from the EXIT trap
print_result() {
  result_header shipshape.apply-secret/1
  printf '"secret":%s,"stage":%s,"file":%s,"delivery":%s,"changed":%s,"restarts":[%s],"verified":%s,"containers":[%s],"errors":[%s]}\n' \
    "$(json_str "$SECRET")" "$(json_str "$STAGE")" "$(json_str_or_null "$file")" "$(json_str_or_null "$delivery")" \
    "$(json_bool "$changed")" "$(join_by_comma "${restarts[@]}")" "$(json_bool "$verified")" "$(join_by_comma "${verifications[@]}")" "$(join_by_comma "${errors[@]:0:20}")"
}
# shellcheck disable=SC2317
on_exit() {
  local rc=$?
  [ "$rc" != 0 ] && note_error "apply-secret aborted with exit code $rc"
  value=""
  want_hash=""
  clear_busy
  emit_result shipshape.apply-secret/1 print_result '"secret":null,"stage":null,"file":null,"changed":false,"restarts":[],"verified":false,"containers":[]'
  rm -rf "$work"
  exit 0
}
trap on_exit EXIT
trap_signals
# Recreating or restarting containers while a backup or restore has them stopped would undo it.
claim_stack apply-secret || exit 0

have aws || { note_error "the AWS CLI is not installed on the host"; exit 0; }
spec_error=$(spec_problem)
[ -z "$spec_error" ] || { note_error "$spec_error"; exit 0; }
spec=$(read_spec secrets)
line=$(grep -P "^secret\t\Q$SECRET\E\t" <<< "$spec" || true)
[ -n "$line" ] || { note_error "stack '$STACK' has no secret named '$SECRET'"; exit 0; }
IFS=$'\t' read -r _ _ secret_id kind file variable previous mode refs reload <<< "$line"
[ "$previous" = - ] && previous=""
[ -n "$reload" ] || reload=restart
project=$(compose_spec_project)

# --- the value: fetched with the host's role, checked, never printed ---------------------------
value=$(aws secretsmanager get-secret-value --secret-id "$secret_id" --version-stage "$STAGE" --query SecretString --output text 2> "$work/get.err") || {
  note_error "cannot read $STAGE of the secret: $(head -c 200 "$work/get.err" | tr -cd '[:print:]')"
  exit 0
}
if [ -z "$value" ] || [ "$value" = None ]; then note_error "the $STAGE version of the secret is empty"; exit 0; fi
if [ "${#value}" -gt "$MAX_LENGTH" ]; then note_error "the secret is longer than $MAX_LENGTH characters; refused"; exit 0; fi
if [ "$kind" = file ]; then
  # A file holds the value as it is (JSON, JWK), but one line of printable characters.
  if [[ ! "$value" =~ ^[[:print:]]+$ ]]; then note_error "the secret contains newlines or control characters; refused"; exit 0; fi
# An env file would mangle anything else (docker compose interpolates $, splits on newlines).
elif [[ ! "$value" =~ ^[A-Za-z0-9+/=._~:-]+$ ]]; then note_error "the secret contains characters an env file cannot hold safely (newlines, quotes, \$, spaces ...); refused"; exit 0; fi

# A file written but not yet taken by its services (a run that stopped half way) is remembered here.
STATE_DIR="${SHIPSHAPE_STATE_DIR:-/var/lib/shipshape}"
pending_mark="$STATE_DIR/${STACK:-unknown}.secret-${SECRET}.pending"
mark_pending() { { mkdir -p "$STATE_DIR" && : > "$pending_mark"; } 2>/dev/null || true; }
pending=0; [ -e "$pending_mark" ] && pending=1

# The hash of the applied version, compared with what each container holds (never printed).
if [ "$kind" = file ]; then want_hash=$(printf '%s\n' "$value" | sha256sum | cut -c1-64)
else want_hash=$(printf '%s' "$value" | sha256sum | cut -c1-64); fi

# --- the file: temp file in the same directory, then rename ----------------------------------
dir=$(dirname "$file")
[ -d "$dir" ] || { note_error "directory $dir does not exist"; exit 0; }
current=""
if [ "$kind" = file ]; then
  [ -f "$file" ] && current=$(cat "$file")
else
  [ -f "$file" ] && current=$(grep -E "^$variable=" "$file" | tail -n 1 | cut -d= -f2- || true)
fi
if [ "$current" != "$value" ]; then
  tmp=$(mktemp "$dir/.shipshape-secret.XXXXXX")
  chmod "$mode" "$tmp"
  if [ -f "$file" ]; then
    chown --reference="$file" "$tmp" 2>/dev/null || true
    cp -p "$file" "$file.shipshape-prev"
    chmod 600 "$file.shipshape-prev"
  fi
  if [ "$kind" = file ]; then
    if [ -n "$previous" ] && [ -n "$current" ]; then
      # The old value stays valid for verification until the next rotation.
      [ -d "$(dirname "$previous")" ] || { rm -f "$tmp"; note_error "directory $(dirname "$previous") does not exist"; exit 0; }
      ptmp=$(mktemp "$(dirname "$previous")/.shipshape-secret.XXXXXX")
      chmod "$mode" "$ptmp"
      chown --reference="$file" "$ptmp" 2>/dev/null || true
      printf '%s\n' "$current" > "$ptmp"
      mv -f "$ptmp" "$previous"
    fi
    printf '%s\n' "$value" > "$tmp"
  else
    [ -f "$file" ] && { grep -vE "^($variable${previous:+|$previous})=" "$file" > "$tmp" || true; }
    if [ -n "$previous" ]; then
      # The old value stays valid for verification until the next rotation.
      old_previous=""
      if [ -f "$file" ]; then old_previous=$(grep -E "^$previous=" "$file" | tail -n 1 | cut -d= -f2- || true); fi
      printf '%s=%s\n' "$previous" "${current:-$old_previous}" >> "$tmp"
    fi
    printf '%s=%s\n' "$variable" "$value" >> "$tmp"
  fi
  # Until the services took it, a retried run must still restart them (the file already matches).
  mark_pending
  mv -f "$tmp" "$file"
  changed=1
fi
value=""
current=""

# --- delivery: make every receiving container hold the value, then prove it ------------------
[ "$refs" != - ] || exit 0
have docker || { note_error "docker is not installed on the host"; exit 0; }

# Where the file appears inside a container: its bind mount (or that of a parent directory).
path_in_container() { # container host-path
  local src dst
  while IFS='|' read -r src dst; do
    [ -n "$src" ] || continue
    if [ "$2" = "$src" ]; then printf '%s' "$dst"; return 0; fi
    case "$2" in "${src%/}"/*) printf '%s%s' "${dst%/}" "${2#"${src%/}"}"; return 0 ;; esac
  done < <(limit 20 docker inspect --format "${LB}range .Mounts${RB}${LB}.Source${RB}|${LB}.Destination${RB}${LB}println${RB}${LB}end${RB}" "$1" 2>/dev/null)
  return 1
}

# How a container receives the secret: recreate (the env file reaches it through compose's
# env_file:/environment:, fixed at creation), restart (a file, or an env file the app reads at
# start, bind-mounted into it) or none (a mounted file the app rereads).
declare -A delivery_of=() inner_of=()
work_out_delivery() { # container
  local c=$1 inner
  if inner=$(path_in_container "$c" "$file"); then
    inner_of["$c"]=$inner
    if [ "$kind" = file ] && [ "$reload" = none ]; then delivery_of["$c"]=none; else delivery_of["$c"]=restart; fi
  elif [ "$kind" = env ]; then
    delivery_of["$c"]=recreate
  else
    delivery_of["$c"]=unmounted
  fi
}

# The SHA-256 of the value as the container sees it, or a reason on stderr. Never prints a value.
held_hash() { # container
  local c=$1
  case "${delivery_of[$c]}" in
    recreate)
      # The environment the container was created with is what its processes received.
      limit 20 docker inspect --format "${LB}range .Config.Env${RB}${LB}.${RB}${LB}println${RB}${LB}end${RB}" "$c" 2> /dev/null |
        awk -v v="$variable" 'index($0, v "=") == 1 { found = 1; val = substr($0, length(v) + 2) } END { if (found) printf "%s", val; else exit 3 }' |
        sha256sum | cut -c1-64
      [ "${PIPESTATUS[1]}" = 0 ] || { echo "variable $variable is not in the environment of $c, and $file is not mounted into it (does compose pass $file with env_file:?)" >&2; return 1; } ;;
    unmounted)
      echo "$file is not mounted into $c" >&2; return 1 ;;
    *)
      if [ "$kind" = file ]; then
        limit 20 docker exec "$c" cat -- "${inner_of[$c]}" 2> /dev/null | sha256sum | cut -c1-64
        [ "${PIPESTATUS[0]}" = 0 ] || { echo "cannot read ${inner_of[$c]} inside $c" >&2; return 1; }
      else
        # An env file mounted into the container: the variable's last line in it, as dotenv reads it.
        limit 20 docker exec "$c" cat -- "${inner_of[$c]}" 2> /dev/null |
          awk -v v="$variable" 'index($0, v "=") == 1 { found = 1; val = substr($0, length(v) + 2) } END { if (found) printf "%s", val; else exit 3 }' |
          sha256sum | cut -c1-64
        local status=("${PIPESTATUS[@]}")
        if [ "${status[0]}" != 0 ] || [ "${status[1]}" != 0 ]; then echo "cannot read $variable from ${inner_of[$c]} inside $c" >&2; return 1; fi
      fi ;;
  esac
}

# Every container of every receiving service, with the compose service and project it belongs to.
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
      work_out_delivery "$c"
    done <<< "$names"
  done
}
resolve_targets
[ "${#errors[@]}" = 0 ] || exit 0

# Which containers do not hold the value yet. A file seen through a directory bind mount is new at
# once, but the process read the old one: after a change (or a run that stopped before the
# restart) every container of a restart delivery counts as stale.
stale=()
recreate=()
to_restart=()
for c in "${targets[@]}"; do
  h=$(held_hash "$c" 2>/dev/null) || h=""
  d=${delivery_of[$c]}
  if [ "$h" != "$want_hash" ] || { [ "$d" = restart ] && { [ "$changed" = 1 ] || [ "$pending" = 1 ]; }; }; then
    stale+=("$c")
    case "$d" in recreate) recreate+=("$c") ;; restart) to_restart+=("$c") ;; esac
  fi
done
delivery=none
for c in "${targets[@]}"; do [ "${delivery_of[$c]}" != restart ] || delivery=restart; done
for c in "${targets[@]}"; do [ "${delivery_of[$c]}" != recreate ] || delivery=recreate; done

if [ "${#recreate[@]}" -gt 0 ]; then
  stage "recreating services"
  if ! cli=$(compose_cli 2> "$work/cli.err"); then
    note_error "the secret is passed as an environment variable, which a container takes only when it is created, and $(cat "$work/cli.err"): recreate the services by hand (docker compose up -d --force-recreate)"
  else
    declare -A done_svc=()
    for c in "${recreate[@]}"; do
      p=${proj_of[$c]:-}; s=${svc_of[$c]:-}
      if [ -z "$p" ] || [ -z "$s" ]; then note_error "container $c was not created by compose (no com.docker.compose labels): it cannot be recreated with the new environment; recreate it by hand"; continue; fi
      [ -z "${done_svc[$p/$s]:-}" ] || continue
      done_svc["$p/$s"]=1
      ok=1
      compose_run "$p" up -d --no-deps --force-recreate "$s" > "$work/compose.out" 2>&1 || { ok=0; note_error "$cli up --force-recreate $s (project $p) failed: $(tail -c 300 "$work/compose.out" | tr -cd '[:print:]\n' | tail -n 3 | tr '\n' ' ')"; }
      restarts+=("{\"service\":$(json_str "$s"),\"container\":$(json_str "$c"),\"action\":\"recreate\",\"ok\":$(json_bool "$ok"),\"state\":null,\"health\":null}")
    done
  fi
fi
if [ "${#to_restart[@]}" -gt 0 ]; then
  stage "restarting containers"
  for c in "${to_restart[@]}"; do
    ok=1
    limit 120 docker restart -t 30 "$c" > /dev/null 2>&1 || ok=0
    restarts+=("{\"service\":$(json_str "${svc_of[$c]:-}"),\"container\":$(json_str "$c"),\"action\":\"restart\",\"ok\":$(json_bool "$ok"),\"state\":null,\"health\":null}")
    [ "$ok" = 1 ] || note_error "docker restart $c failed"
  done
fi

# After: every container running and healthy, holding the applied value (by hash).
stage "verifying"
verified=1
acted=$(( ${#recreate[@]} + ${#to_restart[@]} ))
# A recreate replaces the containers (same names, new IDs): resolve them again.
[ "${#recreate[@]}" = 0 ] || resolve_targets quiet
for c in "${targets[@]}"; do
  state=""; health=""
  if [ "$acted" -gt 0 ]; then
    out=$(wait_healthy "$c")
    state=${out%%|*}; rest=${out#*|}; health=${rest%%|*}
    if [ "$state" != running ] || { [ "$health" != healthy ] && [ "$health" != none ]; }; then
      note_error "$c is not running and healthy after taking the secret ($state, $health)"
    fi
  fi
  why=""
  h=$(held_hash "$c" 2> "$work/why") || { h=""; why=$(head -c 200 "$work/why"); }
  if [ -n "$h" ] && [ "$h" = "$want_hash" ]; then match=1; else match=0; verified=0; fi
  [ "$match" = 1 ] || note_error "$c does not hold the $STAGE value${why:+: $why}"
  verifications+=("{\"container\":$(json_str "$c"),\"service\":$(json_str "${svc_of[$c]:-}"),\"delivery\":$(json_str "${delivery_of[$c]}"),\"matches\":$(json_bool "$match"),\"state\":$(json_str_or_null "$state"),\"health\":$(json_str_or_null "$health"),\"problem\":$(json_str_or_null "$why")}")
done
want_hash=""
[ "${#errors[@]}" != 0 ] || rm -f "$pending_mark" 2>/dev/null || true
exit 0
