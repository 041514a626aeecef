#!/bin/bash
# pkcs11-tool.sh - OpenSC's pkcs11-tool against the module: token and PIN
# management, listings, key pairs (P-256, Ed25519, RSA 2048) whose
# signatures plain openssl verifies, data objects, sensitive keys, and
# pkcs11-tool's own self-tests (--test, --test-ec, --test-fork).
# make check may run this with a POSIX sh: the rest needs bash.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need pkcs11-tool p11tool openssl cmp od
need_stress

LABEL=offpass-tool
T=(--token-label "$LABEL")
U=(--token-label "$LABEL" --login --pin "$USER_PIN")
cd "$WORK"

# ---- token and PINs ----
init_token "$LABEL"
expect_log "User PIN successfully initialized"
run p11 -L
expect_log "token label +: $LABEL"
expect_log "token flags +:.*PIN initialized"
# One free slot stays for C_InitToken of the next token.
expect_log "token state: +uninitialized"

run_fails p11 "${T[@]}" --login --login-type so --so-pin "$SO_PIN_BAD" --init-pin --new-pin "$USER_PIN"
expect_log "CKR_PIN_INCORRECT"
run p11 "${T[@]}" --change-pin --pin "$USER_PIN" --new-pin "$NEW_PIN"
run_fails p11 "${T[@]}" --login --pin "$USER_PIN" -O
expect_log "C_Login failed: rv = CKR_PIN_INCORRECT"
run p11 "${T[@]}" --login --pin "$NEW_PIN" -O
run_fails p11 "${T[@]}" --change-pin --pin "$USER_PIN_BAD" --new-pin "$USER_PIN"
expect_log "CKR_PIN_INCORRECT"
run p11 "${T[@]}" --change-pin --pin "$NEW_PIN" --new-pin "$USER_PIN"
run p11 "${U[@]}" -O
# New user PINs are 6 characters at least by default (docs/TOKEN.md), and
# the token says so.
run_fails p11 "${T[@]}" --change-pin --pin "$USER_PIN" --new-pin 12345
expect_log "CKR_PIN_LEN_RANGE"
run_fails p11 "${T[@]}" --login --login-type so --so-pin "$SO_PIN" --init-pin --new-pin 12345
expect_log "CKR_PIN_LEN_RANGE"
run p11 "${U[@]}" -O
run p11 -L
expect_log "pin min/max +: 6/255"

# ---- mechanisms ----
run p11 "${T[@]}" -M
for m in ECDSA-KEY-PAIR-GEN EC-EDWARDS-KEY-PAIR-GEN RSA-PKCS-KEY-PAIR-GEN \
	ECDSA ECDSA-SHA1 ECDSA-SHA256 ECDSA-SHA384 EDDSA ECDH1-DERIVE \
	RSA-PKCS SHA256-RSA-PKCS RSA-PKCS-PSS SHA256-RSA-PKCS-PSS RSA-PKCS-OAEP \
	SHA256 SHA384 GENERIC-SECRET-KEY-GEN; do
	expect_log "^  $m(,|\$)" "-M lists $m"
done

# ---- key pairs ----
run p11 "${U[@]}" --keypairgen --key-type EC:prime256v1 --label ec256 --id 01
run p11 "${U[@]}" --keypairgen --key-type EC:edwards25519 --label ed25519 --id 02
run p11 "${U[@]}" --keypairgen --key-type rsa:2048 --label rsa2048 --id 03
run p11 "${U[@]}" -O
[ "$(grep -c '^Private Key Object' "$WORK/last.log")" = 3 ] || fail "-O after login: not 3 private keys"
[ "$(grep -c '^Public Key Object' "$WORK/last.log")" = 3 ] || fail "-O after login: not 3 public keys"
expect_log "^Private Key Object; EC_EDWARDS" "-O shows the Ed25519 key"
expect_log "^Public Key Object; RSA 2048 bits" "-O shows the RSA key"
grep -A4 '^Private Key Object' "$WORK/last.log" | grep 'Access:' >"$WORK/access"
[ "$(grep -c 'sensitive, always sensitive, never extractable, local' "$WORK/access")" = 3 ] ||
	fail "private keys are not all sensitive, always sensitive, never extractable, local"
# Private objects are invisible before login.
run p11 "${T[@]}" -O
! grep -q '^Private Key Object' "$WORK/last.log" || fail "private keys visible without login"
[ "$(grep -c '^Public Key Object' "$WORK/last.log")" = 3 ] || fail "-O without login: not 3 public keys"

# The P-256 key through GnuTLS (pkcs11-tool 0.23 reads EC public keys
# through freed memory: lib.sh, pubkey_der), the others through
# pkcs11-tool; every read with freed memory poisoned, so that such a bug
# fails each run, not one in five.
pubkey_der "token=$LABEL;id=%01" pub01.out
for id in 02 03; do
	run poisoned p11 "${T[@]}" --read-object --type pubkey --id "$id" -o "pub$id.out"
done
for id in 01 02 03; do
	run openssl pkey -pubin -in "pub$id.out" -out "pub$id.pem"
done
# pkcs11-tool's view of CKA_EC_POINT: the DER OCTET STRING of the point
# that ends that SubjectPublicKeyInfo.
run p11 "${T[@]}" -O --type pubkey --id 01
point=$(sed -n 's/^ *EC_POINT: *\(044104[0-9a-f]*\)$/\1/p' "$WORK/last.log")
[ "$point" = "0441$(tail -c 65 pub01.out | od -An -v -tx1 | tr -d ' \n')" ] ||
	fail "CKA_EC_POINT '$point' is not the point of the exported key"
head -c 1000 /dev/urandom >data
cp data data.bad
printf x >>data.bad
openssl dgst -sha256 -binary data >data.sha256
openssl dgst -sha256 -binary data.bad >data.bad.sha256

# sign_check ID MECH INPUT BAD-INPUT [pkcs11-tool options]: sign INPUT with
# the token, verify with the token, and refuse BAD-INPUT.
sign_check()
{
	local id=$1 mech=$2 in=$3 bad=$4
	shift 4
	run p11 "${U[@]}" --sign --id "$id" -m "$mech" -i "$in" -o "sig$id" "$@"
	run p11 "${U[@]}" --verify --id "$id" -m "$mech" -i "$in" --signature-file "sig$id" "$@"
	expect_log "Signature is valid" "token verifies its $mech signature"
	run p11 "${U[@]}" --verify --id "$id" -m "$mech" -i "$bad" --signature-file "sig$id" "$@"
	expect_log "Invalid signature" "token refuses a $mech signature over other data"
}

# ECDSA over a SHA-256 hash: raw r||s for the token, DER for openssl.
sign_check 01 ECDSA data.sha256 data.bad.sha256
[ "$(stat -c %s sig01)" = 64 ] || fail "ECDSA P-256 signature is not 64 bytes of r||s"
run p11 "${U[@]}" --sign --id 01 -m ECDSA -i data.sha256 -o sig01.der --signature-format openssl
run openssl pkeyutl -verify -pubin -inkey pub01.pem -in data.sha256 -sigfile sig01.der
run openssl dgst -sha256 -verify pub01.pem -signature sig01.der data
run_fails openssl dgst -sha256 -verify pub01.pem -signature sig01.der data.bad

# Ed25519 over the message itself.
sign_check 02 EDDSA data data.bad
[ "$(stat -c %s sig02)" = 64 ] || fail "Ed25519 signature is not 64 bytes"
run openssl pkeyutl -verify -pubin -inkey pub02.pem -rawin -in data -sigfile sig02
run_fails openssl pkeyutl -verify -pubin -inkey pub02.pem -rawin -in data.bad -sigfile sig02

# RSA PKCS#1 v1.5 and PSS with SHA-256.
sign_check 03 SHA256-RSA-PKCS data data.bad
run openssl dgst -sha256 -verify pub03.pem -signature sig03 data
run_fails openssl dgst -sha256 -verify pub03.pem -signature sig03 data.bad
sign_check 03 SHA256-RSA-PKCS-PSS data data.bad
run openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 \
	-verify pub03.pem -signature sig03 data

# ---- sensitive values never leave ----
# pkcs11-tool 0.23 refuses --read-object --type privkey by itself; it must
# at least not write anything.
p11 "${U[@]}" --read-object --type privkey --id 01 -o priv.out >"$WORK/last.log" 2>&1 || true
[ ! -s priv.out ] || fail "--read-object --type privkey wrote the private key"
# Secret keys are read through CKA_VALUE: sensitive refused, extractable read.
# (The token keeps key material private: CKA_PRIVATE FALSE on a secret key is
# CKR_ATTRIBUTE_VALUE_INVALID, hence --private.)
run p11 "${U[@]}" --keygen --key-type GENERIC:32 --label hidden --id 10 --sensitive --private
run_fails p11 "${U[@]}" --read-object --type secrkey --id 10 -o hidden.out
expect_log "get CKA_VALUE failed" "sensitive secret key refused"
run p11 "${U[@]}" --keygen --key-type GENERIC:32 --label open --id 11 --extractable --private
run p11 "${U[@]}" --read-object --type secrkey --id 11 -o open.out
[ "$(stat -c %s open.out)" = 32 ] || fail "extractable secret key: CKA_VALUE not 32 bytes"
run p11 "${U[@]}" --delete-object --type secrkey --id 10
run p11 "${U[@]}" --delete-object --type secrkey --id 11
# Every private key pkcs11-tool made answers CKA_VALUE / CKA_PRIVATE_EXPONENT
# with CKR_ATTRIBUTE_SENSITIVE, and signs for its public key.
run "$STRESS" "$MODULE" "$LABEL" "$USER_PIN" check
expect_log "^keypairs=3 data=0 orphans=0 " "p11-stress check of pkcs11-tool's keys"

# ---- data objects ----
head -c 3000 /dev/urandom >blob
run p11 "${U[@]}" --write-object blob --type data --label credential --private
run p11 "${U[@]}" --read-object --type data --label credential -o blob.out
same_file blob blob.out "private data object read back"
run_fails p11 "${T[@]}" --read-object --type data --label credential -o blob.nologin
head -c 100 /dev/urandom >note
run p11 "${U[@]}" --write-object note --type data --label note
run p11 "${T[@]}" --read-object --type data --label note -o note.out
same_file note note.out "public data object read back without login"

# ---- pkcs11-tool's self-tests ----
run p11 "${U[@]}" --test
expect_log "^No errors" "--test"
run p11 "${U[@]}" --test --allow-sw
expect_log "^No errors" "--test --allow-sw"
run p11 "${U[@]}" --session-rw --test-ec --id 20 --key-type EC:prime256v1
expect_log "==> OK" "--test-ec"
! grep -q 'ERR' "$WORK/last.log" || fail "--test-ec printed an error"
run p11 --test-fork -L
expect_log "Calling C_Initialize in forked child" "--test-fork"
run p11 --use-locking -L
# Stronger than --test-fork: a child signs with the parent's logged-in
# session without C_Initialize; after C_Initialize it logs in and signs.
run "$STRESS" "$MODULE" "$LABEL" "$USER_PIN" fork

pass "init/PINs, -L -M -O, P-256/Ed25519/RSA sign checked by openssl, data objects, --test, --test-ec, --test-fork"
