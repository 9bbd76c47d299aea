#!/bin/sh
# Stand-in for the official redis image's docker-entrypoint.sh: flags or a .conf file as the first argument
# run redis-server with them; as root it drops to the redis user (setpriv instead of su-exec).
# Ref: https://github.com/docker-library/redis (7.4/alpine/docker-entrypoint.sh)
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi
if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
	exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
umask 0077
exec "$@"
