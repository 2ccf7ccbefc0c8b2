#!/usr/bin/env bash
# Runs a command with DATABASE_URL pointing at a private, throwaway PostgreSQL: Debian's server
# (`make postgresql`), a data directory in /tmp, a free port on 127.0.0.1, and a role that may
# create databases, as Django's test runner does. Stopped and removed when the command ends.
#   tests/with_postgres.sh .venv/bin/pytest -m database
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ ! -x "$bindir/initdb" ]; then
	echo "PostgreSQL's server is not installed: run make postgresql" >&2
	exit 1
fi
dir=$(mktemp -d /tmp/runnerhub-postgres.XXXXXX)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# PostgreSQL refuses to run as root: as root, the cluster belongs to Debian's postgres user.
as_owner() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
stop() {
	as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap stop EXIT
if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi

as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
# fsync off: a cluster that lives for one test run need not survive a power cut.
as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -o \
	"-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
"$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -q -v ON_ERROR_STOP=1 \
	-c "CREATE ROLE runnerhub LOGIN CREATEDB PASSWORD 'runnerhub'" \
	-c "CREATE DATABASE runnerhub OWNER runnerhub"
export DATABASE_URL="postgres://runnerhub:runnerhub@127.0.0.1:$port/runnerhub"
echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') at 127.0.0.1:$port"
"$@"
