#!/bin/bash
# vcard-env.sh - start, stop and inspect a private pcscd with the offpass
# virtual PIV card in its vpcd reader, for demos and tests.
#
#   eval "$(card/vcard/vcard-env.sh start)"   # prints the client environment
#   yubico-piv-tool -r '' -a status           # any PC/SC program now sees it
#   card/vcard/vcard-env.sh status
#   card/vcard/vcard-env.sh stop
#
# Options (before or after the command):
#   --dir DIR      run directory: pid files, logs, pcscd's socket, and the
#                  card's state unless --state says otherwise
#                  (default $OFFPASS_VCARD_DIR or /tmp/offpass-vcard-$UID)
#   --state FILE   the card's state file (default DIR/card.state); kept by
#                  stop, so the card survives restarts
#   --port PORT    vpcd's TCP port for reader 0 (PORT+1 is reader 1);
#                  default $OFFPASS_VCARD_PORT, else the first free pair
#                  from 35963
#   --profile P    the card's commands: yubikey (default) or standard
#                  (SP 800-73-4 only, no YubiKey extensions); default
#                  $OFFPASS_VCARD_PROFILE, else yubikey
#   --trace        log APDUs (vcard.log; PINs and keys blanked) and make
#                  pcscd log at debug level with APDUs (pcscd.log: these
#                  APDUs are not blanked)
#
# Why a private pcscd: the system pcscd (if any) keeps its socket, readers
# and USB devices. This pcscd runs in its own mount namespace, where its
# fixed socket directory /run/pcscd is a bind mount of DIR/run (clients
# reach it through PCSCLITE_CSOCK_NAME, which libpcsclite honours) and the
# USB driver bundles are hidden (so it never claims a real reader). That
# needs root or unprivileged user namespaces; without either, start exits
# 77 with the reason.
#
# Exit status: 0 done, 1 failure, 2 usage, 77 cannot run here (start).
set -eu

VPCD_DRIVER=${OFFPASS_VPCD_DRIVER:-/usr/lib/pcsc/drivers/serial/libifdvpcd.so}
PCSC_DRIVERS=${OFFPASS_PCSC_DRIVERS:-/usr/lib/pcsc/drivers}
READER="Virtual PCD 00 00"

say() { echo "vcard-env: $*" >&2; }
cannot() { say "cannot run here: $*"; exit 77; }
die() { say "$*"; exit 1; }

usage()
{
	sed -n '2,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

cmd=
dir=${OFFPASS_VCARD_DIR:-${TMPDIR:-/tmp}/offpass-vcard-$(id -u)}
state=
port=${OFFPASS_VCARD_PORT:-}
trace=false
profile=${OFFPASS_VCARD_PROFILE:-yubikey}
while [ $# -gt 0 ]; do
	case $1 in
	start | stop | status) cmd=$1 ;;
	--dir) dir=${2:?--dir needs a directory}; shift ;;
	--state) state=${2:?--state needs a file}; shift ;;
	--port) port=${2:?--port needs a number}; shift ;;
	--profile) profile=${2:?--profile needs yubikey or standard}; shift ;;
	--trace) trace=true ;;
	-h | --help) usage ;;
	*) say "unknown argument: $1"; usage ;;
	esac
	shift
done
[ -n "$cmd" ] || usage
case $profile in yubikey | standard) ;; *) say "unknown profile: $profile"; usage ;; esac
case $dir in /*) ;; *) dir=$PWD/$dir ;; esac
state=${state:-$dir/card.state}
case $state in /*) ;; *) state=$PWD/$state ;; esac

# The offpass-vcard binary: $OFFPASS_VCARD, the build tree, beside this
# script, or PATH.
find_vcard()
{
	local c
	for c in "${OFFPASS_VCARD:-}" "${top_builddir:-}/card/vcard/offpass-vcard" \
		"$(dirname "$0")/offpass-vcard" "$(command -v offpass-vcard 2>/dev/null || true)"; do
		if [ -n "$c" ] && [ -x "$c" ] && [ -f "$c" ]; then
			case $c in /*) echo "$c" ;; *) echo "$PWD/$c" ;; esac
			return 0
		fi
	done
	return 1
}

# A pid that runs: zombies count as gone (a container's init may reap
# them seconds later).
running()
{
	local st
	kill -0 "$1" 2>/dev/null || return 1
	st=$(sed -e 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

alive() { [ -f "$1" ] && running "$(cat "$1")"; }

# Listening TCP ports (hex) from /proc: no dependency on ss or netstat.
port_busy()
{
	local hex
	hex=$(printf ':%04X ' "$1")
	cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4 == "0A" { print $2 " " }' |
		grep -q -- "$hex"
}

# pick_port FROM: the first free pair PORT, PORT+1 from FROM on.
pick_port()
{
	local p
	for p in $(seq "$1" 2 36163); do
		if ! port_busy "$p" && ! port_busy $((p + 1)); then
			echo "$p"
			return
		fi
	done
	die "no free port pair between $1 and 36164"
}

# How to enter a private mount namespace: as root directly, otherwise as
# root of a new user namespace.
namespace_cmd()
{
	if [ "$(id -u)" = 0 ] && unshare --mount --propagation private true 2>/dev/null; then
		echo "unshare --mount --propagation private"
	elif unshare --user --map-root-user --mount --propagation private true 2>/dev/null; then
		echo "unshare --user --map-root-user --mount --propagation private"
	else
		return 1
	fi
}

# The client environment, for eval.
print_env()
{
	printf "PCSCLITE_CSOCK_NAME='%s'; export PCSCLITE_CSOCK_NAME\n" "$dir/run/pcscd.comm"
	printf "OFFPASS_VCARD_READER='%s'; export OFFPASS_VCARD_READER\n" "$READER"
}

card_present()
{
	if command -v opensc-tool >/dev/null 2>&1; then
		PCSCLITE_CSOCK_NAME=$dir/run/pcscd.comm opensc-tool -l 2>/dev/null |
			grep -E "^[0-9]+ +Yes .*$READER\$" >/dev/null
	else
		grep -q 'card inserted' "$dir/vcard.log" 2>/dev/null
	fi
}

stop_pid()
{
	local f=$1 pid
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	if running "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 50); do
			running "$pid" || break
			sleep 0.1
		done
		if running "$pid"; then
			say "$(basename "$f" .pid) ($pid) ignored SIGTERM; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$f"
}

do_stop()
{
	stop_pid "$dir/vcard.pid"
	stop_pid "$dir/pcscd.pid"
	rm -f "$dir/run/pcscd.comm" "$dir/run/pcscd.pid" "$dir/port"
}

do_status()
{
	local ok=0
	if alive "$dir/pcscd.pid"; then
		say "pcscd running (pid $(cat "$dir/pcscd.pid"), socket $dir/run/pcscd.comm, vpcd port $(cat "$dir/port" 2>/dev/null))"
	else
		say "pcscd not running"
		ok=1
	fi
	if alive "$dir/vcard.pid"; then
		say "offpass-vcard running (pid $(cat "$dir/vcard.pid"), state $(cat "$dir/state" 2>/dev/null))"
	else
		say "offpass-vcard not running"
		ok=1
	fi
	if [ $ok = 0 ] && card_present; then
		say "card present in '$READER'"
		print_env
	elif [ $ok = 0 ]; then
		say "card not (yet) present in '$READER'"
		ok=1
	fi
	return $ok
}

start_pcscd()
{
	local ns=$1 p=$2 debug=
	mkdir -p "$dir/run" "$dir/empty"
	cat >"$dir/reader.conf" <<EOF
FRIENDLYNAME "Virtual PCD"
DEVICENAME   /dev/null:$p
LIBPATH      $VPCD_DRIVER
CHANNELID    $p
EOF
	$trace && debug="--debug --apdu"
	# Inside the namespace: the socket directory becomes DIR/run, and the
	# USB driver bundles become empty directories.
	# shellcheck disable=SC2016
	local inner='
		set -e
		if [ ! -d /run/pcscd ]; then
			mkdir /run/pcscd 2>/dev/null || { mount -t tmpfs -o mode=755 tmpfs /run; mkdir /run/pcscd; }
		fi
		mount --bind "$1/run" /run/pcscd
		for b in "$2"/*.bundle; do
			if [ -d "$b" ]; then mount --bind "$1/empty" "$b"; fi
		done
		shift 2
		exec pcscd --foreground "$@"'
	# shellcheck disable=SC2086
	(exec setsid $ns sh -c "$inner" sh "$dir" "$PCSC_DRIVERS" -c "$dir/reader.conf" $debug \
		</dev/null >"$dir/pcscd.log" 2>&1) &
	echo $! >"$dir/pcscd.pid"
}

start_vcard()
{
	local vcard=$1 p=$2
	local args=(--state "$state" --port "$p" --profile "$profile" --verbose)
	$trace && args+=(--trace)
	(exec setsid "$vcard" "${args[@]}" </dev/null >"$dir/vcard.log" 2>&1) &
	echo $! >"$dir/vcard.pid"
}

# pcscd is ready once its socket exists (it creates it after its readers).
wait_for_pcscd()
{
	for _ in $(seq 100); do
		[ -S "$dir/run/pcscd.comm" ] && break
		alive "$dir/pcscd.pid" || break
		sleep 0.1
	done
	if [ ! -S "$dir/run/pcscd.comm" ]; then
		tail -n 5 "$dir/pcscd.log" >&2 || true
		do_stop
		# Refused at the namespace or mount step: this machine cannot.
		grep -qiE 'unshare|mount|permission|operation not permitted' "$dir/pcscd.log" &&
			cannot "pcscd could not start in a private namespace (see $dir/pcscd.log)"
		die "pcscd did not start (see $dir/pcscd.log)"
	fi
}

do_start()
{
	local vcard ns p
	command -v pcscd >/dev/null 2>&1 || cannot "pcscd is not installed (Debian: pcscd)"
	[ -e "$VPCD_DRIVER" ] || cannot "$VPCD_DRIVER missing (Debian: vsmartcard-vpcd)"
	command -v unshare >/dev/null 2>&1 || cannot "unshare is missing (util-linux)"
	command -v setsid >/dev/null 2>&1 || cannot "setsid is missing (util-linux)"
	ns=$(namespace_cmd) || cannot "a private pcscd needs root or unprivileged user namespaces"
	vcard=$(find_vcard) || die "offpass-vcard not found (build it, or set OFFPASS_VCARD)"
	# A directory made here is private; one given by the caller is left as is.
	if [ ! -d "$dir" ]; then
		mkdir -p "$(dirname "$dir")"
		mkdir -m 700 "$dir"
	fi
	if alive "$dir/pcscd.pid" || alive "$dir/vcard.pid"; then
		do_status >/dev/null 2>&1 && { say "already running in $dir"; print_env; return 0; }
		do_stop
	fi
	# Another pcscd may take an auto-picked port between the check and the
	# bind (tests run in parallel): then try the next pair.
	local from=35963 tries=5
	if [ -n "$port" ]; then
		case $port in *[!0-9]* | '') die "bad port: $port" ;; esac
		{ port_busy "$port" || port_busy $((port + 1)); } && die "port $port or $((port + 1)) is in use"
		from=$port
		tries=1
	fi
	while :; do
		p=$(pick_port "$from")
		echo "$p" >"$dir/port"
		echo "$state" >"$dir/state"
		start_pcscd "$ns" "$p"
		wait_for_pcscd
		grep -q 'Could not initialize connection to virtual ICC' "$dir/pcscd.log" || break
		do_stop
		tries=$((tries - 1))
		[ $tries -gt 0 ] || die "vpcd could not listen on port $p (see $dir/pcscd.log)"
		from=$((p + 2))
	done
	start_vcard "$vcard" "$p"
	for _ in $(seq 100); do
		card_present && break
		alive "$dir/vcard.pid" || break
		sleep 0.1
	done
	if ! card_present; then
		tail -n 5 "$dir/vcard.log" >&2 || true
		do_stop
		die "the virtual card did not appear in '$READER'"
	fi
	say "card present in '$READER' (vpcd port $p, state $state, profile $profile)"
	print_env
}

case $cmd in
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
esac
