#!/bin/bash
# p11tool.sh - GnuTLS's p11tool with the module as its only provider: token
# and PIN set-up, listings before and after login, key pair generation,
# --test-sign (sign, then verify with the key's parameters and with the
# public key on the token), an X.509 certificate written and read back.
# make check may run this with a POSIX sh: the rest needs bash.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need p11tool openssl cmp

LABEL=offpass-gnutls
TOKEN="pkcs11:token=$LABEL"
GNUTLS_SO_PIN=$SO_PIN
GNUTLS_PIN=$USER_PIN
export GNUTLS_SO_PIN GNUTLS_PIN
cd "$WORK"

# p11t ARGS...: p11tool on our module only, never waiting for a prompt.
p11t()
{
	p11tool --provider "$MODULE" "$@" </dev/null
}

# The fresh directory has one token, the free one: "pkcs11:" matches it.
run p11t --initialize "pkcs11:" --label "$LABEL" --set-so-pin "$SO_PIN"
run p11t --initialize-pin "$TOKEN"
run p11t --list-tokens
expect_log "Label: $LABEL\$" "--list-tokens"
run p11t --list-token-urls
expect_log "token=$LABEL" "--list-token-urls"

run p11t --generate-privkey ECDSA --curve secp256r1 --label ec-key --login \
	--outfile ec-key.pub "$TOKEN"
run p11t --generate-privkey RSA --bits 2048 --label rsa-key --login \
	--outfile rsa-key.pub "$TOKEN"

# Public keys are listed without login, private keys only after it.
run p11t --list-all "$TOKEN"
expect_log "Type: Public key \(EC/ECDSA-SECP256R1\)" "--list-all: EC public key"
expect_log "Type: Public key \(RSA-2048\)" "--list-all: RSA public key"
! grep -q 'type=private' "$WORK/last.log" || fail "--list-all without login shows a private key"
run p11t --list-all-privkeys --login "$TOKEN"
expect_log "object=ec-key;type=private" "--list-all-privkeys: EC key"
expect_log "object=rsa-key;type=private" "--list-all-privkeys: RSA key"
grep -A4 'object=ec-key;type=private' "$WORK/last.log" | grep -q 'CKA_SENSITIVE' ||
	fail "--list-all-privkeys: EC private key not sensitive"

for key in ec-key rsa-key; do
	run p11t --test-sign --login "$TOKEN;object=$key"
	expect_log "Verifying against public key in the token\.\.\. ok" "--test-sign $key"
	# The public key the token holds is the one generation printed.
	run p11t --export-pubkey --login --outfile "$key.exp" "$TOKEN;object=$key;type=private"
	run openssl pkey -pubin -in "$key.pub" -outform DER -out "$key.pub.der"
	run openssl pkey -pubin -in "$key.exp" -outform DER -out "$key.exp.der"
	same_file "$key.pub.der" "$key.exp.der" "public key of $key"
done

# A wrong PIN is refused.
GNUTLS_PIN=$USER_PIN_BAD run_fails p11t --test-sign --login "$TOKEN;object=ec-key"
expect_log "Wrong PIN has been provided" "wrong PIN refused"

# An X.509 certificate (CKO_CERTIFICATE) written and exported unchanged.
run openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout cert-key.pem -out cert.pem -subj /CN=offpass-test -days 2
run p11t --write --load-certificate cert.pem --label cert --login "$TOKEN"
run p11t --list-all-certs "$TOKEN"
expect_log "object=cert;type=cert" "--list-all-certs"
run p11t --export "$TOKEN;object=cert;type=cert" --outfile cert.out
run openssl x509 -in cert.pem -outform DER -out cert.der
run openssl x509 -in cert.out -outform DER -out cert.out.der
same_file cert.der cert.out.der "certificate exported"

pass "init, --list-all, --list-all-privkeys, --generate-privkey ECDSA/RSA, --test-sign, certificate"
