#!/bin/sh
# PID 1 ignores SIGTERM unless it handles it: stop the children and leave at once.
set -eu
mkdir -p /data
/app/writer.sh &
writer=$!
python3 /app/server.py &
server=$!
trap 'kill "$writer" "$server" 2>/dev/null; exit 0' TERM INT
wait "$server"
