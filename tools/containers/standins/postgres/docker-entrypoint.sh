#!/usr/bin/env bash
# Stand-in for the official postgres image's docker-entrypoint.sh: the behaviour our chart relies on, written
# for the stand-in image (not a copy). With `postgres` as the command (or flags only) and an empty $PGDATA:
#   initdb as $POSTGRES_USER (default postgres) with $POSTGRES_PASSWORD and $POSTGRES_INITDB_ARGS,
#   `host all all all <password_encryption>` in pg_hba.conf ($POSTGRES_HOST_AUTH_METHOD overrides),
#   create $POSTGRES_DB (default: the user's name) through a socket-only server, run
#   /docker-entrypoint-initdb.d/*.sql and *.sh, stop that server;
# then exec the command. Run as root, it re-executes itself as postgres (setpriv instead of gosu).
# Ref: https://github.com/docker-library/postgres/blob/master/docker-entrypoint.sh
set -Eeo pipefail

if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi

if [ "$1" = 'postgres' ]; then
	if [ "$(id -u)" = '0' ]; then
		mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA"
		exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
	fi
	mkdir -p "$PGDATA"
	chmod 00700 "$PGDATA" || :
	mkdir -p /var/run/postgresql || :
	chmod 03775 /var/run/postgresql || :

	if [ ! -s "$PGDATA/PG_VERSION" ]; then
		: "${POSTGRES_USER:=postgres}"
		: "${POSTGRES_DB:=$POSTGRES_USER}"
		if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != 'trust' ]; then
			echo >&2 'Error: the database is uninitialized and POSTGRES_PASSWORD is empty (or set POSTGRES_HOST_AUTH_METHOD=trust)'
			exit 1
		fi
		# word splitting of POSTGRES_INITDB_ARGS is intended: it holds several initdb flags
		# shellcheck disable=SC2086
		initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") $POSTGRES_INITDB_ARGS

		shift_args=("${@:2}")
		auth="${POSTGRES_HOST_AUTH_METHOD:-$(postgres -C password_encryption "${shift_args[@]}")}"
		printf '\nhost all all all %s\n' "$auth" >> "$PGDATA/pg_hba.conf"

		export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
		PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p ${PGPORT:-5432}" -w start
		psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
		if [ "$POSTGRES_DB" != 'postgres' ]; then
			exists="$(PGHOST= "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" --tuples-only \
				<<< "SELECT 1 FROM pg_database WHERE datname = :'db';")"
			if [ -z "${exists// /}" ]; then
				PGHOST= "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<< 'CREATE DATABASE :"db";'
			fi
		fi
		for f in /docker-entrypoint-initdb.d/*; do
			case "$f" in
				*.sql) echo "$0: running $f"; PGHOST= "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
				*.sh) echo "$0: running $f"; bash "$f" ;;
			esac
		done
		PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -m fast -w stop
		unset PGPASSWORD
		echo 'PostgreSQL init process complete; ready for start up.'
	fi
fi

exec "$@"
