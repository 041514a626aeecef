#!/usr/bin/env bash
# The main job: build offpass and run the patent's flow end to end on one
# machine, with the embedded defaults (offpass-p11 soft tokens, SQLite).
#
#   issuer  - keys in its own token; an account with a balance
#   holder  - a key generated inside the holder's token; enrolls, gets a
#             credential, shows a QR code (PNG)
#   gate    - offline: reads the image, checks it, opens; refuses the same
#             code again; seals its journal
#   issuer  - settles the sealed batch: the balance drops by the fare
#   online  - the same through offpass-issuerd on loopback: Bob enrolls
#             with his code (OpenID4VCI), refreshes, rides offline, and
#             the gate syncs its batch; settled once
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${OFFPASS_BUILD_DIR:-$top/build}
# make check runs the demo on the tree it has just built.
[ -n "${OFFPASS_DEMO_SKIP_BUILD:-}" ] || "$top/scripts/build.sh"
module=$build/.libs/offpass-p11.so
issuer=$build/issuer/offpass-issuer
holder=$build/holder/offpass-holder
gate=$build/verifier/gate/offpass-gate
issuerd=$build/issuer/offpass-issuerd
work=${OFFPASS_DEMO_DIR:-$(mktemp -d)}
issuerd_pid=
cleanup() {
	[ -z "$issuerd_pid" ] || { kill "$issuerd_pid" 2>/dev/null; wait "$issuerd_pid" 2>/dev/null || true; }
	[ -n "${OFFPASS_DEMO_DIR:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work"
cd "$work"

step=0
say() { step=$((step + 1)); printf '\n== %d. %s\n' "$step" "$*"; }
show() { sed 's/^/   /'; }
printf '%s\n' 87654321 >so.pin
printf '%s\n' 123456 >issuer.pin
printf '%s\n' 246813 >alice.pin

# A fresh soft token in its own directory (the issuer's server and the
# holder's phone are different machines; here they are two directories).
# The PINs reach pkcs11-tool through the environment (env:VAR), never the
# command line, which every user of the machine can read.
new_token() { # dir label pin-file
	mkdir -p "$1"
	SO_PIN=$(cat so.pin) OFFPASS_P11_DIR=$1 pkcs11-tool --module "$module" --init-token --slot-index 0 \
		--label "$2" --so-pin env:SO_PIN >/dev/null 2>&1
	SO_PIN=$(cat so.pin) NEW_PIN=$(cat "$3") OFFPASS_P11_DIR=$1 pkcs11-tool --module "$module" \
		--token-label "$2" --login --login-type so --so-pin env:SO_PIN --init-pin --new-pin env:NEW_PIN \
		>/dev/null 2>&1
}
iss() { OFFPASS_P11_DIR=$work/issuer-tokens "$issuer" --dir "$work/issuer" --pin-file issuer.pin "$@"; }
hold() { OFFPASS_P11_DIR=$work/alice-tokens "$holder" --module "$module" --token-label alice \
	--pin-file alice.pin --dir "$work/alice-state" "$@"; }
gt() { "$gate" --dir "$work/gate" "$@"; }

say "The issuer creates its signing and sealing keys inside its PKCS#11 token"
new_token issuer-tokens issuer issuer.pin
printf 'threshold = 500\nper_op_max = 1000\noffline_total = 5000\ncredential_lifetime = 86400\n' >issuer-policy.conf
iss init --module "$module" --token-label issuer --config issuer-policy.conf | show
echo "   The trust list for gates is $work/issuer/trust.bin ($(wc -c <issuer/trust.bin) bytes, signed)."

say "Alice opens an account and tops it up with 20.00 (amounts are in cents)"
# The operator hands Alice her holder id and a one-time enrollment code
# (160 bits, typed or scanned: 'account open' without --code-file prints
# it with a QR code). Her holder id is no secret -- it is in every QR code
# she shows -- so only the code lets a key into her account.
alice=$(iss account open alice --code-file alice.code --png alice-code.png)
echo "   Alice's holder id: $alice"
echo "   Her enrollment code (works once, for 7 days): $(cat alice.code)  (QR: $work/alice-code.png)"
iss account credit alice 2000 | show

say "Alice's phone makes a key pair inside its own token (the private key never leaves it)"
new_token alice-tokens alice alice.pin
hold keygen | show

say "Alice enrolls: her public key and holder id, signed to prove she holds the key, with proof of the code"
hold enroll --holder-id "$alice" --code-file alice.code -o alice.req | show

say "A thief who saw Alice's holder id enrolls his own key: without her code the issuer refuses"
new_token thief-tokens thief alice.pin
thief() { OFFPASS_P11_DIR=$work/thief-tokens "$holder" --module "$module" --token-label thief \
	--pin-file alice.pin --dir "$work/thief-state" "$@"; }
thief keygen >/dev/null
thief enroll --holder-id "$alice" --no-code -o thief.req >/dev/null
if iss issue thief.req -o thief.cred 2>&1 | show; then
	echo "ERROR: a key was enrolled without the enrollment code" >&2
	exit 1
fi

say "The issuer checks the code (it works once) and her right (balance + credit line >= 5.00), and certifies her key"
iss issue alice.req -o alice.cred | show
hold install --trust "$work/issuer/trust.bin" alice.cred | show
hold status | show

say "At the gate (offline) Alice shows a QR code for a 2.50 fare"
gt --id 6761746530303037 --fare 250 init --trust "$work/issuer/trust.bin" | show
hold present --amount 250 --png alice-qr.png | show
echo "   QR image: $work/alice-qr.png"

say "The gate reads the image and checks it with no network: issuer key, validity, Alice's signature, freshness, replay, grant"
gt check alice-qr.png | show

say "Someone photographs the code and tries it again: refused as a replay"
if gt check alice-qr.png | show; then
	echo "ERROR: the same code was accepted twice" >&2
	exit 1
fi

say "The gate seals its journal to the issuer (encrypted, signed, numbered)"
gt pubkey -o gate.pub
iss gate add --id 6761746530303037 --key gate.pub | show
gt export -o gate-batch-1.bin | show

say "The issuer settles the batch: it re-verifies Alice's signature and debits the fare"
iss settle gate-batch-1.bin | show
iss account show alice | show
balance=$(iss account show alice | awk '$1 == "balance" { print $2 }')
[ "$balance" = 1750 ] || { echo "ERROR: expected a balance of 1750, got '$balance'" >&2; exit 1; }

say "Settling the same batch again changes nothing (idempotent)"
iss settle gate-batch-1.bin | show
iss account show alice | grep -i balance | show

say "Online: the issuer starts offpass-issuerd (here plain HTTP on loopback; --cert/--key for TLS)"
OFFPASS_P11_DIR=$work/issuer-tokens "$issuerd" --dir "$work/issuer" --pin-file issuer.pin --listen 127.0.0.1:0 \
	--port-file issuerd.port --log issuerd.log 2>issuerd.err &
issuerd_pid=$!
for _ in $(seq 1 100); do [ -s issuerd.port ] && break; sleep 0.1; done
[ -s issuerd.port ] || { cat issuerd.err >&2; echo "ERROR: offpass-issuerd did not start" >&2; exit 1; }
url=http://127.0.0.1:$(cat issuerd.port)
echo "   $url (requests logged in $work/issuerd.log)"

say "Bob opens an account; his phone enrolls online with his code (OpenID4VCI pre-authorized code flow)"
bob=$(iss account open bob --code-file bob.code)
iss account credit bob 20000 | show
new_token bob-tokens bob alice.pin
bobh() { OFFPASS_P11_DIR=$work/bob-tokens "$holder" --module "$module" --token-label bob \
	--pin-file alice.pin --dir "$work/bob-state" "$@"; }
bobh keygen >/dev/null
bobh enroll --issuer "$url" --holder-id "$bob" --code-file bob.code | show

say "Before going offline Bob refreshes: a proof signed in his token gets the next window"
bobh refresh --issuer "$url" | show

say "Bob rides: the gate checks his code offline"
bobh present --amount 250 --raw bob.pres >/dev/null
gt check bob.pres | show

say "The gate syncs when it can: uploads its unconfirmed batch, confirms it on the answer, fetches newer lists"
gt sync --issuer "$url" | show
bob_balance=$(iss account show bob | awk '$1 == "balance" { print $2 }')
[ "$bob_balance" = 19750 ] || { echo "ERROR: expected Bob's balance 19750, got '$bob_balance'" >&2; exit 1; }
gt sync --issuer "$url" | show
echo "   Bob's balance: $bob_balance (charged once)"
grep -c '' issuerd.log | sed 's/^/   issuerd log lines: /'

echo
echo "demo: done — Alice's balance went from 2000 to $balance: one 250 fare, charged once;"
echo "      online, Bob enrolled, refreshed, rode and was settled through offpass-issuerd ($bob_balance)"
