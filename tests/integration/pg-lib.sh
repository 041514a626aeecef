# pg-lib.sh - a private PostgreSQL cluster for one integration script;
# sourced after lib.sh (and issuerd-lib.sh when used), never run.
#
# pg_start starts a cluster in $WORK/pg (scripts/pg.sh: initdb, Unix
# socket only, no TCP) and exports PG_URL; the script's EXIT trap stops it
# (after any issuerd) before $WORK goes. Skips (77) only when the server
# binaries are absent.
# shellcheck shell=bash

PG_DIR=
PG_URL=

pg_stop()
{
	if [ -n "$PG_DIR" ]; then
		bash "$top_srcdir/scripts/pg.sh" stop "$PG_DIR" || true
		PG_DIR=
	fi
}

pg_exit()
{
	if declare -F issuerd_cleanup >/dev/null; then
		issuerd_cleanup
	fi
	pg_stop
	if [ "${OFFPASS_TEST_KEEP:-0}" = 1 ]; then
		echo "kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}

pg_start()
{
	local rc=0
	PG_DIR=$WORK/pg
	trap pg_exit EXIT
	PG_URL=$(bash "$top_srcdir/scripts/pg.sh" start "$PG_DIR") || rc=$?
	if [ "$rc" -eq 77 ]; then
		PG_DIR=
		skip "no PostgreSQL server binaries (apt-get install postgresql)"
	fi
	[ "$rc" -eq 0 ] || fail "could not start PostgreSQL (scripts/pg.sh start, exit $rc)"
	export PG_URL
}
