#!/bin/sh
# run-bench.sh - `make bench`: offpass-p11.so, SoftHSM2 and raw OpenSSL side
# by side (bench/bench-p11.c says what is measured and how).
#
# Each module gets a fresh token in a temp directory, removed afterwards.
# Environment: top_builddir and OFFPASS_P11_MODULE (set by `make bench`);
# SOFTHSM2_MODULE (default /usr/lib/softhsm/libsofthsm2.so; a missing
# module leaves its column n/a); BENCH_SECONDS, BENCH_WARMUP, BENCH_OBJECTS,
# BENCH_LOOKUPS (see bench-p11.c). Exits 0 unless something failed: a
# missed target is reported, not an error.
set -eu

: "${top_builddir:=.}"
: "${OFFPASS_P11_MODULE:=$top_builddir/.libs/offpass-p11.so}"
: "${SOFTHSM2_MODULE:=/usr/lib/softhsm/libsofthsm2.so}"
bench=$top_builddir/bench/bench-p11

if [ ! -x "$bench" ]; then
	echo "run-bench.sh: $bench is not built (run \`make bench\`)" >&2
	exit 1
fi
if [ ! -f "$OFFPASS_P11_MODULE" ]; then
	echo "run-bench.sh: no offpass module at $OFFPASS_P11_MODULE" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/offpass-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
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
"$bench" "$@"
