#!/bin/bash
# card-piv.sh - the offpass PIV applet as a virtual card behind a private
# pcscd (card/vcard/vcard-env.sh), driven by the tools a real card meets:
# yubico-piv-tool (status, generate, wrong management key, verify-pin with
# the counter going down and back, change-pin, blocking and unblock-pin,
# import-certificate, test-signature), OpenSC's opensc-tool and
# pkcs11-tool through opensc-pkcs11.so (-L, -O, --login --sign -m ECDSA on
# the PIN-always key 9C, the signature checked with plain openssl), a
# self-signed certificate whose signature the card made, and the card's
# state surviving a restart of pcscd and the card. Skips (77) only where
# a private pcscd cannot run. OFFPASS_VCARD_PROFILE=standard
# (card-piv-standard.sh): the same on a card without YubiKey's extensions,
# which yubico-piv-tool then finds without a version or serial.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# Not lib.sh: that one is about the PKCS#11 module under test; this test
# only needs the virtual card, so it keeps its few helpers here.
TEST_NAME=card-piv
USER_PIN=123456
NEW_PIN=654321
skip() { echo "SKIP: $TEST_NAME: $*" >&2; exit 77; }
fail() { echo "FAIL: $TEST_NAME: $*" >&2; exit 1; }
pass() { echo "PASS: $TEST_NAME: $*"; }
need()
{
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || skip "$t not installed"
	done
}
need_file() { [ -e "$1" ] || skip "$1 missing ($2)"; }
# run CMD...: must succeed; output in $WORK/last.log (shown on failure).
run()
{
	if ! "$@" >"$WORK/last.log" 2>&1; then
		cat "$WORK/last.log" >&2
		fail "command failed: $*"
	fi
}
run_fails()
{
	if "$@" >"$WORK/last.log" 2>&1; then
		cat "$WORK/last.log" >&2
		fail "command succeeded but should have failed: $*"
	fi
}
# expect_log ERE WHAT: the last command's output matches.
expect_log()
{
	if ! grep -Eq -- "$1" "$WORK/last.log"; then
		cat "$WORK/last.log" >&2
		fail "${2:-output}: no '$1' in the output"
	fi
}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/offpass-$TEST_NAME.XXXXXX")
need yubico-piv-tool pkcs11-tool opensc-tool openssl
OPENSC=${OFFPASS_OPENSC_MODULE:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}
need_file "$OPENSC" "Debian: opensc-pkcs11"

SRC=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
VENV_SCRIPT=$SRC/card/vcard/vcard-env.sh
venv() { bash "$VENV_SCRIPT" "$@"; }
export top_builddir=${top_builddir:-$PWD}
case $top_builddir in /*) ;; *) top_builddir=$PWD/$top_builddir ;; esac
[ -x "$top_builddir/card/vcard/offpass-vcard" ] || fail "offpass-vcard not built"
VDIR=$WORK/vcard
PROFILE=${OFFPASS_VCARD_PROFILE:-yubikey}
export USER_PIN # pkcs11-tool reads it with --pin env:USER_PIN
STATE=$WORK/card.state
cd "$WORK"

# The virtual card goes down with the test, whatever happens.
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

start_card()
{
	local rc=0
	venv start --dir "$VDIR" --state "$STATE" --profile "$PROFILE" >"$WORK/env.sh" 2>"$WORK/start.log" || rc=$?
	if [ $rc = 77 ]; then
		skip "$(sed -n 's/^vcard-env: //p' "$WORK/start.log" | tail -n 1)"
	fi
	[ $rc = 0 ] || { cat "$WORK/start.log" >&2; fail "vcard-env.sh start: exit $rc"; }
	# shellcheck disable=SC1091
	. "$WORK/env.sh"
}

start_card
[ "$OFFPASS_VCARD_READER" = "Virtual PCD 00 00" ] || fail "reader is '$OFFPASS_VCARD_READER'"
R=$OFFPASS_VCARD_READER
piv() { yubico-piv-tool -r "$R" "$@"; }
p11card() { pkcs11-tool --module "$OPENSC" "$@"; }

# --- OpenSC recognises a PIV card with EC (the ATR is not one it maps to
# a card type with EC disabled).
run opensc-tool -r 0 -a -n
expect_log '^3b:8b:80:01:80:f9:a0:00:00:03:08:00:00:10:00:c8$' "ATR"
expect_log 'Personal Identity Verification Card' "card driver"

# --- yubico-piv-tool on a fresh card.
run piv -a status
if [ "$PROFILE" = standard ]; then
	expect_log $'^Version:\tNo data available' "status: no version (no GET VERSION)"
	expect_log $'^Serial Number:\tNo data available' "status: no serial (no GET SERIAL)"
else
	expect_log $'^Version:\t5\\.4\\.3' "status: version"
	expect_log $'^Serial Number:\t[0-9]+' "status: serial"
fi
expect_log $'^CHUID:\t3019d4e739da' "status: CHUID with a FASC-N"
expect_log $'^CCC:\tf015a000000116' "status: CCC"
expect_log $'^PIN tries left:\t3' "status: PIN tries"

# A wrong management key is refused and generates nothing (the last byte
# differs in a key bit: DES ignores the low, parity bit of each byte).
run_fails piv --key=01020304050607080102030405060708010203040506070a -a generate -s 9c -A ECCP256
expect_log 'Failed authentication with the application' "wrong management key"
run piv -a generate -s 9c -A ECCP256 -o pub.pem
expect_log 'Successfully generated a new private key' "generate"
run openssl pkey -pubin -in pub.pem -noout -text
expect_log 'NIST CURVE: P-256' "generated key is P-256"

# --- PIN: wrong tries count down, a right one restores the counter.
run_fails piv -a verify-pin -P 000000
run piv -a status
expect_log $'^PIN tries left:\t2' "one wrong PIN"
run piv -a verify-pin -P "$USER_PIN"
expect_log 'Successfully verified PIN' "verify-pin"
run piv -a status
expect_log $'^PIN tries left:\t3' "counter restored"

run piv -a change-pin -P "$USER_PIN" -N "$NEW_PIN"
expect_log 'Successfully changed the pin code' "change-pin"
run_fails piv -a verify-pin -P "$USER_PIN"
run piv -a verify-pin -P "$NEW_PIN"

# Block the PIN, then unblock it with the (default) PUK.
for _ in 1 2 3; do
	run_fails piv -a verify-pin -P 000000
done
run piv -a status
expect_log $'^PIN tries left:\t0' "PIN blocked"
run_fails piv -a verify-pin -P "$NEW_PIN"
run piv -a unblock-pin -P 12345678 -N "$USER_PIN"
expect_log 'Successfully unblocked the pin code' "unblock-pin"
run piv -a verify-pin -P "$USER_PIN"

# --- A certificate for 9C. OpenSC shows a PIV key only once its slot has
# a certificate, so a placeholder (issued by a throwaway key for the card's
# public key) goes in first.
run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out boot.key
run openssl x509 -new -subj '/CN=offpass bootstrap/' -key boot.key -force_pubkey pub.pem \
	-days 1 -sha256 -out boot.pem
run piv -a import-certificate -s 9c -i boot.pem
expect_log 'Successfully imported a new certificate' "import placeholder"
run piv -a verify-pin -P "$USER_PIN" -a test-signature -s 9c -i boot.pem
expect_log 'Successful ECDSA verification' "test-signature"

# The self-signed certificate, signed by the card. yubico-piv-tool 2.2
# cannot sign certificates with OpenSSL 3 (Yubico/yubico-piv-tool#388,
# real YubiKeys alike): where it fails that way, the card signs the
# to-be-signed part through OpenSC and openssl assembles the certificate.
# hex2bin HEX: the bytes (printf %b understands \xHH).
hex2bin()
{
	local h=$1 out=
	while [ -n "$h" ]; do
		out+="\\x${h:0:2}"
		h=${h:2}
	done
	printf '%b' "$out"
}
der_len() # DER length octets for N
{
	if [ "$1" -lt 128 ]; then printf '%02x' "$1"
	elif [ "$1" -lt 256 ]; then printf '81%02x' "$1"
	else printf '82%04x' "$1"; fi
}
selfsign_through_opensc()
{
	local hl len
	run openssl x509 -new -subj '/CN=offpass card test/' -key boot.key -force_pubkey pub.pem \
		-days 30 -sha256 -outform DER -out tmpl.der
	# The TBSCertificate: the first element inside the outer SEQUENCE.
	hl='' len=''
	read -r hl len < <(openssl asn1parse -inform DER -in tmpl.der |
		sed -n '2s/^ *4:d=1 *hl= *\([0-9]*\) *l= *\([0-9]*\) *cons: SEQUENCE.*/\1 \2/p') || true
	if [ -z "$hl" ] || [ -z "$len" ]; then
		fail "cannot find the TBSCertificate"
	fi
	tail -c +5 tmpl.der | head -c $((hl + len)) >tbs.der
	run openssl dgst -sha256 -binary -out tbs.hash tbs.der
	run p11card --login --pin env:USER_PIN --sign -m ECDSA --id 02 \
		--signature-format openssl -i tbs.hash -o tbs.sig
	# ecdsa-with-SHA256, then the signature as a BIT STRING.
	local alg=300a06082a8648ce3d040302 sig bits body
	sig=$(od -An -v -tx1 tbs.sig | tr -d ' \n')
	bits="03$(der_len $((${#sig} / 2 + 1)))00$sig"
	body="$(od -An -v -tx1 tbs.der | tr -d ' \n')$alg$bits"
	hex2bin "30$(der_len $((${#body} / 2)))$body" >self.der
	run openssl x509 -inform DER -in self.der -out self.pem
}
if piv -a verify-pin -P "$USER_PIN" -a selfsign-certificate -s 9c \
	-S '/CN=offpass card test/' -i pub.pem -o self.pem >"$WORK/last.log" 2>&1; then
	selfsign_by=yubico-piv-tool
else
	expect_log 'Failed signing certificate' "selfsign-certificate"
	selfsign_through_opensc
	selfsign_by=opensc
fi
run openssl verify -CAfile self.pem self.pem
run openssl x509 -in self.pem -noout -subject -pubkey
expect_log 'CN ?= ?offpass card test' "self-signed subject"
openssl x509 -in self.pem -pubkey -noout | cmp -s - pub.pem || fail "self-signed certificate is for another key"
run piv -a import-certificate -s 9c -i self.pem
run piv -a status
expect_log $'^Slot 9c:' "status lists slot 9c"
expect_log 'Subject DN:.*offpass card test' "status shows the certificate"
expect_log $'^\tAlgorithm:\tECCP256' "status: ECCP256"

# --- OpenSC's PKCS#11 module.
run p11card -L
expect_log 'Slot 0 .*Virtual PCD 00 00' "pkcs11-tool -L: the reader"
# OpenSC names a PIV token after its certificate's common name.
expect_log 'token label +: offpass card test' "pkcs11-tool -L: the token"
expect_log 'token manufacturer +: piv_II' "pkcs11-tool -L: a PIV token"
run p11card -O
expect_log 'Certificate Object; type = X.509 cert' "-O: certificate"
expect_log 'subject: +DN: CN ?= ?offpass card test' "-O: the new certificate"
expect_log 'Public Key Object; EC +EC_POINT 256 bits' "-O: EC public key"
run p11card -O --login --pin env:USER_PIN
expect_log 'Private Key Object; EC' "-O --login: the private key"
expect_log 'Access: +always authenticate' "9C is PIN-always"

# Sign a SHA-256 digest with 9C (pkcs11-tool logs in again for the
# PIN-always key) and check it with plain openssl, against the key from
# generate and the one in the certificate.
printf 'offpass card test %s\n' "$(date +%s)" >msg
run openssl dgst -sha256 -binary -out msg.hash msg
run p11card --login --pin env:USER_PIN --sign -m ECDSA --id 02 \
	--signature-format openssl -i msg.hash -o msg.sig
run openssl pkeyutl -verify -pubin -inkey pub.pem -in msg.hash -sigfile msg.sig
expect_log 'Signature Verified Successfully' "ECDSA signature"
run openssl dgst -sha256 -verify pub.pem -signature msg.sig msg
printf 'X' >>msg
run_fails openssl dgst -sha256 -verify pub.pem -signature msg.sig msg
# A wrong PIN gets no signature and costs a try.
run_fails p11card --login --pin 000000 --sign -m ECDSA --id 02 -i msg.hash -o bad.sig
run piv -a status
expect_log $'^PIN tries left:\t2' "wrong PKCS#11 PIN counted"

# --- The card keeps its state across a restart of pcscd and the card.
venv stop --dir "$VDIR" 2>"$WORK/stop.log" || { cat "$WORK/stop.log" >&2; fail "stop"; }
for f in pcscd.pid vcard.pid; do
	[ ! -e "$VDIR/$f" ] || fail "stop left $f"
done
if venv status --dir "$VDIR" >/dev/null 2>&1; then
	fail "status says the card still runs after stop"
fi
[ -f "$STATE" ] || fail "the state file is gone"
start_card
run piv -a status
expect_log 'Subject DN:.*offpass card test' "certificate after restart"
expect_log $'^PIN tries left:\t2' "PIN counter after restart"
run p11card --login --pin env:USER_PIN --sign -m ECDSA --id 02 \
	--signature-format openssl -i msg.hash -o msg2.sig
run openssl pkeyutl -verify -pubin -inkey pub.pem -in msg.hash -sigfile msg2.sig
venv stop --dir "$VDIR" 2>/dev/null || fail "second stop"

pass "yubico-piv-tool and OpenSC on the virtual card, $PROFILE profile (self-signed by $selfsign_by)"
