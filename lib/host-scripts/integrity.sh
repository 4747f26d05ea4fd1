#!/usr/bin/env bash
# shipshape integrity: the weekly checks of the seed runbooks, read-only, and ONE JSON result
# (schema shipshape.integrity/1): SQLite integrity_check/quick_check inside the container,
# certificate expiry and names (PEM files, NSS databases, TLS endpoints with SNI), TCP
# reachability from a container or the host, files (mode, owner, checksum drift) and
# container log sizes. Thresholds are applied by the result Lambda.
set -euo pipefail
export LC_ALL=C
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$(dirname "$0")/lib/common.sh" # shipshape:inline lib/common.sh

work=$(mktemp -d)
checks=()
errors=()
printed=0

note_error() { errors+=("$(json_str "$1" 500)"); }
# add_check kind name ok value detail [expiresAt] [names]
add_check() {
  checks+=("{\"kind\":\"$1\",\"name\":$(json_str "$2"),\"ok\":$(json_bool "$3"),\"value\":$(json_num "${4:-}"),\"detail\":$(json_str_or_null "${5:-}"),\"expiresAt\":$(json_str_or_null "${6:-}"),\"names\":$(json_str_or_null "${7:-}" 1000)}")
}

# shellcheck disable=SC2317 # runs from the EXIT trap
on_exit() {
  local rc=$?
  [ "$rc" != 0 ] && note_error "integrity check aborted with exit code $rc"
  if [ "$printed" = 0 ]; then
    result_header shipshape.integrity/1
    printf '"checks":[%s],"errors":[%s]}\n' \
      "$(join_by_comma "${checks[@]}")" "$(join_by_comma "${errors[@]:0:20}")"
  fi
  rm -rf "$work"
  exit 0
}
trap on_exit EXIT
trap_signals

spec_error=$(spec_problem)
[ -z "$spec_error" ] || { note_error "$spec_error"; exit 0; }
spec=$(read_spec integrity)

# Reads a PEM certificate on stdin; prints "epoch_not_after<TAB>names" (names: CN and SANs).
cert_facts() {
  local pem end names
  pem=$(cat)
  end=$(printf '%s\n' "$pem" | openssl x509 -noout -enddate 2>/dev/null | sed 's/^notAfter=//') || return 1
  [ -n "$end" ] || return 1
  names=$( { printf '%s\n' "$pem" | openssl x509 -noout -subject -nameopt multiline 2>/dev/null | sed -n 's/^ *commonName *= *//p'
    printf '%s\n' "$pem" | openssl x509 -noout -ext subjectAltName 2>/dev/null | tr ',' '\n' | sed -n 's/^ *DNS://p'; } | sort -u | paste -sd, -)
  printf '%s\t%s' "$(date -u -d "$end" +%s)" "$names"
}

report_cert() { # name facts_or_empty error
  local name=$1 facts=$2 error=$3 epoch names days
  if [ -z "$facts" ]; then add_check cert "$name" 0 "" "$error"; return 0; fi
  epoch=${facts%%$'\t'*}
  names=${facts#*$'\t'}
  days=$(( (epoch - $(date +%s)) / 86400 ))
  add_check cert "$name" 1 "$days" "" "$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)" "$names"
}

have openssl || note_error "openssl is not installed on the host: certificates were not checked"

while IFS=$'\t' read -r kind a b c d e _; do
  case "$kind" in
    sqlite) # name container path mode
      pragma="integrity_check"
      [ "$d" = quick ] && pragma="quick_check"
      rc=0
      # Read-only URI: the check never takes a write lock that would stall the service.
      out=$(limit 3600 docker exec "$b" sqlite3 "file:$c?mode=ro" ".timeout 10000" "PRAGMA $pragma;" 2>&1) || rc=$?
      if [ "$rc" = 126 ] || [ "$rc" = 127 ]; then
        add_check sqlite "$a" 0 "" "sqlite3 is not available in $b"
      else
        out=$(printf '%s' "$out" | head -c 400)
        if [ "$rc" = 0 ] && [ "$out" = ok ]; then add_check sqlite "$a" 1 "" "$pragma ok"; else add_check sqlite "$a" 0 "" "$pragma: $out"; fi
      fi
      ;;
    certfile) # name container(-) path
      have openssl || continue
      if [ "$b" = - ]; then
        facts=$(cert_facts < "$c" 2> /dev/null || true)
        report_cert "$a" "$facts" "cannot read a certificate from $c"
      else
        facts=$(limit 30 docker exec "$b" cat "$c" 2> /dev/null | cert_facts || true)
        report_cert "$a" "$facts" "cannot read a certificate from $c in $b"
      fi
      ;;
    nss) # name container dir nickname
      out=$(limit 30 docker exec "$b" certutil -L -d "$c" -n "$d" 2>&1) || { add_check cert "$a" 0 "" "certutil: $(printf '%s' "$out" | head -c 200)"; continue; }
      end=$(printf '%s\n' "$out" | sed -n 's/^ *Not After *: *//p' | head -n 1)
      names=$(printf '%s\n' "$out" | sed -n 's/^ *DNS name: *"\(.*\)"$/\1/p; s/^ *Subject: *".*CN=\([^,"]*\).*/\1/p' | sort -u | paste -sd, -)
      if epoch=$(date -u -d "$end" +%s 2>/dev/null); then
        report_cert "$a" "$epoch"$'\t'"$names" ""
      else
        add_check cert "$a" 0 "" "cannot read the expiry of $d in $c"
      fi
      ;;
    tls) # name host port servername
      have openssl || continue
      facts=$(printf '' | limit 15 openssl s_client -connect "$b:$c" -servername "$d" 2> /dev/null | cert_facts || true)
      report_cert "$a" "$facts" "no TLS certificate from $b:$c (server name $d)"
      ;;
    connect) # name from(-) host port
      t0=$(now_ms)
      rc=0
      if [ "$b" = - ]; then
        # shellcheck disable=SC2016 # expands in the child shell
        limit 10 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$c" "$d" 2> /dev/null || rc=$?
      else
        # Inside the container: bash, then nc, whichever the image has.
        # shellcheck disable=SC2016
        limit 15 docker exec "$b" sh -c 'if command -v bash >/dev/null; then exec bash -c "exec 3<>/dev/tcp/$1/$2"; elif command -v nc >/dev/null; then exec nc -z -w 5 "$1" "$2"; else exit 127; fi' _ "$c" "$d" > /dev/null 2>&1 || rc=$?
      fi
      case $rc in
        0) add_check connect "$a" 1 "$(( $(now_ms) - t0 ))" "$c:$d reachable" ;;
        127) add_check connect "$a" 0 "" "neither bash nor nc in $b to test $c:$d" ;;
        *) add_check connect "$a" 0 "" "$c:$d not reachable from ${b/-/the host}" ;;
      esac
      ;;
    file) # path container(-) mode owner sha256
      name=$a
      [ "$b" = - ] || name="$b:$a"
      if [ "$b" = - ]; then
        out=$(stat -c '%a %U' "$a" 2> /dev/null) && sum=$( [ "$e" = - ] || sha256sum "$a" | cut -d' ' -f1 ) || out=""
      else
        out=$(limit 30 docker exec "$b" stat -c '%a %U' "$a" 2> /dev/null) && sum=$( [ "$e" = - ] || limit 60 docker exec "$b" sha256sum "$a" | cut -d' ' -f1 ) || out=""
      fi
      if [ -z "$out" ]; then add_check file "$name" 0 "" "missing"; continue; fi
      problems=()
      [ "$c" = - ] || [ "$((8#$c))" = "$((8#${out%% *}))" ] || problems+=("mode ${out%% *}, expected $c")
      [ "$d" = - ] || [ "$d" = "${out##* }" ] || problems+=("owner ${out##* }, expected $d")
      [ "$e" = - ] || [ "$e" = "${sum:-}" ] || problems+=("content changed (sha256 ${sum:0:12}...)")
      if [ "${#problems[@]}" = 0 ]; then add_check file "$name" 1 "" "mode ${out%% *}, owner ${out##* }"; else add_check file "$name" 0 "" "$(IFS=';'; echo "${problems[*]}")"; fi
      ;;
    logsize) # container
      path=$(limit 20 docker inspect --format "${LB}.LogPath${RB}" "$a" 2> /dev/null) || path=""
      limited=$(limit 20 docker inspect --format "${LB}json .HostConfig.LogConfig${RB}" "$a" 2> /dev/null | grep -o '"max-size":"[^"]*"' | cut -d'"' -f4 || true)
      if [ -n "$path" ] && [ -f "$path" ]; then
        add_check logsize "$a" 1 "$(( $(stat -c %s "$path") / 1048576 ))" "${limited:+max-size $limited}"
      else
        add_check logsize "$a" 1 "" "${limited:+max-size $limited}"
      fi
      ;;
    "") ;;
    *) note_error "unknown spec line '$kind'" ;;
  esac
done <<< "$spec"
exit 0
