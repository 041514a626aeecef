#!/bin/bash
# deny-age.sh - the deny list's age rule with the real programs
# (docs/VERIFIER.md 3.5): a gate set up from the issuer's trust and deny
# lists operates; the same gate, 49 hours later without a sync, refuses
# with deny_list_stale (journaled, and settled later as a refusal) and says
# so in `status`; a till gate configured with --stale-max lets a small
# charge through and refuses a larger one; `offpass-gate sync` against an
# offpass-issuerd whose clock is 49 hours on gets a re-signed deny list
# and the same code operates. An idle gate whose clock is set back (to make
# a stale list look fresh) is refused though it never journaled a check.
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
NOW=$(date +%s)
LATE=$((NOW + 49 * 3600))
D=$WORK/iss
iss() { "$ISSUER" --dir "$D" --pin-file "$WORK/pin" "$@"; }
expect_exit() { local want=$1 got=0; shift; "$@" >"$WORK/last.log" 2>&1 || got=$?; [ "$got" = "$want" ] || { cat "$WORK/last.log" >&2; fail "exit $got, expected $want: $*"; }; }

run iss init --module "$MODULE" --token-label issuer
# Credentials valid for ten days, so that 49 hours on only the deny
# list's age can refuse.
sed -i 's/^credential_lifetime *=.*/credential_lifetime = 864000/' "$D/issuer.conf"
grep -q '^credential_lifetime = 864000$' "$D/issuer.conf" || fail "issuer.conf has no credential_lifetime line"
RITA=$(iss account open rita --code-file rita.code)
run iss account credit rita 1000000

issuerd_start "$D" now
mkdir -p "$WORK/htokens"
(export OFFPASS_P11_DIR=$WORK/htokens && init_token rita)
h() { OFFPASS_P11_DIR=$WORK/htokens "$HOLDER" --module "$MODULE" --token-label rita \
	--pin-file "$WORK/pin" --dir "$WORK/hstate" "$@"; }
run h keygen
run h enroll --issuer "$URL_now" --holder-id "$RITA" --code-file rita.code

# A gate provisioned with the issuer's current lists (init --deny).
G=e1e1e1e1e1e1e1e1
g() { "$GATE" --dir "$WORK/gate" "$@"; }
run g --id "$G" init --fare 120 --trust "$D/trust.bin" --deny "$D/deny.bin"
expect_log '^deny list: version 1$' "init installs the deny list"
run g pubkey -o gate.pub
run iss gate add --id "$G" --key gate.pub
run g --now "$NOW" status
expect_log '^deny list age: .*maximum 172800 s: fresh$' "a fresh gate says fresh"

run h --now "$NOW" present --amount 120 --raw p1.pres
run g --now "$NOW" check p1.pres
expect_log '^OPERATE' "the gate operates with a fresh deny list"

# 49 hours without a sync: refused, journaled, and status says why.
run h --now "$LATE" present --amount 120 --raw p2.pres
expect_exit 3 g --now "$LATE" check p2.pres
expect_log '^REFUSE deny_list_stale ' "a gate that missed its syncs for 49 h refuses"
expect_log 'deny_max_age' "the refusal names the setting"
run g --now "$LATE" status
expect_log '^deny list age: +176[34][0-9]{2} s .*STALE, every check is refused' "status shows the stale deny list"

# A till gate that lets small charges through while stale.
T=e2e2e2e2e2e2e2e2
t() { "$GATE" --dir "$WORK/till" "$@"; }
run t --id "$T" init --till --stale-max 50 --trust "$D/trust.bin" --deny "$D/deny.bin"
grep -q '^stale_operation_max = 50$' "$WORK/till/gate.conf" || fail "gate.conf lacks stale_operation_max"
expect_exit 2 "$GATE" --dir "$WORK/x" --id "$T" init --till --deny-max-age 0 --trust "$D/trust.bin"
expect_log "deny-max-age" "a maximum age of 0 is refused (off says off)"
run h --now "$LATE" present --amount 50 --raw small.pres
run t --now "$LATE" check --fare 50 small.pres
expect_log '^OPERATE .*amount=50 ' "while stale, a charge up to --stale-max operates"
run h --now "$LATE" present --amount 51 --raw big.pres
expect_exit 3 t --now "$LATE" check --fare 51 big.pres
expect_log '^REFUSE deny_list_stale ' "while stale, a larger charge is refused"
run t --now "$LATE" status
expect_log 'STALE, only charges up to 50 operate' "status of a till gate while stale"

# The issuer 49 hours on: sync gets a re-signed deny list, the journal
# with the refusal settles, and the same code operates.
issuerd_stop "$PID_now"
issuerd_start "$D" late --now "$LATE"
run g --now "$LATE" sync --issuer "$URL_late"
expect_log '^batch 1: settled \(2 records, 1 charged' "the batch with the stale refusal settles as a refusal"
expect_log '^deny-list: installed version 2 \(was 1\)' "sync installs the re-signed deny list"
grep -q 'GET /deny-list 200' late.log || fail "issuerd did not serve the deny list"
run g --now "$LATE" status
expect_log '^deny list age: +[0-9]+ s .*fresh$' "fresh again after the sync"
run g --now "$LATE" check p2.pres
expect_log '^OPERATE' "the refused code operates once the deny list is fresh"
# An unchanged list is not re-signed again within the hour.
run g --now $((LATE + 60)) sync --issuer "$URL_late"
expect_log '^deny-list: unchanged' "the re-signed list is served as is within its hour"

# An idle gate's clock set back (VERIFIER.md 3.4): a gate installed at
# NOW that never checked anything, whose syncs fail (the uplink cut) and
# whose status was read 49 h on, has its clock set back to make its deny
# list look fresh: refused, though nothing was ever journaled.
I=e3e3e3e3e3e3e3e3
i() { "$GATE" --dir "$WORK/idle" "$@"; }
# (deny.bin was re-signed at LATE by now: the gate starts from its trust
# list, whose age counts as the deny list's.)
run i --id "$I" --now "$NOW" init --fare 120 --trust "$D/trust.bin"
expect_exit 1 i --now "$((NOW + 3600))" sync --issuer "http://127.0.0.1:1"
run i --now "$LATE" status
expect_log 'STALE, every check is refused' "the idle gate is stale 49 h on"
run h --now "$((NOW + 7200))" present --amount 120 --raw back.pres
expect_exit 3 i --now "$((NOW + 7200))" check back.pres
expect_log '^REFUSE clock_back ' "a check with the idle gate's clock set back is refused as clock_back"
expect_exit 3 i --now "$((NOW + 7200))" status
expect_log 'set back' "status with the clock set back says so"
expect_exit 3 i --now "$((NOW + 7200))" update "$D/deny.bin"
expect_log 'gate clock' "a list install with the clock set back is refused"
expect_exit 3 i --now "$((NOW + 7200))" sync --issuer "$URL_late"
expect_log 'set back' "a sync with the clock set back is refused before it sends anything"
run i --now "$((LATE + 100))" status

pass "a gate 49 h without sync refuses (deny_list_stale, journaled, settled as a refusal), --stale-max lets small charges through, status shows the age, sync with issuerd makes it operate again"
