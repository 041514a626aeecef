#!/bin/bash
# crash.sh - a process writing to the token (key pairs, relabels, data
# objects created and destroyed) is killed with SIGKILL at a random moment,
# ten times. After each kill the token must open (C_Initialize, C_Login) with
# every object whole: every attribute reads, every private key signs for its
# public key, every data object holds its own checksum. A key pair is stored
# in one transaction, so a kill inside C_GenerateKeyPair leaves no half pair.
# make check may run this with a POSIX sh: the rest needs bash.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need pkcs11-tool
need_stress

LABEL=offpass-crash
KILLS=${OFFPASS_CRASH_ROUNDS:-10}
init_token "$LABEL"

last=0
for round in $(seq 1 "$KILLS"); do
	"$STRESS" "$MODULE" "$LABEL" "$USER_PIN" stress 0 >"$WORK/stress.log" 2>&1 &
	pid=$!
	# 50 to 500 ms: sometimes inside C_Initialize or C_Login, mostly mid-write.
	sleep "0.$(printf '%03d' $((RANDOM % 451 + 50)))"
	kill -KILL "$pid" 2>/dev/null || true
	status=0
	wait "$pid" 2>/dev/null || status=$?
	if [ "$status" != 137 ]; then
		cat "$WORK/stress.log" >&2
		fail "round $round: the stress process ended with $status before it was killed"
	fi
	run "$STRESS" "$MODULE" "$LABEL" "$USER_PIN" check
	expect_log '^keypairs=[0-9]+ data=[0-9]+ orphans=0 ' "round $round: token opens, every object whole, no half key pair"
	pairs=$(sed -n 's/^keypairs=\([0-9]*\) .*/\1/p' "$WORK/last.log")
	[ "$pairs" -ge "$last" ] || fail "round $round: key pairs went from $last to $pairs"
	last=$pairs
	summary=$(cat "$WORK/last.log")
done
[ "$last" -gt 0 ] || fail "no key pair was ever written: the kills came too early"

pass "$KILLS kills with SIGKILL mid-write; token whole after each ($summary)"
