#!/bin/bash
# issuerd-pg.sh - three offpass-issuerd processes on one PostgreSQL ledger
# (a private cluster), at once: every process gets every sealed batch of
# two gates (overlapping sets, in different orders), riders refresh their
# credentials through them, and the operator credits the same accounts
# from the CLI meanwhile. Afterwards: every upload answered settled or
# already settled, each batch settled exactly once, each authorization
# charged once, and every balance = credits - charges to the unit (no lost
# update), and no request answered 503. Issuances queue on the row lock
# of their account, settlements on the row lock of their gate and then of
# their accounts, across the processes, instead of failing each other;
# what still collides (the operator's credits against a settlement) is
# refused by PostgreSQL and run again by the issuer: each issuerd counts
# those refusals, its statements and round trips on stderr when it stops,
# and the script prints them.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/issuerd-lib.sh
. "$(dirname "$0")/issuerd-lib.sh"
# shellcheck source=tests/integration/pg-lib.sh
. "$(dirname "$0")/pg-lib.sh"
need pkcs11-tool curl basenc

issuerd_api_programs

pg_start
cd "$WORK"
init_token issuer
echo "$USER_PIN" >pin
NOW=$(date +%s)
D=$WORK/iss
iss() { "$ISSUER" --dir "$D" --pin-file "$WORK/pin" "$@"; }
balance() { iss account show "$1" | awk '$1 == "balance" { print $2 }'; }

run iss --ledger "$PG_URL" init --module "$MODULE" --token-label issuer
grep -q "^ledger = $PG_URL\$" "$D/issuer.conf" || fail "init --ledger did not keep the URL in issuer.conf"
[ ! -e "$D/ledger.db" ] || fail "init --ledger made ledger.db too"
run iss status
expect_log '^ledger +postgresql' "the ledger is PostgreSQL"
# A second issuer on the same database is refused.
expect_exit() { local want=$1 got=0; shift; "$@" >"$WORK/last.log" 2>&1 || got=$?; [ "$got" = "$want" ] || { cat "$WORK/last.log" >&2; fail "exit $got, expected $want: $*"; }; }
mkdir -p "$WORK/otokens"
(
	export OFFPASS_P11_DIR=$WORK/otokens
	init_token other
	expect_exit 3 "$ISSUER" --dir "$WORK/other" --pin-file pin --ledger "$PG_URL" init --module "$MODULE" \
		--token-label other
	expect_log "holds an issuer's ledger already" "a second issuer on one database"
) || fail "a second issuer on one database"

RIDERS="r0 r1 r2 r3"
CREDIT=1000000
for r in $RIDERS; do
	hid=$(iss account open "$r" --code-file "$r.code")
	run iss account credit "$r" $CREDIT
	run "$MK" keygen -o "$r.pem"
	run "$MK" request --key "$r.pem" --holder-id "$hid" --time "$NOW" --code-file "$r.code" -o "$r.req"
	run iss issue "$r.req" -o "$r.cred"
done

# Two gates, NB batches each; a batch charges two riders (5 and 7), every
# authorization its own counter.
NB=12
declare -A CHARGED COUNT
for r in $RIDERS; do CHARGED[$r]=0; COUNT[$r]=0; done
for g in 1 2; do
	run "$MK" keygen -o "g$g.pem"
	run "$MK" pubkey --key "g$g.pem" -o "g$g.pub"
	run iss gate add --id "$g$g$g$g$g$g$g$g$g$g$g$g$g$g$g$g" --key "g$g.pub"
	for s in $(seq 1 $NB); do
		a=r$((s % 4))
		b=r$(((s + g) % 4))
		[ "$a" != "$b" ] || b=r$(((s + g + 1) % 4))
		run "$MK" batch --trust "$D/trust.bin" --time "$NOW" --gate-key "g$g.pem" \
			--gate-id "$g$g$g$g$g$g$g$g$g$g$g$g$g$g$g$g" --sequence "$s" \
			--record "$a.cred:$a.pem:$((g * 1000 + 2 * s)):5" --record "$b.cred:$b.pem:$((g * 1000 + 2 * s + 1)):7" \
			-o "g$g-b$s"
		CHARGED[$a]=$((CHARGED[$a] + 5))
		CHARGED[$b]=$((CHARGED[$b] + 7))
		COUNT[$a]=$((COUNT[$a] + 1))
		COUNT[$b]=$((COUNT[$b] + 1))
	done
done

P=3
for i in $(seq 1 $P); do
	issuerd_start "$D" "p$i"
done
url_of() { local v="URL_p$1"; echo "${!v}"; }

upload_all()
{
	local u=$1 order=$2 f
	for f in $(ls g1-b* g2-b* | sort $order); do
		curl -s -o "up-$3-$f.json" -w "%{http_code} $f\n" -H 'Content-Type: application/octet-stream' \
			--data-binary "@$f" "$u/gate/batch"
	done
}

refresh()
{
	local r=$1 u=$2 n code
	code=$(curl -s -o "$r-nonce.json" -w '%{http_code}' -X POST "$u/nonce")
	[ "$code" = 200 ] || { echo "nonce $code" >"$r-refresh.status"; return; }
	n=$(sed -n 's/.*"c_nonce":"\([^"]*\)".*/\1/p' "$r-nonce.json")
	"$PROOF" --key "$r.pem" --aud "$u" --nonce "$n" --cred "$r.cred" -o "$r-proof.json" >/dev/null 2>&1
	curl -s -o "$r-refresh.json" -w '%{http_code}\n' -H 'Content-Type: application/json' \
		--data-binary "@$r-proof.json" "$u/credential" >"$r-refresh.status"
}

EXTRA=0
( upload_all "$(url_of 1)" "" 1 >codes-1 ) &
U1=$!
( upload_all "$(url_of 2)" "-r" 2 >codes-2 ) &
U2=$!
( upload_all "$(url_of 3)" "-R" 3 >codes-3 ) &
U3=$!
i=0
REFRESHES=
for r in $RIDERS; do
	refresh "$r" "$(url_of $((i % P + 1)))" &
	REFRESHES="$REFRESHES $!"
	i=$((i + 1))
done
# The operator credits the same accounts meanwhile (its own transactions).
for k in 1 2 3 4 5; do
	for r in $RIDERS; do
		iss account credit "$r" 3 >/dev/null
	done
	EXTRA=$((EXTRA + 3))
done
# (Not a bare wait: the issuerds are this shell's children too.)
# shellcheck disable=SC2086
wait "$U1" "$U2" "$U3" $REFRESHES

TOTAL=$((2 * NB))
for i in $(seq 1 $P); do
	[ "$(grep -c '^200 ' "codes-$i")" = $TOTAL ] ||
		fail "issuerd $i: not every upload answered 200: $(grep -v '^200 ' "codes-$i" | head -3 | tr '\n' ' ')"
done
for f in up-*.json; do
	cat "$f"
	echo
done >all-answers
[ "$(grep -Ec '"result":"(settled|already_settled)"' all-answers)" = $((P * TOTAL)) ] ||
	fail "an answer was neither settled nor already settled"
SETTLED=$(grep -c '"result":"settled"' all-answers || true)
[ "$SETTLED" = "$TOTAL" ] || fail "$SETTLED settled answers for $TOTAL batches: each must be settled exactly once"
for r in $RIDERS; do
	[ "$(cat "$r-refresh.status")" = 200 ] || fail "$r's refresh: $(cat "$r-refresh.status") $(cat "$r-refresh.json" 2>/dev/null)"
	want=$((CREDIT + EXTRA - CHARGED[$r]))
	[ "$(balance "$r")" = "$want" ] || fail "$r: balance $(balance "$r"), expected $want (credits - charges)"
	n=$(iss account history "$r" | grep -c ' charge ' || true)
	[ "$n" = "${COUNT[$r]}" ] || fail "$r: $n charges in the history, expected ${COUNT[$r]}"
done
PSQL=$(ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | head -1)
if [ -n "$PSQL" ]; then
	ROLLBACKS=$("$PSQL" -At "$PG_URL" -c "SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database()" 2>/dev/null || echo "?")
	echo "transactions rolled back in PostgreSQL (collisions run again, and refusals): $ROLLBACKS"
fi
grep -h '"error"' up-*.json r*-refresh.json 2>/dev/null && fail "a request was answered with an error (503?)"
RETRIES=0
for i in $(seq 1 $P); do
	pid="PID_p$i"
	issuerd_stop "${!pid}"
	line=$(grep ': ledger: ' "$WORK/p$i.err") || fail "issuerd p$i did not report its ledger figures"
	echo "p$i: $line"
	n=$(echo "$line" | sed -n 's/.* committed, \([0-9]*\) refused for a concurrent one.*/\1/p')
	[ -n "$n" ] || fail "issuerd p$i: no count of refused transactions in '$line'"
	RETRIES=$((RETRIES + n))
done
echo "issuerd-pg: $P processes, $TOTAL batches uploaded to each, each settled once; balances exact;" \
	"$RETRIES transactions refused for a concurrent one and run again, no 503"

