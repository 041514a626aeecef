#!/bin/bash
# present-online.sh - `offpass-holder present --issuer URL`: the online
# refresh as the refresh step of present. Near its end the credential is
# refreshed before the code is made (the next window kept), the code of
# the moment verifies at a gate, and once the next window begins the code
# carries the new serial and verifies too; with offpass-issuerd stopped,
# present warns once on stderr and still shows a code that verifies; in a
# --refresh loop a failed refresh is not retried for every code.
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
serial_of() { grep -Eo 'serial [0-9]+' "$1" | head -1 | awk '{ print $2 }'; }

run iss init --module "$MODULE" --token-label issuer
LIFE=$(awk -F' *= *' '$1 == "credential_lifetime" { print $2 }' "$D/issuer.conf")
[ "$LIFE" = 86400 ] || fail "credential_lifetime is '$LIFE', this test expects a day"
PAT=$(iss account open pat --code-file pat.code)
run iss account credit pat 1000000
# The clock of the test from here: not before anything the issuer wrote.
NOW=$(date +%s)

issuerd_start "$D" first --now "$NOW"
mkdir -p "$WORK/htokens"
(export OFFPASS_P11_DIR=$WORK/htokens && init_token pat)
h() { OFFPASS_P11_DIR=$WORK/htokens "$HOLDER" --module "$MODULE" --token-label pat \
	--pin-file "$WORK/pin" --dir "$WORK/hstate" "$@"; }
run h keygen
run h --now "$NOW" enroll --issuer "$URL_first" --holder-id "$PAT" --code-file pat.code
S1=$(serial_of "$WORK/last.log")
[ -n "$S1" ] || fail "no serial after enrollment"

G=e3e3e3e3e3e3e3e3
g() { "$GATE" --dir "$WORK/gate" "$@"; }
run g --id "$G" init --fare 120 --trust "$D/trust.bin" --deny "$D/deny.bin"

# Far from the end (the margin is the last hour of a day): no refresh.
T0=$((NOW + 600))
run h --now "$T0" present --issuer "$URL_first" --amount 120 --raw p0.pres
grep -q 'refreshed online' "$WORK/last.log" && fail "refreshed although the credential is far from its end"
[ "$(grep -c 'POST /credential' first.log || true)" = 1 ] || fail "issuerd was asked for a credential outside enrollment"
issuerd_stop "$PID_first"

# Half an hour before the end: refreshed first (the next window kept); the
# code is still the current credential's and verifies at the gate.
T1=$((NOW + LIFE - 1800))
issuerd_start "$D" near --now "$T1"
run h --now "$T1" present --issuer "$URL_near" --amount 120 --raw p1.pres
expect_log '^refreshed online: credential serial [0-9]+, not yet valid.*the next window, kept' \
	"present --issuer refreshes near the end"
S2=$(grep -Eo 'refreshed online: credential serial [0-9]+' "$WORK/last.log" | awk '{ print $5 }')
[ -n "$S2" ] && [ "$S2" != "$S1" ] || fail "no new serial from the refresh ($S2, was $S1)"
ls "$WORK/hstate"/credential-next-* >/dev/null 2>&1 || fail "the next window is not kept in the state directory"
grep -q 'POST /credential 200 .*refresh serial' near.log || fail "issuerd did not log the refresh"
run g --now "$T1" check p1.pres
expect_log "^OPERATE .*serial=$S1 " "the code of the current window operates"
# Within the margin again, but the next window is held: no second refresh.
run h --now $((T1 + 60)) present --issuer "$URL_near" --amount 120 --raw p1b.pres
grep -q 'refreshed online' "$WORK/last.log" && fail "refreshed again although the next window is held"
issuerd_stop "$PID_near"

# The next window has begun (issuerd down, but nothing is due): the code
# carries the new serial and verifies; no warning.
T2=$((NOW + LIFE + 10))
run h --now "$T2" present --issuer "$URL_near" --amount 120 --raw p2.pres
grep -q 'warning' "$WORK/last.log" && fail "a warning although no refresh was due"
run g --now "$T2" check p2.pres
expect_log "^OPERATE .*serial=$S2 " "the next window's code operates with the new serial"
run h --now "$T2" status
expect_log "^credential: serial $S2, " "the next window is the installed credential now"
[ ! -e "$(ls "$WORK/hstate"/credential-next-* 2>/dev/null | head -1)" ] || fail "the next window is still kept after it was installed"

# Near the end of the second window with issuerd stopped: one warning on
# stderr, and the code of the credential held still verifies.
T3=$((NOW + 2 * LIFE - 600))
OFFPASS_P11_DIR=$WORK/htokens "$HOLDER" --module "$MODULE" --token-label pat --pin-file "$WORK/pin" \
	--dir "$WORK/hstate" --now "$T3" present --issuer "$URL_near" --amount 120 --raw p3.pres \
	>p3.out 2>p3.err || { cat p3.out p3.err >&2; fail "present failed with the issuer down"; }
[ "$(grep -c 'warning: refresh at' p3.err)" = 1 ] || { cat p3.err >&2; fail "not one warning with the issuer down"; }
grep -q 'presenting the credential held' p3.err || fail "the warning does not say the code is still shown"
run g --now "$T3" check p3.pres
expect_log "^OPERATE .*serial=$S2 " "offline, the code of the credential held operates"

# A --refresh loop with the issuer down: one attempt, not one per code.
OFFPASS_P11_DIR=$WORK/htokens "$HOLDER" --module "$MODULE" --token-label pat --pin-file "$WORK/pin" \
	--dir "$WORK/hstate" --now "$T3" present --issuer "$URL_near" --amount 120 --raw p4.pres \
	--refresh 1 --count 3 >p4.out 2>p4.err || { cat p4.out p4.err >&2; fail "present --refresh failed offline"; }
[ "$(grep -c 'warning: refresh at' p4.err)" = 1 ] || { cat p4.err >&2; fail "a failed refresh retried for every code"; }
grep -q '^done after 3 codes' p4.out || { cat p4.out >&2; fail "the loop did not show 3 codes"; }

# Usage.
expect_fail() { if "$@" >"$WORK/last.log" 2>&1; then fail "succeeded: $*"; fi; }
expect_fail h present --amount 1 --refresh-margin 60
expect_log "need --issuer" "--refresh-margin without --issuer"
expect_fail h present --amount 1 --issuer "$URL_near" --refresh-margin 0
expect_log "refresh-margin: '0'" "a margin of 0 is refused"

pass "present --issuer refreshes near the end (next window kept, new serial operates once it begins), offline it warns once and still shows a code that operates"
