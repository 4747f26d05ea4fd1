#!/bin/sh
set -eu
mkdir -p /data
/app/writer.sh &
exec python3 /app/server.py
