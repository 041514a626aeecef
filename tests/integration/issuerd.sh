#!/bin/bash
# issuerd.sh - offpass-issuerd over HTTP on loopback, driven with curl and
# a software wallet (issuer/test-make-proof): OpenID4VCI metadata, nonces,
# enrollment with the code (token endpoint: the holder id as the
# pre-authorized code, the enrollment code as tx_code), refresh by proof
# of possession (ES256 and EdDSA), offpass-gate sync, gate batches (settled,
# already settled, refused), the lists with ETag / If-None-Match, hostile
# requests (each a 4xx naming the field, the service still up), the
# failure limit, and an issuerd killed in the middle of uploads: every
# batch sent again, nothing lost, nothing charged twice.
#
# OFFPASS_TEST_LEDGER=URL initialises the issuer with --ledger URL (a
# PostgreSQL ledger; tests/integration/issuerd-on-pg.sh starts a cluster
# and runs this script with it); unset, the ledger is SQLite.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/issuerd-lib.sh
. "$(dirname "$0")/issuerd-lib.sh"
need pkcs11-tool curl basenc

issuerd_api_programs

cd "$WORK"
init_token issuer
echo "$USER_PIN" >pin
NOW=$(date +%s)
D=$WORK/iss
iss() { "$ISSUER" --dir "$D" --pin-file "$WORK/pin" "$@"; }
balance() { iss account show "$1" | awk '$1 == "balance" { print $2 }'; }

LEDGER_OPT=()
[ -z "${OFFPASS_TEST_LEDGER:-}" ] || LEDGER_OPT=(--ledger "$OFFPASS_TEST_LEDGER")
run iss "${LEDGER_OPT[@]}" init --module "$MODULE" --token-label issuer
run iss status
if [ -n "${OFFPASS_TEST_LEDGER:-}" ]; then
	expect_log '^ledger +postgresql' "the ledger is the PostgreSQL one asked for"
else
	expect_log '^ledger +sqlite' "the ledger is SQLite"
fi
# Balances well above the grant: a refresh's credential counts beside the
# live one (the exposure rule).
HID=$(iss account open alice --code-file alice.code)
run iss account credit alice 1000000
run "$MK" keygen -o alice.pem
run "$MK" request --key alice.pem --holder-id "$HID" --time "$NOW" --code-file alice.code -o alice.req
run iss issue alice.req -o alice.cred
BOB=$(iss account open bob --code-file bob.code)
run iss account credit bob 100000
run "$MK" keygen --ed25519 -o bob.pem
run "$MK" request --ed25519 --key bob.pem --holder-id "$BOB" --time "$NOW" --code-file bob.code -o bob.req
run iss issue bob.req -o bob.cred
ERIN=$(iss account open erin --code-file erin.code)
run iss account credit erin 1000000
run "$MK" keygen -o erin.pem
run "$MK" request --key erin.pem --holder-id "$ERIN" --time "$NOW" --code-file erin.code -o erin.req
run iss issue erin.req -o erin.cred
run "$MK" keygen -o mallory.pem

# ---- start: plain HTTP only on loopback --------------------------------------------------
expect_exit() { local want=$1 got=0; shift; "$@" >"$WORK/last.log" 2>&1 || got=$?; [ "$got" = "$want" ] || { cat "$WORK/last.log" >&2; fail "exit $got, expected $want: $*"; }; }
expect_exit 2 "$ISSUERD" --dir "$D" --pin-file pin --listen 0.0.0.0:0
expect_log "loopback" "plain HTTP on a public address refused"
expect_exit 2 "$ISSUERD" --dir "$D" --pin-file pin --listen nonsense
expect_exit 0 "$ISSUERD" --help
expect_log "^Usage: offpass-issuerd" "--help"

issuerd_start "$D" one
U=$URL_one

# ---- metadata ----------------------------------------------------------------------------------
http GET "$U/.well-known/openid-credential-issuer"
expect_status 200 "issuer metadata"
expect_body "\"credential_issuer\":\"$U\"" "metadata names the issuer"
expect_body "\"nonce_endpoint\":\"$U/nonce\"" "metadata names the nonce endpoint"
expect_body '"format":"offpass_credential_v1"' "our format id"
expect_body '"proof_signing_alg_values_supported":\["ES256","EdDSA"\]' "proof algorithms"
http GET "$U/.well-known/oauth-authorization-server"
expect_status 200 "AS metadata"
expect_body "\"token_endpoint\":\"$U/token\"" "token endpoint"

# ---- refresh -------------------------------------------------------------------------------------
nonce() { http POST "$U/nonce"; expect_status 200 "nonce"; grep -qi '^cache-control: no-store' "$WORK/headers" || fail "nonce without no-store"; json_str c_nonce; }
post_credential() { http POST "$U/credential" -H 'Content-Type: application/json' --data-binary "@$1"; }

N=$(nonce)
[ -n "$N" ] || fail "no c_nonce"
run "$PROOF" --key alice.pem --aud "$U" --nonce "$N" --cred alice.cred -o refresh.json
post_credential refresh.json
expect_status 200 "refresh with a proof"
b64url_decode "$(json_str credential)" alice2.cred
[ "$(stat -c %s alice2.cred)" = 137 ] || fail "refreshed credential is not 137 bytes"
[ "$(json_num offpass_serial)" = 4 ] || fail "refresh serial $(json_num offpass_serial), expected 4"
[ "$(json_num offpass_not_before)" -ge "$NOW" ] || fail "the refreshed window starts before now"
grep -q "POST /credential 200 .*refresh serial 4" one.log || fail "no log line for the refresh"
# The same proof again: its nonce is spent.
post_credential refresh.json
expect_status 400 "replayed proof"
expect_body '"error":"invalid_nonce"' "replay named"
expect_body 'used already' "replay says why"
# Ed25519 holder (EdDSA proof).
N=$(nonce)
run "$PROOF" --key bob.pem --aud "$U" --nonce "$N" --cred bob.cred -o bob.json
post_credential bob.json
expect_status 200 "EdDSA refresh"
# Someone else's credential (public: it is in every QR code) with his own key.
N=$(nonce)
run "$PROOF" --key mallory.pem --aud "$U" --nonce "$N" --cred alice.cred -o steal.json
post_credential steal.json
expect_status 400 "a stranger refreshing alice"
expect_body '"field":"proof.header.jwk"' "key mismatch named"
# A jwk that is not the signer's.
N=$(nonce)
run "$PROOF" --key mallory.pem --jwk-key alice.pem --aud "$U" --nonce "$N" --cred alice.cred -o forged.json
post_credential forged.json
expect_status 400 "forged proof"
expect_body '"field":"proof.signature"' "bad signature named"
# Wrong audience, stale iat, wrong typ, a nonce we never made.
N=$(nonce)
run "$PROOF" --key alice.pem --aud "https://elsewhere.example" --nonce "$N" --cred alice.cred -o aud.json
post_credential aud.json
expect_status 400 "wrong audience"
expect_body '"field":"proof.payload.aud"' "aud named"
run "$PROOF" --key alice.pem --aud "$U" --nonce "$N" --iat $((NOW - 3600)) --cred alice.cred -o iat.json
post_credential iat.json
expect_status 400 "stale iat"
expect_body '"field":"proof.payload.iat"' "iat named"
run "$PROOF" --key alice.pem --aud "$U" --nonce "$N" --typ JWT --cred alice.cred -o typ.json
post_credential typ.json
expect_status 400 "wrong typ"
expect_body '"field":"proof.header.typ"' "typ named"
run "$PROOF" --key alice.pem --aud "$U" --nonce "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" --cred alice.cred -o fake.json
post_credential fake.json
expect_status 400 "foreign nonce"
expect_body '"error":"invalid_nonce"' "foreign nonce named"
# No access token and no credential: enrollment needs a token.
N=$(nonce)
run "$PROOF" --key alice.pem --aud "$U" --nonce "$N" -o bare.json
post_credential bare.json
expect_status 401 "no token, no credential"
expect_body '"field":"Authorization"' "missing token named"
# A denied credential gets nothing.
run iss deny serial 1
N=$(nonce)
run "$PROOF" --key alice.pem --aud "$U" --nonce "$N" --cred alice.cred -o denied.json
post_credential denied.json
expect_status 400 "denied serial"
expect_body 'credential_request_denied|deny list' "denied serial refused"

# ---- enrollment with the code: the token endpoint, then the credential ---------------------------
FRANK=$(iss account open frank --code-file frank.code)
run iss account credit frank 100000
run "$MK" keygen -o frank.pem
run "$MK" keygen -o thief.pem
GRANT='grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Apre-authorized_code'
token() { http POST "$U/token" -H 'Content-Type: application/x-www-form-urlencoded' --data-binary "$1"; }
# A thief knows frank's holder id (it is in every code frank shows) but not the code.
token "$GRANT&pre-authorized_code=$FRANK&tx_code=AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH"
expect_status 400 "a guessed code"
expect_body '"error":"invalid_grant"' "a wrong code is invalid_grant"
expect_body '"field":"tx_code"' "tx_code named"
token "$GRANT&pre-authorized_code=$FRANK"
expect_status 400 "no tx_code"
expect_body '"field":"tx_code"' "missing tx_code named"
token "grant_type=password&pre-authorized_code=$FRANK&tx_code=$(cat frank.code)"
expect_body '"error":"unsupported_grant_type"' "other grant types refused"
token "$GRANT&pre-authorized_code=zz&tx_code=$(cat frank.code)"
expect_body '"field":"pre-authorized_code"' "bad holder id named"
http POST "$U/token" -H 'Content-Type: application/json' --data-binary '{}'
expect_status 415 "token endpoint wants a form"
token "$GRANT&pre-authorized_code=$FRANK&tx_code=$(cat frank.code)"
expect_status 200 "the right code"
grep -qi '^cache-control: no-store' "$WORK/headers" || fail "token without no-store"
AT=$(json_str access_token)
[ "$(json_str token_type)" = Bearer ] || fail "token_type is not Bearer"
N=$(nonce)
run "$PROOF" --key frank.pem --aud "$U" --nonce "$N" -o frank.json
http POST "$U/credential" -H 'Content-Type: application/json' -H "Authorization: Bearer $AT" --data-binary @frank.json
expect_status 200 "enrollment with the access token"
b64url_decode "$(json_str credential)" frank.cred
[ "$(stat -c %s frank.cred)" = 137 ] || fail "enrolled credential is not 137 bytes"
grep -q "POST /credential 200 .*enroll serial" one.log || fail "no log line for the enrollment"
# The code is spent: the same token for the thief's key gets nothing.
N=$(nonce)
run "$PROOF" --key thief.pem --aud "$U" --nonce "$N" -o thief.json
http POST "$U/credential" -H 'Content-Type: application/json' -H "Authorization: Bearer $AT" --data-binary @thief.json
expect_status 400 "a second key on one code"
expect_body 'credential_request_denied' "the spent code refuses a second key"
token "$GRANT&pre-authorized_code=$FRANK&tx_code=$(cat frank.code)"
expect_status 400 "a used code at the token endpoint"
expect_body 'used' "the used code says so"
# A forged access token.
N=$(nonce)
run "$PROOF" --key thief.pem --aud "$U" --nonce "$N" -o thief2.json
http POST "$U/credential" -H 'Content-Type: application/json' -H "Authorization: Bearer AAAA$AT" --data-binary @thief2.json
expect_status 401 "a forged access token"
grep -q "$(cat frank.code)" one.log && fail "the log holds an enrollment code"
grep -q "$AT" one.log && fail "the log holds an access token"

# ---- hostile requests: a 4xx naming the field, the service stays up ----------------------------
http POST "$U/credential" -H 'Content-Type: application/json' --data-binary '{"credential_configuration_id":'
expect_status 400 "truncated JSON"
expect_body '"field":"body"' "JSON error named"
http POST "$U/credential" -H 'Content-Type: application/json' --data-binary '{"credential_configuration_id":"x","proofs":{"jwt":["a.b.c"]}}'
expect_status 400 "unknown configuration"
expect_body '"error":"unknown_credential_configuration"' "configuration named"
http POST "$U/credential" -H 'Content-Type: application/json' --data-binary '{"credential_configuration_id":"offpass"}'
expect_body '"field":"proofs"' "missing proofs named"
http POST "$U/credential" -H 'Content-Type: application/json' --data-binary '{"credential_configuration_id":"offpass","proofs":{"jwt":["a.b.c","d.e.f"]}}'
expect_body '"field":"proofs.jwt"' "two proofs named"
http POST "$U/credential" -H 'Content-Type: application/json' --data-binary '{"credential_configuration_id":"offpass","proofs":{"jwt":["!!.??.**"]}}'
expect_status 400 "garbage JWT"
expect_body '"field":"proof.signature"' "garbage JWT named"
http POST "$U/credential" -H 'Content-Type: text/plain' --data-binary '{}'
expect_status 415 "wrong content type"
expect_body '"field":"Content-Type"' "content type named"
head -c 20000 /dev/zero | tr '\0' 'a' >big.json
http POST "$U/credential" -H 'Content-Type: application/json' --data-binary @big.json
expect_status 413 "oversized body"
http GET "$U/credential"
expect_status 405 "GET on a POST endpoint"
http GET "$U/no/such/thing"
expect_status 404 "unknown path"
http POST "$U/gate/batch" -H 'Content-Type: application/octet-stream' --data-binary 'not a batch'
expect_status 422 "garbage batch"
expect_body '"error":"batch_refused"' "garbage batch refused"
http GET "$U/.well-known/openid-credential-issuer"
expect_status 200 "still serving after hostile requests"

# ---- lists with ETag -------------------------------------------------------------------------------
http GET "$U/trust-list"
expect_status 200 "trust list"
same_file "$WORK/body" "$D/trust.bin" "trust list over HTTP"
ETAG=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *\([^[:space:]]*\).*/\1/p' "$WORK/headers")
[ -n "$ETAG" ] || fail "no ETag on the trust list"
http GET "$U/trust-list" -H "If-None-Match: $ETAG"
expect_status 304 "unchanged trust list"
http GET "$U/deny-list"
expect_status 200 "deny list"
same_file "$WORK/body" "$D/deny.bin" "deny list over HTTP"
DETAG=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *\([^[:space:]]*\).*/\1/p' "$WORK/headers")
run iss deny holder bob
http GET "$U/deny-list" -H "If-None-Match: $DETAG"
expect_status 200 "a new deny list is sent despite the old ETag"
same_file "$WORK/body" "$D/deny.bin" "new deny list over HTTP"

# ---- gate batches ----------------------------------------------------------------------------------
G1=a1a1a1a1a1a1a1a1
run "$MK" keygen -o g1.pem
run "$MK" pubkey --key g1.pem -o g1.pub
run iss gate add --id "$G1" --key g1.pub
START=$(balance erin)
post_batch() { http POST "$U/gate/batch" -H 'Content-Type: application/octet-stream' --data-binary "@$1"; }
NB=40
for i in $(seq 1 $NB); do
	run "$MK" batch --trust "$D/trust.bin" --time "$NOW" --gate-key g1.pem --gate-id "$G1" --sequence "$i" \
		--record "erin.cred:erin.pem:$((2 * i)):10" --record "erin.cred:erin.pem:$((2 * i + 1)):10" -o "b$i"
done
post_batch b1
expect_status 200 "batch upload"
expect_body '"result":"settled"' "settled"
expect_body '"charged":2' "two charged"
post_batch b1
expect_status 200 "the same batch again"
expect_body '"result":"already_settled"' "already settled"
[ "$(balance erin)" = $((START - 20)) ] || fail "balance after batch 1: $(balance erin)"
run "$MK" batch --trust "$D/trust.bin" --time "$NOW" --gate-key g1.pem --gate-id "$G1" --sequence 1 \
	--record "erin.cred:erin.pem:99:10" -o b1-other
post_batch b1-other
expect_status 422 "different records under a settled sequence"

# Kill issuerd -9 while batches 2..NB stream in (once a few are settled),
# restart it, send every batch again (a gate that got no answer sends
# again): each charged once, none lost.
for i in $(seq 2 $NB); do
	curl -s -o /dev/null -H 'Content-Type: application/octet-stream' --data-binary "@b$i" "$U/gate/batch" || true
done &
UPLOADS=$!
for i in $(seq 1 200); do
	[ "$(grep -c ' settled gate' one.log)" -ge 4 ] && break
	sleep 0.01
done
kill -KILL "$PID_one" 2>/dev/null || true
wait "$PID_one" 2>/dev/null || true
wait "$UPLOADS" 2>/dev/null || true
issuerd_start "$D" two
U=$URL_two
SETTLED_BEFORE=$(grep -c ' settled gate' one.log || true)
[ "$SETTLED_BEFORE" -lt "$NB" ] || fail "the kill came after every upload (not in the middle)"
for i in $(seq 1 $NB); do
	post_batch "b$i"
	expect_status 200 "batch $i after the restart"
	expect_body '"result":"(settled|already_settled)"' "batch $i settled"
done
[ "$(balance erin)" = $((START - 20 * NB)) ] ||
	fail "after the kill and resend: balance $(balance erin), expected $((START - 20 * NB))"
echo "killed after $SETTLED_BEFORE of $NB batches; all $NB settled once after the restart"

# (On issuerd two: one's failure budget for this address is spent.)
# Her own credential with one byte of its signature changed, proven with
# her own key: the key matches, the issuer does not know the bytes.
cp alice.cred tampered.cred
last=$(od -An -tu1 -j136 -N1 alice.cred | tr -d ' ')
printf "\\$(printf %03o $((last ^ 1)))" | dd of=tampered.cred bs=1 seek=136 conv=notrunc 2>/dev/null
cmp -s alice.cred tampered.cred && fail "the tampered credential is alice's"
N=$(nonce)
run "$PROOF" --key alice.pem --aud "$U" --nonce "$N" --cred tampered.cred -o tampered.json
post_credential tampered.json
expect_status 400 "a tampered credential"
expect_body '"error":"invalid_credential_request"' "tampered credential refused as a credential"
expect_body '"field":"offpass_credential"' "tampered credential named"

# ---- two issuerds on one ledger settle overlapping batch sets at once ------------------------
issuerd_start "$D" three
G2=b2b2b2b2b2b2b2b2
run "$MK" keygen -o g2.pem
run "$MK" pubkey --key g2.pem -o g2.pub
run iss gate add --id "$G2" --key g2.pub
for i in $(seq 1 20); do
	run "$MK" batch --trust "$D/trust.bin" --time "$NOW" --gate-key g2.pem --gate-id "$G2" --sequence "$i" \
		--record "erin.cred:erin.pem:$((1000 + 2 * i)):5" --record "erin.cred:erin.pem:$((1001 + 2 * i)):5" -o "c$i"
done
START=$(balance erin)
# Each process gets every batch, in opposite orders, at the same time.
( for i in $(seq 1 20); do curl -s -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/octet-stream' \
	--data-binary "@c$i" "$URL_two/gate/batch"; done >codes-two ) &
P2=$!
( for i in $(seq 20 -1 1); do curl -s -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/octet-stream' \
	--data-binary "@c$i" "$URL_three/gate/batch"; done >codes-three ) &
P3=$!
wait "$P2" "$P3"
[ "$(grep -c '^200$' codes-two)" = 20 ] && [ "$(grep -c '^200$' codes-three)" = 20 ] ||
	fail "two issuerds: not every upload answered 200 ($(sort codes-two codes-three | uniq -c | tr '\n' ' '))"
[ "$(balance erin)" = $((START - 200)) ] || fail "two issuerds: balance $(balance erin), expected $((START - 200))"
SETTLED=$(cat two.log three.log | grep -c ' settled gate b2b2' || true)
[ "$SETTLED" = 20 ] || fail "two issuerds: $SETTLED batches settled, expected each of 20 once"
issuerd_stop "$PID_three"

# ---- offpass-holder refresh: the proof signed inside its token -----------------------------------
HOLDER=$B/holder/offpass-holder
[ -x "$HOLDER" ] || fail "$HOLDER not built"
mkdir -p "$WORK/htokens"
(export OFFPASS_P11_DIR=$WORK/htokens && init_token holder)
CAROL=$(iss account open carol --code-file carol.code)
run iss account credit carol 100000
h() { OFFPASS_P11_DIR=$WORK/htokens "$HOLDER" --module "$MODULE" --token-label holder \
	--pin-file "$WORK/pin" --dir "$WORK/hstate" "$@"; }
run h keygen
run h enroll --holder-id "$CAROL" --code-file carol.code -o carol.req
run iss issue carol.req -o carol.cred
run h install --trust "$D/trust.bin" carol.cred
run h refresh --issuer "$U"
expect_log "serial [0-9]+" "holder refresh gets the next credential"
NEXT_SERIAL=$(grep -Eo 'serial [0-9]+' "$WORK/last.log" | head -1 | awk '{ print $2 }')
# The next window starts when the current one ends: the current one keeps
# presenting until then, and the next takes over by itself.
run h present --amount 10 --raw carol-now.pres
CUR_END=$(iss account history carol | grep -Eo 'until [0-9]+' | head -1 | awk '{ print $2 }')
[ -n "$CUR_END" ] || fail "no end of carol's first credential in the history"
run h --now $((CUR_END + 10)) present --amount 10 --raw carol-next.pres
# The presentation is the credential with its header replaced: serial at 6.
od -An -tx1 -j 6 -N 8 carol-next.pres | tr -d ' \n' >carol-next.serial
[ "$((16#$(cat carol-next.serial)))" = "$NEXT_SERIAL" ] || fail "the presentation at the next window is not serial $NEXT_SERIAL"
grep -q "POST /credential 200 .*refresh serial" two.log || fail "issuerd did not log the holder's refresh"
expect_exit 1 h refresh --issuer "http://192.0.2.1:1"
expect_log "https only" "plain http to a public address refused"
run iss deny holder carol
expect_exit 3 h refresh --issuer "$U"
expect_log "credential_request_denied" "a denied holder gets nothing, and hears why"

# ---- offpass-gate sync: a token holder enrolled online rides; the gate syncs --------------------
GATE=$B/verifier/gate/offpass-gate
[ -x "$GATE" ] || fail "$GATE not built"
GINA=$(iss account open gina --code-file gina.code)
run iss account credit gina 100000
mkdir -p "$WORK/gtokens"
(export OFFPASS_P11_DIR=$WORK/gtokens && init_token gina)
hg() { OFFPASS_P11_DIR=$WORK/gtokens "$HOLDER" --module "$MODULE" --token-label gina \
	--pin-file "$WORK/pin" --dir "$WORK/gstate" "$@"; }
run hg keygen
run hg enroll --issuer "$U" --holder-id "$GINA" --code-file gina.code
expect_log "serial [0-9]+" "online enrollment with offpass-holder"
G4=d4d4d4d4d4d4d4d4
g() { "$GATE" --dir "$WORK/gate4" "$@"; }
run g --id "$G4" init --fare 120 --trust "$D/trust.bin"
run g pubkey -o gate4.pub
run iss gate add --id "$G4" --key gate4.pub
GSTART=$(balance gina)
run hg present --amount 120 --raw gina1.pres
run g check gina1.pres
expect_log '^OPERATE' "the gate operates for gina"
run g sync --issuer "$U"
expect_log "batch 1: settled" "sync uploads and confirms batch 1"
expect_log "deny-list: installed version" "sync installs the newer deny list"
[ "$(balance gina)" = $((GSTART - 120)) ] || fail "gina after sync: $(balance gina)"
run g sync --issuer "$U"
expect_log "no batch to send" "nothing left after a confirmed batch"
expect_log "deny-list: unchanged" "ETag: the deny list is not sent again"
# The issuer down: the batch stays, the next sync sends it.
run hg present --amount 120 --raw gina2.pres
run g check gina2.pres
issuerd_stop "$PID_two"
expect_exit 1 g sync --issuer "$U"
expect_log "not sent" "a failed upload says so"
issuerd_start "$D" two
U=$URL_two
run g sync --issuer "$U"
expect_log "batch 2: settled" "the batch kept through the failure is sent"
[ "$(balance gina)" = $((GSTART - 240)) ] || fail "gina after the second sync: $(balance gina)"
# An answer lost on the way: the issuer has the batch, the gate does not
# know; the next sync sends it again and confirms on "already settled".
run hg present --amount 120 --raw gina3.pres
run g check gina3.pres
run g export -o gate4-3.bin
run iss settle gate4-3.bin
run g sync --issuer "$U"
expect_log "batch 3: already_settled" "a batch the issuer has is confirmed, not charged again"
[ "$(balance gina)" = $((GSTART - 360)) ] || fail "gina charged twice: $(balance gina)"
# A new deny list reaches the gate with the next sync.
run iss deny serial 2
run g sync --issuer "$U"
expect_log "deny-list: installed version" "a newer deny list after a deny"

# ---- TLS: the service with a certificate, the holder trusting its CA --------------------------
need openssl
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout tls.key -out tls.pem >tls.log 2>&1 || { cat tls.log >&2; fail "openssl req"; }
issuerd_start "$D" tls --cert tls.pem --key tls.key
T="https://127.0.0.1:$PORT_tls"
http GET "$T/.well-known/openid-credential-issuer" --cacert tls.pem
expect_status 200 "metadata over TLS"
expect_body "\"credential_issuer\":\"$T\"" "the https URL as identifier"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' "$T/.well-known/openid-credential-issuer" || true)
[ "$STATUS" = 000 ] || fail "an untrusted certificate was accepted ($STATUS)"
run iss deny serial 1 # already denied: no change
DAVE=$(iss account open dave --code-file dave.code)
run iss account credit dave 100000
mkdir -p "$WORK/dtokens"
(export OFFPASS_P11_DIR=$WORK/dtokens && init_token dave)
hd() { OFFPASS_P11_DIR=$WORK/dtokens "$HOLDER" --module "$MODULE" --token-label dave \
	--pin-file "$WORK/pin" --dir "$WORK/dstate" "$@"; }
run hd keygen --alg ed25519
expect_exit 1 hd enroll --issuer "$T" --holder-id "$DAVE" --code-file dave.code
expect_log "certificate|SSL" "enrollment without trusting the CA fails"
run hd enroll --issuer "$T" --cacert tls.pem --holder-id "$DAVE" --code-file dave.code
expect_log "serial [0-9]+" "online enrollment over TLS (Ed25519 key in the token)"
run hd refresh --issuer "$T" --cacert tls.pem
expect_log "serial [0-9]+" "holder refresh over TLS"
issuerd_stop "$PID_tls"

# ---- the failure limit -----------------------------------------------------------------------------
issuerd_stop "$PID_two"
issuerd_start "$D" four --max-failures 3
U=$URL_four
for i in 1 2 3; do
	post_credential forged.json
	expect_status 400 "forged proof $i"
done
post_credential forged.json
expect_status 429 "the fourth failure from one address"
grep -qi '^retry-after:' "$WORK/headers" || fail "429 without Retry-After"
# Nothing secret in the logs: no nonce, no proof, no credential bytes.
for f in one.log two.log three.log four.log; do
	grep -q "$N" "$f" && fail "$f holds a nonce"
	grep -q 'eyJ' "$f" && fail "$f holds a JWT"
done
issuerd_stop "$PID_four"
pass "metadata, refresh, hostile requests, lists, batches across a kill, limits"
