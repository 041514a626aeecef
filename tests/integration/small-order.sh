#!/bin/bash
# small-order.sh - Ed25519 keys and signatures of small order (issue 7
# item 4), end to end with the real programs and the vectors of
# tests/vectors (FORMAT.md 3.2): the identity as the holder key and the
# "signature" R = identity, S = 0 verify in OpenSSL for every message.
# - offpass-issuer refuses the enrollment request that carries it;
# - offpass-gate refuses the presentations (the identity, its y = p + 1
#   spelling, points of order 2, 4, 8; R of order 8 or not canonical),
#   while a valid presentation on the same gate operates;
# - offpass-gate refuses a trust list whose Ed25519 key is the identity.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

B=${top_builddir:-.}
ISSUER=$B/issuer/offpass-issuer
GATE=$B/verifier/gate/offpass-gate
VEC=${top_srcdir:-$(dirname "$0")/../..}/tests/vectors
[ -x "$ISSUER" ] || fail "$ISSUER not built"
[ -x "$GATE" ] || fail "$GATE not built"
[ -f "$VEC/bad-ed25519-key-identity.hex" ] || fail "no vectors in $VEC"
cd "$WORK"

# bin NAME: the vector NAME (hex text) as bytes, in NAME.bin.
bin() { printf '%b' "$(tr -d ' \n' <"$VEC/$1.hex" | sed 's/../\\x&/g')" >"$1.bin"; }

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

# ---- the issuer ------------------------------------------------------------------
init_token issuer
echo "$USER_PIN" >pin
iss() { "$ISSUER" --dir "$WORK/iss" --pin-file "$WORK/pin" "$@"; }
run iss init --module "$MODULE" --token-label issuer
run iss account open smallorder
bin bad-ed25519-enrollment-identity
expect_exit 3 iss issue bad-ed25519-enrollment-identity.bin -o cred.bin
expect_log "holder_key is not a valid public key" "issuer: identity key"
[ ! -e cred.bin ] || fail "the issuer wrote a credential for the identity key"

# ---- the gate: the vectors' trust list (issuer-p256, issuer-ed25519) ---------------
AUTH_TIME=1767229200 # the vectors' authorization time
gate() { "$GATE" --dir "$WORK/gate" --now $((AUTH_TIME + 2)) "$@"; }
bin trust-list
run gate init --trust trust-list.bin --id 4741544530303031 --fare 250
bin presentation-p256
run gate check presentation-p256.bin
expect_log "^OPERATE " "gate: the valid presentation (control)"
for v in bad-ed25519-key-identity bad-ed25519-key-identity-plus-p bad-ed25519-key-order2-sign-bit \
	bad-ed25519-key-order4 bad-ed25519-key-order8; do
	bin "$v"
	expect_exit 3 gate check "$v.bin"
	expect_log "^REFUSE bad_holder_signature .*\\(credential\\.holder_key: not a valid public key\\)" "gate: $v"
	grep -q "^OPERATE" "$WORK/last.log" && fail "gate operated $v"
done
# R of small order / not canonical under a good key (fare 180: the
# Ed25519 presentation's amount; a second gate).
gate2() { "$GATE" --dir "$WORK/gate2" --now $((AUTH_TIME + 2)) "$@"; }
run gate2 init --trust trust-list.bin --id 4741544530303032 --fare 180
for v in bad-ed25519-signature-r-order8 bad-ed25519-signature-r-plus-p; do
	bin "$v"
	expect_exit 3 gate2 check "$v.bin"
	expect_log "^REFUSE bad_holder_signature .*holder_signature: does not verify" "gate: $v"
	grep -q "^OPERATE" "$WORK/last.log" && fail "gate operated $v"
done
bin presentation-ed25519
run gate2 check presentation-ed25519.bin
expect_log "^OPERATE " "gate: the valid Ed25519 presentation (control)"

# A newer trust list, validly signed, whose Ed25519 key is the identity.
bin bad-ed25519-trust-identity
expect_exit 3 gate update bad-ed25519-trust-identity.bin
expect_log "not a valid public key" "gate: trust list with the identity key"
run gate status
expect_log "^trust list: +version 3$" "gate: the old trust list stays"

pass "issuer and gate refuse Ed25519 keys and R of small order (identity, p + 1, orders 2, 4, 8)"
