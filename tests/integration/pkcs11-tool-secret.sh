#!/bin/bash
# pkcs11-tool-secret.sh - secret keys through OpenSC's pkcs11-tool, each
# result checked with plain openssl: AES keys generated in the token,
# AES-CBC-PAD encryption both ways (token encrypts, openssl decrypts, and
# the reverse), HMAC-SHA256 against `openssl mac`, AES key wrap and unwrap
# (the wrapped key checked against `openssl enc -id-aes128-wrap`), DES3 keys,
# the listing of every symmetric mechanism, and `pkcs11-tool --test`.
# make check may run this with a POSIX sh: the rest needs bash.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need pkcs11-tool openssl cmp od

# hex FILE: the file as one line of lowercase hex.
hex()
{
	od -An -v -tx1 "$1" | tr -d ' \n'
}

LABEL=offpass-secret
T=(--token-label "$LABEL")
U=(--token-label "$LABEL" --login --pin "$USER_PIN")
cd "$WORK"
init_token "$LABEL"

# ---- every secret-key mechanism is listed ----
run p11 "${T[@]}" -M
for m in AES-KEY-GEN AES-ECB AES-CBC AES-CBC-PAD AES-CTR AES-GCM AES-CMAC AES-KEY-WRAP \
	DES3-KEY-GEN DES3-ECB DES3-CBC DES3-CBC-PAD GENERIC-SECRET-KEY-GEN \
	SHA-1-HMAC SHA224-HMAC SHA256-HMAC SHA384-HMAC SHA512-HMAC SHA-1 SHA224 SHA512; do
	expect_log "^  $m(,|\$)" "-M lists $m"
done
expect_log "^  AES-GCM, keySize=\{16,32\}, encrypt, decrypt" "AES-GCM info"
expect_log "^  AES-KEY-WRAP, keySize=\{16,32\}, encrypt, decrypt, wrap, unwrap" "AES-KEY-WRAP info"
expect_log "^  RSA-PKCS-OAEP, .*wrap, unwrap" "RSA-PKCS-OAEP wraps"
! grep -Eq '^  DES-(KEY-GEN|ECB|CBC)' "$WORK/last.log" || fail "single DES is listed"

# (Key material is only ever stored encrypted: secret keys are private, hence --private.)
head -c 1000 /dev/urandom >data
IV=000102030405060708090a0b0c0d0e0f

# ---- AES: generated in the token, CBC-PAD checked by openssl both ways ----
run p11 "${U[@]}" --keygen --key-type AES:32 --label aes256 --id 31 --extractable --private
expect_log "Secret Key Object; AES length 32" "AES-256 key generated"
run p11 "${U[@]}" --read-object --type secrkey --id 31 -o aes.key
[ "$(stat -c %s aes.key)" = 32 ] || fail "AES key: CKA_VALUE not 32 bytes"
KEY=$(hex aes.key)
run p11 "${U[@]}" --encrypt --id 31 -m AES-CBC-PAD --iv "$IV" -i data -o data.enc
[ "$(stat -c %s data.enc)" = 1008 ] || fail "AES-CBC-PAD of 1000 bytes is not 1008 bytes"
run openssl enc -d -aes-256-cbc -K "$KEY" -iv "$IV" -in data.enc -out data.dec
same_file data data.dec "token AES-CBC-PAD, openssl decrypt"
run openssl enc -aes-256-cbc -K "$KEY" -iv "$IV" -in data -out data.ossl
same_file data.enc data.ossl "token and openssl AES-CBC-PAD ciphertexts"
run p11 "${U[@]}" --decrypt --id 31 -m AES-CBC-PAD --iv "$IV" -i data.ossl -o data.dec2
same_file data data.dec2 "openssl AES-256-CBC, token decrypt"
# A sensitive key never shows its value.
run p11 "${U[@]}" --keygen --key-type AES:16 --label hidden --id 35 --sensitive --private
run_fails p11 "${U[@]}" --read-object --type secrkey --id 35 -o hidden.key
[ ! -s hidden.key ] || fail "a sensitive AES key was read"

# ---- HMAC-SHA256 with a generic secret, against openssl mac ----
run p11 "${U[@]}" --keygen --key-type GENERIC:32 --label hmac --id 32 --extractable --private
run p11 "${U[@]}" --read-object --type secrkey --id 32 -o hmac.key
run p11 "${U[@]}" --sign --id 32 -m SHA256-HMAC -i data -o data.mac
run openssl mac -digest SHA256 -macopt "hexkey:$(hex hmac.key)" -in data -binary -out data.mac.ossl HMAC
same_file data.mac data.mac.ossl "token and openssl HMAC-SHA256"
run p11 "${U[@]}" --verify --id 32 -m SHA256-HMAC -i data --signature-file data.mac
expect_log "Signature is valid" "token verifies its HMAC"
printf x >>data.mac.ossl
head -c 32 data.mac.ossl >data.mac.bad
printf '\001' | dd of=data.mac.bad bs=1 seek=31 conv=notrunc status=none
run p11 "${U[@]}" --verify --id 32 -m SHA256-HMAC -i data --signature-file data.mac.bad
expect_log "Invalid signature" "token refuses a wrong HMAC"

# ---- AES key wrap: the wrapped bytes are RFC 3394's, then unwrapped ----
run p11 "${U[@]}" --keygen --key-type AES:16 --label kek --id 33 --extractable --private
run p11 "${U[@]}" --read-object --type secrkey --id 33 -o kek.key
run p11 "${U[@]}" --wrap --id 33 --application-id 31 -m AES-KEY-WRAP -o wrapped
[ "$(stat -c %s wrapped)" = 40 ] || fail "AES-KW of a 32-byte key is not 40 bytes"
run openssl enc -d -id-aes128-wrap -K "$(hex kek.key)" -iv A6A6A6A6A6A6A6A6 -in wrapped -out unwrapped.ossl
same_file aes.key unwrapped.ossl "openssl unwraps the token's AES-KW"
run p11 "${U[@]}" --unwrap --id 33 -m AES-KEY-WRAP -i wrapped --key-type AES:32 --application-id 34 \
	--extractable --private
run p11 "${U[@]}" --read-object --type secrkey --id 34 -o aes.back
same_file aes.key aes.back "unwrapped AES key"
# A key that is not extractable is not wrapped.
run_fails p11 "${U[@]}" --wrap --id 33 --application-id 35 -m AES-KEY-WRAP -o wrapped.hidden
expect_log "CKR_KEY_UNEXTRACTABLE" "wrapping a non-extractable key"

# ---- DES3: generated with odd parity in every byte ----
# (pkcs11-tool 0.23 encrypts with AES mechanisms only; p11/test-mechanisms
# runs DES3 against the SP 800-67 vector.)
run p11 "${U[@]}" --keygen --key-type DES3:24 --label des3 --id 36 --extractable --private
run p11 "${U[@]}" --read-object --type secrkey --id 36 -o des3.key
[ "$(stat -c %s des3.key)" = 24 ] || fail "DES3 key: CKA_VALUE not 24 bytes"
for b in $(od -An -v -tu1 des3.key); do
	ones=0
	for ((bit = 0; bit < 8; bit++)); do ones=$((ones + ((b >> bit) & 1))); done
	[ $((ones % 2)) = 1 ] || fail "DES3 key byte $b has even parity"
done

# ---- pkcs11-tool's self-test with secret keys and every digest present ----
run p11 "${U[@]}" --test
expect_log "^No errors" "--test"

pass "AES keygen, AES-CBC-PAD both ways, HMAC-SHA256, AES-KW wrap/unwrap, DES3 parity; -M; --test"
