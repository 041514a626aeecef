#!/bin/bash
# issuerd-concurrency.sh - offpass-issuerd answering many requests at once
# (a thread per connection, grouped commits, docs/ISSUER.md "Threads and
# commits"): parallel refreshes of one holder get exactly one next
# window, the others are refused; parallel refreshes of different holders
# all succeed, each with its own serial; an issuerd killed (SIGKILL) in
# the middle of a burst of refreshes: every credential a client received
# is in the ledger (never answered before its commit), the ledger opens
# and passes SQLite's integrity check, and after a restart every holder
# ends with exactly one next window.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/issuerd-lib.sh
. "$(dirname "$0")/issuerd-lib.sh"
need pkcs11-tool curl basenc sqlite3

issuerd_api_programs

cd "$WORK"
init_token issuer
echo "$USER_PIN" >pin
NOW=$(date +%s)
D=$WORK/iss
iss() { "$ISSUER" --dir "$D" --pin-file "$WORK/pin" "$@"; }
SAME=8
OTHERS=8
BURST=32
HOLDERS=$((1 + OTHERS + BURST))

run iss init --module "$MODULE" --token-label issuer
for i in $(seq 1 $HOLDERS); do
	hid=$(iss account open "r$i" --code-file "r$i.code")
	run iss account credit "r$i" 1000000
	run "$MK" keygen -o "r$i.pem"
	run "$MK" request --key "r$i.pem" --holder-id "$hid" --time "$NOW" --code-file "r$i.code" -o "r$i.req"
	run iss issue "r$i.req" -o "r$i.cred"
done

issuerd_start "$D" one --handles 2
U=$URL_one

nonce() { http POST "$U/nonce"; expect_status 200 "nonce"; json_str c_nonce; }
# proof NAME HOLDER: a refresh request for holder rHOLDER in NAME.json.
proof() { run "$PROOF" --key "r$2.pem" --aud "$U" --nonce "$(nonce)" --cred "r$2.cred" -o "$1.json"; }
# post NAME: POST NAME.json in the background; the status goes to
# NAME.status, the body to NAME.body, the job's pid to PIDS.
PIDS=
post()
{
	curl -s -o "$1.body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		--data-binary "@$1.json" "$U/credential" >"$1.status" 2>/dev/null &
	PIDS="$PIDS $!"
}
wait_posts() { local p; for p in $PIDS; do wait "$p" || true; done; PIDS=; }
serial_of() { sed -n 's/.*"offpass_serial":\([0-9]*\).*/\1/p' "$1"; }

# ---- one holder, many requests at once: exactly one next window ---------------------------------
for k in $(seq 1 $SAME); do proof "same$k" 1; done
for k in $(seq 1 $SAME); do post "same$k"; done
wait_posts
ok=0
for k in $(seq 1 $SAME); do
	case $(cat "same$k.status") in
	200) ok=$((ok + 1)) ;;
	400) grep -q 'covered already' "same$k.body" || { cat "same$k.body" >&2; fail "same holder: refused, but not for the window"; } ;;
	*) fail "same holder: HTTP $(cat "same$k.status")" ;;
	esac
done
[ "$ok" = 1 ] || fail "one holder refreshing $SAME times at once got $ok next windows, expected 1"

# ---- different holders at once: every one succeeds, each serial its own --------------------------
for k in $(seq 2 $((1 + OTHERS))); do proof "other$k" "$k"; done
for k in $(seq 2 $((1 + OTHERS))); do post "other$k"; done
wait_posts
for k in $(seq 2 $((1 + OTHERS))); do
	[ "$(cat "other$k.status")" = 200 ] || { cat "other$k.body" >&2; fail "holder r$k: HTTP $(cat "other$k.status")"; }
	serial_of "other$k.body"
done | sort | uniq -d >dups
[ ! -s dups ] || fail "one serial for two holders: $(cat dups)"

# ---- SIGKILL in the middle of a burst --------------------------------------------------------------
first=$((2 + OTHERS))
for k in $(seq $first $HOLDERS); do proof "burst$k" "$k"; done
for k in $(seq $first $HOLDERS); do post "burst$k"; done
# Kill as soon as the first answer is in: the rest are queued, in a
# group being committed, or not read yet.
for i in $(seq 1 500); do
	grep -qs '^200$' burst*.status && break
	sleep 0.01
done
kill -KILL "$PID_one"
wait "$PID_one" 2>/dev/null || true
wait_posts
answered=0
for k in $(seq $first $HOLDERS); do
	[ "$(cat "burst$k.status" 2>/dev/null)" = 200 ] || continue
	answered=$((answered + 1))
	s=$(serial_of "burst$k.body")
	iss account history "r$k" >"hist$k" || fail "history of r$k"
	grep -q "serial $s until" "hist$k" || { cat "hist$k" >&2; fail "r$k received serial $s, the ledger does not have it"; }
done
[ "$answered" -ge 1 ] || fail "no answer before the kill"
[ "$(sqlite3 "$D/ledger.db" 'PRAGMA integrity_check')" = ok ] || fail "the ledger is damaged after SIGKILL"

# Restarted: the holders not answered ask again; each ends with exactly
# one next window (two credentials: the first and the refreshed one).
issuerd_start "$D" two
U=$URL_two
for k in $(seq $first $HOLDERS); do
	[ "$(cat "burst$k.status" 2>/dev/null)" = 200 ] && continue
	proof "again$k" "$k"
	post "again$k"
done
wait_posts
for k in $(seq $first $HOLDERS); do
	if [ -e "again$k.status" ]; then
		case $(cat "again$k.status") in
		200) ;;
		400) grep -q 'covered already' "again$k.body" || { cat "again$k.body" >&2; fail "r$k refused after the restart"; } ;;
		*) fail "r$k after the restart: HTTP $(cat "again$k.status")" ;;
		esac
	fi
	n=$(iss account history "r$k" | grep -c "serial [0-9]* until" || true)
	[ "$n" = 2 ] || fail "r$k has $n credentials in the ledger, expected 2"
done
issuerd_stop "$PID_two"
pass "$SAME refreshes of one holder: one window; $OTHERS holders at once; SIGKILL in a burst of $BURST ($answered answered): nothing answered is lost"
