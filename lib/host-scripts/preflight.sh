#!/usr/bin/env bash
# shipshape preflight: checks, for one stack on this host, that the config matches what is on the
# host, before the first scheduled run finds out. Read-only. Prints ONE JSON result
# (shipshape.preflight/1, lib/results/preflight.ts): a list of checks, each with what it
# looked at, whether it passed, whether a configured runbook needs it, and a detail. It never
# stops at the first problem.
#
# Checks, from the sections of the stack's spec:
#   compose.project   the compose project has containers here; its working directory
#   name.container    every service/container name resolves (compose labels, or literally)
#   name.volume       every backup volume resolves (<project>_<key> through labels, or literally)
#   path              every backup path, env file and secret file exists
#   file.database     every SQLite database file exists where its runbook runs sqlite3
#   tool              each tool a configured runbook needs, with its version: docker, curl,
#                     timeout, tar, sha256sum, zstd/gzip, openssl, sqlite3 (host), aws (and whether
#                     it sends checksums: Object Lock buckets refuse uploads without them),
#                     compose (env-file secrets), pg_dump inside each PostgreSQL container
#   space.temp        free space in TMPDIR for the largest temporary file of a backup (SQLite
#                     snapshots, PostgreSQL dumps)
#   region            the region AWS calls use
#   secret.delivery   how each secret reaches its containers (recreate/restart/none), and whether
#                     the variable is in each container's environment or the file is mounted
#   bucket.access     the host's role can list its stack's backups in SHIPSHAPE_BUCKET
#
# Inputs: SHIPSHAPE_STACK, SHIPSHAPE_RUN_ID, SHIPSHAPE_SPEC_FILE, SHIPSHAPE_REGION,
# SHIPSHAPE_BUCKET and SHIPSHAPE_PREFIX (the backup bucket, when the stack backs up).
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
# shellcheck source-path=SCRIPTDIR source=lib/s3.sh
. "$script_dir/lib/s3.sh" # shipshape:inline lib/s3.sh

BUCKET="${SHIPSHAPE_BUCKET:-}"
work=$(mktemp -d)
checks=()
errors=()
runbooks=()

note_error() { errors+=("$(json_str "$1" 500)"); }
# add_check check target ok required detail [version]
add_check() {
  checks+=("{\"check\":\"$1\",\"target\":$(json_str "$2" 300),\"ok\":$(json_bool "$3"),\"required\":$(json_bool "$4"),\"detail\":$(json_str_or_null "${5:-}" 500),\"version\":$(json_str_or_null "${6:-}" 120)}")
}

# shellcheck disable=SC2317 # print_result and on_exit run from the EXIT trap
print_result() {
  local rb=()
  local r
  for r in "${runbooks[@]}"; do rb+=("$(json_str "$r")"); done
  result_header shipshape.preflight/1
  printf '"project":%s,"runbooks":[%s],"checks":[%s],"errors":[%s]}\n' "$(json_str_or_null "${project:-}")" \
    "$(join_by_comma "${rb[@]}")" "$(join_by_comma "${checks[@]}")" "$(join_by_comma "${errors[@]:0:20}")"
}
# shellcheck disable=SC2317
on_exit() {
  local rc=$?
  [ "$rc" != 0 ] && note_error "preflight aborted with exit code $rc"
  emit_result shipshape.preflight/1 print_result '"project":null,"runbooks":[],"checks":[]'
  rm -rf "$work"
  exit 0
}
trap on_exit EXIT
trap_signals

spec_error=$(spec_problem)
[ -z "$spec_error" ] || { note_error "$spec_error"; exit 0; }
project=$(compose_spec_project)
health=$(read_spec health-check)
backup=$(read_spec backup)
integrity=$(read_spec integrity)
maintenance=$(read_spec maintenance)
secrets=$(read_spec secrets)
runbooks=(health-check restart)
[ -z "$backup" ] || runbooks+=(backup restore drill)
[ -z "$integrity" ] || runbooks+=(integrity)
[ -z "$maintenance" ] || runbooks+=(maintenance)
[ -z "$secrets" ] || runbooks+=(apply-secret)

# --- tools --------------------------------------------------------------------------------------
first_line() { head -n 1 | tr -c '\40-\176' ' ' | sed 's/ *$//' | head -c 120; }
tool() { # name required why
  local v=""
  if have "$1"; then
    case "$1" in
      docker) v=$(limit 20 docker version --format "${LB}.Server.Version${RB}" 2>/dev/null | first_line) || v="" ;;
      timeout | tar | sha256sum) v=$("$1" --version 2>/dev/null | first_line) || v="" ;;
      curl | zstd | gzip) v=$(limit 10 "$1" --version 2>&1 | first_line) || v="" ;;
      openssl) v=$(limit 10 openssl version 2>/dev/null | first_line) || v="" ;;
      sqlite3) v=$(limit 10 sqlite3 --version 2>/dev/null | cut -d' ' -f1 | first_line) || v="" ;;
    esac
    add_check tool "$1" 1 "$2" "$3" "$v"
  else
    add_check tool "$1" 0 "$2" "$1 is not installed on the host: $3"
  fi
}
tool docker 1 "every runbook"
tool timeout 1 "time limits of every runbook"
has_http=0; grep -q $'^http\t' <<< "$health" && has_http=1
tool curl "$has_http" "HTTP probes of the health check"
# S3 transport, chosen as lib/s3.sh chooses: curl's own SigV4 (curl >= 7.88), else the AWS CLI.
# The CLI stays needed for secrets (apply-secret.sh), and for S3 when curl cannot sign.
needs_s3=0
s3_curl=0
if [ -n "$backup" ] || [ -n "$maintenance" ]; then needs_s3=1; fi
if [ "$needs_s3" = 1 ]; then
  cv=""
  if have curl; then cv=$(limit 10 curl --version 2>&1 | first_line) || cv=""; fi
  # The same test as lib/s3.sh's own choice of transport (curl 7.88 or later).
  if s3__curl_signs; then
    s3_curl=1
    add_check tool s3-transport 1 1 "S3 through curl's SigV4 (--aws-sigv4): uploads carry x-amz-checksum-sha256" "$cv"
  elif have aws; then
    add_check tool s3-transport 1 1 "S3 through the AWS CLI: ${cv:-curl is not installed}${cv:+ cannot sign uploads (needs curl 7.88)}" "$cv"
  else
    add_check tool s3-transport 0 1 "no S3 transport: backups need curl 7.88 or later (--aws-sigv4) or the AWS CLI" "$cv"
  fi
fi
aws_why=""
[ -z "$secrets" ] || aws_why="Secrets Manager calls"
if [ "$needs_s3" = 1 ] && [ "$s3_curl" = 0 ]; then aws_why="${aws_why:+$aws_why and }S3 calls (curl cannot sign)"; fi
needs_aws=0
[ -z "$aws_why" ] || needs_aws=1
if [ -n "$backup" ]; then
  compression=$(awk -F '\t' '$1 == "conf" { print $2; exit }' <<< "$backup")
  tool tar 1 "backup archives"
  tool sha256sum 1 "archive checksums"
  tool "${compression:-zstd}" 1 "backup compression (${compression:-zstd})"
fi
# Backups, restores, maintenance and secret changes take the stack one at a time (claim_stack).
if [ -n "$backup" ] || [ -n "$maintenance" ] || [ -n "$secrets" ]; then tool flock 0 "one run that changes the stack at a time; without it, runs started together are not serialized"; fi
has_host_sqlite=0
if awk -F '\t' '$1 == "sqlite" && $5 != "container" { f = 1 } END { exit !f }' <<< "$backup"$'\n'"$integrity"; then has_host_sqlite=1; fi
[ -n "$maintenance" ] && grep -q $'^sqlite\t' <<< "$maintenance" && has_host_sqlite=1
if [ "$has_host_sqlite" = 1 ]; then tool sqlite3 1 "SQLite snapshots and checks run the host's sqlite3 on the database file (runIn: host)"; fi
has_certs=0; grep -qE $'^(certfile|tls)\t' <<< "$integrity" && has_certs=1
if [ "$has_certs" = 1 ]; then tool openssl 1 "certificate checks"; elif [ -n "$backup" ]; then tool openssl 0 "faster SHA-256 (openssl dgst)"; fi

# The AWS CLI, and whether it sends checksums with uploads: buckets with Object Lock default
# retention refuse a PUT without Content-MD5 or an x-amz-checksum header. AWS CLI v2 sends
# CRC checksums by default from 2.23.0, v1 from 1.37.0, unless told "when_required".
if [ "$needs_aws" = 1 ]; then
  if have aws; then
    v=$(limit 30 aws --version 2>&1 | first_line) || v=""
    ver=$(sed -n 's#^aws-cli/\([0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\).*#\1#p' <<< "$v")
    add_check tool aws 1 1 "$aws_why" "$v"
    # Checksums matter only when the CLI uploads (curl's uploads always carry one).
    if [ "$needs_s3" = 1 ] && [ "$s3_curl" = 0 ]; then
      IFS=. read -r major minor _ <<< "${ver:-0.0.0}"
      sends=0
      if { [ "$major" = 2 ] && [ "$minor" -ge 23 ]; } || { [ "$major" = 1 ] && [ "$minor" -ge 37 ]; } || [ "$major" -gt 2 ]; then sends=1; fi
      setting=${AWS_REQUEST_CHECKSUM_CALCULATION:-$(limit 15 aws configure get request_checksum_calculation 2>/dev/null || true)}
      [ "$(printf '%s' "$setting" | tr '[:upper:]' '[:lower:]')" = when_required ] && sends=0
      if [ "$sends" = 1 ]; then
        add_check tool aws-checksums 1 0 "uploads carry a checksum (Object Lock buckets accept them)" "$ver"
      else
        add_check tool aws-checksums 0 0 "this AWS CLI (${ver:-unknown version}${setting:+, request_checksum_calculation=$setting}) does not send checksums by default: uploads to a bucket with Object Lock fail; install AWS CLI v2 2.23 or later" "$ver"
      fi
    fi
  else
    add_check tool aws 0 1 "the AWS CLI is not installed on the host: $aws_why need it"
  fi
fi

# --- compose project ----------------------------------------------------------------------------
if [ -n "$project" ]; then
  projects=$(compose_projects) || projects=""
  if grep -qx -- "$project" <<< "$projects"; then
    dir=$(compose_workdir "$project" 2>/dev/null) || dir=""
    add_check compose.project "$project" 1 1 "containers of project $project found${dir:+; working directory $dir}"
  else
    add_check compose.project "$project" 0 1 "no container carries com.docker.compose.project=$project; projects here: $(paste -sd, - <<< "$projects" | sed 's/,/, /g')"
  fi
fi

# --- names --------------------------------------------------------------------------------------
declare -A seen=()
container_check() { # ref why
  [ "$1" != - ] || return 0
  [ -z "${seen[$1]:-}" ] || return 0
  seen["$1"]=1
  if names=$(compose_containers "$project" "$1" 2> "$work/err"); then
    add_check name.container "$1" 1 1 "$2: $(paste -sd, - <<< "$names" | sed 's/,/, /g')"
  else
    add_check name.container "$1" 0 1 "$2: $(head -c 400 "$work/err")"
  fi
}
while IFS=$'\t' read -r kind service ref _; do
  [ "$kind" = container ] && container_check "$ref" "service $service"
done <<< "$health"
while IFS=$'\t' read -r kind a b _; do
  case "$kind" in
    pre | post | stop) container_check "$a" "backup $kind" ;;
    sqlite | postgres) container_check "$b" "backup source $a" ;;
    volume)
      if v=$(compose_volume "$project" "$a" 2> "$work/err"); then add_check name.volume "$a" 1 1 "volume $v"
      else add_check name.volume "$a" 0 1 "$(head -c 400 "$work/err")"; fi ;;
    path)
      if [ -e "$b" ]; then add_check path "$b" 1 1 "backup source $a"; else add_check path "$b" 0 1 "backup source $a: $b does not exist"; fi ;;
  esac
done <<< "$backup"
while IFS=$'\t' read -r kind a b _; do
  case "$kind" in
    sqlite | certfile | nss) container_check "$b" "integrity check $a" ;;
    connect | file) container_check "$b" "integrity check $a" ;;
  esac
done <<< "$integrity"
while IFS=$'\t' read -r kind a b _; do
  [ "$kind" = sqlite ] && container_check "$b" "maintenance of $a"
done <<< "$maintenance"

# --- database files and the space their snapshots need -------------------------------------------
largest=0; largest_what=""
db_check() { # runbook name ref path runIn
  local c size target
  [ "$3" != - ] || return 0
  c=$(compose_container "$project" "$3" 2>/dev/null) || return 0 # reported under name.container
  if [ "${5:-host}" = container ]; then
    if size=$(limit 20 docker exec "$c" stat -c %s "$4" 2>/dev/null); then
      add_check file.database "$2" 1 1 "$1: $4 in $c (sqlite3 runs inside the container), $size bytes"
    else
      add_check file.database "$2" 0 1 "$1: $4 does not exist in $c (or stat is missing there)"; return 0
    fi
  else
    if ! target=$(host_path "$c" "$4"); then
      add_check file.database "$2" 0 1 "$1: $4 is in the writable layer of $c (no volume or bind mount holds it): the host's sqlite3 cannot reach it and it is lost when the container is recreated; mount it, or set runIn: container"
      return 0
    fi
    if [ -f "$target" ]; then
      size=$(stat -c %s "$target" 2>/dev/null || echo 0)
      add_check file.database "$2" 1 1 "$1: $4 in $c is $target on the host, $size bytes"
    else
      add_check file.database "$2" 0 1 "$1: $4 in $c is $target on the host, which does not exist"; return 0
    fi
  fi
  if [ "$1" = backup ] && [[ "$size" =~ ^[0-9]+$ ]] && [ "$size" -gt "$largest" ]; then largest=$size; largest_what="SQLite snapshot of $2"; fi
}
while IFS=$'\t' read -r kind a b c d _; do
  [ "$kind" = sqlite ] && db_check backup "$a" "$b" "$c" "$d"
done <<< "$backup"
while IFS=$'\t' read -r kind a b c _ e _; do
  [ "$kind" = sqlite ] && db_check integrity "$a" "$b" "$c" "$e"
done <<< "$integrity"
while IFS=$'\t' read -r kind a b c _; do
  [ "$kind" = sqlite ] && db_check maintenance "$a" "$b" "$c" host
done <<< "$maintenance"

# PostgreSQL: pg_dump in the database container, and the database's size as a bound for its dump.
while IFS=$'\t' read -r kind name ref database user _; do
  [ "$kind" = postgres ] || continue
  c=$(compose_container "$project" "$ref" 2>/dev/null) || continue
  if v=$(limit 30 docker exec "$c" pg_dump --version 2>/dev/null | first_line) && [ -n "$v" ]; then
    add_check tool "pg_dump in $c" 1 1 "backup source $name" "$v"
    size=$(limit 60 docker exec "$c" psql -U "$user" -d "$database" -Atc "SELECT pg_database_size(current_database())" 2>/dev/null | tr -cd '0-9') || size=""
    if [[ "$size" =~ ^[0-9]+$ ]] && [ "$size" -gt "$largest" ]; then largest=$size; largest_what="PostgreSQL dump of $name (database size)"; fi
  else
    add_check tool "pg_dump in $c" 0 1 "backup source $name: pg_dump does not run in $c"
  fi
done <<< "$backup"

if [ -n "$backup" ]; then
  tmp=${TMPDIR:-/tmp}
  avail=$(df -P -k "$tmp" 2>/dev/null | awk 'NR == 2 { print $4 }') || avail=""
  [[ "$avail" =~ ^[0-9]+$ ]] && avail=$(( avail * 1024 ))
  if [ "$largest" = 0 ]; then
    add_check space.temp "$tmp" 1 1 "no SQLite or PostgreSQL source: backups stream without temporary files; ${avail:-?} bytes free"
  elif [[ "$avail" =~ ^[0-9]+$ ]] && [ "$avail" -gt $(( largest + largest / 10 )) ]; then
    add_check space.temp "$tmp" 1 1 "$avail bytes free for the largest temporary file ($largest_what, about $largest bytes)"
  else
    add_check space.temp "$tmp" 0 1 "${avail:-?} bytes free in $tmp, but the largest temporary file ($largest_what) needs about $largest bytes plus 10 %"
  fi
fi

# --- region -------------------------------------------------------------------------------------
region=${SHIPSHAPE_REGION:-${AWS_REGION:-${AWS_DEFAULT_REGION:-}}}
if [ -n "$region" ]; then
  add_check region "$region" 1 "$(( needs_aws || needs_s3 ))" "from ${SHIPSHAPE_REGION:+the document (SHIPSHAPE_REGION)}${SHIPSHAPE_REGION:-the environment}"
else
  add_check region "-" 0 "$(( needs_aws || needs_s3 ))" "no region: the document sets SHIPSHAPE_REGION; hybrid nodes and AWS CLI v1 have no default"
fi

# --- secrets ------------------------------------------------------------------------------------
while IFS=$'\t' read -r kind name _ skind file variable _ _ refs reload; do
  [ "$kind" = secret ] || continue
  if [ -e "$file" ]; then add_check path "$file" 1 1 "secret $name ($skind)"; else add_check path "$file" 0 1 "secret $name: $file does not exist (apply-secret creates it; the directory must exist)"; fi
  if [ "$skind" = env ]; then mode=recreate; elif [ "${reload:-restart}" = none ]; then mode=none; else mode=restart; fi
  [ "$refs" != - ] || { add_check secret.delivery "$name" 1 1 "no service receives it"; continue; }
  for ref in ${refs//,/ }; do
    names=$(compose_containers "$project" "$ref" 2>/dev/null) || { add_check secret.delivery "$name -> $ref" 0 1 "service $ref does not resolve"; continue; }
    while IFS= read -r c; do
      [ -n "$c" ] || continue
      if [ "$mode" = recreate ]; then
        svc=$(limit 20 docker inspect --format "${LB}index .Config.Labels \"com.docker.compose.service\"${RB}" "$c" 2>/dev/null) || svc=""
        cli=$(compose_cli 2>/dev/null) || cli=""
        # Whether the variable is there, never its value.
        # Read whole, then searched: `docker inspect | grep -q` under pipefail fails whenever grep
        # stops at its first match while docker is still writing (SIGPIPE).
        envs=$(limit 20 docker inspect --format "${LB}range .Config.Env${RB}${LB}.${RB}${LB}println${RB}${LB}end${RB}" "$c" 2>/dev/null) || envs=""
        if grep -q "^$variable=" <<< "$envs"; then inenv=1; else inenv=0; fi
        if [ -z "$svc" ]; then add_check secret.delivery "$name -> $c" 0 1 "recreate (env file): $c was not created by compose, so it cannot be recreated with a new value"
        elif [ -z "$cli" ]; then add_check secret.delivery "$name -> $c" 0 1 "recreate (env file): no docker compose or docker-compose on the host"
        elif [ "$inenv" = 0 ]; then add_check secret.delivery "$name -> $c" 0 1 "recreate (env file) with $cli: $variable is not in the environment of $c (is $file its env_file?)"
        else add_check secret.delivery "$name -> $c" 1 1 "recreate (env file) with $cli, service $svc; $variable is in its environment"; fi
      else
        if dst=$(limit 20 docker inspect --format "${LB}range .Mounts${RB}${LB}.Source${RB}|${LB}.Destination${RB}${LB}println${RB}${LB}end${RB}" "$c" 2>/dev/null |
          awk -F '|' -v f="$file" '$1 != "" && (f == $1 || index(f, $1 "/") == 1) { print $2 substr(f, length($1) + 1); exit }') && [ -n "$dst" ]; then
          add_check secret.delivery "$name -> $c" 1 1 "$mode (file): mounted at $dst"
        else
          add_check secret.delivery "$name -> $c" 0 1 "$mode (file): $file is not mounted into $c"
        fi
      fi
    done <<< "$names"
  done
done <<< "$secrets"

# --- the backup bucket --------------------------------------------------------------------------
# A listing under the stack's own prefix, through the transport backups use. Not HeadBucket: the
# host role may list only under backups/* (an s3:prefix condition), which HeadBucket never carries,
# so it is refused on every host this app sets up.
if [ -n "$backup" ]; then
  if [ -z "$BUCKET" ]; then
    add_check bucket.access "-" 0 1 "SHIPSHAPE_BUCKET is not set: the document names the backup bucket"
  elif [ "$S3_TRANSPORT" = curl ] || have aws; then
    probe="${SHIPSHAPE_PREFIX:-backups}/$STACK/.preflight/"
    if S3_SHORT_T=60 s3_keys "$probe" > /dev/null 2> "$work/err"; then
      add_check bucket.access "$BUCKET" 1 1 "this host's role lists $probe (S3 through $S3_TOOL)"
    else
      add_check bucket.access "$BUCKET" 0 1 "listing $probe through $S3_TOOL failed: $(head -c 300 "$work/err" | tr -c '\40-\176' ' ')"
    fi
  fi
fi
exit 0
