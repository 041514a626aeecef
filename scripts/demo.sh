#!/usr/bin/env bash
# The main job: build offpass and show the soft token at work with a real
# client. A fresh token in a temporary directory; a P-256 key generated
# inside it; a signature made by the token and checked by plain openssl.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${OFFPASS_BUILD_DIR:-$top/build}
"$top/scripts/build.sh"
module=$build/.libs/offpass-p11.so
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OFFPASS_P11_DIR=$work/tokens
mkdir -p "$OFFPASS_P11_DIR"
p11() { pkcs11-tool --module "$module" "$@"; }
say() { printf '\n== %s\n' "$*"; }

say "1. A new soft token in $OFFPASS_P11_DIR (keys are encrypted under a PIN-derived key: scrypt, ~100 ms per guess)"
p11 --init-token --slot-index 0 --label demo --so-pin 87654321 >/dev/null
p11 --token-label demo --login --login-type so --so-pin 87654321 --init-pin --pin 123456 >/dev/null
p11 --list-slots | sed -n '1,12p'

say "2. A P-256 key pair generated inside the token; the private key never leaves it"
p11 --token-label demo --login --pin 123456 --keypairgen --key-type EC:prime256v1 \
	--label holder --id 01 | grep -E 'Private Key|Public Key|label|Usage|Access' | head -8

say "3. The token signs a message (ECDSA over its SHA-256)"
echo "gate 7, 2026-11-25 08:14, fare 250" >"$work/msg"
openssl dgst -sha256 -binary "$work/msg" >"$work/msg.sha256"
p11 --token-label demo --login --pin 123456 --sign -m ECDSA --id 01 \
	--signature-format openssl -i "$work/msg.sha256" -o "$work/msg.sig" 2>/dev/null
echo "signature: $(wc -c <"$work/msg.sig") bytes (DER)"

say "4. Plain openssl verifies with the exported public key"
p11 --token-label demo --read-object --type pubkey --id 01 -o "$work/pub.der" 2>/dev/null
openssl pkey -pubin -inform DER -in "$work/pub.der" -out "$work/pub.pem"
openssl dgst -sha256 -verify "$work/pub.pem" -signature "$work/msg.sig" "$work/msg"

say "5. The private key cannot be read out"
if p11 --token-label demo --login --pin 123456 --read-object --type privkey --id 01 -o "$work/x" 2>/dev/null; then
	echo "ERROR: private key was exported" >&2
	exit 1
fi
echo "refused, as it must be (CKA_SENSITIVE, CKA_EXTRACTABLE=FALSE)"

say "6. A wrong PIN is counted and stored before the answer returns"
p11 --token-label demo --login --pin 000000 --list-objects >/dev/null 2>&1 || true
p11 --list-token-slots 2>/dev/null | grep -i -m1 'pin' || true
echo
echo "demo: done"
