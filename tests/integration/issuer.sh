#!/bin/bash
# issuer.sh - offpass-issuer end to end on a fresh offpass-p11 token: init,
# accounts, issuance (claim 22: balance + credit line >= threshold),
# gates and settlement (idempotence, double use, gaps, forged and corrupted
# batches), the deny list, rollover, and every refusal with its exit code
# and a message that says why (wrong PIN, missing token, empty account,
# truncated request).
#
# Enrollment requests, presentations and sealed batches come from
# issuer/test-make-request (a software holder and gate on OpenSSL keys and
# the wire format); when offpass-holder is built, a holder with its key on
# a second token enrolls too.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need pkcs11-tool

B=${top_builddir:-.}
ISSUER=$B/issuer/offpass-issuer
MK=$B/issuer/test-make-request
HOLDER=$B/holder/offpass-holder
[ -x "$ISSUER" ] || fail "$ISSUER not built"
[ -x "$MK" ] || fail "$MK not built (make check builds it)"

cd "$WORK"
init_token issuer
echo "$USER_PIN" >pin
echo "$USER_PIN_BAD" >bad-pin
NOW=$(date +%s)
D=$WORK/iss
iss() { "$ISSUER" --dir "$D" --pin-file "$WORK/pin" "$@"; }

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

# flip FILE OFFSET: invert the low bit of one byte in place.
flip()
{
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	{
		head -c "$2" "$1"
		# shellcheck disable=SC2059
		printf "\\$(printf '%03o' $((b ^ 1)))"
		tail -c +"$(($2 + 2))" "$1"
	} >"$1.tmp"
	mv "$1.tmp" "$1"
}

# balance NAME: the account's balance.
balance() { iss account show "$1" | awk '$1 == "balance" { print $2 }'; }

# ---- help ---------------------------------------------------------------------------
run "$ISSUER" --help
expect_log 'settle' "--help lists the commands"
for c in init rollover trust-list deny-list status issue settle; do
	run "$ISSUER" "$c" --help
	expect_log '^Usage: offpass-issuer' "$c --help"
done
for c in "account open" "account code" "account credit" "account show" "gate add" "deny holder" "deny serial"; do
	# shellcheck disable=SC2086
	run "$ISSUER" $c --help
	expect_log '^Usage: offpass-issuer' "$c --help"
done
expect_exit 2 "$ISSUER" frobnicate
expect_log "unknown command 'frobnicate'" "unknown command"
expect_exit 2 "$ISSUER" account show
expect_log "no issuer directory|expected 1 argument" "missing argument"

# ---- init: missing token, bad module, wrong PIN, then for real --------------------------
expect_exit 1 "$ISSUER" --dir "$WORK/x" --pin-file pin init --module "$MODULE" --token-label nope
expect_log "no token for label 'nope'|nope" "missing token named"
[ ! -e "$WORK/x/issuer.conf" ] || fail "a failed init left issuer.conf"
expect_exit 1 "$ISSUER" --dir "$WORK/x" --pin-file pin init --module "$WORK/none.so" --token-label issuer
expect_log "none.so" "missing module named"
expect_exit 1 "$ISSUER" --dir "$WORK/x" --pin-file bad-pin init --module "$MODULE" --token-label issuer
expect_log "PIN_INCORRECT" "wrong PIN at init"
[ ! -e "$WORK/x/ledger.db" ] || fail "a failed init left ledger.db"

printf 'threshold = 500\nper_op_max = 400\noffline_total = 4000\n' >start.conf
run iss init --module "$MODULE" --token-label issuer --config start.conf
for f in issuer.conf ledger.db trust.bin deny.bin; do
	[ -s "$D/$f" ] || fail "init did not write $f"
done
grep -q '^per_op_max = 400' "$D/issuer.conf" || fail "init ignored --config"
expect_exit 3 iss init --module "$MODULE" --token-label issuer
expect_log "issuer directory already" "second init"
run iss status
expect_log 'offpass-issuer-sign-1 .*signing' "status lists the signing key"
expect_log 'offpass-issuer-seal .*sealing' "status lists the sealing key"
expect_log 'trust list +version 1' "trust list version 1"

# ---- accounts ----------------------------------------------------------------------------------
HID=$(iss account open alice --code-file alice.code)
[[ $HID =~ ^[0-9a-f]{16}$ ]] || fail "account open printed '$HID', not a holder id"
grep -Eq '^([A-Z2-7]{4}-){7}[A-Z2-7]{4}$' alice.code || fail "alice.code: $(cat alice.code)"
[ "$(stat -c %a alice.code)" = 600 ] || fail "the code file is readable by others"
sqlite3 "$D/ledger.db" .dump | grep -qi "$(tr -d '-' <alice.code)" && fail "the ledger keeps the code"
expect_exit 3 iss account open alice
expect_log "exists already" "duplicate account"
expect_exit 3 iss account open "bad name"
expect_exit 3 iss account credit nobody 5
expect_log "account 'nobody'" "unknown account named"
expect_exit 2 iss account credit alice 12x
expect_exit 2 iss account credit alice 0
run iss account credit alice 300
run iss account credit-line alice 0
[ "$(balance alice)" = 300 ] || fail "balance after credit: $(balance alice)"
expect_exit 3 iss account credit alice 1000000000000000
expect_log "range" "overflow refused"
[ "$(balance alice)" = 300 ] || fail "a refused credit changed the balance"

# ---- issue ------------------------------------------------------------------------------------------
run "$MK" keygen -o alice.pem
run "$MK" request --key alice.pem --holder-id "$HID" --time "$NOW" --code-file alice.code -o alice.req
expect_exit 3 iss issue alice.req -o alice.cred
expect_log "balance 300 \+ credit line 0 = 300 is below the threshold 500" "refusal says why"
[ ! -e alice.cred ] || fail "a refused issue wrote a credential"
run iss account credit alice 200
# Wrong PIN: nothing issued, nothing written.
expect_exit 1 "$ISSUER" --dir "$D" --pin-file bad-pin issue alice.req -o alice.cred
expect_log "PIN_INCORRECT" "wrong PIN at issue"
[ ! -e alice.cred ] || fail "issue with a wrong PIN wrote a credential"
# An output that cannot be written: nothing issued, the code not spent.
expect_exit 1 iss issue alice.req -o "$WORK/no-such-dir/alice.cred"
expect_log "no-such-dir.*nothing issued" "unwritable output"
iss account history alice | grep -q ' issue ' && fail "an unwritable output changed the ledger"
ls "$WORK"/no-such-dir* >/dev/null 2>&1 && fail "a temporary file was left"
run iss issue alice.req -o alice.cred
expect_log "credential serial 1 for holder $HID" "issue output"
ls alice.cred.tmp.* >/dev/null 2>&1 && fail "issue left its temporary file"
[ "$(stat -c %s alice.cred)" = 137 ] || fail "credential is not 137 bytes"
run iss account history alice
expect_log 'issue .*serial 1' "history records the issue"

# Refusals of bad requests.
head -c 50 alice.req >short.req
expect_exit 3 iss issue short.req -o x.cred
expect_log "enrollment request: .*truncated" "truncated request"
cat alice.req alice.req >long.req
expect_exit 3 iss issue long.req -o x.cred
expect_log "larger than 143 bytes" "oversized request"
# Version 1 (no enrollment code): refused, saying what to do.
{ printf '\x41'; tail -c +2 alice.req | head -c 110; } >v1.req
expect_exit 3 iss issue v1.req -o x.cred
expect_log "version 1 has no enrollment code" "version 1 refused"
cp alice.req flipped.req
flip flipped.req 100
expect_exit 3 iss issue flipped.req -o x.cred
expect_log "proof of possession" "bad signature"
expect_exit 1 iss issue missing.req -o x.cred
expect_log "missing.req" "missing file named"
BOB=$(iss account open bob --code-file bob.code)
run "$MK" keygen -o bob.pem
# A thief who saw bob's holder id (it is in every code bob shows) enrolls
# his own key: without the code, with a guessed one, five times: refused,
# and the code locks.
run "$MK" keygen -o eve.pem
run "$MK" request --key eve.pem --holder-id "$BOB" --time "$NOW" -o eve.req
run iss account credit-line bob 500
expect_exit 3 iss issue eve.req -o x.cred
expect_log "no enrollment code" "a request without a code"
echo "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH" >guess.code
run "$MK" request --key eve.pem --holder-id "$BOB" --time "$NOW" --code-file guess.code -o eve.req
for try in 1 2 3 4 5; do
	expect_exit 3 iss issue eve.req -o x.cred
	expect_log "enrollment code does not match \(try $try of 5\)" "wrong code, try $try"
done
run "$MK" request --key bob.pem --holder-id "$BOB" --time "$NOW" --code-file bob.code -o bob.req
expect_exit 3 iss issue bob.req -o bob.cred
expect_log "locked after 5 tries" "the code locked after 5 wrong tries"
run iss account code bob --code-file bob.code
expect_log "previous one no longer works" "account code"
run iss account credit-line bob 0
run "$MK" request --key bob.pem --holder-id "$BOB" --time "$NOW" --code-file bob.code -o bob.req
expect_exit 3 iss issue bob.req -o bob.cred
expect_log "account 'bob': balance 0 \+ credit line 0" "empty account"
run iss account credit-line bob 500
run iss issue bob.req -o bob.cred
[ ! -e x.cred ] || fail "a refused request wrote a credential"
expect_log "offline total 500" "the grant is cut to what the account can pay"
# The code worked once: eve's key with it now, or bob's request again
# (a refresh of bob's enrolled key) while bob's credential holds it all.
run "$MK" request --key eve.pem --holder-id "$BOB" --time "$NOW" --code-file bob.code -o eve.req
expect_exit 3 iss issue eve.req -o x.cred
expect_log "was used at" "a used code"
expect_exit 3 iss issue bob.req -o x.cred
expect_log "credit line 500 - 500 still open offline on 1 credential = 0 is below the threshold 500" \
	"no second credential while the first may still be spent"

# ---- gates and settlement ------------------------------------------------------------------
G1=a1a1a1a1a1a1a1a1
G2=b2b2b2b2b2b2b2b2
run "$MK" keygen -o g1.pem
run "$MK" keygen -o g2.pem
run "$MK" pubkey --key g1.pem -o g1.pub
run "$MK" pubkey --key g2.pem -o g2.pub
run iss gate add --id "$G1" --key g1.pub
expect_log "gate $G1 registered" "gate add"
run iss gate add --id "$G2" --key g2.pub
expect_exit 3 iss gate add --id "$G1" --key g2.pub
expect_log "replace" "re-keying needs --replace"
head -c 20 g1.pub >short.pub
expect_exit 3 iss gate add --id cccccccccccccccc --key short.pub
expect_log "not a public key" "bad gate key"
expect_exit 2 iss gate add --id xyz --key g1.pub

mkbatch() { run "$MK" batch --trust "$D/trust.bin" --time "$NOW" "$@"; }
mkbatch --gate-key g1.pem --gate-id "$G1" --sequence 1 \
	--record alice.cred:alice.pem:1:150 --record alice.cred:alice.pem:2:150 -o b1
run iss settle b1
expect_log "batch 1: 2 records, 2 charged \(total 300\)" "settle output"
[ "$(balance alice)" = 200 ] || fail "balance after settle: $(balance alice)"
run iss settle b1
expect_log "already settled; nothing debited" "same batch twice"
[ "$(balance alice)" = 200 ] || fail "the same batch debited twice"

# The same authorization (counter 2, the same signed time and amount) at
# another gate: charged once. (Record i of a batch is signed at NOW + i.)
mkbatch --gate-key g2.pem --gate-id "$G2" --sequence 1 \
	--record alice.cred:alice.pem:3:50 --record alice.cred:alice.pem:2:150 -o b2
run iss settle b2
expect_log "double use: .*charged already at gate $G1 batch 1" "double use reported"
[ "$(balance alice)" = 150 ] || fail "double use charged: $(balance alice)"
run iss account show alice
expect_log "flagged +yes \(1 double use\)" "holder flagged"

# Gate 1 skips batch 2: reported, settled anyway.
mkbatch --gate-key g1.pem --gate-id "$G1" --sequence 3 --record alice.cred:alice.pem:4:10 -o b3
run iss settle b3
expect_log "batch 2 is missing" "gap reported"
[ "$(balance alice)" = 140 ] || fail "gap batch not settled"

# A gate forging charges: not charged.
mkbatch --gate-key g2.pem --gate-id "$G2" --sequence 2 --forge --record bob.cred:bob.pem:1:100 -o forged
run iss settle forged
expect_log "not charged: the holder signature does not verify" "forged record"
[ "$(balance bob)" = 0 ] || fail "forged record charged bob"

# Corrupted and truncated batches: refused, nothing changed.
mkbatch --gate-key g1.pem --gate-id "$G1" --sequence 2 --record alice.cred:alice.pem:5:20 -o b2g1
cp b2g1 flipped
flip flipped 150
expect_exit 3 iss settle flipped
expect_log "nothing settled" "corrupted batch"
head -c 100 b2g1 >cut.bin
expect_exit 3 iss settle cut.bin
expect_log "truncated" "truncated batch"
[ "$(balance alice)" = 140 ] || fail "a refused batch changed the balance"
# Several files: the good one settles, the exit says one was refused.
expect_exit 3 iss settle cut.bin b2g1
expect_log "batch 2: 1 records, 1 charged" "good batch among bad"
[ "$(balance alice)" = 120 ] || fail "balance after the late batch: $(balance alice)"
run iss account history alice
expect_log "charge .*gate $G1 batch 1 counter 1" "history records charges"

# ---- deny list ----------------------------------------------------------------------------------
cp "$D/deny.bin" deny-1.bin
run iss deny holder bob
expect_log "deny list version 2" "deny holder"
run iss deny holder "$BOB"
expect_log "already" "deny twice"
run iss deny serial 1
expect_log "version 3" "deny serial"
expect_exit 3 iss deny serial 99
expect_log "never issued" "unknown serial"
run iss deny-list -o deny-3.bin
same_file deny-3.bin "$D/deny.bin" "deny-list -o"
cmp -s deny-1.bin deny-3.bin && fail "deny.bin did not change"
expect_exit 3 iss issue bob.req -o x.cred
expect_log "deny list" "denied holder gets no credential"
expect_exit 3 iss issue alice.req -o x.cred
expect_log "revoked" "revoked key gets no credential"

# ---- rollover ---------------------------------------------------------------------------------------
run iss trust-list -o trust-1.bin
same_file trust-1.bin "$D/trust.bin" "trust-list -o"
run iss rollover
expect_log "offpass-issuer-sign-2" "rollover"
run iss status
expect_log 'offpass-issuer-sign-1 ' "old key kept"
expect_log 'offpass-issuer-sign-2 ' "new key listed"
expect_log 'trust list +version 2' "new trust list version"
cmp -s trust-1.bin "$D/trust.bin" && fail "rollover did not rewrite trust.bin"

# ---- a holder on a second token (offpass-holder) ------------------------------------------------------
if [ -x "$HOLDER" ]; then
	# Its own token directory: pkcs11-tool --init-token takes the first
	# slot, which is the issuer's.
	mkdir -p "$WORK/htokens"
	(export OFFPASS_P11_DIR=$WORK/htokens && init_token holder)
	CAROL=$(iss account open carol --code-file carol.code)
	run iss account credit carol 800
	h() { OFFPASS_P11_DIR=$WORK/htokens "$HOLDER" --module "$MODULE" --token-label holder \
		--pin-file "$WORK/pin" --dir "$WORK/hstate" "$@"; }
	run h keygen
	run h enroll --holder-id "$CAROL" --code-file carol.code -o carol.req
	run iss issue carol.req -o carol.cred
	expect_log "for holder $CAROL" "issue for offpass-holder"
	run h install --trust "$D/trust.bin" carol.cred
	GATE=$B/verifier/gate/offpass-gate
	if [ -x "$GATE" ]; then
		# The whole flow through the real gate: present, check, export, settle.
		G3=c3c3c3c3c3c3c3c3
		g() { "$GATE" --dir "$WORK/gate3" "$@"; }
		run g --id "$G3" --fare 120 init --trust "$D/trust.bin"
		run g pubkey -o gate3.pub
		run iss gate add --id "$G3" --key gate3.pub
		run h present --amount 120 --raw carol.pres
		run g check carol.pres
		expect_log '^OPERATE' "gate operates"
		expect_exit 3 g check carol.pres
		expect_log 'REFUSE replay' "the same code again"
		run g export -o gate3-1.bin
		run iss settle gate3-1.bin
		expect_log "batch 1: 2 records, 1 charged \(total 120\), 1 refusals" "settle the gate's batch"
		[ "$(balance carol)" = 680 ] || fail "carol's balance after the gate: $(balance carol)"
	fi
else
	echo "offpass-holder not built: the token holder part is skipped" >&2
fi

# ---- the same issuer on SoftHSM2, the token chosen by URI -----------------------------------------------
SOFTHSM=${OFFPASS_SOFTHSM2_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
if [ -f "$SOFTHSM" ] && command -v softhsm2-util >/dev/null 2>&1; then
	# Its own token directory, apart from offpass-p11's.
	mkdir -p "$WORK/shsm"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\n' "$WORK/shsm" >"$WORK/shsm.conf"
	export SOFTHSM2_CONF=$WORK/shsm.conf
	run softhsm2-util --init-token --free --label shsm-issuer --so-pin "$SO_PIN" --pin "$USER_PIN"
	S=$WORK/iss-shsm
	si() { "$ISSUER" --dir "$S" --pin-env OFFPASS_TEST_PIN "$@"; }
	export OFFPASS_TEST_PIN=$USER_PIN
	# A PIN inside the URI on the command line is refused, and nothing is made.
	expect_exit 2 si init --module "$SOFTHSM" --uri "pkcs11:token=shsm-issuer?pin-value=$USER_PIN"
	expect_log "init --uri: the URI holds a PIN \\(pin-value=\\).*--pin-file" "URI pin-value refused"
	[ ! -e "$S" ] || fail "init with a pin-value URI made $S"
	run si init --module "$SOFTHSM" --uri "pkcs11:token=shsm-issuer"
	DAN=$(si account open dan --code-file dan.code)
	run si account credit dan 1000
	run "$MK" keygen -o dan.pem
	run "$MK" request --key dan.pem --holder-id "$DAN" --time "$NOW" --code-file dan.code -o dan.req
	run si issue dan.req -o dan.cred
	run si gate add --id "$G1" --key g1.pub
	run "$MK" batch --trust "$S/trust.bin" --time "$NOW" --gate-key g1.pem --gate-id "$G1" \
		--record dan.cred:dan.pem:1:250 -o shsm-b1
	run si settle shsm-b1
	expect_log "1 charged \(total 250\)" "settle with the SoftHSM2 sealing key"
	# A batch for the offpass-p11 issuer cannot be opened here.
	expect_exit 3 si settle b1
	expect_log "not this issuer's sealing key" "batch for another issuer"
else
	echo "SoftHSM2 not installed: its part is skipped" >&2
fi

pass "init, accounts, issue, refusals, settle, double use, gaps, deny, rollover"
