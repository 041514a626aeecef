#!/bin/bash
# card-flow.sh - the offline flow with the holder key on a PIV card: the
# virtual card behind a private pcscd (card/vcard/vcard-env.sh), prepared
# by offpass-card (new PIN, PUK and management key; the key generated on
# the card; a certificate the card signs itself), PIN counting, unblock
# with the PUK; then the issuer (offpass-p11 token) opens and credits an
# account, offpass-holder enrolls through OpenSC's opensc-pkcs11.so with
# the card key, the issuer issues, the holder installs (the state-file
# fallback, then the copy offpass-card put-credential keeps on the card)
# and presents a PNG; offpass-gate operates once and refuses the replay;
# the sealed batch settles and the balance drops by the fare. Then slot 9C
# (PIN always: CKA_ALWAYS_AUTHENTICATE, a context-specific login per
# signature) presents twice. Skips (77) only where pcscd cannot run.
#
# OFFPASS_VCARD_PROFILE=standard (card-flow-standard.sh) runs it all on a
# standard PIV card without YubiKey's extensions: init refuses a new
# management key and an unknown current PIN before changing anything, then
# keeps the factory management key when told to.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need pkcs11-tool openssl
OPENSC=${OFFPASS_OPENSC_MODULE:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}
need_file "$OPENSC" "Debian: opensc-pkcs11"

SRC=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
B=${top_builddir:-.}
case $B in /*) ;; *) B=$PWD/$B ;; esac
CARD=$B/card/tool/offpass-card
HOLDER=$B/holder/offpass-holder
ISSUER=$B/issuer/offpass-issuer
GATE=$B/verifier/gate/offpass-gate
export OFFPASS_VCARD=$B/card/vcard/offpass-vcard
for t in "$CARD" "$HOLDER" "$ISSUER" "$GATE" "$OFFPASS_VCARD"; do
	[ -x "$t" ] || fail "$t not built"
done
VDIR=$WORK/vcard
PROFILE=${OFFPASS_VCARD_PROFILE:-yubikey}
std() { [ "$PROFILE" = standard ]; }
venv() { bash "$SRC/card/vcard/vcard-env.sh" "$@"; }

# The card goes down with the test, whatever happens (lib.sh's trap only
# removed the files).
cleanup()
{
	venv stop --dir "$VDIR" >/dev/null 2>&1 || true
	if [ "${OFFPASS_TEST_KEEP:-0}" = 1 ]; then
		echo "kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

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
T_START=$(date +%s%N)
rc=0
venv start --dir "$VDIR" --state "$WORK/card.state" --profile "$PROFILE" >env.sh 2>start.log || rc=$?
if [ $rc = 77 ]; then
	skip "$(sed -n 's/^vcard-env: //p' start.log | tail -n 1)"
fi
[ $rc = 0 ] || { cat start.log >&2; fail "vcard-env.sh start: exit $rc"; }
# shellcheck disable=SC1091
. ./env.sh
card() { "$CARD" --reader "$OFFPASS_VCARD_READER" "$@"; }

printf '24681357\n' >pin
printf '11223344\n' >pin2
printf '000000\n' >bad-pin
printf '87654321\n' >puk
printf '00000000\n' >bad-puk
printf '123456\n' >factory-pin
printf '12345678\n' >factory-puk
if std; then
	# The card cannot change it: the factory key stays (--keep-management-key).
	printf '010203040506070801020304050607080102030405060708\n' >mgm
	printf '0102030405060708010203040506070801020304050607f8\n' >bad-mgm
else
	printf '00112233445566778899aabbccddeeff\n' >mgm
	printf '00112233445566778899aabbccddeefe\n' >bad-mgm
fi

# ---- offpass-card: init -----------------------------------------------------------
run card status
if std; then
	expect_log '^PIN: +3 tries left$' "fresh standard card: the PIN's tries, nothing more"
	expect_log '^commands: +GET VERSION no, GET METADATA no, SET MANAGEMENT KEY no, SET PIN RETRIES no' \
		"status: no YubiKey extensions"
	expect_log '^slot 9A: +key unknown' "fresh standard card: keys unknown"
else
	expect_log '^PIN: +3 tries left of 3; still the factory default' "fresh card: default PIN"
	expect_log '^commands: +GET VERSION yes \(5\.4\.3\), GET METADATA yes, SET MANAGEMENT KEY yes' "status: extensions"
	expect_log '^slot 9A: +empty' "fresh card: no key"
fi
# A file that is not a PIN is refused before the card is touched.
printf '12\n' >short-pin
expect_exit 2 card init --pin-file short-pin --puk-file puk --mgm-key-file mgm
expect_log 'the new PIN must be 6 to 8 characters' "short PIN"
if std; then
	# Refused before any change: no SET MANAGEMENT KEY on this card ...
	expect_exit 3 card init --pin-file pin --puk-file puk --mgm-key-file mgm
	expect_log 'nothing was changed: this card cannot change its management key' "no new management key"
	expect_log 'keep-management-key' "the way on is named"
	# ... and no PIN guessed (the card cannot say it is still 123456).
	expect_exit 3 card init --pin-file pin --puk-file puk --keep-management-key
	expect_log 'never guesses a PIN \(the PIN has 3 tries left\)' "no PIN guessed"
	expect_exit 3 card init --pin-file pin --puk-file puk --keep-management-key --current-pin-file factory-pin
	expect_log 'never guesses a PUK' "no PUK guessed"
	run card status
	expect_log '^PIN: +3 tries left$' "refusals spent no try"
	run card init --dry-run --current-pin-file factory-pin --current-puk-file factory-puk \
		--pin-file pin --puk-file puk --keep-management-key
	expect_log '^plan: change the PUK; change the PIN; generate an EC P-256 key in slot 9A; .*; keep the management key' \
		"dry run: the plan"
	expect_log 'nothing was changed \(--dry-run\)' "dry run"
	run card init --current-pin-file factory-pin --current-puk-file factory-puk --pin-file pin --puk-file puk \
		--keep-management-key --subject 'alice card' --cert-out alice-9a.pem
	expect_log 'warning: the card keeps the factory management key' "the holder is told what keeping it means"
else
	run card init --pin-file pin --puk-file puk --mgm-key-file mgm --subject 'alice card' --cert-out alice-9a.pem
fi
expect_log '^slot 9A: a P-256 key generated on the card' "init: key"
expect_log "pkcs11:token=alice%20card;object=PIV%20AUTH%20key" "init: the PKCS#11 URI"
expect_log "--token-label .alice card. --key-label .PIV AUTH key." "init: the holder options"
PUB=$(sed -n 's/^public key: \(0[23][0-9a-f]\{64\}\)$/\1/p' last.log)
[ -n "$PUB" ] || { cat last.log >&2; fail "init printed no public key"; }
# The certificate: self-signed by the card's key.
run openssl verify -CAfile alice-9a.pem alice-9a.pem
run openssl x509 -in alice-9a.pem -noout -subject
expect_log 'CN ?= ?alice card' "certificate subject"
# A second init would replace the key: refused; and with the old defaults
# the card now says no.
expect_exit 3 card init --current-pin-file pin --current-puk-file puk --current-mgm-key-file mgm
expect_log 'slot 9A holds a key already' "init twice"
expect_exit 3 card init --pin-file pin --puk-file puk --mgm-key-file mgm --slot 9c
if std; then
	expect_log "cannot change its management key" "standard card: still no new management key"
else
	expect_log "management key \(AES-128\) is not the factory default" "defaults are gone"
fi
run card status
expect_log '^PIN: +3 tries left( of 3)?$' "status: PIN changed, no try spent"
if std; then
	expect_log '^mgmt key: +algorithm unknown$' "status: the card does not say"
	expect_log "^slot 9A: +key unknown \(the card has no GET METADATA\); certificate /CN=alice card" "status: 9A"
else
	expect_log '^mgmt key: +AES-128$' "status: new management key"
	expect_log "^slot 9A: +ECCP256 key, generated on the card, PIN once; certificate /CN=alice card" "status: 9A"
fi
expect_log "^credential: not read" "status without PIN"
# Other PC/SC tools see the same card.
if command -v yubico-piv-tool >/dev/null 2>&1; then
	run yubico-piv-tool -r "$OFFPASS_VCARD_READER" -a status
	expect_log 'Subject DN:.*alice card' "yubico-piv-tool sees the certificate"
fi

# ---- PIN counting, unblock, reset refused ----------------------------------------------
expect_exit 1 card verify-pin --pin-file bad-pin
expect_log 'VERIFY: 63C2 \(2 tries left\)' "wrong PIN counted"
run card status
expect_log '^PIN: +2 tries left' "status after a wrong PIN"
expect_exit 1 card change-pin --pin-file bad-pin --new-pin-file pin2
expect_log 'CHANGE REFERENCE DATA \(PIN\): 63C1 \(1 try left\)' "change-pin with a wrong PIN"
expect_exit 1 card verify-pin --pin-file bad-pin
expect_log '63C0' "last try"
expect_exit 1 card verify-pin --pin-file pin
expect_log 'VERIFY: 6983 \(blocked\)' "blocked: the right PIN too"
run card status
expect_log '^PIN: +BLOCKED' "status: blocked"
if std; then
	expect_exit 1 card reset
	expect_log 'this card has no RESET' "a standard card cannot be reset"
else
	expect_exit 3 card reset
	expect_log 'reset refused: the PUK is not blocked \(3 tries left\)' "reset needs PIN and PUK blocked"
fi
expect_exit 1 card unblock --puk-file bad-puk --new-pin-file pin
expect_log 'RESET RETRY COUNTER: 63C2 \(2 tries left\)' "wrong PUK counted"
run card unblock --puk-file puk --new-pin-file pin2
run card change-pin --pin-file pin2 --new-pin-file pin
run card verify-pin --pin-file pin
run card change-puk --puk-file puk --new-puk-file puk
run card status
expect_log '^PIN: +3 tries left( of 3)?$' "PIN back"
if std; then
	expect_log '^PUK: +tries left unknown' "the PUK's tries: no status query"
else
	expect_log '^PUK: +3 tries left of 3' "PUK back"
fi

# ---- the issuer ------------------------------------------------------------------------------
init_token issuer
printf '%s\n' "$USER_PIN" >issuer.pin
iss() { "$ISSUER" --dir "$WORK/iss" --pin-file "$WORK/issuer.pin" "$@"; }
balance() { iss account show "$1" | awk '$1 == "balance" { print $2 }'; }
printf 'threshold = 500\nper_op_max = 1000\noffline_total = 5000\n' >policy.conf
run iss init --module "$MODULE" --token-label issuer --config policy.conf
HID=$(iss account open alice --code-file alice.code)
run iss account credit alice 2000

# ---- the holder through OpenSC --------------------------------------------------------------------
# 9A by token label and key label (OpenSC's), 9C below by URI.
KEY9A=(--token-label 'alice card' --key-label 'PIV AUTH key')
hold() { "$HOLDER" --module "$OPENSC" --pin-file "$WORK/pin" --dir "$WORK/holder" "$@"; }
run hold "${KEY9A[@]}" status
expect_log "^token: +alice card" "holder: the OpenSC token"
expect_log "^key: +P-256 $PUB \(id 01\)" "holder: the card key"
expect_log "credential: none installed" "holder: no credential yet"
run hold "${KEY9A[@]}" enroll --holder-id "$HID" --code-file alice.code -o alice.req
run iss issue alice.req -o alice.cred
expect_log "credential serial 1 for holder $HID" "issued"
# OpenSC cannot create data objects on a PIV card: the state file.
run hold "${KEY9A[@]}" install --trust "$WORK/iss/trust.bin" alice.cred
expect_log "cannot keep data objects" "install says where"
CRED_FILE=$(sed -n 's/^installed credential serial 1 in \(.*\) instead .*/\1/p' last.log)
[ -f "$CRED_FILE" ] || fail "install named no state file ('$CRED_FILE')"
[ "$(stat -c %a "$CRED_FILE")" = 600 ] || fail "the state file is not 0600"
cmp -s "$CRED_FILE" alice.cred || fail "the state file is not the credential"
run hold "${KEY9A[@]}" status
expect_log "serial 1, holder $HID" "status: the installed credential"
expect_log "^stored: +$CRED_FILE" "status: stored in the state file"

# The card carries key and credential together.
head -c 100 alice.cred >short.cred
expect_exit 3 card put-credential short.cred --pin-file pin --mgm-key-file mgm
expect_log "not a valid credential" "truncated credential refused"
expect_exit 1 card put-credential alice.cred --pin-file pin --mgm-key-file bad-mgm
expect_log "6982 \(security status not satisfied\): wrong management key" "wrong management key"
run card put-credential alice.cred --pin-file pin --mgm-key-file mgm
expect_log 'for the key in slot 9A' "put-credential"
run card status --pin-file pin
expect_log "^credential: serial 1, holder $HID, valid" "status shows the credential"
run card get-credential --pin-file pin -o back.cred
cmp -s back.cred alice.cred || fail "get-credential is not the credential put"
"$CARD" --reader "$OFFPASS_VCARD_READER" get-credential --pin-file pin -o - >stdout.cred 2>stderr.log ||
	{ cat stderr.log >&2; fail "get-credential -o -"; }
cmp -s stdout.cred alice.cred || fail "get-credential -o - is not the credential alone"
# Installing it again finds it on the card: the state file goes.
run hold "${KEY9A[@]}" install --trust "$WORK/iss/trust.bin" alice.cred
expect_log "is on the card of token 'alice card' already" "install finds the card's copy"
[ ! -e "$CRED_FILE" ] || fail "the state file is still there"
run hold "${KEY9A[@]}" status
expect_log "^stored: +on the card" "status: on the card"

# ---- the gate ----------------------------------------------------------------------------------
GID=6761746530303031
gt() { "$GATE" --dir "$WORK/gate" "$@"; }
run gt --id "$GID" --fare 250 init --trust "$WORK/iss/trust.bin"
run hold "${KEY9A[@]}" present --amount 250 --png p1.png
# No counter object on a PIV card either: the counter is derived, of this
# state directory's class (docs/TOKEN.md, "The holder's counter").
CTR=$(sed -n 's/^presentation: .* counter \([0-9]*\),.*/\1/p' "$WORK/last.log")
CLASS=$(sed -n 's/^offpass-holder-place v1 \([0-9]*\)$/\1/p' "$WORK/holder/place" 2>/dev/null || true)
[ -n "$CTR" ] && [ -n "$CLASS" ] && [ $((CTR % 64)) = "$CLASS" ] ||
	fail "PIV counter '$CTR' is not of the place's class '$CLASS' (derived counter)"
run gt check p1.png
expect_log "^OPERATE holder=$HID serial=1 " "the gate opens"
expect_exit 3 gt check p1.png
expect_log "^REFUSE replay" "the same code again"
# A wrong PIN gets no presentation (OpenSC's C_Login) and costs a try.
expect_exit 1 "$HOLDER" --module "$OPENSC" --pin-file "$WORK/bad-pin" --dir "$WORK/holder" --key-id 01 \
	present --amount 250 --png bad.png
expect_log "PIN_INCORRECT" "wrong PIN through OpenSC"
[ ! -e bad.png ] || fail "a wrong PIN wrote a presentation"
run card verify-pin --pin-file pin

run gt pubkey -o gate.pub
run iss gate add --id "$GID" --key gate.pub
run gt export -o batch-1.bin
run iss settle batch-1.bin
[ "$(balance alice)" = 1750 ] || fail "balance after settlement: $(balance alice), not 1750"

# ---- slot 9C: PIN always (CKA_ALWAYS_AUTHENTICATE) ------------------------------------------------
run card init --slot 9c --current-pin-file pin --current-puk-file puk --current-mgm-key-file mgm \
	--subject 'alice sign'
expect_log '^slot 9C: a P-256 key' "init 9C"
PUB9C=$(sed -n 's/^public key: \(0[23][0-9a-f]\{64\}\)$/\1/p' last.log)
run card status
if std; then
	expect_log "^slot 9C: +key unknown \(the card has no GET METADATA\); certificate /CN=alice sign" "status: 9C"
else
	expect_log "^slot 9C: +ECCP256 key, generated on the card, PIN always" "status: 9C PIN always"
fi
run pkcs11-tool --module "$OPENSC" --login --pin "$(cat pin)" -O
expect_log 'label: +SIGN key' "OpenSC shows the 9C key"
expect_log 'Access: +always authenticate' "9C is CKA_ALWAYS_AUTHENTICATE"
URI9C='pkcs11:token=alice%20card;object=SIGN%20key'
HID2=$(iss account open alice-sign --code-file sign.code)
run iss account credit alice-sign 1000
run hold --uri "$URI9C" status
expect_log "^key: +P-256 $PUB9C \(id 02\)" "holder: the 9C key"
# The card's credential is for 9A: not this key's.
expect_log "credential: serial 1 is for another key" "the 9A credential is not 9C's"
run hold --uri "$URI9C" enroll --holder-id "$HID2" --code-file sign.code -o sign.req
run iss issue sign.req -o sign.cred
run hold --uri "$URI9C" install --trust "$WORK/iss/trust.bin" sign.cred
expect_log "cannot keep data objects" "9C: the state file"
for i in 1 2; do
	run hold --uri "$URI9C" present --amount 250 --png "s$i.png"
	run gt check "s$i.png"
	expect_log "^OPERATE holder=$HID2 serial=2 " "9C presentation $i opens the gate"
done
run card status
expect_log '^PIN: +3 tries left( of 3)?$' "no PIN try lost on the way"

# ---- stop ------------------------------------------------------------------------------------------
venv stop --dir "$VDIR" 2>stop.log || { cat stop.log >&2; fail "vcard-env.sh stop"; }
for f in pcscd.pid vcard.pid; do
	[ ! -e "$VDIR/$f" ] || fail "stop left $f"
done
MS=$((($(date +%s%N) - T_START) / 1000000))
pass "PIV card flow ($PROFILE profile): init, PIN/PUK, issue, install (file and card object), gate OPERATE then replay REFUSE, settle 2000 -> 1750, 9C twice; ${MS} ms"
