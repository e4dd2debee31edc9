#!/bin/sh
# A throwaway test database: trust authentication on the stack's private
# network, no fsync. The data survives a container restart, not a removal.
set -e
bin=$(ls -d /usr/lib/postgresql/*/bin | tail -1)
data=/var/lib/postgresql/data
if [ ! -s "$data/PG_VERSION" ]; then
	"$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
	echo "host all all 0.0.0.0/0 trust" >>"$data/pg_hba.conf"
fi
exec "$bin/postgres" -D "$data" -c listen_addresses='*' -c unix_socket_directories=/tmp \
	-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300
