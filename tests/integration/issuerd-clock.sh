#!/bin/bash
# issuerd-clock.sh - the issuer's clock and the deny list's re-signing
# under attack: an enrollment at a time before the account's code was made
# gets a 400 JSON error naming the code and the clock (not a 503); two
# offpass-issuerd processes on one ledger asked for a deny list due for
# re-signing by many clients at once bump its version once, every client
# gets the same list, and none a lower version than one already served;
# a gate refuses a deny list issued a year ahead of its clock (it would
# keep the gate "fresh" for a year without a sync), its sync fails and
# keeps no ETag for that list.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/issuerd-lib.sh
. "$(dirname "$0")/issuerd-lib.sh"
need pkcs11-tool curl

issuerd_programs

cd "$WORK"
init_token issuer
echo "$USER_PIN" >pin
D=$WORK/iss
iss() { "$ISSUER" --dir "$D" --pin-file "$WORK/pin" "$@"; }
run iss init --module "$MODULE" --token-label issuer
PAT=$(iss account open pat --code-file pat.code)
run iss account credit pat 100000
NOW=$(date +%s)
EARLY=$((NOW - 86400))

# An issuer clock a day behind the code's making: a clear refusal.
issuerd_start "$D" early --now "$EARLY"
http POST "$URL_early/token" -H 'Content-Type: application/x-www-form-urlencoded' \
	--data-urlencode 'grant_type=urn:ietf:params:oauth:grant-type:pre-authorized_code' \
	--data-urlencode "pre-authorized_code=$PAT" --data-urlencode "tx_code=$(cat pat.code)"
expect_status 400 "a code used before it was made"
expect_body '"error":"invalid_grant"' "the error is invalid_grant"
expect_body '"tx_code"' "the error names the code"
expect_body "made at [0-9]+, after the issuer's clock" "the error says the clock is behind the code"
mkdir -p "$WORK/htokens"
(export OFFPASS_P11_DIR=$WORK/htokens && init_token pat)
h() { OFFPASS_P11_DIR=$WORK/htokens "$HOLDER" --module "$MODULE" --token-label pat \
	--pin-file "$WORK/pin" --dir "$WORK/hstate" "$@"; }
run h keygen
# (The holder's own clock is right: it checks the issuer's trust list,
# whose key is valid only from the issuer's init, with it.)
if h --now "$NOW" enroll --issuer "$URL_early" --holder-id "$PAT" --code-file pat.code >"$WORK/last.log" 2>&1; then
	fail "enrolled with the issuer's clock before the code was made"
fi
expect_log 'HTTP 400' "the holder gets a 4xx, not a 503"
grep -q 'POST /credential 503\|POST /token 503' early.log && fail "issuerd answered 503"
issuerd_stop "$PID_early"
# The right clock: the same code still works (the refusals took no use of it).
issuerd_start "$D" right --now "$NOW"
run h --now "$NOW" enroll --issuer "$URL_right" --holder-id "$PAT" --code-file pat.code
issuerd_stop "$PID_right"

# Two issuerds two hours on; 16 clients at once ask for the deny list.
run iss status
expect_log '^deny list +version 1,' "the deny list starts at version 1"
LATE=$((NOW + 7200))
issuerd_start "$D" a --now "$LATE"
issuerd_start "$D" b --now "$LATE"
pids=
for i in $(seq 1 16); do
	if [ $((i % 2)) = 0 ]; then u=$URL_a; else u=$URL_b; fi
	curl -sS -o "deny.$i" -w '%{http_code}\n' "$u/deny-list" >"code.$i" &
	pids="$pids $!"
done
for p in $pids; do wait "$p" || fail "a client of the deny list failed"; done
for i in $(seq 1 16); do
	[ "$(cat "code.$i")" = 200 ] || fail "client $i: HTTP $(cat "code.$i")"
done
[ "$(sha256sum deny.* | awk '{ print $1 }' | sort -u | wc -l)" = 1 ] ||
	fail "the clients at once got different deny lists (re-signed more than once)"
run iss --now "$LATE" status
expect_log '^deny list +version 2,' "re-signed once: version 2, not one version per request"
# Within its hour the re-signed list is served as is, with its ETag.
http GET "$URL_a/deny-list"
expect_status 200 "the deny list again"
cmp -s "$WORK/body" deny.1 || fail "a later request got another list within the hour"
ETAG=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *\([^[:space:]]*\).*/\1/p' "$WORK/headers")
[ -n "$ETAG" ] || fail "no ETag on the deny list"
http GET "$URL_b/deny-list" -H "If-None-Match: $ETAG"
expect_status 304 "the other process: not modified for the same list"
issuerd_stop "$PID_a"
issuerd_stop "$PID_b"

# An issuer whose clock is a year ahead: its re-signed deny list is not
# installed; sync says why and fails, and fetches it again next time.
G=e4e4e4e4e4e4e4e4
g() { "$GATE" --dir "$WORK/gate" "$@"; }
run g --id "$G" --now "$LATE" init --fare 120 --trust "$D/trust.bin" --deny "$D/deny.bin"
expect_log '^deny list: version 2$' "the gate starts with version 2"
AHEAD=$((NOW + 365 * 86400))
issuerd_start "$D" ahead --now "$AHEAD"
for i in 1 2; do
	if g --now "$LATE" sync --issuer "$URL_ahead" >"$WORK/last.log" 2>&1; then
		cat "$WORK/last.log" >&2
		fail "sync $i succeeded with a deny list a year ahead"
	fi
	expect_log 'deny-list: not installed: .*deny_list.issued_at: [0-9]+ is more than clock_skew' \
		"sync $i names the list's issued_at"
done
[ "$(grep -c 'GET /deny-list 200' ahead.log)" = 2 ] || fail "the refused list's ETag was kept (not fetched again)"
run g --now "$LATE" status
expect_log '^deny list: +version 2$' "the gate kept its deny list"
issuerd_stop "$PID_ahead"

pass "a code used with the issuer's clock before its making: 400 invalid_grant naming tx_code and the clock; two issuerds re-sign a due deny list once for 16 clients at once, one version, one list, ETag shared; a deny list a year ahead of the gate is refused and sync fails"
