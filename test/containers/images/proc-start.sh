#!/bin/sh
# The shell stays the parent and reaps the daemon when it is killed (a zombie would still
# match pgrep); it handles SIGTERM itself, as PID 1 must.
trap 'exit 0' TERM INT
/usr/local/bin/sigul_server &
while :; do sleep 1; done
