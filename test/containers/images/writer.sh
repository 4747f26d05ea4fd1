#!/bin/sh
# Keeps writing to SQLite in transactions of exactly BATCH rows, so a consistent copy always
# holds a multiple of BATCH rows.
set -eu
DB=${APP_DB:-/data/app.db}
BATCH=${BATCH:-100}
sqlite3 "$DB" "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, batch INTEGER NOT NULL, payload TEXT NOT NULL);" > /dev/null
n=0
while :; do
  # A test that is done with the load pauses the writer (a file outside the volume, so a restore
  # of the volume keeps it): back-to-back writes otherwise keep a core busy for the whole file.
  if [ -e /tmp/writer.paused ]; then sleep 0.5; continue; fi
  n=$((n + 1))
  sqlite3 "$DB" ".timeout 5000" "BEGIN IMMEDIATE; WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $BATCH) INSERT INTO t(batch, payload) SELECT $n, hex(randomblob(64)) FROM s; COMMIT;"
  sleep "${WRITER_SLEEP:-0.05}"
done
