# shellcheck shell=bash
# Finding and reading backup runs in S3 (restore, drill). Needs lib/s3.sh and BUCKET.

# Prints the run prefix: the newest verified run under <host prefix>, or <host prefix><stamp>
# when that run has a manifest. Fails with a message on stderr otherwise.
find_run() { # host_prefix wanted(latest|stamp) keys_file
  local host_prefix=$1 wanted=$2 keys=$3 run
  s3_keys "$host_prefix" > "$keys" || { echo "cannot list $host_prefix" >&2; return 1; }
  if [ "$wanted" = latest ]; then
    run=$(grep '/verified\.json$' "$keys" | sed 's#/verified\.json$##' | sort | tail -n 1 || true)
    [ -n "$run" ] || { echo "no verified backup under $host_prefix" >&2; return 1; }
  else
    run="$host_prefix$wanted"
    grep -qx "$run/manifest.json" "$keys" || { echo "no complete backup at $run (no manifest)" >&2; return 1; }
  fi
  printf '%s' "$run"
}

# The archives of a manifest, one a line: name<TAB>kind<TAB>key<TAB>sha256<TAB>compression.
manifest_archives() { # manifest_file
  tr -d '\n' < "$1" | grep -o '{"name":"[^"]*","kind":"[^"]*","source":"[^"]*","method":"[^"]*","key":"[^"]*","ok":true,"bytes":[0-9]*,"sha256":"[0-9a-f]*","compression":"[a-z]*"' \
    | sed -E 's/^\{"name":"([^"]*)","kind":"([^"]*)","source":"[^"]*","method":"[^"]*","key":"([^"]*)","ok":true,"bytes":[0-9]*,"sha256":"([0-9a-f]*)","compression":"([a-z]*)"$/\1\t\2\t\3\t\4\t\5/'
}

# Decompresses stdin to stdout, under the stream time limit (SHIPSHAPE_STREAM_TIMEOUT_SECONDS).
decompress() { # compression
  case "$1" in
    gzip) limit "${SHIPSHAPE_STREAM_TIMEOUT_SECONDS:-21600}" gzip -dc ;;
    none) cat ;;
    *) limit "${SHIPSHAPE_STREAM_TIMEOUT_SECONDS:-21600}" zstd -dc ;;
  esac
}

# Host path of a path inside a container, through its mounts.
host_path() { # container path
  local dest src
  while IFS='|' read -r dest src; do
    [ -n "$dest" ] || continue
    if [ "$2" = "$dest" ] || [[ "$2" == "$dest/"* ]]; then printf '%s%s' "$src" "${2#"$dest"}"; return 0; fi
  done < <(limit "${DOCKER_T:-20}" docker inspect --format "${LB}range .Mounts${RB}${LB}.Destination${RB}|${LB}.Source${RB}${LB}println${RB}${LB}end${RB}" "$1" 2>/dev/null)
  return 1
}

# Reads the stack's backup section into $spec, compose service names resolved to the containers
# compose made, and the compose project into $project (empty: the names are Docker names).
# Problems go to note_error; $spec stays empty when the spec cannot be used. Needs compose.sh.
# shellcheck disable=SC2034,SC2154 # sets spec_error/spec/project for the caller; $work is the caller's temp dir
load_backup_spec() {
  spec_error=$(spec_problem)
  spec=""
  project=$(compose_spec_project)
  if [ -n "$spec_error" ]; then note_error "$spec_error"; return 0; fi
  spec=$(read_spec backup)
  if [ -n "$spec" ] && [ -n "$project" ]; then
    spec=$(compose_resolve_records "$project" <<< "$spec" 2> "$work/resolve.err") || true
    while IFS= read -r unresolved; do [ -n "$unresolved" ] && note_error "$unresolved"; done < "$work/resolve.err"
  fi
  [ -n "$spec" ] || note_error "stack '$STACK' has no backup section in its spec"
}
