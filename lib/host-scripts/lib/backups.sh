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

# The archives of a manifest, one a line: name<TAB>kind<TAB>key<TAB>sha256<TAB>compression<TAB>
# level<TAB>baseKey<TAB>baseSha256 (chain-format: level 0 or 1; "-" for no base). Only archives
# with ok:true; a field missing from an older manifest reads as level 0 without a base.
manifest_archives() { # manifest_file
  tr -d '\n' < "$1" | sed 's/{"name":/\n&/g' | awk '
    function str(s, name) { if (!match(s, "\"" name "\":\"[^\"]*\"")) return ""; s = substr(s, RSTART + length(name) + 4, RLENGTH - length(name) - 5); return s }
    /^\{"name":"[^"]*","kind":"[^"]*","source":"[^"]*","method":"[^"]*","key":"[^"]*","ok":true,"bytes":[0-9]*,"sha256":"[0-9a-f]+(-[0-9x+]+)?","compression":"[a-z]+"/ {
      sub(/\}.*/, "")
      level = match($0, /"level":1[,}]?/) ? 1 : 0
      bk = str($0, "baseKey"); bs = str($0, "baseSha256")
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", str($0, "name"), str($0, "kind"), str($0, "key"), str($0, "sha256"), str($0, "compression"), level, (bk == "" ? "-" : bk), (bs == "" ? "-" : bs)
    }'
}

# An archive's checksum as the manifest records it (lib/results/checksum.ts): the SHA-256 of the
# object, or a multipart upload's composite SHA-256 and part layout.
CHECKSUM_RE='^[0-9a-f]{64}(-[1-9][0-9]*x[1-9][0-9]*(\+[1-9][0-9]*x[1-9][0-9]*)*)?$'

# Reads stdin to its end and prints its checksum in the form of <expected>: the SHA-256 of the
# whole stream, or the SHA-256 of the SHA-256 digests of the parts <expected>'s layout names (each
# part hashed as it passes, one read of the bytes), then that layout. The parts' digests are
# collected in <work file>. Needs HASH.
checksum_stream() { # expected work_file
  local layout run size count k parts=0 want=0 h t=${STREAM_T:-21600} digests=$2
  if [[ $1 != *-* ]]; then
    h=$(limit_exec "$t" "${HASH[@]}") || return 1
    printf '%s' "${h%% *}"
    return
  fi
  layout=${1#*-}
  if [[ ! $1 =~ $CHECKSUM_RE ]] || [ "${#layout}" -gt 200 ]; then echo "unreadable checksum in the manifest: ${1:0:100}" >&2; return 1; fi
  for run in ${layout//+/ }; do want=$((want + ${run#*x})); done
  # S3 holds at most 10,000 parts.
  [ "$want" -le 10000 ] || { echo "the checksum names $want parts, more than S3 holds" >&2; return 1; }
  : > "$digests" || return 1
  for run in ${layout//+/ }; do
    size=${run%x*} count=${run#*x}
    for ((k = 0; k < count; k++)); do
      parts=$((parts + 1))
      # Pipeline elements exec their programs (limit_exec, lib/s3.sh): no shell stays behind per
      # part. The very last part holds whatever is left.
      if [ "$parts" = "$want" ]; then limit "$t" "${HASH[@]}" >> "$digests"
      elif [ $((size % 65536)) = 0 ]; then limit_exec "$t" dd bs=65536 iflag=fullblock count=$((size / 65536)) status=none | limit_exec "$t" "${HASH[@]}" >> "$digests"
      else limit_exec "$t" head -c "$size" | limit_exec "$t" "${HASH[@]}" >> "$digests"
      fi || return 1
    done
  done
  h=$(cut -c1-64 "$digests" | s3_composite) || return 1
  printf '%s-%s' "$h" "$layout"
}

# Downloads <key> into <file> and checks the bytes in the same pass (s3_get | tee | checksum,
# every element's exit status checked): one read of the bytes, which must match <checksum>.
# Prints why not on stderr. Needs HASH (the hash command, e.g. openssl dgst -sha256 -r) and STREAM_T.
download_verified() { # key checksum file
  local key=$1 sha=$2 file=$3 got st tmp
  tmp=$(mktemp -d) || { echo "cannot create a temporary directory" >&2; return 1; }
  set +e
  s3_get "$key" 2> "$tmp/get.err" | limit "${STREAM_T:-21600}" tee "$file" 2> "$tmp/tee.err" | checksum_stream "$sha" "$tmp/parts" > "$tmp/hash" 2> "$tmp/hash.err"
  st=("${PIPESTATUS[@]}")
  set -e
  got=$(cat "$tmp/hash")
  if [ "${st[0]}" != 0 ]; then
    printf 'downloading %s failed (exit %s): %s' "$key" "${st[0]}" "$(head -c 200 "$tmp/get.err")" >&2
  elif [ "${st[1]}" != 0 ]; then
    printf 'writing %s failed (tee exit %s): %s%s' "$file" "${st[1]}" "$(head -c 150 "$tmp/tee.err")" "$(df -Ph "$(dirname "$file")" 2>/dev/null | awk 'NR == 2 { printf "; %s free in the staging directory", $4 }')" >&2
  elif [ "${st[2]}" != 0 ] || [ -z "$got" ]; then
    printf 'hashing %s failed (exit %s): %s' "$key" "${st[2]}" "$(head -c 150 "$tmp/hash.err")" >&2
  elif [ "$got" != "$sha" ]; then
    printf '%s does not match its checksum (got %s)' "$key" "$got" >&2
  else
    rm -rf "$tmp"
    return 0
  fi
  rm -rf "$tmp"
  return 1
}

# How tar reads an archive: 128 KiB records (-b 256) instead of 10 KiB, a tenth of the read and
# write calls (-B: a pipe returns short reads). Measured: zstd -dc | tar -x takes 0.7x the time.
TAR_READ=(-b 256 -B --listed-incremental=/dev/null --numeric-owner --totals)

# Downloads <key> ONCE and, in the same pass, hashes the bytes (they must match <checksum>) and
# decompresses them into <dest>: a directory (tar -x --listed-incremental=/dev/null, so a
# differential over its base deletes what was deleted since the full) or a file:
#   s3_get | tee >(checksum_stream) | decompress | tar -x
# Every element's exit status is checked (the hash's through a status file) and each runs under
# the stream time limit. Prints why not on stderr; the caller removes <dest> on failure.
# Needs HASH and STREAM_T, decompress.
download_extract() { # key checksum compression dest dir|file
  local key=$1 sha=$2 comp=$3 dest=$4 how=$5 got tmp st n=0 hst t=${STREAM_T:-21600}
  tmp=$(mktemp -d) || { echo "cannot create a temporary directory" >&2; return 1; }
  decompressor "$comp"
  # limit_exec (lib/s3.sh): each element's subshell becomes its command, one bash fewer each.
  set +e
  if [ "$how" = dir ]; then
    s3_get "$key" 2> "$tmp/get.err" \
      | limit_exec "$t" tee -p >(checksum_stream "$sha" "$tmp/parts" > "$tmp/hash" 2> "$tmp/hash.err"; echo "$?" > "$tmp/hash.rc") 2> "$tmp/tee.err" \
      | limit_exec "$t" "${DECOMPRESS[@]}" 2> "$tmp/dec.err" \
      | limit_exec "$t" tar -C "$dest" "${TAR_READ[@]}" -xf - 2> "$tmp/tar.err"
  else
    s3_get "$key" 2> "$tmp/get.err" \
      | limit_exec "$t" tee -p >(checksum_stream "$sha" "$tmp/parts" > "$tmp/hash" 2> "$tmp/hash.err"; echo "$?" > "$tmp/hash.rc") 2> "$tmp/tee.err" \
      | limit_exec "$t" "${DECOMPRESS[@]}" 2> "$tmp/dec.err" > "$dest"
  fi
  st=("${PIPESTATUS[@]}" 0)
  set -e
  # The hash ends once tee closed its end (or under its own time limit).
  while [ ! -s "$tmp/hash.rc" ] && [ "$n" -lt $(( (t + 10) * 20 )) ]; do sleep 0.05; n=$(( n + 1 )); done
  hst=$(cat "$tmp/hash.rc" 2>/dev/null || echo '?')
  got=$(cat "$tmp/hash" 2>/dev/null)
  if [ "${st[0]}" != 0 ]; then
    printf 'downloading %s failed (exit %s): %s' "$key" "${st[0]}" "$(head -c 200 "$tmp/get.err")" >&2
  elif [ "${st[1]}" = 0 ] && [ "$hst" = 0 ] && [ -n "$got" ] && [ "$got" != "$sha" ]; then
    # tee -p hashes every byte even when the decompressor gave up: a damaged archive is named as such.
    printf '%s does not match its checksum (got %s)' "$key" "$got" >&2
  elif [ "${st[2]}" != 0 ]; then
    printf 'decompressing %s failed (%s exit %s): %s' "$key" "$comp" "${st[2]}" "$(head -c 200 "$tmp/dec.err")" >&2
  elif [ "${st[3]}" != 0 ]; then
    printf 'extracting %s into %s failed (tar exit %s): %s%s' "$key" "$dest" "${st[3]}" "$(head -c 200 "$tmp/tar.err")" "$(df -Ph "$dest" 2>/dev/null | awk 'NR == 2 { printf "; %s free there", $4 }')" >&2
  elif [ "${st[1]}" != 0 ]; then
    printf 'reading %s failed (tee exit %s): %s' "$key" "${st[1]}" "$(head -c 150 "$tmp/tee.err")" >&2
  elif [ "$hst" != 0 ] || [ -z "$got" ]; then
    printf 'hashing %s failed (exit %s): %s' "$key" "$hst" "$(head -c 150 "$tmp/hash.err")" >&2
  elif [ "$got" != "$sha" ]; then
    printf '%s does not match its checksum (got %s)' "$key" "$got" >&2
  elif [ "$how" = dir ] && ! grep -q 'Total bytes read: [1-9]' "$tmp/tar.err"; then
    # GNU tar reports what it read: a tar that read nothing restored nothing.
    printf 'extracting %s into %s restored nothing (tar read no bytes)' "$key" "$dest" >&2
  else
    rm -rf "$tmp"
    return 0
  fi
  rm -rf "$tmp"
  return 1
}

# Extracts a verified local archive into <dir> (an incremental-aware extraction: a differential
# over its base deletes what was deleted since the full); restore and drill. On failure tar's
# stderr and the exit codes are in $work/tar.err.
# shellcheck disable=SC2154 # $work is the caller's temp dir
extract_into() { # file compression dir
  local st
  decompressor "$2"
  set +e
  limit_exec "${STREAM_T:-21600}" "${DECOMPRESS[@]}" < "$1" | limit_exec "${STREAM_T:-21600}" tar -C "$3" "${TAR_READ[@]}" -xf - 2> "$work/tar.err"
  st=("${PIPESTATUS[@]}")
  set -e
  # GNU tar reports what it read: a tar that read nothing restored nothing.
  if [ "${st[0]}" = 0 ] && [ "${st[1]}" = 0 ] && grep -q 'Total bytes read: [1-9]' "$work/tar.err"; then return 0; fi
  printf ' (decompress exit %s, tar exit %s)' "${st[0]}" "${st[1]}" >> "$work/tar.err"
  return 1
}

# 0 when <file> starts with the SQLite header: an empty file passes integrity_check, so a
# decompressor that wrote nothing must be caught here. Says why not in <err>.
is_sqlite_file() { # file err
  [ "$(head -c 15 "$1" 2>/dev/null)" = "SQLite format 3" ] && return 0
  printf 'the decompressed copy is not a SQLite database (%s bytes)' "$(stat -c %s "$1" 2>/dev/null || echo ?)" >> "$2"
  return 1
}

# The run a key belongs to: <prefix>/<stack>/<host>/<stamp>/<file> -> <prefix>/<stack>/<host>/<stamp>.
run_of_key() { printf '%s' "${1%/*}"; }

# 0 when the run <run prefix> has its verified.json marker: found in <keys file> when given (a
# listing that may already hold it, such as the host's prefix), else by one listing of the marker's
# own key, remembered for the rest of the script (backup.sh asks once per source).
declare -A VERIFIED_RUNS=() # run prefix -> yes|no
run_verified() { # run_prefix [keys_file]
  local keys
  [ -n "${2:-}" ] && grep -qxF "$1/verified.json" "$2" 2>/dev/null && return 0
  if [ -z "${VERIFIED_RUNS[$1]:-}" ]; then
    VERIFIED_RUNS[$1]=no
    # Read whole, then matched: grep -q ending first would fail the listing under pipefail.
    if keys=$(s3_keys "$1/verified.json" 2>/dev/null) && grep -qxF "$1/verified.json" <<< "$keys"; then VERIFIED_RUNS[$1]=yes; fi
  fi
  [ "${VERIFIED_RUNS[$1]}" = yes ]
}

# The decompressor of <compression>, as a command in DECOMPRESS.
decompressor() { # compression
  case "$1" in
    gzip) DECOMPRESS=(gzip -dc) ;;
    none) DECOMPRESS=(cat) ;;
    *) DECOMPRESS=(zstd -dc) ;;
  esac
}

# Decompresses stdin to stdout, under the stream time limit (SHIPSHAPE_STREAM_TIMEOUT_SECONDS).
decompress() { # compression
  decompressor "$1"
  limit "${SHIPSHAPE_STREAM_TIMEOUT_SECONDS:-21600}" "${DECOMPRESS[@]}"
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
