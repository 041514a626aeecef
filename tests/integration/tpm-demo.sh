#!/bin/bash
# tpm-demo.sh - the whole offline flow (scripts/demo.sh: issuer, holder,
# gate, settlement) with every token bound to a TPM 2.0 (a swtpm
# simulator), then the holder's token copied to another TPM: the copy
# cannot sign a presentation with the right PIN.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/swtpm-lib.sh
. "$(dirname "$0")/swtpm-lib.sh"
: "${top_builddir:?run through make check}" "${top_srcdir:?run through make check}"
need pkcs11-tool sqlite3

swtpm_start A
swtpm_start B
swtpm_da "$SWTPM_TCTI_A" 1000 1000
export OFFPASS_P11_TPM=on OFFPASS_P11_TCTI=$SWTPM_TCTI_A TSS2_LOG=all+none
demo=$WORK/demo
if ! OFFPASS_BUILD_DIR=$top_builddir OFFPASS_DEMO_SKIP_BUILD=1 OFFPASS_DEMO_DIR=$demo \
	bash "$top_srcdir/scripts/demo.sh" >"$WORK/demo.log" 2>&1; then
	cat "$WORK/demo.log" >&2
	fail "scripts/demo.sh failed with TPM-bound tokens"
fi
grep -q '^demo: done' "$WORK/demo.log" || { cat "$WORK/demo.log" >&2; fail "no closing line"; }
grep -q 'REFUSE replay' "$WORK/demo.log" || { cat "$WORK/demo.log" >&2; fail "the replay was not refused"; }

# Every token of the flow was bound.
for f in "$demo"/alice-tokens/*.token "$demo"/issuer-tokens/*.token; do
	k=$(sqlite3 "$f" "SELECT group_concat(kdf, ' ') FROM wrapped_key")
	[ "$k" = "scrypt+tpm2 scrypt+tpm2" ] || fail "$f: not TPM-bound ($k)"
done

# The holder's token directory on another machine (TPM B): no presentation.
cp -a "$demo/alice-tokens" "$WORK/alice-copy"
run_fails env OFFPASS_P11_DIR="$WORK/alice-copy" OFFPASS_P11_TCTI="$SWTPM_TCTI_B" \
	"$top_builddir/holder/offpass-holder" --module "$MODULE" --token-label alice \
	--pin-file "$demo/alice.pin" --dir "$demo/alice-state" present --amount 250 --png "$WORK/copy.png"
expect_log "bound to another TPM"
[ ! -s "$WORK/copy.png" ] || fail "the copied token made a presentation"
# On its own TPM the same holder still presents.
run env OFFPASS_P11_DIR="$demo/alice-tokens" \
	"$top_builddir/holder/offpass-holder" --module "$MODULE" --token-label alice \
	--pin-file "$demo/alice.pin" --dir "$demo/alice-state" present --amount 250 --png "$WORK/again.png"

pass "the offline flow with TPM-bound tokens; $(grep '^demo: done' "$WORK/demo.log")"
