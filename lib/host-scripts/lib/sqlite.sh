# shellcheck shell=bash
# SQLite on a live database, shared by backup, restore, maintenance and integrity. Needs common.sh
# and lib/backups.sh (host_path).
#
# Where sqlite3 runs (backup.sqlite[].runIn):
#   host       the host's sqlite3 against the database file on its volume or bind mount, found
#              through `docker inspect` mounts. Works on images without sqlite3. WAL stays
#              consistent: the -wal and -shm files and the POSIX locks are shared with the
#              app through the same kernel and file system. A database in the container's
#              writable layer is refused with a clear reason.
#   container  `docker exec <container> timeout N sqlite3 …`: the time limit is enforced
#              INSIDE the container (killing the docker exec client leaves the process
#              running there).
#
# Snapshots use VACUUM INTO: one read transaction, so writers never make it start over (the
# shell's .backup restarts whenever another connection writes), and the copy holds whole
# transactions only.

SQLITE_TIMEOUT_S="${SHIPSHAPE_SQLITE_TIMEOUT_SECONDS:-600}"
SQLITE_BUSY_MS="${SHIPSHAPE_SQLITE_BUSY_MS:-10000}"

# Quotes a string as an SQL literal.
sql_quote() { local s=${1//\'/\'\'}; printf "'%s'" "$s"; }

# Prints the host path of <path in container>, or why it cannot be used (on stderr) and fails.
sqlite_locate() { # container path
  local target id
  if ! target=$(host_path "$1" "$2"); then
    # An empty answer is no proof of "no mount": docker inspect may have printed nothing at all.
    id=$(limit "${DOCKER_T:-20}" docker inspect --format "${LB}.Id${RB}" "$1" 2>/dev/null) || id=""
    if [ -z "$id" ]; then
      printf 'container %s does not exist, or docker inspect failed or answered nothing' "$1" >&2
    else
      printf "%s is in the writable layer of %s (no volume or bind mount holds it): it is lost when the container is recreated; mount it, or set runIn: container" "$2" "$1" >&2
    fi
    return 1
  fi
  [ -f "$target" ] || { printf '%s (in %s) is %s on the host, which does not exist' "$2" "$1" "$target" >&2; return 1; }
  printf '%s' "$target"
}

# Why a sqlite3 run failed, from its exit code and standard error.
sqlite_reason() { # rc stderr_file timeout_s
  local rc=$1 err
  err=$(head -c 300 "$2" 2>/dev/null | tr '\n' ' ')
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then printf 'timed out after %s s' "$3"; return 0; fi
  # sqlite3 exits with the SQLite result code: 5 SQLITE_BUSY, 6 SQLITE_LOCKED, 13 SQLITE_FULL.
  if [ "$rc" = 13 ]; then printf 'disk full (SQLITE_FULL): %s' "${err:-no space left where the copy is written}"; return 0; fi
  if [ "$rc" = 5 ] || [ "$rc" = 6 ]; then printf 'database locked (exit %s): %s' "$rc" "${err:-another connection holds the lock}"; return 0; fi
  case "$err" in
    *"database is locked"*|*"database table is locked"*|*SQLITE_BUSY*) printf 'database locked: %s' "$err" ;;
    *"disk is full"*|*"No space left"*|*SQLITE_FULL*) printf 'disk full: %s' "$err" ;;
    *) printf 'exit %s: %s' "$rc" "${err:-no message}" ;;
  esac
}

# Runs SQL on the live database, where runIn says, with the time limit enforced where it runs.
# Output on stdout, errors on stderr; exit 124 on timeout, 127 when sqlite3 is missing.
sqlite_exec() { # mode container path timeout_s sql...
  local mode=$1 c=$2 db=$3 t=$4 target
  shift 4
  if [ "$mode" = container ]; then
    limit $(( DOCKER_LONG_T ? t + DOCKER_LONG_T : 0 )) docker exec "$c" timeout "$t" sqlite3 "$db" ".timeout $SQLITE_BUSY_MS" "$@"
  else
    have sqlite3 || { echo "sqlite3 is not installed on the host" >&2; return 127; }
    target=$(sqlite_locate "$c" "$db") || return 2
    limit "$t" sqlite3 "$target" ".timeout $SQLITE_BUSY_MS" "$@"
  fi
}

# A consistent copy of a live database in <dest> on the host, checked with integrity_check.
# On failure prints the reason on stdout and fails; the copy is removed.
sqlite_snapshot() { # mode container path dest_file
  local mode=$1 c=$2 db=$3 dest=$4 err="$4.err" rc=0 snap integrity=""
  rm_existing "$dest"
  if [ "$mode" = container ]; then
    snap="/tmp/shipshape-snapshot-$$-$RANDOM.db"
    sqlite_exec container "$c" "$db" "$SQLITE_TIMEOUT_S" "VACUUM INTO $(sql_quote "$snap")" > /dev/null 2> "$err" || rc=$?
    if [ "$rc" = 126 ] || [ "$rc" = 127 ]; then
      printf 'sqlite3 (or timeout) is not available in %s; use runIn: host (the host'"'"'s sqlite3 on the mounted file), or add them to the image' "$c"
    elif [ "$rc" != 0 ]; then
      printf 'VACUUM INTO in %s failed: %s' "$c" "$(sqlite_reason "$rc" "$err" "$SQLITE_TIMEOUT_S")"
    else
      integrity=$(limit $(( DOCKER_LONG_T ? SQLITE_TIMEOUT_S + DOCKER_LONG_T : 0 )) docker exec "$c" timeout "$SQLITE_TIMEOUT_S" sqlite3 "$snap" "PRAGMA integrity_check;" 2>&1 | head -c 300) || true
      if [ "$integrity" != ok ]; then
        rc=1; printf 'the snapshot fails integrity_check: %s' "${integrity:-no answer}"
      else
        # A copy of bytes, timed like the archive streams, not like the database work.
        local copy_t="${SHIPSHAPE_STREAM_TIMEOUT_SECONDS:-21600}" copy_rc=0
        limit "$copy_t" docker exec "$c" cat "$snap" > "$dest" 2> "$err" || copy_rc=$?
        if [ "$copy_rc" = 124 ]; then rc=1; printf 'copying the snapshot out of %s timed out after %s s' "$c" "$copy_t"
        elif [ "$copy_rc" != 0 ]; then rc=1; printf 'copying the snapshot out of %s failed (exit %s): %s' "$c" "$copy_rc" "$(head -c 200 "$err")"
        fi
      fi
    fi
    limit $(( DOCKER_T * 3 )) docker exec "$c" rm -f "$snap" > /dev/null 2>&1 || true
  else
    sqlite_exec host "$c" "$db" "$SQLITE_TIMEOUT_S" "VACUUM INTO $(sql_quote "$dest")" > /dev/null 2> "$err" || rc=$?
    if [ "$rc" = 2 ]; then printf '%s' "$(head -c 400 "$err")"
    elif [ "$rc" = 127 ]; then printf 'sqlite3 is not installed on the host (runIn: host); install it, or set runIn: container'
    elif [ "$rc" != 0 ]; then printf 'VACUUM INTO failed: %s' "$(sqlite_reason "$rc" "$err" "$SQLITE_TIMEOUT_S")"
    else
      integrity=$(limit "$SQLITE_TIMEOUT_S" sqlite3 "file:$dest?mode=ro" "PRAGMA integrity_check;" 2> "$err" | head -c 300) || true
      [ "$integrity" = ok ] || { rc=1; printf 'the snapshot fails integrity_check: %s' "${integrity:-$(head -c 200 "$err")}"; }
    fi
  fi
  if [ "$rc" = 0 ] && [ ! -s "$dest" ]; then rc=1; printf 'the snapshot is empty'; fi
  rm -f "$err"
  if [ "$rc" != 0 ]; then rm -f "$dest"; return 1; fi
  return 0
}
