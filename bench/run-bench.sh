#!/bin/sh
# run-bench.sh - `make bench`: offpass-p11.so, SoftHSM2 and raw OpenSSL side
# by side (bench/bench-p11.c says what is measured and how), then the
# offline flow's figures (bench/bench-flow.c): presentation sizes, checks/s
# at the gate, settlement records/s; then offpass-issuerd under load
# (bench/bench-issuerd.c; BENCH_ISSUERD_ENROLLEES, _HOLDERS, _BATCHES,
# _RECORDS, _GATES, _INFLIGHT, _SECONDS). The settlement and the issuerd figures are taken
# on both ledgers: SQLite, then PostgreSQL in a private cluster
# (scripts/pg.sh in the temp dir, one empty database per bench, stopped on
# exit); without the PostgreSQL server binaries its rows say n/a.
#
# Each module gets a fresh token in a temp directory, removed afterwards.
# Environment: top_builddir and OFFPASS_P11_MODULE (set by `make bench`);
# SOFTHSM2_MODULE (default /usr/lib/softhsm/libsofthsm2.so; a missing
# module leaves its column n/a); BENCH_SECONDS, BENCH_WARMUP, BENCH_ROUNDS,
# BENCH_OBJECTS, BENCH_LOOKUPS (see bench-p11.c); BENCH_SETTLE_RECORDS,
# BENCH_SETTLE_HOLDERS (see bench-flow.c); BENCH_TMPFS_DIR (default
# /dev/shm; empty: no tmpfs figures), where the gate's state goes for the
# CPU-only figures; the others keep it under TMPDIR (default /tmp), the
# default file system. top_srcdir (set by `make bench`; default: this
# script's parent) finds scripts/pg.sh. Exits 0 unless something failed:
# a missed target is reported, not an error.
set -eu

: "${top_builddir:=.}"
: "${OFFPASS_P11_MODULE:=$top_builddir/.libs/offpass-p11.so}"
: "${SOFTHSM2_MODULE:=/usr/lib/softhsm/libsofthsm2.so}"
: "${BENCH_TMPFS_DIR=/dev/shm}"
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
bench=$top_builddir/bench/bench-p11
flow=$top_builddir/bench/bench-flow

for b in "$bench" "$flow"; do
	if [ ! -x "$b" ]; then
		echo "run-bench.sh: $b is not built (run \`make bench\`)" >&2
		exit 1
	fi
done
if [ ! -f "$OFFPASS_P11_MODULE" ]; then
	echo "run-bench.sh: no offpass module at $OFFPASS_P11_MODULE" >&2
	exit 1
fi

shm=
pg=
tmp=$(mktemp -d "${TMPDIR:-/tmp}/offpass-bench.XXXXXX")
trap '[ -z "$pg" ] || bash "$top_srcdir/scripts/pg.sh" stop "$pg" || true; rm -rf "$tmp" ${shm:+"$shm"}' EXIT
trap 'exit 1' HUP INT TERM
mkdir "$tmp/offpass" "$tmp/softhsm"

# The token directories, and the low scrypt cost for creating the token only
# (the KDF runs at C_InitToken, C_InitPIN and C_Login, never in a figure).
OFFPASS_P11_DIR=$tmp/offpass
OFFPASS_P11_SCRYPT_N=1024
SOFTHSM2_CONF=$tmp/softhsm2.conf
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
	"$tmp/softhsm" >"$SOFTHSM2_CONF"
export OFFPASS_P11_DIR OFFPASS_P11_SCRYPT_N SOFTHSM2_CONF

set -- --offpass "$OFFPASS_P11_MODULE"
if [ -f "$SOFTHSM2_MODULE" ]; then
	set -- "$@" --softhsm "$SOFTHSM2_MODULE"
else
	echo "run-bench.sh: no SoftHSM2 at $SOFTHSM2_MODULE: its column stays n/a" >&2
fi
status=0
"$bench" "$@" || status=1

# The offline flow: the gate's state and the issuer under $tmp (the default
# file system), the gate's state once more on tmpfs.
mkdir "$tmp/flow"
set -- --state "$tmp/flow" --module "$OFFPASS_P11_MODULE"
if [ -n "$BENCH_TMPFS_DIR" ] && [ -d "$BENCH_TMPFS_DIR" ] && [ -w "$BENCH_TMPFS_DIR" ]; then
	shm=$(mktemp -d "$BENCH_TMPFS_DIR/offpass-bench.XXXXXX")
	set -- "$@" --tmpfs "$shm"
else
	echo "run-bench.sh: no writable ${BENCH_TMPFS_DIR:-tmpfs directory}: no tmpfs figures" >&2
fi
"$flow" "$@" || status=1

# The PostgreSQL ledger: a private cluster, one empty database per bench
# (pg_db NAME prints its URL); none when the server binaries are absent.
pg_url=
rc=0
pg_url=$(bash "$top_srcdir/scripts/pg.sh" start "$tmp/pg" 2>"$tmp/pg.log") || rc=$?
if [ "$rc" -eq 0 ]; then
	pg=$tmp/pg
else
	pg_url=
	if [ "$rc" -ne 77 ]; then
		cat "$tmp/pg.log" >&2
		echo "run-bench.sh: could not start PostgreSQL (scripts/pg.sh start, exit $rc)" >&2
		status=1
	fi
fi
pg_db()
{
	psql -q -v ON_ERROR_STOP=1 "$pg_url" -c "CREATE DATABASE $1" >/dev/null &&
		printf '%s\n' "$pg_url" | sed "s|^postgresql:///offpass?|postgresql:///$1?|"
}
pg_na()
{
	printf '\n%-22s %-10s  %s\n' "$1" postgresql "n/a: no PostgreSQL server binaries (apt-get install postgresql)"
}

# Settlement into a PostgreSQL ledger (the SQLite figure is above).
if [ -n "$pg_url" ]; then
	mkdir "$tmp/flow-pg"
	url=$(pg_db flow) &&
		BENCH_LEDGER=$url "$flow" --state "$tmp/flow-pg" --module "$OFFPASS_P11_MODULE" --only settle ||
		status=1
else
	pg_na "settlement"
fi

# The same with the database a network hop away: the issuerds reach it
# through delay-relay, which holds every message BENCH_DB_DELAY_US (250)
# each way, a round trip of half a millisecond as between two machines in
# one rack; fewer holders and batches (each costs round trips to set up),
# 32 requests in flight (each waits longer: more are needed to keep two
# processes busy).
# Here the cores are not the limit: what a second process buys is a second
# transaction waiting for its round trips at once.
pg_rtt()
{
	for _ in $(seq 21); do echo 'SELECT 1;'; done |
		psql -X -At -c '\timing on' -f - "$1" 2>/dev/null | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' |
		sort -n | sed -n 11p
}
issuerd_far()
{
	delay=${BENCH_DB_DELAY_US:-250}
	relay=$top_builddir/bench/delay-relay
	[ -x "$relay" ] || { echo "run-bench.sh: $relay not built" >&2; return 1; }
	url=$(pg_db issuerd_far) || return 1
	mkdir "$tmp/relay"
	"$relay" --listen "$tmp/relay/.s.PGSQL.5432" --to "$pg/sock/.s.PGSQL.5432" --delay-us "$delay" >"$tmp/relay.out" &
	relay_pid=$!
	for _ in $(seq 50); do grep -q ready "$tmp/relay.out" 2>/dev/null && break; sleep 0.1; done
	far=$(printf '%s\n' "$url" | sed "s|host=[^&]*|host=$tmp/relay|")
	printf '\ndatabase round trip (psql SELECT 1, median of 21): %s ms through delay-relay, %s ms straight\n' \
		"$(pg_rtt "$far")" "$(pg_rtt "$url")"
	rrc=0
	TMPDIR=$tmp BENCH_ISSUERD_HOLDERS=${BENCH_ISSUERD_FAR_HOLDERS:-1200} BENCH_ISSUERD_BATCHES=${BENCH_ISSUERD_FAR_BATCHES:-16} \
		BENCH_ISSUERD_ENROLLEES=${BENCH_ISSUERD_FAR_ENROLLEES:-600} \
		BENCH_ISSUERD_INFLIGHT=${BENCH_ISSUERD_FAR_INFLIGHT:-32} \
		"$issuerd_bench" "$@" --ledger "$url" --service-ledger "$far" \
		--ledger-label "pg far" || rrc=$?
	kill "$relay_pid" 2>/dev/null || true
	wait "$relay_pid" 2>/dev/null || true
	return $rrc
}

# The issuer online (bench/bench-issuerd.c): refresh and batch uploads
# through offpass-issuerd on loopback, one and two processes, on each ledger.
issuerd_bench=$top_builddir/bench/bench-issuerd
if [ -x "$issuerd_bench" ] && [ -x "$top_builddir/issuer/offpass-issuerd" ]; then
	set -- --module "$OFFPASS_P11_MODULE" --issuerd "$top_builddir/issuer/offpass-issuerd"
	TMPDIR=$tmp "$issuerd_bench" "$@" || status=1
	if [ -n "$pg_url" ]; then
		url=$(pg_db issuerd) && TMPDIR=$tmp "$issuerd_bench" "$@" --ledger "$url" || status=1
		issuerd_far "$@" || status=1
	else
		pg_na "offpass-issuerd"
	fi
else
	echo "run-bench.sh: bench-issuerd or offpass-issuerd not built: no service figures" >&2
fi
exit $status
