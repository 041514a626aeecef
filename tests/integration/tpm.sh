#!/bin/bash
# tpm.sh - the soft token bound to a TPM 2.0, against real simulators
# (swtpm, over its socket TCTI): keys and signatures on a bound token, PIN
# change and SO unlock, the TPM's dictionary-attack lockout, a token copied
# to another TPM or left without one, OFFPASS_P11_TPM=off and the migration
# of a PIN-only token, logins from several processes at once, and SIGKILL
# while the TPM seals.
# make check may run this with a POSIX sh: the rest needs bash.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/swtpm-lib.sh
. "$(dirname "$0")/swtpm-lib.sh"
need pkcs11-tool p11tool openssl sqlite3
cd "$WORK"

swtpm_start A
swtpm_start B
swtpm_da "$SWTPM_TCTI_A" 1000 1000
export OFFPASS_P11_TPM=on OFFPASS_P11_TCTI=$SWTPM_TCTI_A
# The TSS logs each TPM error response; the checks below look at ours.
export TSS2_LOG=all+none

LABEL=tpm
T=(--token-label "$LABEL")
U=(--token-label "$LABEL" --login --pin "$USER_PIN")

# kdfs FILE: the protection of each wrapped key (SO first), as stored.
kdfs()
{
	sqlite3 "$1" "SELECT group_concat(kdf, ' ') FROM (SELECT kdf FROM wrapped_key ORDER BY who)"
}

model()
{
	run p11 "${T[@]}" -I
	run p11 -L
	sed -n 's/^ *token model *: *//p' "$WORK/last.log" | head -1
}

# ---- a token created with the TPM works ----
init_token "$LABEL"
TOKEN=$(ls "$OFFPASS_P11_DIR"/*.token)
[ "$(kdfs "$TOKEN")" = "scrypt+tpm2 scrypt+tpm2" ] || fail "wrapped keys not TPM-bound: $(kdfs "$TOKEN")"
[ "$(model)" = "offpass tpm2" ] || fail "C_GetTokenInfo model is '$(model)', not 'offpass tpm2'"
run p11 "${U[@]}" --keypairgen --key-type EC:prime256v1 --label ec --id 01
echo "signed while bound to a TPM" >msg
run p11 "${U[@]}" --sign --mechanism ECDSA-SHA256 --id 01 --signature-format openssl -i msg -o msg.sig
pubkey_der "token=$LABEL;id=%01" ec.der
run openssl pkey -pubin -inform DER -in ec.der -out ec.pem
run openssl dgst -sha256 -verify ec.pem -signature msg.sig msg

# ---- PIN change and SO unlock under the TPM ----
run p11 "${T[@]}" --change-pin --pin "$USER_PIN" --new-pin "$NEW_PIN"
run_fails p11 "${T[@]}" --login --pin "$USER_PIN" -O
expect_log "CKR_PIN_INCORRECT"
run p11 "${T[@]}" --login --pin "$NEW_PIN" -O
for i in 1 2 3 4 5 6 7 8 9 10; do
	run_fails p11 "${T[@]}" --login --pin "$USER_PIN_BAD" -O
done
run_fails p11 "${T[@]}" --login --pin "$NEW_PIN" -O
expect_log "CKR_PIN_LOCKED"
run p11 "${T[@]}" --login --login-type so --so-pin "$SO_PIN" --init-pin --new-pin "$USER_PIN"
run p11 "${U[@]}" --sign --mechanism ECDSA-SHA256 --id 01 -i msg -o msg2.sig
run p11 "${T[@]}" --login --login-type so --so-pin "$SO_PIN" --change-pin --new-pin "$SO_PIN_BAD"
run p11 "${T[@]}" --login --login-type so --so-pin "$SO_PIN_BAD" --change-pin --new-pin "$SO_PIN"
[ "$(kdfs "$TOKEN")" = "scrypt+tpm2 scrypt+tpm2" ] || fail "a PIN change unbound a key: $(kdfs "$TOKEN")"

# ---- wrong PINs hit the TPM's lockout ----
swtpm_da "$SWTPM_TCTI_A" 3 1000
for i in 1 2 3; do
	run_fails p11 "${T[@]}" --login --pin "$USER_PIN_BAD" -O
	expect_log "CKR_PIN_INCORRECT"
done
run_fails p11 "${T[@]}" --login --pin "$USER_PIN" -O
expect_log "CKR_PIN_LOCKED"
expect_log "dictionary-attack lockout"
run_fails p11 "${T[@]}" --login --login-type so --so-pin "$SO_PIN" --init-pin --new-pin "$USER_PIN"
expect_log "CKR_PIN_LOCKED"
[ "$(sqlite3 "$TOKEN" 'SELECT user_fails FROM token')" = 3 ] ||
	fail "the lockout refusals were counted in the file: $(sqlite3 "$TOKEN" 'SELECT user_fails FROM token')"
swtpm_da "$SWTPM_TCTI_A" 1000 1000
run p11 "${U[@]}" -O

# ---- copied to another TPM: the right PIN does not open it ----
mkdir -p copy
cp -p "$TOKEN" copy/
run_fails env OFFPASS_P11_DIR="$WORK/copy" OFFPASS_P11_TCTI="$SWTPM_TCTI_B" pkcs11-tool --module "$MODULE" "${U[@]}" -O
expect_log "CKR_DEVICE_ERROR"
expect_log "bound to another TPM"
# ... and the guess was not spent on the copy.
[ "$(sqlite3 copy/"$(basename "$TOKEN")" 'SELECT user_fails FROM token')" = 0 ] || fail "copy: a guess was spent"

# ---- no TPM at all: a clean refusal, the token unharmed ----
run_fails env OFFPASS_P11_TCTI="swtpm:host=127.0.0.1,port=1" pkcs11-tool --module "$MODULE" "${U[@]}" -O
expect_log "CKR_DEVICE_ERROR"
expect_log "no TPM reachable|TPM"
run_fails env OFFPASS_P11_TCTI="swtpm:host=127.0.0.1,port=1" pkcs11-tool --module "$MODULE" "${T[@]}" --login --login-type so --so-pin "$SO_PIN" --init-pin --new-pin "$USER_PIN"
expect_log "CKR_DEVICE_ERROR"
run p11 "${U[@]}" --sign --mechanism ECDSA-SHA256 --id 01 -i msg -o msg3.sig

# ---- OFFPASS_P11_TPM=off: a token as before, which never needs a TPM ----
mkdir -p off
(
	export OFFPASS_P11_DIR=$WORK/off OFFPASS_P11_TPM=off
	init_token soft
	OFF=$(ls "$OFFPASS_P11_DIR"/*.token)
	[ "$(kdfs "$OFF")" = "scrypt scrypt" ] || fail "off: $(kdfs "$OFF")"
	[ "$(sqlite3 "$OFF" "SELECT value FROM meta WHERE name = 'schema_version'")" = 1 ] || fail "off: schema moved"
	run env OFFPASS_P11_TCTI="swtpm:host=127.0.0.1,port=1" \
		pkcs11-tool --module "$MODULE" --token-label soft --login --pin "$USER_PIN" --keypairgen --key-type EC:prime256v1 --id 01
	run p11 --token-label soft -I
	run p11 -L
	expect_log "token model +: offpass soft"
)

# ---- OFFPASS_P11_TPM=on without a TPM: no token; auto: one without the TPM ----
mkdir -p none
(
	export OFFPASS_P11_DIR=$WORK/none OFFPASS_P11_TCTI="swtpm:host=127.0.0.1,port=1"
	run_fails p11 --init-token --label none --so-pin "$SO_PIN"
	expect_log "CKR_DEVICE_ERROR"
	expect_log "no TPM reachable"
	[ -z "$(ls "$OFFPASS_P11_DIR")" ] || fail "on, no TPM: a token file was left: $(ls "$OFFPASS_P11_DIR")"
	OFFPASS_P11_TPM=auto init_token none
	[ "$(kdfs "$(ls "$OFFPASS_P11_DIR"/*.token)")" = "scrypt scrypt" ] || fail "auto without a TPM bound the token"
)
mkdir -p auto
(
	export OFFPASS_P11_DIR=$WORK/auto OFFPASS_P11_TPM=auto
	init_token auto
	[ "$(kdfs "$(ls "$OFFPASS_P11_DIR"/*.token)")" = "scrypt+tpm2 scrypt+tpm2" ] ||
		fail "auto with a TPM did not bind the token"
)

# ---- migration: a PIN-only token becomes bound at the next logins ----
mkdir -p mig
(
	export OFFPASS_P11_DIR=$WORK/mig
	OFFPASS_P11_TPM=off init_token mig
	MIG=$(ls "$OFFPASS_P11_DIR"/*.token)
	run p11 --token-label mig --login --pin "$USER_PIN" --keypairgen --key-type EC:prime256v1 --id 01
	run p11 --token-label mig --login --pin "$USER_PIN" -O
	[ "$(kdfs "$MIG")" = "scrypt scrypt+tpm2" ] || fail "migration (user): $(kdfs "$MIG")"
	run p11 -L
	expect_log "token model +: offpass tpm2 mix"
	run p11 --token-label mig --login --login-type so --so-pin "$SO_PIN" --init-pin --new-pin "$USER_PIN"
	[ "$(kdfs "$MIG")" = "scrypt+tpm2 scrypt+tpm2" ] || fail "migration (SO): $(kdfs "$MIG")"
	run p11 --token-label mig --login --pin "$USER_PIN" --sign --mechanism ECDSA-SHA256 --id 01 -i msg -o mig.sig
	run_fails env OFFPASS_P11_TCTI="$SWTPM_TCTI_B" pkcs11-tool --module "$MODULE" --token-label mig --login --pin "$USER_PIN" -O
	expect_log "CKR_DEVICE_ERROR"
)

# ---- logins from three processes at once share the simulator's few slots ----
pids=
for j in 1 2 3; do
	(
		for i in 1 2 3 4; do
			pkcs11-tool --module "$MODULE" "${U[@]}" -O >"$WORK/par.$j.$i" 2>&1 ||
				{ cat "$WORK/par.$j.$i" >&2; exit 1; }
		done
	) &
	pids="$pids $!"
done
for p in $pids; do
	wait "$p" || fail "a login failed while others ran (output above)"
done

# ---- SIGKILL while the TPM seals: the token opens with one of the PINs ----
cur=$USER_PIN
other=$NEW_PIN
for i in 1 2 3 4 5 6 7 8; do
	# Not through p11(): $! must be pkcs11-tool itself, not a subshell.
	pkcs11-tool --module "$MODULE" "${T[@]}" --change-pin --pin "$cur" --new-pin "$other" >/dev/null 2>&1 &
	pid=$!
	# A C_SetPIN takes about 150 ms on swtpm: some kills land, some come late.
	sleep "$(printf '0.%03d' $((RANDOM % 200)))"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	if p11 "${T[@]}" --login --pin "$cur" -O >"$WORK/last.log" 2>&1; then
		:
	elif p11 "${T[@]}" --login --pin "$other" -O >"$WORK/last.log" 2>&1; then
		tmp=$cur; cur=$other; other=$tmp
	else
		cat "$WORK/last.log" >&2
		fail "after SIGKILL $i neither PIN opens the token"
	fi
	run p11 "${T[@]}" --login --pin "$cur" --sign --mechanism ECDSA-SHA256 --id 01 \
		--signature-format openssl -i msg -o kill.sig
	run openssl dgst -sha256 -verify ec.pem -signature kill.sig msg
done
[ "$(kdfs "$TOKEN")" = "scrypt+tpm2 scrypt+tpm2" ] || fail "after the kills: $(kdfs "$TOKEN")"

pass "bound token: keys, PIN change, SO unlock, TPM lockout, another TPM, no TPM, off, migration, SIGKILL"
