# swtpm-lib.sh - a TPM 2.0 simulator (swtpm) for the TPM tests; sourced
# after lib.sh, never run.
#
# swtpm_start NAME starts one swtpm on free loopback ports with its state
# in $WORK/swtpm-NAME and sets SWTPM_TCTI_NAME (the tctildr string for
# OFFPASS_P11_TCTI) and SWTPM_PORT_NAME; every simulator is stopped when
# the script exits. Scripts skip (77) when swtpm is not installed.
# shellcheck shell=bash

SWTPM_PIDS=()

swtpm_stop_all()
{
	local p
	for p in "${SWTPM_PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	SWTPM_PIDS=()
}

# Keep lib.sh's clean-up and stop the simulators first.
trap 'swtpm_stop_all; if [ "${OFFPASS_TEST_KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi' EXIT

# tcp_open PORT: something listens on 127.0.0.1:PORT.
tcp_open()
{
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# swtpm_start NAME
swtpm_start()
{
	local name=$1 dir=$WORK/swtpm-$1 port pid try i
	mkdir -p "$dir"
	for try in 1 2 3 4 5 6 7 8; do
		port=$((20000 + (RANDOM % 20000) * 2))
		tcp_open "$port" && continue
		tcp_open $((port + 1)) && continue
		swtpm socket --tpm2 \
			--server "type=tcp,port=$port,bindaddr=127.0.0.1" \
			--ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" \
			--tpmstate "dir=$dir" --flags not-need-init,startup-clear \
			>"$dir/log" 2>&1 &
		pid=$!
		for i in $(seq 1 100); do
			tcp_open "$port" && break
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		if kill -0 "$pid" 2>/dev/null && tcp_open "$port"; then
			SWTPM_PIDS+=("$pid")
			printf -v "SWTPM_PORT_$name" '%s' "$port"
			printf -v "SWTPM_TCTI_$name" 'swtpm:host=127.0.0.1,port=%s' "$port"
			return 0
		fi
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	cat "$dir/log" >&2
	fail "cannot start swtpm"
}

# swtpm_da TCTI MAX_TRIES RECOVERY_S: set the simulator's dictionary-attack
# parameters (its lockout hierarchy has no password) and clear its count.
swtpm_da()
{
	run tpm2_dictionarylockout -T "$1" --setup-parameters --max-tries="$2" \
		--recovery-time="$3" --lockout-recovery-time="$3"
	run tpm2_dictionarylockout -T "$1" --clear-lockout
}

need swtpm tpm2_dictionarylockout
