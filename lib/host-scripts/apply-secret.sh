#!/usr/bin/env bash
# shipshape apply-secret: fetches one version of an application secret from Secrets Manager
# with this host's own role, writes it into its env file or secret file atomically (temp file +
# rename, keeping the previous file and, if asked, the previous value), restarts the listed
# containers in order and waits for them. Prints ONE JSON result (shipshape.apply-secret/1)
# that never contains the value.
#
# Inputs: SHIPSHAPE_STACK, SHIPSHAPE_RUN_ID, SHIPSHAPE_SPEC_FILE (section secrets),
# SHIPSHAPE_SECRET (which one), SHIPSHAPE_STAGE (AWSPENDING, AWSCURRENT or AWSPREVIOUS).
set -euo pipefail
export LC_ALL=C
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "$0")/lib/common.sh" # shipshape:inline lib/common.sh

SECRET="${SHIPSHAPE_SECRET:-}"
STAGE="${SHIPSHAPE_STAGE:-AWSPENDING}"
HEALTH_WAIT="${SHIPSHAPE_HEALTH_WAIT_SECONDS:-120}"
MAX_LENGTH=4096
errors=()
restarts=()
changed=0
file=""
printed=0
work=$(mktemp -d)

note_error() { errors+=("$(json_str "$1" 500)"); }

# shellcheck disable=SC2317 # runs from the EXIT trap
on_exit() {
  local rc=$?
  [ "$rc" != 0 ] && note_error "apply-secret aborted with exit code $rc"
  value=""
  if [ "$printed" = 0 ]; then
    result_header shipshape.apply-secret/1
    printf '"secret":%s,"stage":%s,"file":%s,"changed":%s,"restarts":[%s],"errors":[%s]}\n' \
      "$(json_str "$SECRET")" "$(json_str "$STAGE")" "$(json_str_or_null "$file")" \
      "$(json_bool "$changed")" "$(join_by_comma "${restarts[@]}")" "$(join_by_comma "${errors[@]:0:20}")"
  fi
  rm -rf "$work"
  exit 0
}
trap on_exit EXIT
trap_signals

have aws || { note_error "the AWS CLI is not installed on the host"; exit 0; }
spec_error=$(spec_problem)
[ -z "$spec_error" ] || { note_error "$spec_error"; exit 0; }
spec=$(read_spec secrets)
line=$(grep -P "^secret\t\Q$SECRET\E\t" <<< "$spec" || true)
[ -n "$line" ] || { note_error "stack '$STACK' has no secret named '$SECRET'"; exit 0; }
IFS=$'\t' read -r _ _ secret_id kind file variable previous mode containers <<< "$line"
[ "$previous" = - ] && previous=""

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
  mv -f "$tmp" "$file"
  changed=1
fi
value=""
current=""

# --- restart, in order, only when something changed ----------------------------------------------
if [ "$changed" = 1 ] && [ "$containers" != - ]; then
  for c in ${containers//,/ }; do
    ok=1
    limit 120 docker restart -t 30 "$c" > /dev/null 2>&1 || ok=0
    out=$(wait_healthy "$c")
    state=${out%%|*}; rest=${out#*|}; health=${rest%%|*}
    if [ "$ok" = 0 ] || [ "$state" != running ] || { [ "$health" != healthy ] && [ "$health" != none ]; }; then
      ok=0
      note_error "$c is not running and healthy after the restart ($state, $health)"
    fi
    restarts+=("{\"container\":$(json_str "$c"),\"ok\":$(json_bool "$ok"),\"state\":$(json_str "$state"),\"health\":$(json_str "$health")}")
  done
fi
exit 0
