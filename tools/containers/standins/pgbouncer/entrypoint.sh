#!/bin/sh
# Stand-in for edoburu/pgbouncer's /entrypoint.sh: it runs the command only. The real one also writes
# pgbouncer.ini and userlist.txt from DB_* variables when none is mounted; our chart mounts both.
set -e
exec "$@"
