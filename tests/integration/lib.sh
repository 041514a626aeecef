# lib.sh - shared helpers for the integration scripts; sourced, never run.
#
# Each script gets a fresh token directory in a temp dir that is removed on
# exit, a cheap scrypt cost so that logins are fast, and the same PINs.
# Exit codes follow automake: 0 pass, 77 skip, anything else fail.
#
# OFFPASS_P11_MODULE (set by `make check`) is the module under test. The
# scripts only speak PKCS#11, so pointing it at SoftHSM2
# (/usr/lib/softhsm/libsofthsm2.so) runs them against a reference token:
# a SOFTHSM2_CONF into the same temp dir is written for that case. To see
# every PKCS#11 call of a failing test, run it through OpenSC's spy:
#   OFFPASS_P11_MODULE=/usr/lib/x86_64-linux-gnu/pkcs11-spy.so \
#   PKCS11SPY=$PWD/.libs/offpass-p11.so PKCS11SPY_OUTPUT=/tmp/spy.log \
#   OFFPASS_TEST_KEEP=1 top_builddir=$PWD bash tests/integration/NAME.sh
# shellcheck shell=bash

set -eu

TEST_NAME=$(basename "$0" .sh)
# The PINs every script uses (not all of them use every one).
# shellcheck disable=SC2034
SO_PIN=12345678
USER_PIN=123456
# shellcheck disable=SC2034
NEW_PIN=654321
# shellcheck disable=SC2034
SO_PIN_BAD=87654321
# shellcheck disable=SC2034
USER_PIN_BAD=111111

# Print a reason and exit 77 (automake's "skipped"). CI sets
# OFFPASS_TEST_NO_SKIP=1: there every test must run (PostgreSQL, swtpm,
# the card stack are installed by .ci/run), so a skip is a failure.
skip()
{
	if [ "${OFFPASS_TEST_NO_SKIP:-0}" = 1 ]; then
		echo "FAIL: $TEST_NAME: would skip, and CI runs every test: $*" >&2
		exit 1
	fi
	echo "SKIP: $TEST_NAME: $*" >&2
	exit 77
}

# Print a reason and exit 1.
fail()
{
	echo "FAIL: $TEST_NAME: $*" >&2
	exit 1
}

# The summary line a passing script prints last.
pass()
{
	echo "PASS: $TEST_NAME: $*"
}

# need TOOL...: skip unless every tool is on PATH.
need()
{
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || skip "$t not installed"
	done
}

# need_file PATH REASON: skip unless PATH exists.
need_file()
{
	[ -e "$1" ] || skip "$1 missing ($2)"
}

if [ -z "${OFFPASS_P11_MODULE:-}" ] && [ -n "${top_builddir:-}" ]; then
	OFFPASS_P11_MODULE=$top_builddir/.libs/offpass-p11.so
fi
[ -n "${OFFPASS_P11_MODULE:-}" ] || fail "OFFPASS_P11_MODULE is not set (run through make check)"
case $OFFPASS_P11_MODULE in
/*) ;;
*) OFFPASS_P11_MODULE=$PWD/$OFFPASS_P11_MODULE ;;
esac
[ -f "$OFFPASS_P11_MODULE" ] || fail "module $OFFPASS_P11_MODULE not built"
MODULE=$OFFPASS_P11_MODULE
export OFFPASS_P11_MODULE

# The C helper (tests/integration/p11-stress.c), built by make check.
STRESS=${top_builddir:-.}/tests/integration/p11-stress

# need_stress: fail unless the helper is built.
need_stress()
{
	[ -x "$STRESS" ] || fail "$STRESS not built (make check builds it)"
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/offpass-$TEST_NAME.XXXXXX")
# Children (stress programs) are killed by the scripts themselves; this only
# removes the files. OFFPASS_TEST_KEEP=1 keeps them to debug a failure.
if [ "${OFFPASS_TEST_KEEP:-0}" = 1 ]; then
	trap 'echo "kept $WORK" >&2' EXIT
else
	trap 'rm -rf "$WORK"' EXIT
fi
OFFPASS_P11_DIR=$WORK/tokens
mkdir -p "$OFFPASS_P11_DIR"
OFFPASS_P11_SCRYPT_N=1024
SOFTHSM2_CONF=$WORK/softhsm2.conf
printf 'directories.tokendir = %s\nobjectstore.backend = file\n' "$OFFPASS_P11_DIR" >"$SOFTHSM2_CONF"
export OFFPASS_P11_DIR OFFPASS_P11_SCRYPT_N SOFTHSM2_CONF

# run CMD...: run quietly into $WORK/last.log; on failure show the output
# and fail. The output stays in $WORK/last.log for the caller to inspect.
run()
{
	if ! "$@" >"$WORK/last.log" 2>&1; then
		cat "$WORK/last.log" >&2
		fail "command failed: $*"
	fi
}

# run_fails CMD...: the command must fail; its output is in $WORK/last.log.
run_fails()
{
	if "$@" >"$WORK/last.log" 2>&1; then
		cat "$WORK/last.log" >&2
		fail "command succeeded but should have failed: $*"
	fi
}

# expect_log PATTERN WHAT: the last command's output matches the extended
# regular expression PATTERN.
expect_log()
{
	if ! grep -Eq -- "$1" "$WORK/last.log"; then
		cat "$WORK/last.log" >&2
		fail "${2:-output}: no '$1' in the output"
	fi
}

# p11 ARGS...: pkcs11-tool against the module under test.
p11()
{
	pkcs11-tool --module "$MODULE" "$@"
}

# poisoned CMD...: run CMD with glibc filling every freed block (no
# per-thread cache to skip the fill), so that a use after free in the
# program or in the module fails every time instead of now and then.
poisoned()
{
	GLIBC_TUNABLES=glibc.malloc.tcache_count=0 MALLOC_PERTURB_=85 "$@"
}

# pubkey_der URL OUT: the public key object at the PKCS#11 URL (without
# the "pkcs11:", e.g. "token=T;id=%01") as a DER SubjectPublicKeyInfo in
# OUT, read without login by GnuTLS's p11tool. Not `pkcs11-tool
# --read-object --type pubkey`: for EC keys OpenSC 0.23.0 (Debian 12)
# frees the OSSL_PARAM arrays it then hands to EVP_PKEY_fromdata (fixed
# upstream in 0.24.0, commit 63d4bd3d3), so it fails with "cannot create
# EVP_PKEY" whenever the freed block has been reused, which depends on the
# heap layout (about 1 read in 5 in pkcs11-tool.sh), and every time under
# `poisoned`. Its RSA and Ed25519 paths are sound.
pubkey_der()
{
	run poisoned p11tool --provider "$MODULE" --export --outder --outfile "$2" "pkcs11:$1;type=public"
}

# init_token LABEL: initialise the free slot's token with $SO_PIN and set
# the user PIN to $USER_PIN.
init_token()
{
	run p11 --init-token --label "$1" --so-pin "$SO_PIN"
	run p11 --token-label "$1" --login --login-type so --so-pin "$SO_PIN" \
		--init-pin --new-pin "$USER_PIN"
}

# same_file A B WHAT: the two files are byte-identical.
same_file()
{
	cmp -s "$1" "$2" || fail "$3: $1 and $2 differ"
}
