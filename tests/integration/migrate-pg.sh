#!/bin/bash
# migrate-pg.sh - offpass-issuer migrate: an SQLite ledger with accounts,
# credentials, charges (a double use among them), a gap and deny entries is
# copied into a private PostgreSQL cluster; account show, history and
# status read the same there, settlement and issuance go on (the same batch
# again is "already settled", serials continue), and a second migrate into
# the now non-empty database is refused. Passwords in the URL are refused.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/pg-lib.sh
. "$(dirname "$0")/pg-lib.sh"
need pkcs11-tool

B=${top_builddir:-.}
ISSUER=$B/issuer/offpass-issuer
MK=$B/issuer/test-make-request
[ -x "$ISSUER" ] || fail "$ISSUER not built"
[ -x "$MK" ] || fail "$MK not built (make check builds it)"

pg_start
cd "$WORK"
init_token issuer
echo "$USER_PIN" >pin
NOW=$(date +%s)
D=$WORK/iss
iss() { "$ISSUER" --dir "$D" --pin-file "$WORK/pin" "$@"; }
expect_exit()
{
	local want=$1 got=0
	shift
	"$@" >"$WORK/last.log" 2>&1 || got=$?
	if [ "$got" != "$want" ]; then
		cat "$WORK/last.log" >&2
		fail "exit $got, expected $want: $*"
	fi
}
mkbatch() { run "$MK" batch --trust "$D/trust.bin" --time "$NOW" "$@"; }
# snapshot NAME: what the operator sees of the ledger, into NAME.txt.
snapshot()
{
	{
		iss account show alice
		iss account show bob
		iss account history alice
		iss account history bob
		iss status | grep -v '^ledger '
	} >"$1.txt"
}

# ---- an SQLite ledger with some of everything ---------------------------------------------
run iss init --module "$MODULE" --token-label issuer
ALICE=$(iss account open alice --code-file alice.code)
BOB=$(iss account open bob --code-file bob.code)
run iss account credit alice 1000
run iss account credit bob 700
run iss account credit-line bob 200
for h in alice bob; do
	run "$MK" keygen -o $h.pem
done
run "$MK" request --key alice.pem --holder-id "$ALICE" --time "$NOW" --code-file alice.code -o alice.req
run "$MK" request --key bob.pem --holder-id "$BOB" --time "$NOW" --code-file bob.code -o bob.req
run iss issue alice.req -o alice.cred
run iss issue bob.req -o bob.cred
G1=a1a1a1a1a1a1a1a1
G2=b2b2b2b2b2b2b2b2
for g in 1 2; do
	run "$MK" keygen -o g$g.pem
	run "$MK" pubkey --key g$g.pem -o g$g.pub
done
run iss gate add --id $G1 --key g1.pub
run iss gate add --id $G2 --key g2.pub
mkbatch --gate-key g1.pem --gate-id $G1 --sequence 1 \
	--record alice.cred:alice.pem:1:150 --record alice.cred:alice.pem:2:150 --record bob.cred:bob.pem:1:75 -o b1
run iss settle b1
# A copy of alice's counter 2 at gate 2 (a double use), and a gap at gate 1.
mkbatch --gate-key g2.pem --gate-id $G2 --sequence 1 \
	--record alice.cred:alice.pem:3:50 --record alice.cred:alice.pem:2:150 -o b2
run iss settle b2
expect_log "double use" "double use before the move"
mkbatch --gate-key g1.pem --gate-id $G1 --sequence 3 --record bob.cred:bob.pem:2:25 -o b3
run iss settle b3
run iss deny serial 1
snapshot before
grep -q 'balance *650' before.txt || fail "alice's balance before: $(grep balance before.txt)"

# ---- refusals -----------------------------------------------------------------------------------
expect_exit 3 iss migrate --to "$WORK/other.db"
expect_log "not a postgresql:// URL" "a file target"
expect_exit 3 iss migrate --to "postgresql://offpass:secret@/offpass?host=$PG_DIR/sock"
expect_log "holds a password" "a password in the URL"
grep -q secret "$D/issuer.conf" && fail "the password reached issuer.conf"
expect_exit 2 iss migrate

# ---- the move --------------------------------------------------------------------------------------
cp "$D/ledger.db" ledger-before.db
run iss migrate --to "$PG_URL"
expect_log "migrated 14 tables" "migrate output"
expect_log "2 accounts \(balances 1250\), 5 charges \(450\)" "the money checked"
grep -q "^ledger = $PG_URL\$" "$D/issuer.conf" || fail "issuer.conf does not name the new ledger"
cmp -s "$D/ledger.db" ledger-before.db || fail "migrate changed the SQLite ledger"
run iss status
expect_log '^ledger +postgresql' "status names the backend"
snapshot after
diff before.txt after.txt >&2 || fail "the ledger reads differently after the move"

# ---- life goes on in PostgreSQL -------------------------------------------------------------------
run iss settle b1
expect_log "already settled; nothing debited" "the same batch again"
mkbatch --gate-key g1.pem --gate-id $G1 --sequence 2 --record alice.cred:alice.pem:4:10 -o b4
run iss settle b4
expect_log "batch 2: 1 records, 1 charged" "the gap's batch settles"
[ "$(iss account show alice | awk '$1 == "balance" { print $2 }')" = 640 ] || fail "balance after a new charge"
mkbatch --gate-key g2.pem --gate-id $G2 --sequence 2 --record alice.cred:alice.pem:1:150 -o b5
run iss settle b5
expect_log "double use" "a copy of a pre-move charge is still caught"
CAROL=$(iss account open carol --code-file carol.code)
run iss account credit carol 900
run "$MK" keygen -o carol.pem
run "$MK" request --key carol.pem --holder-id "$CAROL" --time "$NOW" --code-file carol.code -o carol.req
run iss issue carol.req -o carol.cred
expect_log "credential serial 3 " "serials continue after the copied ones"
sqlite3 ledger-before.db "SELECT count(*) FROM accounts" | grep -qx 2 || fail "the old file changed"

# ---- a second migrate: refused, nothing changed -----------------------------------------------------
expect_exit 3 "$ISSUER" --dir "$D" --ledger "$D/ledger.db" migrate --to "$PG_URL"
expect_log "not empty" "migrate into a non-empty database"
expect_exit 3 iss migrate --to "$PG_URL"
expect_log "in PostgreSQL already" "migrate from PostgreSQL"
[ "$(iss account show carol | awk '$1 == "balance" { print $2 }')" = 900 ] || fail "a refused migrate changed the ledger"
echo "migrate-pg: ok"
