#!/usr/bin/env bash
# shipshape integrity: the weekly checks of the seed runbooks, read-only, and ONE JSON result
# (schema shipshape.integrity/1): SQLite integrity_check/quick_check (the host's sqlite3 on the
# database file through its mount by default, or inside the container),
# certificate expiry and names (PEM files, NSS databases, TLS endpoints with SNI), TCP
# reachability from a container or the host, files (mode, owner, checksum drift) and
# container log sizes. Thresholds are applied by the result Lambda. Containers are named by
# compose service (the first container of a scaled service; log sizes for all of them) or
# literally (lib/compose.sh).
set -euo pipefail
export LC_ALL=C
script_dir=${0%/*}; [ "$script_dir" != "$0" ] || script_dir=. # the libraries' directory, without starting dirname
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$script_dir/lib/common.sh" # shipshape:inline lib/common.sh
keep_stdout
# shellcheck source-path=SCRIPTDIR source=lib/compose.sh
. "$script_dir/lib/compose.sh" # shipshape:inline lib/compose.sh
# shellcheck source-path=SCRIPTDIR source=lib/backups.sh
. "$script_dir/lib/backups.sh" # shipshape:inline lib/backups.sh
# shellcheck source-path=SCRIPTDIR source=lib/sqlite.sh
. "$script_dir/lib/sqlite.sh" # shipshape:inline lib/sqlite.sh

work=$(mktemp -d)
checks=()
errors=()

note_error() { errors+=("$(json_str "$1" 500)"); }
# add_check kind name ok value detail [expiresAt] [names]
add_check() {
  checks+=("{\"kind\":\"$1\",\"name\":$(json_str "$2"),\"ok\":$(json_bool "$3"),\"value\":$(json_num "${4:-}"),\"detail\":$(json_str_or_null "${5:-}"),\"expiresAt\":$(json_str_or_null "${6:-}"),\"names\":$(json_str_or_null "${7:-}" 1000)}")
}

# shellcheck disable=SC2317 # print_result and on_exit run from the EXIT trap
print_result() {
  result_header shipshape.integrity/1
  printf '"checks":[%s],"errors":[%s]}\n' \
    "$(join_by_comma "${checks[@]}")" "$(join_by_comma "${errors[@]:0:20}")"
}
# shellcheck disable=SC2317
on_exit() {
  local rc=$?
  [ "$rc" != 0 ] && note_error "integrity check aborted with exit code $rc"
  emit_result shipshape.integrity/1 print_result '"checks":[]'
  rm -rf "$work"
  exit 0
}
trap on_exit EXIT
trap_signals

spec_error=$(spec_problem)
[ -z "$spec_error" ] || { note_error "$spec_error"; exit 0; }
spec=$(read_spec integrity)
project=$(compose_spec_project)

# The container a name means (the first of a scaled compose service), or a check that says why not.
# Sets $resolved; fails after reporting the check.
resolve_or_report() { # kind check-name ref
  if [ "$3" = - ]; then resolved=-; return 0; fi
  if resolved=$(compose_container "$project" "$3" 2> "$work/resolve.err"); then return 0; fi
  add_check "$1" "$2" 0 "" "$(head -c 400 "$work/resolve.err")"
  return 1
}

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
    sqlite) # name container path mode runIn
      resolve_or_report sqlite "$a" "$b" || continue
      pragma="integrity_check"
      [ "$d" = quick ] && pragma="quick_check"
      run_in=${e:-host}
      [ "$run_in" = container ] || run_in=host
      rc=0
      # Reads only: the check takes no write lock that would stall the service.
      out=$(sqlite_exec "$run_in" "$resolved" "$c" 3600 "PRAGMA $pragma;" 2>&1) || rc=$?
      if [ "$rc" = 126 ] || [ "$rc" = 127 ]; then
        if [ "$run_in" = container ]; then add_check sqlite "$a" 0 "" "sqlite3 (or timeout) is not available in $resolved; use runIn: host"
        else add_check sqlite "$a" 0 "" "sqlite3 is not installed on the host (runIn: host); install it, or set runIn: container"; fi
      elif [ "$rc" = 2 ] && [ "$run_in" = host ]; then
        add_check sqlite "$a" 0 "" "$(printf '%s' "$out" | head -c 400)"
      else
        out=$(printf '%s' "$out" | head -c 400)
        if [ "$rc" = 0 ] && [ "$out" = ok ]; then add_check sqlite "$a" 1 "" "$pragma ok"
        elif [ "$rc" = 124 ]; then add_check sqlite "$a" 0 "" "$pragma timed out after 3600 s"
        else add_check sqlite "$a" 0 "" "$pragma: $out"; fi
      fi
      ;;
    certfile) # name container(-) path
      have openssl || continue
      resolve_or_report cert "$a" "$b" || continue
      b=$resolved
      if [ "$b" = - ]; then
        facts=$(cert_facts < "$c" 2> /dev/null || true)
        report_cert "$a" "$facts" "cannot read a certificate from $c"
      else
        facts=$(limit 30 docker exec "$b" cat "$c" 2> /dev/null | cert_facts || true)
        report_cert "$a" "$facts" "cannot read a certificate from $c in $b"
      fi
      ;;
    nss) # name container dir nickname
      resolve_or_report cert "$a" "$b" || continue
      b=$resolved
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
      resolve_or_report connect "$a" "$b" || continue
      b=$resolved
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
      resolve_or_report file "$name" "$b" || continue
      b=$resolved
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
    logsize) # container (every container of a compose service)
      names=$(compose_containers "$project" "$a" 2> /dev/null) || names=$a
      while IFS= read -r lc; do
        [ -n "$lc" ] || continue
        path=$(limit 20 docker inspect --format "${LB}.LogPath${RB}" "$lc" 2> /dev/null) || path=""
        limited=$(limit 20 docker inspect --format "${LB}json .HostConfig.LogConfig${RB}" "$lc" 2> /dev/null | grep -o '"max-size":"[^"]*"' | cut -d'"' -f4 || true)
        if [ -n "$path" ] && [ -f "$path" ]; then
          add_check logsize "$lc" 1 "$(( $(stat -c %s "$path") / 1048576 ))" "${limited:+max-size $limited}"
        else
          add_check logsize "$lc" 1 "" "${limited:+max-size $limited}"
        fi
      done <<< "$names"
      ;;
    "") ;;
    *) note_error "unknown spec line '$kind'" ;;
  esac
done <<< "$spec"
exit 0
