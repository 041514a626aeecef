# issuerd-lib.sh - start, stop and talk to offpass-issuerd in the
# integration scripts; sourced after lib.sh, never run.
# shellcheck shell=bash

ISSUERD=${top_builddir:-.}/issuer/offpass-issuerd
ISSUERD_PIDS=

# issuerd_programs: $ISSUER, $HOLDER and $GATE beside $ISSUERD, each built
# or the script fails (every issuerd started goes at exit: the EXIT trap
# below).
issuerd_programs()
{
	local p
	B=${top_builddir:-.}
	ISSUER=$B/issuer/offpass-issuer
	HOLDER=$B/holder/offpass-holder
	GATE=$B/verifier/gate/offpass-gate
	for p in "$ISSUER" "$ISSUERD" "$HOLDER" "$GATE"; do
		[ -x "$p" ] || fail "$p not built"
	done
}

# issuerd_api_programs: $ISSUER beside $ISSUERD, and the test helpers
# that make enrollment requests ($MK) and proof JWTs ($PROOF), each built
# or the script fails.
issuerd_api_programs()
{
	local p
	B=${top_builddir:-.}
	ISSUER=$B/issuer/offpass-issuer
	MK=$B/issuer/test-make-request
	PROOF=$B/issuer/test-make-proof
	for p in "$ISSUER" "$ISSUERD" "$MK" "$PROOF"; do
		[ -x "$p" ] || fail "$p not built (make check builds it)"
	done
}

# issuerd_start DIR NAME [ARGS...]: start an issuerd for issuer DIR on a
# free loopback port; sets PORT_<NAME>, URL_<NAME> and PID_<NAME>. The
# log goes to $WORK/NAME.log.
issuerd_start()
{
	local dir=$1 name=$2 i pid
	shift 2
	rm -f "$WORK/$name.port"
	"$ISSUERD" --dir "$dir" --pin-file "$WORK/pin" --listen 127.0.0.1:0 --port-file "$WORK/$name.port" \
		--log "$WORK/$name.log" "$@" 2>>"$WORK/$name.err" &
	pid=$!
	for i in $(seq 1 100); do
		[ -s "$WORK/$name.port" ] && break
		kill -0 "$pid" 2>/dev/null || { cat "$WORK/$name.err" >&2; fail "issuerd $name did not start"; }
		sleep 0.1
	done
	[ -s "$WORK/$name.port" ] || fail "issuerd $name did not write its port"
	ISSUERD_PIDS="$ISSUERD_PIDS $pid"
	printf -v "PID_$name" '%s' "$pid"
	printf -v "PORT_$name" '%s' "$(cat "$WORK/$name.port")"
	printf -v "URL_$name" 'http://127.0.0.1:%s' "$(cat "$WORK/$name.port")"
}

# issuerd_stop PID: SIGTERM and wait.
issuerd_stop()
{
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# Every issuerd still running goes when the script ends.
issuerd_cleanup()
{
	local p
	for p in $ISSUERD_PIDS; do
		kill -KILL "$p" 2>/dev/null || true
	done
}

# http METHOD URL [CURL ARGS...]: the status in $STATUS, the body in
# $WORK/body, the headers in $WORK/headers.
http()
{
	local method=$1 url=$2
	shift 2
	STATUS=$(curl -sS -X "$method" -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' "$@" "$url") ||
		fail "curl $method $url failed"
}

# expect_status CODE WHAT: the last http call answered CODE.
expect_status()
{
	if [ "$STATUS" != "$1" ]; then
		cat "$WORK/body" >&2
		fail "$2: HTTP $STATUS, expected $1"
	fi
}

# expect_body PATTERN WHAT: the last body matches the extended regex.
expect_body()
{
	grep -Eq -- "$1" "$WORK/body" || { cat "$WORK/body" >&2; echo >&2; fail "$2: no '$1' in the body"; }
}

# json_str NAME: the string member NAME of the last (compact) JSON body.
json_str()
{
	sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" "$WORK/body"
}

# json_num NAME: the number member NAME of the last JSON body.
json_num()
{
	sed -n "s/.*\"$1\":\\([0-9-]*\\).*/\\1/p" "$WORK/body"
}

# b64url_decode TEXT FILE: base64url (no padding) to bytes.
b64url_decode()
{
	local t=$1
	case $((${#t} % 4)) in
	2) t="$t==" ;;
	3) t="$t=" ;;
	esac
	printf '%s' "$t" | basenc --base64url -d >"$2"
}

# lib.sh's EXIT trap, with the issuerds stopped first.
if [ "${OFFPASS_TEST_KEEP:-0}" = 1 ]; then
	trap 'issuerd_cleanup; echo "kept $WORK" >&2' EXIT
else
	trap 'issuerd_cleanup; rm -rf "$WORK"' EXIT
fi
