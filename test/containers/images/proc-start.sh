#!/bin/sh
# The shell stays the parent and reaps the daemon when it is killed (a zombie would still match pgrep).
/usr/local/bin/sigul_server &
while :; do sleep 1; done
