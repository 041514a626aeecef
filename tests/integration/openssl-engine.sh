#!/bin/bash
# openssl-engine.sh - OpenSSL 3 through libp11's pkcs11 engine: the engine
# loads the module from an openssl config, signs with a key named by a
# pkcs11: URI, and plain openssl (no engine) verifies the signature with the
# public key pkcs11-tool exported. EC P-256 and RSA 2048.
# make check may run this with a POSIX sh: the rest needs bash.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need openssl pkcs11-tool p11tool
ENGINE=${OFFPASS_PKCS11_ENGINE:-/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so}
need_file "$ENGINE" "package libengine-pkcs11-openssl"

LABEL=offpass-engine
U=(--token-label "$LABEL" --login --pin "$USER_PIN")
cd "$WORK"

cat >engine.cnf <<EOF
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = $ENGINE
MODULE_PATH = $MODULE
init = 0
EOF

# eng ARGS...: openssl with the engine configuration.
eng()
{
	OPENSSL_CONF=$WORK/engine.cnf openssl "$@"
}

init_token "$LABEL"
run p11 "${U[@]}" --keypairgen --key-type EC:prime256v1 --label ec-key --id 01
run p11 "${U[@]}" --keypairgen --key-type rsa:2048 --label rsa-key --id 02
# The EC key through GnuTLS: lib.sh, pubkey_der.
pubkey_der "token=$LABEL;object=ec-key" ec-key.der
run poisoned p11 --token-label "$LABEL" --read-object --type pubkey --label rsa-key -o rsa-key.der
for key in ec-key rsa-key; do
	run openssl pkey -pubin -inform DER -in "$key.der" -out "$key.pem"
done
head -c 2000 /dev/urandom >data
printf x | cat data - >data.bad
openssl dgst -sha256 -binary data >data.sha256

uri()
{
	echo "pkcs11:token=$LABEL;object=$1;type=private?pin-value=$USER_PIN"
}

# The engine loads and sees the token.
run eng engine -t -c pkcs11
expect_log "\[ available \]" "engine pkcs11 available"

# ECDSA over a hash with pkeyutl, and over the data with dgst.
run eng pkeyutl -engine pkcs11 -keyform engine -inkey "$(uri ec-key)" -sign -in data.sha256 -out ec.sig1
run openssl pkeyutl -verify -pubin -inkey ec-key.pem -in data.sha256 -sigfile ec.sig1
run eng dgst -engine pkcs11 -keyform engine -sign "$(uri ec-key)" -sha256 -out ec.sig2 data
run openssl dgst -sha256 -verify ec-key.pem -signature ec.sig2 data
run_fails openssl dgst -sha256 -verify ec-key.pem -signature ec.sig2 data.bad

# RSA PKCS#1 v1.5 and PSS with SHA-256.
run eng dgst -engine pkcs11 -keyform engine -sign "$(uri rsa-key)" -sha256 -out rsa.sig1 data
run openssl dgst -sha256 -verify rsa-key.pem -signature rsa.sig1 data
run_fails openssl dgst -sha256 -verify rsa-key.pem -signature rsa.sig1 data.bad
run eng dgst -engine pkcs11 -keyform engine -sign "$(uri rsa-key)" -sha256 \
	-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -out rsa.sig2 data
run openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 \
	-verify rsa-key.pem -signature rsa.sig2 data

# A wrong PIN in the URI signs nothing.
run_fails eng dgst -engine pkcs11 -keyform engine -sha256 -out bad.sig \
	-sign "pkcs11:token=$LABEL;object=ec-key;type=private?pin-value=$USER_PIN_BAD" data

pass "libp11 engine: ECDSA P-256 (pkeyutl, dgst) and RSA PKCS#1/PSS signatures verified by plain openssl"
