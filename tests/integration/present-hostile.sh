#!/bin/bash
# present-hostile.sh - `offpass-holder present --issuer URL` against an
# issuer that lies (tests/integration/hostile-issuer.py): a credential for
# another holder id, one that ends before the one held, bytes that are no
# credential, a 4 MiB body, HTTP 500 for everything, an error text with
# terminal escapes and a line break, an issuer that
# answers each request after 6 s, a credential with a later end and a
# forged signature, one properly signed by a key no gate trusts, and that
# one with a newer trust list of that key, signed by itself. Each time present warns once, installs
# nothing, keeps the credential it had (same serial, same end), and the
# code it shows operates at a gate; the slow issuer costs at most the 10 s
# the whole refresh is allowed, not 10 s per request.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/issuerd-lib.sh
. "$(dirname "$0")/issuerd-lib.sh"
need pkcs11-tool curl python3
python3 -c "import cryptography" 2>/dev/null || skip "python3-cryptography not installed"

issuerd_programs
HOSTILE=$(cd "$(dirname "$0")" && pwd)/hostile-issuer.py
HOSTILE_PID=
stop_hostile() { [ -z "$HOSTILE_PID" ] || { kill "$HOSTILE_PID" 2>/dev/null || true; wait "$HOSTILE_PID" 2>/dev/null || true; }; HOSTILE_PID=; }
trap 'stop_hostile; issuerd_cleanup; rm -rf "$WORK"' EXIT

cd "$WORK"
init_token issuer
echo "$USER_PIN" >pin
D=$WORK/iss
iss() { "$ISSUER" --dir "$D" --pin-file "$WORK/pin" "$@"; }
run iss init --module "$MODULE" --token-label issuer
PAT=$(iss account open pat --code-file pat.code)
run iss account credit pat 1000000
NOW=$(date +%s)
issuerd_start "$D" real --now "$NOW"
mkdir -p "$WORK/htokens"
(export OFFPASS_P11_DIR=$WORK/htokens && init_token pat)
h() { OFFPASS_P11_DIR=$WORK/htokens "$HOLDER" --module "$MODULE" --token-label pat \
	--pin-file "$WORK/pin" --dir "$WORK/hstate" "$@"; }
run h keygen
run h --now "$NOW" enroll --issuer "$URL_real" --holder-id "$PAT" --code-file pat.code
issuerd_stop "$PID_real"
G=e5e5e5e5e5e5e5e5
g() { "$GATE" --dir "$WORK/gate" "$@"; }
run g --id "$G" --now "$NOW" init --fare 120 --trust "$D/trust.bin" --deny "$D/deny.bin"

# The credential held, as bytes: a presentation is the credential with
# another header byte, then the authorization (FORMAT.md 6).
run h --now "$NOW" present --amount 120 --raw p0.pres
CRED=11$(od -An -tx1 -v p0.pres | tr -d ' \n' | cut -c3-274)
run h --now "$NOW" status
HELD=$(grep -E '^(credential|validity):' "$WORK/last.log")

# Near the end of the window: a refresh is due at every present.
LIFE=$(awk -F' *= *' '$1 == "credential_lifetime" { print $2 }' "$D/issuer.conf")
T=$((NOW + LIFE - 600))
n=0
for mode in other-holder shorter garbage huge fail escape slow forged untrusted rogue-trust; do
	n=$((n + 1))
	rm -f "$WORK/hostile.port"
	python3 "$HOSTILE" "$WORK/hostile.port" "$mode" "$CRED" 2>>"$WORK/hostile.log" &
	HOSTILE_PID=$!
	for i in $(seq 1 50); do [ -s "$WORK/hostile.port" ] && break; sleep 0.1; done
	[ -s "$WORK/hostile.port" ] || fail "the hostile issuer ($mode) did not start"
	URL=http://127.0.0.1:$(cat "$WORK/hostile.port")
	start=$(date +%s)
	OFFPASS_P11_DIR=$WORK/htokens "$HOLDER" --module "$MODULE" --token-label pat --pin-file "$WORK/pin" \
		--dir "$WORK/hstate" --now $((T + n)) present --issuer "$URL" --amount 120 --raw "h$n.pres" \
		>"h$n.out" 2>"h$n.err" || { cat "h$n.out" "h$n.err" >&2; fail "$mode: present failed"; }
	took=$(($(date +%s) - start))
	stop_hostile
	[ "$(grep -c 'warning: refresh at' "h$n.err")" = 1 ] || { cat "h$n.err" >&2; fail "$mode: not one warning"; }
	grep -q 'refreshed online' "h$n.out" "h$n.err" && fail "$mode: a lie was taken as a refresh"
	case $mode in
	other-holder) grep -q 'is for holder .*, not this holder' "h$n.err" || { cat "h$n.err" >&2; fail "$mode: no reason"; } ;;
	shorter) grep -q 'not after the one held' "h$n.err" || { cat "h$n.err" >&2; fail "$mode: no reason"; } ;;
	escape)
		grep -q "$(printf '\033')" "h$n.err" && fail "$mode: the issuer's escape sequences reached the terminal"
		[ "$(wc -l <"h$n.err")" = 1 ] || { cat -v "h$n.err" >&2; fail "$mode: the issuer's text made a line of its own"; } ;;
	slow) [ "$took" -le 14 ] || fail "$mode: present took $took s, the refresh is allowed 10 s in all" ;;
	forged) grep -q "not the issuer's: credential.issuer_signature: does not verify" "h$n.err" ||
		{ cat "h$n.err" >&2; fail "$mode: no reason"; } ;;
	untrusted) grep -q "not the issuer's: credential.issuer_key_id: .* is not a credential-signing key" "h$n.err" ||
		{ cat "h$n.err" >&2; fail "$mode: no reason"; } ;;
	rogue-trust)
		grep -q "trust list (version 99) refused: trust_list.signer_key_id: .* installed trust list" "h$n.err" ||
			{ cat "h$n.err" >&2; fail "$mode: no reason"; }
		cmp -s "$(ls "$WORK/hstate"/trust-*)" "$D/trust.bin" || fail "$mode: the pinned trust list changed" ;;
	esac
	ls "$WORK/hstate"/credential-next-* >/dev/null 2>&1 && fail "$mode: a next window was kept"
	run h --now $((T + n)) status
	[ "$(grep -E '^(credential|validity):' "$WORK/last.log" | sed 's/^validity: .*(/validity: (/')" = \
		"$(echo "$HELD" | sed 's/^validity: .*(/validity: (/')" ] || { cat "$WORK/last.log" >&2; fail "$mode: the credential held changed"; }
	run g --now $((T + n)) check "h$n.pres"
	expect_log '^OPERATE' "$mode: the code shown operates"
done

pass "present --issuer against a lying issuer (another holder id, a shorter window, garbage, 4 MiB, HTTP 500, terminal escapes, 6 s per answer, a forged signature, an untrusted key, a self-signed trust list): one warning, nothing installed, the credential held kept and its code operates; the slow issuer costs at most the 10 s budget"
