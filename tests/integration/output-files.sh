#!/bin/bash
# output-files.sh - what the CLIs do with the file -o names
# (common/atomic_file.c): a regular file is replaced whole; '-' is
# standard output, carrying the data alone; a character device (/dev/null)
# or a FIFO is written through and stays what it is; a symbolic link,
# dangling or not, is refused with a clear message and nothing changes.
# Run as root (as CI runs it), -o /dev/null once replaced /dev/null itself
# with a regular file. offpass-issuer and offpass-gate here; offpass-holder
# (holder.sh) and offpass-card (card-flow.sh) share the same code.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need pkcs11-tool

B=${top_builddir:-.}
ISSUER=$B/issuer/offpass-issuer
MK=$B/issuer/test-make-request
GATE=$B/verifier/gate/offpass-gate
for t in "$ISSUER" "$MK" "$GATE"; do
	[ -x "$t" ] || fail "$t not built"
done

# expect_exit CODE CMD...: the command exits with CODE; output in last.log.
expect_exit()
{
	local want=$1 got=0
	shift
	"$@" >"$WORK/last.log" 2>&1 || got=$?
	if [ "$got" != "$want" ]; then
		cat "$WORK/last.log" >&2
		fail "exit $got, expected $want: $*"
	fi
}

cd "$WORK"
init_token issuer
echo "$USER_PIN" >pin
iss() { "$ISSUER" --dir "$WORK/iss" --pin-file "$WORK/pin" "$@"; }
run iss init --module "$MODULE" --token-label issuer

# ---- a regular file, and '-' ------------------------------------------------------------
run iss trust-list -o trust.bin
[ -s trust.bin ] || fail "trust-list -o wrote nothing"
iss trust-list -o - >trust-stdout.bin 2>stderr.log || { cat stderr.log >&2; fail "trust-list -o -"; }
same_file trust.bin trust-stdout.bin "trust-list -o - is the list alone"
iss deny-list -o - >deny-stdout.bin 2>stderr.log || { cat stderr.log >&2; fail "deny-list -o -"; }
run iss deny-list -o deny.bin
same_file deny.bin deny-stdout.bin "deny-list -o -"

# ---- /dev/null: written through, still the same device ------------------------------------
# First a private copy of /dev/null (root can make one where the file
# system allows devices): a build that would replace it fails here, before
# the machine's own /dev/null is at stake.
if [ "$(id -u)" = 0 ] && mknod "$WORK/null" c 1 3 2>/dev/null && : >"$WORK/null" 2>/dev/null; then
	run iss trust-list -o "$WORK/null"
	[ -c "$WORK/null" ] || fail "-o DEVICE replaced a character device (a private copy of /dev/null)"
fi
null_id() { stat -c '%F %t:%T %i' /dev/null; }
BEFORE=$(null_id)
run iss trust-list -o /dev/null
[ "$(null_id)" = "$BEFORE" ] || fail "/dev/null is now: $(null_id) (was: $BEFORE)"
[ -c /dev/null ] || fail "/dev/null is no character device any more"
if compgen -G '/dev/null.tmp.*' >/dev/null; then
	fail "a temporary file was left in /dev"
fi
[ "$(id -u)" = 0 ] || echo "note: not root: /dev/null could not have been replaced anyway" >&2

# ---- a FIFO: the reader at the other end gets the bytes -------------------------------------
mkfifo out.fifo
cat out.fifo >from-fifo.bin &
READER=$!
run timeout 20 "$ISSUER" --dir "$WORK/iss" --pin-file "$WORK/pin" trust-list -o out.fifo
wait "$READER" || fail "the FIFO's reader failed"
same_file trust.bin from-fifo.bin "trust-list through a FIFO"
[ -p out.fifo ] || fail "the FIFO was replaced"

# ---- symbolic links: refused, nothing changed -------------------------------------------------
printf 'old\n' >target
ln -s target link
expect_exit 1 iss trust-list -o link
expect_log "link: is a symbolic link: refused" "a symbolic link is refused, saying so"
[ -L link ] || fail "the link was replaced"
[ "$(cat target)" = old ] || fail "the link's target was written"
ln -s "$WORK/nowhere" dangling
expect_exit 1 iss trust-list -o dangling
expect_log "symbolic link" "a dangling link is refused"
[ ! -e "$WORK/nowhere" ] || fail "a file was created through a dangling link"
[ -L dangling ] || fail "the dangling link was replaced"
mkdir adir
expect_exit 1 iss trust-list -o adir
expect_log "is a directory" "a directory is refused"

# ---- issue -o -: the credential alone on standard output --------------------------------------------
HID=$(iss account open alice --code-file alice.code)
run iss account credit alice 1000
run "$MK" keygen -o alice.pem
run "$MK" request --key alice.pem --holder-id "$HID" --time "$(date +%s)" --code-file alice.code -o alice.req
iss issue alice.req -o - >alice.cred 2>stderr.log || { cat stderr.log >&2; fail "issue -o -"; }
[ "$(stat -c %s alice.cred)" = 137 ] || fail "issue -o - wrote $(stat -c %s alice.cred) bytes, not the 137 of a credential"

# ---- the gate: pubkey and export --------------------------------------------------------------------
gt() { "$GATE" --dir "$WORK/gate" "$@"; }
run gt --id 6761746530303031 --fare 250 init --trust trust.bin
run gt pubkey -o gate.pub
gt pubkey -o - >gate-stdout.pub 2>stderr.log || { cat stderr.log >&2; fail "pubkey -o -"; }
same_file gate.pub gate-stdout.pub "pubkey -o -"
run gt pubkey -o /dev/null
[ "$(null_id)" = "$BEFORE" ] || fail "gate pubkey -o /dev/null changed /dev/null"
expect_exit 1 gt pubkey -o link
expect_log "symbolic link" "the gate refuses a symbolic link"
[ "$(cat target)" = old ] || fail "the gate wrote through the link"

pass "regular files replaced, '-' is standard output, /dev/null and FIFOs written through, symbolic links refused"
