#!/bin/bash
# p11-kit.sh - the module registered with p11-kit in a temporary per-user
# configuration: `p11-kit list-modules` shows it and its token, and clients
# that load every registered module (p11-kit-proxy.so through pkcs11-tool,
# GnuTLS's p11tool) find the token and sign with it.
#
# p11-kit reads $XDG_CONFIG_HOME/pkcs11/pkcs11.conf and .../modules/*.module
# but never for root (conf.c: "skipping user config in program running as
# root"), and there is no variable that moves the system configuration. So
# as root the p11-kit part runs as nobody (setpriv), which owns the temp dir.
# "user-config: only" keeps the system's modules (OpenSC, SoftHSM2) out.
# nobody may not reach the build tree (a checkout under /root), so it gets a
# byte-identical copy of the module in the temp dir.
# make check may run this with a POSIX sh: the rest needs bash.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need p11-kit pkcs11-tool
PROXY=${OFFPASS_P11KIT_PROXY:-/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so}

LABEL=offpass-p11kit
cd "$WORK"
init_token "$LABEL"

CONF=$WORK/config/pkcs11
mkdir -p "$CONF/modules" "$WORK/home"
printf 'user-config: only\n' >"$CONF/pkcs11.conf"

# as_user CMD...: run with the temporary configuration, as nobody when root.
as_user()
{
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid=nobody --regid=nogroup --clear-groups \
			env HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/config" "$@"
	else
		env HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/config" "$@"
	fi
}

REGISTERED=$MODULE
if [ "$(id -u)" = 0 ]; then
	need setpriv
	id nobody >/dev/null 2>&1 || skip "running as root and there is no user nobody"
	REGISTERED=$WORK/offpass-p11.so
	cp "$MODULE" "$REGISTERED"
	chmod 755 "$WORK"
	chown -R nobody:nogroup "$WORK"
fi

# Not registered yet: p11-kit must not list it (so the next check means something).
run as_user p11-kit list-modules
! grep -q '^offpass-p11:' "$WORK/last.log" || fail "listed before it was registered"

printf 'module: %s\n' "$REGISTERED" >"$CONF/modules/offpass-p11.module"
run as_user p11-kit list-modules
expect_log "^offpass-p11: $REGISTERED\$" "list-modules shows the module"
expect_log "^    token: $LABEL\$" "list-modules shows the token"
expect_log "token-initialized" "list-modules shows the token initialised"
! grep -q '^opensc-pkcs11:' "$WORK/last.log" || fail "system modules listed despite user-config: only"

# Clients that load p11-kit's registered modules see the token.
if [ -f "$PROXY" ]; then
	run as_user pkcs11-tool --module "$PROXY" -L
	expect_log "token label +: $LABEL" "pkcs11-tool through p11-kit-proxy"
	run as_user pkcs11-tool --module "$PROXY" --token-label "$LABEL" --login --pin "$USER_PIN" \
		--keypairgen --key-type EC:prime256v1 --label proxy-key --id 01
	printf 'through the proxy' >data
	chown nobody:nogroup data 2>/dev/null || true
	run as_user pkcs11-tool --module "$PROXY" --token-label "$LABEL" --login --pin "$USER_PIN" \
		--sign -m ECDSA-SHA256 --id 01 -i data -o "$WORK/sig"
	run as_user pkcs11-tool --module "$PROXY" --token-label "$LABEL" --login --pin "$USER_PIN" \
		--verify -m ECDSA-SHA256 --id 01 -i data --signature-file "$WORK/sig"
	expect_log "Signature is valid" "sign and verify through p11-kit-proxy"
fi
if command -v p11tool >/dev/null 2>&1; then
	run as_user p11tool --list-tokens
	expect_log "Label: $LABEL\$" "p11tool (p11-kit registered modules) lists the token"
fi

pass "p11-kit list-modules shows the module and token $LABEL; proxy and p11tool use it"
