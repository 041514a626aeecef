#!/usr/bin/env bash
# pg.sh - a private PostgreSQL cluster for tests, benches and the demo.
#
#   scripts/pg.sh start DIR   initdb + start in DIR (created; must not hold a
#                             cluster yet), listening on a Unix socket in
#                             DIR only (no TCP); prints the libpq URL
#   scripts/pg.sh url DIR     print the URL of the cluster in DIR
#   scripts/pg.sh stop DIR    stop it (fast shutdown) and remove DIR
#
# The URL is postgresql:///offpass?host=DIR/sock (database "offpass", created
# at start, trust authentication: nobody but the socket's owner can connect,
# the socket directory is mode 0700).
#
# PostgreSQL refuses to run as root: as root the cluster belongs to the
# "postgres" user (Debian's package creates it) and root connects as that
# role (the parent of DIR gets o+x so that it can reach DIR). Exit 77 when the server binaries are absent, so test scripts can
# pass the status on as automake's "skipped".
set -euo pipefail

pg_bindir()
{
	local d
	if [ -n "${OFFPASS_PG_BINDIR:-}" ]; then
		echo "$OFFPASS_PG_BINDIR"
		return 0
	fi
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
	done
	command -v pg_ctl >/dev/null 2>&1 && { dirname "$(command -v pg_ctl)"; return 0; }
	return 1
}

# run_pg CMD...: as the cluster's owner.
run_pg()
{
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

pg_user()
{
	if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

url_of()
{
	echo "postgresql:///offpass?host=$1/sock&user=$(pg_user)"
}

start()
{
	local dir=$1 bin
	bin=$(pg_bindir) || { echo "pg.sh: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 77; }
	if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
		echo "pg.sh: running as root needs the 'postgres' user" >&2
		exit 77
	fi
	[ ! -e "$dir/data" ] || { echo "pg.sh: $dir already holds a cluster" >&2; exit 1; }
	mkdir -p "$dir/sock"
	chmod 0755 "$dir"
	chmod 0700 "$dir/sock"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$dir" "$dir/sock"
		# The postgres user must reach DIR: a mktemp parent is 0700.
		chmod o+x "$(dirname "$dir")"
	fi
	run_pg "$bin/initdb" -D "$dir/data" -A trust -U "$(pg_user)" -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; exit 1; }
	# No TCP; the socket in our directory; fsync stays on (the ledger's
	# durability is part of what the tests check).
	run_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
		-o "-c listen_addresses='' -c unix_socket_directories='$dir/sock' -c max_connections=50" \
		start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
	run_pg "$bin/createdb" -h "$dir/sock" -U "$(pg_user)" offpass
	url_of "$dir"
}

stop()
{
	local dir=$1 bin
	bin=$(pg_bindir) || exit 0
	if [ -f "$dir/data/postmaster.pid" ]; then
		run_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null || true
	fi
	rm -rf "$dir"
}

[ $# -eq 2 ] || { echo "usage: pg.sh start|url|stop DIR" >&2; exit 2; }
case $2 in
/*) dir=$2 ;;
*) dir=$PWD/$2 ;;
esac
case $1 in
start) start "$dir" ;;
url) url_of "$dir" ;;
stop) stop "$dir" ;;
*) echo "usage: pg.sh start|url|stop DIR" >&2; exit 2 ;;
esac
