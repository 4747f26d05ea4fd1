# shellcheck shell=bash
# Compose names on the host: a config names services, containers and volumes as the user wrote
# them in docker-compose.yml; this file finds the Docker objects compose made for them through
# the labels compose sets (com.docker.compose.project, .service, .volume, .container-number,
# .oneoff, .project.working_dir, .project.config_files). Literal Docker names still work.
#
# Every resolver prints its answer on stdout (one name a line) and returns 0, or prints nothing,
# writes "looked for X, found Y" on stderr and returns 1. They never use a shell to evaluate a
# name, and read labels with `docker inspect` (Docker and podman alike), filtering again on this
# side so an engine that ignores a filter cannot mislead them.
#
# Needs common.sh (LB, RB, limit).

COMPOSE_LABEL=com.docker.compose

# The project name compose derives from a directory: the base name, lower-cased, without
# characters other than a-z 0-9 _ -, and without leading _ or - (compose v2's rule).
compose_project_name() { # dir
  local base
  base=$(basename -- "${1%/}" 2>/dev/null) || base=""
  base=$(printf '%s' "$base" | tr '[:upper:]' '[:lower:]' | tr -cd 'a-z0-9_-' | sed 's/^[-_]*//')
  printf '%s' "$base"
}

# The compose project of the stack from the spec's "compose" section ("project<TAB>name<TAB>dir"),
# or nothing when the stack names none.
compose_spec_project() {
  local kind name _
  while IFS=$'\t' read -r kind name _; do
    if [ "$kind" = project ] && [ "$name" != - ]; then printf '%s' "$name"; return 0; fi
  done < <(read_spec compose 2>/dev/null || true)
}

# `docker inspect` of containers listed a moment ago: one removed in between (compose recreating
# a service, a one-off run ending) makes inspect exit 1 after printing the others, which is still
# an answer; no output at all is a failure.
_compose_inspect_listed() { # format ids...
  local format=$1 out rc=0
  shift
  out=$(limit "$DOCKER_LONG_T" docker inspect --type container --format "$format" "$@" 2>/dev/null) || rc=$?
  [ "$rc" = 0 ] || [ -n "$out" ] || return 1
  printf '%s\n' "$out"
}

# A script that only reads (the health check) lists a project's containers once per run instead
# of once per service: compose_memo keeps the listing in the calling shell, whose $(...)
# subshells inherit it. Scripts that recreate, stop or start containers do not call it.
_COMPOSE_MEMO_PROJECT="" _COMPOSE_MEMO_LINES=""
compose_memo() { # project
  local lines
  _COMPOSE_MEMO_PROJECT=""
  lines=$(_compose_project_containers "$1") || return 0
  _COMPOSE_MEMO_LINES=$lines
  _COMPOSE_MEMO_PROJECT=$1
}

# "name|project|service|number|oneoff" for every container of a project (all states).
_compose_project_containers() { # project
  local ids
  if [ -n "$_COMPOSE_MEMO_PROJECT" ] && [ "$1" = "$_COMPOSE_MEMO_PROJECT" ]; then
    [ -z "$_COMPOSE_MEMO_LINES" ] || printf '%s\n' "$_COMPOSE_MEMO_LINES"
    return 0
  fi
  ids=$(limit "$DOCKER_LONG_T" docker ps -a -q --filter "label=$COMPOSE_LABEL.project=$1" 2>/dev/null) || return 1
  [ -n "$ids" ] || return 0
  # shellcheck disable=SC2086 # IDs are words without spaces
  _compose_inspect_listed \
    "${LB}.Name${RB}|${LB}index .Config.Labels \"$COMPOSE_LABEL.project\"${RB}|${LB}index .Config.Labels \"$COMPOSE_LABEL.service\"${RB}|${LB}index .Config.Labels \"$COMPOSE_LABEL.container-number\"${RB}|${LB}index .Config.Labels \"$COMPOSE_LABEL.oneoff\"${RB}" \
    $ids | sed 's#^/##' | awk -F '|' -v p="$1" '$2 == p'
}

# The services of a project, for messages.
_compose_services_of() { # project
  _compose_project_containers "$1" | awk -F '|' '$5 != "True" { print $3 }' | sort -u | paste -sd, - | sed 's/,/, /g'
}

_compose_container_exists() { # name
  limit "$DOCKER_T" docker inspect --type container --format "${LB}.Name${RB}" "$1" > /dev/null 2>&1
}

# Every container of a compose service, by container number (a scaled service has several),
# one-off `compose run` containers left out; or the container literally named so.
compose_containers() { # project ref
  local project=$1 ref=$2 found services
  if [ -n "$project" ]; then
    found=$(_compose_project_containers "$project" | awk -F '|' -v s="$ref" '$3 == s && $5 != "True" { print ($4 == "" ? 0 : $4) "|" $1 }' | sort -t '|' -k1,1n | cut -d '|' -f 2-)
    if [ -n "$found" ]; then printf '%s\n' "$found"; return 0; fi
  fi
  if _compose_container_exists "$ref"; then printf '%s\n' "$ref"; return 0; fi
  if [ -n "$project" ]; then
    services=$(_compose_services_of "$project")
    printf "no container for '%s': looked for compose service '%s' of project '%s' (labels %s.project=%s, %s.service=%s) and for a container named '%s'; found %s\n" \
      "$ref" "$ref" "$project" "$COMPOSE_LABEL" "$project" "$COMPOSE_LABEL" "$ref" "$ref" \
      "$( [ -n "$services" ] && printf "services of project '%s': %s" "$project" "$services" || printf "no containers of project '%s' (projects here: %s)" "$project" "$(compose_projects | paste -sd, - | sed 's/,/, /g')" )" >&2
  else
    printf "no container named '%s' (the stack names no compose project; give composeDir or composeProject to use compose service names)\n" "$ref" >&2
  fi
  return 1
}

# One container of a service: the one with that container number (default: the lowest).
compose_container() { # project ref [number]
  local all
  all=$(compose_containers "$1" "$2") || return 1
  if [ -z "${3:-}" ]; then head -n 1 <<< "$all"; return 0; fi
  local line
  line=$(_compose_project_containers "$1" | awk -F '|' -v s="$2" -v n="$3" '$3 == s && $4 == n && $5 != "True" { print $1; exit }')
  if [ -n "$line" ]; then printf '%s\n' "$line"; return 0; fi
  printf "no container number %s of service '%s' in project '%s'; found %s\n" "$3" "$2" "$1" "$(paste -sd, - <<< "$all" | sed 's/,/, /g')" >&2
  return 1
}

# Compose projects that have containers on this host.
compose_projects() {
  local ids
  ids=$(limit "$DOCKER_LONG_T" docker ps -a -q 2>/dev/null) || return 0
  [ -n "$ids" ] || return 0
  # shellcheck disable=SC2086
  _compose_inspect_listed "${LB}index .Config.Labels \"$COMPOSE_LABEL.project\"${RB}" $ids | { grep -v -e '^$' -e '^<no value>$' || true; } | sort -u
}

# The Docker volume of a compose volume key: labelled com.docker.compose.volume=<key> in the
# project (a "name:" in compose keeps the labels), else <project>_<key>, else the literal name.
compose_volume() { # project key
  local project=$1 key=$2 vols found=""
  if [ -n "$project" ]; then
    vols=$(limit "$DOCKER_LONG_T" docker volume ls -q --filter "label=$COMPOSE_LABEL.project=$project" 2>/dev/null) || vols=""
    if [ -n "$vols" ]; then
      # shellcheck disable=SC2086 # volume names have no spaces
      found=$(limit "$DOCKER_LONG_T" docker volume inspect --format \
        "${LB}.Name${RB}|${LB}index .Labels \"$COMPOSE_LABEL.project\"${RB}|${LB}index .Labels \"$COMPOSE_LABEL.volume\"${RB}" $vols 2>/dev/null |
        awk -F '|' -v p="$project" -v k="$key" '$2 == p && $3 == k { print $1; exit }') || found=""
    fi
    if [ -z "$found" ] && limit "$DOCKER_T" docker volume inspect --format "${LB}.Name${RB}" "${project}_$key" > /dev/null 2>&1; then found="${project}_$key"; fi
  fi
  if [ -z "$found" ] && limit "$DOCKER_T" docker volume inspect --format "${LB}.Name${RB}" "$key" > /dev/null 2>&1; then found=$key; fi
  if [ -n "$found" ]; then printf '%s\n' "$found"; return 0; fi
  if [ -n "$project" ]; then
    printf "no volume for '%s': looked for compose volume '%s' of project '%s' (label %s.volume=%s), for '%s_%s' and for a volume named '%s'; found %s\n" \
      "$key" "$key" "$project" "$COMPOSE_LABEL" "$key" "$project" "$key" "$key" \
      "$( [ -n "${vols:-}" ] && printf "volumes of project '%s': %s" "$project" "$(paste -sd, - <<< "$vols" | sed 's/,/, /g')" || printf "no volumes of project '%s'" "$project")" >&2
  else
    printf "no volume named '%s' (the stack names no compose project)\n" "$key" >&2
  fi
  return 1
}

# A label of the project's containers (first non-empty value).
_compose_project_label() { # project label
  local ids
  ids=$(limit "$DOCKER_LONG_T" docker ps -a -q --filter "label=$COMPOSE_LABEL.project=$1" 2>/dev/null) || return 1
  [ -n "$ids" ] || return 1
  # shellcheck disable=SC2086
  _compose_inspect_listed "${LB}index .Config.Labels \"$COMPOSE_LABEL.project\"${RB}|${LB}index .Config.Labels \"$2\"${RB}" $ids |
    awk -F '|' -v p="$1" '$1 == p && $2 != "" && $2 != "<no value>" { sub(/^[^|]*\|/, ""); print; exit }'
}

# The directory compose ran in, from the label com.docker.compose.project.working_dir.
compose_workdir() { # project
  local dir
  dir=$(_compose_project_label "$1" "$COMPOSE_LABEL.project.working_dir") || dir=""
  if [ -n "$dir" ]; then printf '%s\n' "$dir"; return 0; fi
  printf "no working directory for compose project '%s': no container carries the label %s.project.working_dir\n" "$1" "$COMPOSE_LABEL" >&2
  return 1
}

# The compose files of the project (label com.docker.compose.project.config_files), one a line.
compose_config_files() { # project
  local files
  files=$(_compose_project_label "$1" "$COMPOSE_LABEL.project.config_files") || files=""
  [ -n "$files" ] || return 1
  tr ',' '\n' <<< "$files" | grep -v '^$'
}

# Which compose the host has: "docker compose" (v2 plugin) or "docker-compose" (v1 or v2 standalone).
compose_cli() {
  if limit "$DOCKER_T" docker compose version > /dev/null 2>&1; then printf 'docker compose\n'; return 0; fi
  if command -v docker-compose > /dev/null 2>&1; then printf 'docker-compose\n'; return 0; fi
  printf 'neither "docker compose" nor "docker-compose" is installed on the host\n' >&2
  return 1
}

# Runs compose for a project in its working directory, with its compose files:
# compose_run <project> <args...>, e.g. compose_run shop up -d --no-deps --force-recreate api.
compose_run() { # project args...
  local project=$1 cli dir f
  shift
  cli=$(compose_cli) || return 127
  dir=$(compose_workdir "$project") || return 1
  local files=()
  # docker-compose v1 records the files relative to the working directory.
  while IFS= read -r f; do
    [ -n "$f" ] || continue
    case "$f" in /*) ;; *) f="$dir/$f" ;; esac
    [ -f "$f" ] && files+=(-f "$f")
  done < <(compose_config_files "$project" 2>/dev/null || true)
  # Containers compose starts must not inherit the result descriptor (see limit in common.sh).
  if [ "$cli" = "docker compose" ]; then
    (cd "$dir" && limit 600 docker compose -p "$project" "${files[@]}" "$@")
  else
    (cd "$dir" && limit 600 docker-compose -p "$project" "${files[@]}" "$@")
  fi
}

# Spec records (stdin) with compose service names resolved to Docker container names, for the
# backup family: the container of sqlite, postgres, stop, pre and post records (the first
# container of a scaled service). Volume records keep their key, which names the archive; the
# scripts find its Docker volume with compose_volume_or_key. A name that does not resolve is
# kept as written, so the step that uses it fails on it; its "looked for X, found Y" goes to stderr.
compose_resolve_records() { # project
  local project=$1 line resolved
  local -a f
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    IFS=$'\t' read -r -a f <<< "$line"
    case "${f[0]}" in
      sqlite|postgres)
        if [ "${#f[@]}" -gt 2 ] && resolved=$(compose_container "$project" "${f[2]}"); then f[2]=$resolved; fi ;;
      stop|pre|post)
        if [ "${#f[@]}" -gt 1 ] && resolved=$(compose_container "$project" "${f[1]}"); then f[1]=$resolved; fi ;;
    esac
    (IFS=$'\t'; printf '%s\n' "${f[*]}")
  done
}

# The Docker volume of a compose volume key, or the key itself (a literal volume name, or one
# that does not exist: the caller's docker call then says so).
compose_volume_or_key() { # project key
  compose_volume "$1" "$2" 2>/dev/null || printf '%s\n' "$2"
}
