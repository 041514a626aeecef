#!/bin/bash
# run-bench-tpm.sh - `make bench`: login time and sign ops/s of a token
# without and with the TPM binding (bench/bench-tpm.c), side by side, at
# the production scrypt cost. The TPM is a swtpm simulator started here on
# a free loopback port (a hardware TPM is slower: see docs/TOKEN.md);
# without swtpm the TPM row says n/a. BENCH_TPM_TCTI measures another TPM
# instead (e.g. device:/dev/tpmrm0) - mind that it is the real one.
# Environment: top_builddir, OFFPASS_P11_MODULE (set by `make bench`),
# BENCH_LOGINS (10), BENCH_SECONDS (1).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu

: "${top_builddir:=.}"
: "${OFFPASS_P11_MODULE:=$top_builddir/.libs/offpass-p11.so}"
bench=$top_builddir/bench/bench-tpm
[ -x "$bench" ] || { echo "run-bench-tpm.sh: $bench is not built (run \`make bench\`)" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/offpass-bench-tpm.XXXXXX")
pid=
trap '[ -z "$pid" ] || { kill "$pid"; wait "$pid"; } 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
export TSS2_LOG=all+none

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

tcti=${BENCH_TPM_TCTI:-}
if [ -z "$tcti" ] && command -v swtpm >/dev/null 2>&1; then
	mkdir "$tmp/swtpm"
	for try in 1 2 3 4 5; do
		port=$((20000 + (RANDOM % 20000) * 2))
		tcp_open "$port" || tcp_open $((port + 1)) && continue
		swtpm socket --tpm2 --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
			--ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" \
			--tpmstate "dir=$tmp/swtpm" --flags not-need-init,startup-clear >/dev/null 2>&1 &
		pid=$!
		for i in $(seq 1 100); do tcp_open "$port" && break; sleep 0.05; done
		if tcp_open "$port"; then tcti="swtpm:host=127.0.0.1,port=$port"; break; fi
		kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=
	done
fi

status=0
# row N LABEL-SUFFIX: the two tokens at scrypt cost N ("" = production).
rows()
{
	local n=$1 d=$tmp/n${1:-prod}
	mkdir -p "$d/off" "$d/on"
	OFFPASS_P11_SCRYPT_N=$n OFFPASS_P11_DIR=$d/off OFFPASS_P11_TPM=off \
		"$bench" "$OFFPASS_P11_MODULE" "PIN only$2" || status=1
	if [ -n "$tcti" ]; then
		OFFPASS_P11_SCRYPT_N=$n OFFPASS_P11_DIR=$d/on OFFPASS_P11_TPM=on OFFPASS_P11_TCTI=$tcti \
			"$bench" "$OFFPASS_P11_MODULE" "PIN + TPM$2" || status=1
	else
		printf '%-24s %10s %10s %12s\n' "PIN + TPM$2" n/a n/a n/a
	fi
}
echo
echo "offpass-p11: the TPM binding (TPM: ${BENCH_TPM_TCTI:-swtpm}; touched at login only)"
printf '%-24s %10s %10s %12s   %s\n' "token" "login ms" "max ms" "P-256 sign/s" "model"
rows "" " (scrypt 2^15)"
# The same at the lowest scrypt cost: the TPM's own share of a login.
rows 1024 " (scrypt 2^10)"
echo "target: login with the TPM <= 300 ms (production cost); sign/s unchanged"
[ -n "$tcti" ] || echo "run-bench-tpm.sh: no swtpm and no BENCH_TPM_TCTI: no TPM figures" >&2
exit $status
