#!/bin/bash
# concurrency.sh - two processes generate key pairs, sign, relabel, and
# create and destroy data objects on one token at the same time (each call
# must succeed: no CKR_DEVICE_ERROR from a busy file, no lost write); then a
# third process finds every object the two made, whole, and every key pair
# signs and verifies.
# make check may run this with a POSIX sh: the rest needs bash.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need pkcs11-tool
need_stress

LABEL=offpass-concurrent
ROUNDS=${OFFPASS_STRESS_ROUNDS:-50}
init_token "$LABEL"

"$STRESS" "$MODULE" "$LABEL" "$USER_PIN" stress "$ROUNDS" >"$WORK/a.log" 2>&1 &
a=$!
"$STRESS" "$MODULE" "$LABEL" "$USER_PIN" stress "$ROUNDS" >"$WORK/b.log" 2>&1 &
b=$!
rc=0
wait "$a" || rc=1
wait "$b" || rc=1
if [ "$rc" != 0 ]; then
	cat "$WORK/a.log" "$WORK/b.log" >&2
	fail "a stress process failed"
fi

# Each round keeps its key pair; every other data object is destroyed again.
run "$STRESS" "$MODULE" "$LABEL" "$USER_PIN" check
pairs=$((2 * ROUNDS))
data=$((2 * ((ROUNDS + 1) / 2)))
expect_log "^keypairs=$pairs data=$data orphans=0 objects=$((2 * pairs + data))\$" \
	"the third process sees every object"

# A session opened before another process writes sees those writes.
coproc WATCH { "$STRESS" "$MODULE" "$LABEL" "$USER_PIN" wait 2>&1; }
# shellcheck disable=SC2153 # set by coproc
watch_pid=$WATCH_PID
IFS= read -r line <&"${WATCH[0]}" || line=
[ "$line" = ready ] || fail "observer did not start: $line"
run "$STRESS" "$MODULE" "$LABEL" "$USER_PIN" stress 3
echo go >&"${WATCH[1]}"
IFS= read -r line <&"${WATCH[0]}" || line=
wait "$watch_pid" || fail "observer failed: $line"
data=$((data + 2))
[ "$line" = "keypairs=$((pairs + 3)) data=$data orphans=0 objects=$((2 * pairs + 6 + data))" ] ||
	fail "an open session does not see another process's objects: $line"

pass "2 processes x $ROUNDS rounds on one token: $pairs key pairs and $((data - 2)) data objects, all whole; an open session sees later writes"
