#!/bin/bash
# holder.sh - offpass-holder, the real binary, on a fresh offpass-p11 token
# and on SoftHSM2: keygen, enroll, install, present as PNG / SVG / raw /
# terminal, status; zbarimg reads the PNG back byte-identical to --raw; two
# `present` at once never share a counter; --refresh stops cleanly on
# SIGINT; and bad input (wrong PIN, missing token or module, truncated,
# bit-flipped or foreign credentials) gets a clear error and changes
# nothing. Credentials come from holder/holder-testkit, a software test
# issuer, so that this test needs no other part of offpass.
# make check may run this with a POSIX sh: the rest needs bash.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need zbarimg xmllint cmp od

HOLDER=${top_builddir:-.}/holder/offpass-holder
KIT=${top_builddir:-.}/holder/holder-testkit
TERMQR=${top_builddir:-.}/tests/kit/term-qr
case $HOLDER in /*) ;; *) HOLDER=$PWD/$HOLDER ;; esac
case $KIT in /*) ;; *) KIT=$PWD/$KIT ;; esac
case $TERMQR in /*) ;; *) TERMQR=$PWD/$TERMQR ;; esac
[ -x "$HOLDER" ] || fail "$HOLDER not built"
[ -x "$KIT" ] || fail "$KIT not built (make check builds it)"
[ -x "$TERMQR" ] || fail "$TERMQR not built (make check builds it)"
SOFTHSM=/usr/lib/softhsm/libsofthsm2.so
T0=1700000000
HOLDER_ID=0123456789abcdef
cd "$WORK"
echo "$USER_PIN" >pin
echo "$USER_PIN_BAD" >pin.bad

# The rest of the run must not pick up a module from the caller's environment.
unset OFFPASS_PKCS11_MODULE

# expect_rc CODE CMD...: the command exits with CODE (output in last.log).
expect_rc()
{
	local want=$1 rc=0
	shift
	"$@" >"$WORK/last.log" 2>&1 || rc=$?
	if [ "$rc" != "$want" ]; then
		cat "$WORK/last.log" >&2
		fail "exit $rc, not $want: $*"
	fi
}

# field NAME LINE: the value of NAME=... in a holder-testkit check line.
field()
{
	sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"
}

# counter_of FILE: the counter of a raw presentation (signatures checked).
counter_of()
{
	local line
	line=$("$KIT" check "$1") || fail "holder-testkit check $1: $line"
	field counter "$line"
}

# distinct_counters NAME WHAT N FILE...: the N presentations verify and
# their counters are distinct.
distinct_counters()
{
	local name=$1 what=$2 n=$3 f
	shift 3
	for f in "$@"; do counter_of "$f"; done >"$WORK/counters"
	[ "$(wc -l <"$WORK/counters")" = "$n" ] || fail "$name: $what: not $n presentations"
	[ "$(sort -u "$WORK/counters" | wc -l)" = "$n" ] ||
		fail "$name: $what: a counter was used twice: $(sort "$WORK/counters" | uniq -d | head -5)"
}

# parallel_present NAME OUT TAG DIRS HOLDER-COMMAND...: two loops of 10
# `present` at once (DIRS=two: each loop with its own state directory);
# the 20 presentations verify and their counters are distinct.
parallel_present()
{
	local name=$1 out=$2 tag=$3 dirs=$4 i w failed=0
	local -a pids=() extra=()
	shift 4
	for w in 1 2; do
		extra=()
		[ "$dirs" = one ] || extra=(--dir "$out/state-$tag-$w")
		(for i in $(seq 10); do
			"$@" "${extra[@]}" present --amount 1 --raw "$out/$tag-$w-$i.raw" >"$out/$tag-$w-$i.log" 2>&1 ||
				{ cat "$out/$tag-$w-$i.log" >&2; exit 1; }
		done) &
		pids+=($!)
	done
	for w in "${pids[@]}"; do wait "$w" || failed=1; done
	[ "$failed" = 0 ] || fail "$name: a concurrent present ($tag) failed"
	distinct_counters "$name" "two present at once ($tag)" 20 "$out/$tag"-*.raw
}

# alternate_dirs NAME OUT HOLDER-COMMAND...: one token, two state
# directories (two places), 100 presentations alternating between them:
# no counter twice (issue 7 item 7c: the counter lives with the key).
alternate_dirs()
{
	local name=$1 out=$2 i d
	shift 2
	for i in $(seq 50); do
		for d in a b; do
			"$@" --dir "$out/place-$d" present --amount 1 --raw "$out/alt-$d-$i.raw" \
				>"$out/alt.log" 2>&1 || { cat "$out/alt.log" >&2; fail "$name: present in place $d"; }
		done
	done
	distinct_counters "$name" "two --dir alternating" 100 "$out"/alt-*.raw
}

# flow NAME MODULE LABEL PARALLEL: the whole holder life on one token;
# next_counters WHAT N: the last N presentations in last.log follow the
# previous one (COUNTER_LAST) in order, and COUNTER_LAST moves to the last.
# On our token each counter is exactly one above the one before; on
# SoftHSM2 (COUNTER_STRICT=no) it may be more: a claim whose new counter
# object the token's listing missed is withdrawn and made again above it
# (holder/counter.c: values may be skipped, never repeated), which a
# loaded machine shows now and then.
next_counters()
{
	local what=$1 n=$2 c
	[ "$(grep -Ec 'counter [0-9]+' "$WORK/last.log")" -ge "$n" ] || fail "$what: not $n presentations"
	for c in $(grep -Eo 'counter [0-9]+' "$WORK/last.log" | tail -n "$n" | cut -d' ' -f2); do
		if [ "$COUNTER_STRICT" = yes ]; then
			[ "$c" = $((COUNTER_LAST + 1)) ] || fail "$what: counter $c, not $((COUNTER_LAST + 1))"
		else
			[ "$c" -gt "$COUNTER_LAST" ] || fail "$what: counter $c, not above $COUNTER_LAST"
		fi
		COUNTER_LAST=$c
	done
}

# PARALLEL=yes also runs two `present` loops at once.
flow()
{
	local name=$1 mod=$2 label=$3 parallel=$4 out=$WORK/$1
	local -a H=("$HOLDER" --module "$mod" --token-label "$label" --pin-file "$WORK/pin"
		--dir "$out/state" --now "$T0")
	local line before
	mkdir -p "$out"

	# ---- keygen: one key, never replaced ----
	run "${H[@]}" keygen
	expect_log "token '$label': generated the P-256 key 'offpass-holder'" "$name keygen"
	expect_log "sensitive and never extractable" "$name keygen"
	expect_rc 3 "${H[@]}" keygen
	expect_log "already holds a key 'offpass-holder'" "$name second keygen"

	# ---- enroll -> (test issuer) -> install ----
	# The vectors' enrollment code (tests/vectors/README.md), typed sloppily:
	# the test issuer checks the MAC under it.
	echo "aeba gbaf aydq qcik bmga 2dqp cair eeyu" >"$out/code"
	expect_rc 2 "${H[@]}" enroll --holder-id "$HOLDER_ID" --code-file "$out/code" --code-env X -o "$out/req.bin"
	echo "AEBA-GBAF-AYDQ-QCIK-BMGA-2DQP-CAIR-EEY" >"$out/badcode"
	expect_rc 2 "${H[@]}" enroll --holder-id "$HOLDER_ID" --code-file "$out/badcode" -o "$out/req.bin"
	expect_log "31 characters, expected 32" "$name short code"
	run "${H[@]}" enroll --holder-id "$HOLDER_ID" --code-file "$out/code" -o "$out/req.bin"
	[ "$(stat -c %s "$out/req.bin")" = 143 ] || fail "$name: enrollment request is not 143 bytes"
	OFFPASS_TEST_CODE="AEBA-GBAF-AYDQ-QCIK-BMGA-2DQP-CAIR-EEYU" \
		run "${H[@]}" enroll --holder-id "$HOLDER_ID" --code-env OFFPASS_TEST_CODE -o "$out/req2.bin"
	run "$KIT" issue "$out/req2.bin" "$out/cred.bin" "$T0"
	run "$KIT" issue "$out/req.bin" "$out/cred.bin" "$T0"
	run "${H[@]}" status
	expect_log "credential: none installed" "$name status before install"
	expect_log "^issuer: +no trust list pinned" "$name status before the trust list is pinned"
	# The issuer's signature is checked against a pinned trust list: with
	# none, nothing is installed; a forged signature is refused.
	expect_rc 3 "${H[@]}" install "$out/cred.bin"
	expect_log "no issuer trust list is pinned for this key" "$name install with no trust list pinned"
	run "$KIT" trust "$out/trust.bin" "$T0"
	{ head -c 136 "$out/cred.bin"; printf '\x00'; } >"$out/forged.bin"
	cmp -s "$out/forged.bin" "$out/cred.bin" && { head -c 136 "$out/cred.bin"; printf '\x01'; } >"$out/forged.bin"
	expect_rc 3 "${H[@]}" install --trust "$out/trust.bin" "$out/forged.bin"
	expect_log "pinned issuer trust list version 1" "$name pins the trust list"
	expect_log "not the issuer's: credential.issuer_signature: does not verify" "$name forged credential"
	run "${H[@]}" status
	expect_log "credential: none installed" "$name nothing installed from a forged credential"
	run "${H[@]}" install "$out/cred.bin"
	expect_log "installed credential serial 77 on token '$label' \\(valid for 1 d 0 h\\)" "$name install"
	run "${H[@]}" status
	expect_log "^key: +P-256 0[23][0-9a-f]{64} " "$name status key"
	expect_log "serial 77, holder $HOLDER_ID" "$name status credential"
	expect_log "^issuer: +trust list version 1 pinned$" "$name status shows the pinned trust list"
	expect_log "valid for 1 d 0 h \\(2023-11-14 22:12:20 UTC to 2023-11-15 22:13:20 UTC\\)" "$name validity"
	expect_log "up to 500 per operation" "$name grant"
	expect_log "counter: +none used yet" "$name status counter"

	# ---- present: PNG, SVG and raw of one presentation ----
	COUNTER_LAST=$((T0 - 1))
	COUNTER_STRICT=$([ "$name" = p11 ] && echo yes || echo no)
	run "${H[@]}" present --amount 250 --png "$out/a.png" --svg "$out/a.svg" --raw "$out/a.raw"
	expect_log "presentation: 213 bytes, counter [0-9]+, amount 250, time [0-9]+; QR version 10, level M" \
		"$name present"
	next_counters "$name present" 1
	[ "$(stat -c %s "$out/a.raw")" = 213 ] || fail "$name: raw presentation is not 213 bytes"
	line=$("$KIT" check "$out/a.raw")
	[ "$(field type "$line") $(field amount "$line")" = "2 250" ] || fail "$name: raw presentation: $line"
	zbarimg --nodbus --raw -q -Sbinary "$out/a.png" >"$out/a.zbar" 2>"$WORK/zbar.log" ||
		fail "$name: zbarimg cannot read the PNG: $(cat "$WORK/zbar.log")"
	same_file "$out/a.raw" "$out/a.zbar" "$name: zbarimg of the PNG vs --raw"
	xmllint --noout "$out/a.svg" 2>"$WORK/xml.log" || fail "$name: SVG not well-formed: $(cat "$WORK/xml.log")"
	[ "$(grep -c '<path' "$out/a.svg")" = 1 ] || fail "$name: SVG is not one path"
	[ "$(od -An -tx1 -N1 "$out/a.png" | tr -d ' ')" = 89 ] || fail "$name: not a PNG"

	# The counter goes up; --raw - writes the bytes alone to stdout.
	"${H[@]}" present --amount 1 --raw - >"$out/b.raw" 2>"$WORK/last.log" || fail "$name: present --raw -"
	expect_log "presentation: 213 bytes, counter" "$name present --raw -"
	next_counters "$name present --raw -" 1
	[ "$(counter_of "$out/b.raw")" = "$COUNTER_LAST" ] || fail "$name: counter did not go up"

	# Terminal (the default): half blocks in explicit colours (black
	# background, bright white light modules), quiet zone, then the size.
	# Drawn as a dark and as a light terminal theme shows it, both read
	# back (zbar) as the very bytes of the presentation.
	env -u NO_COLOR TERM=xterm "${H[@]}" present --amount 2 --terminal --raw "$out/t.raw" >"$out/t.txt" 2>&1 ||
		fail "$name: terminal present: $(cat "$out/t.txt")"
	cp "$out/t.txt" "$WORK/last.log"
	[ "$(head -n 1 "$out/t.txt")" = "$(printf '\033[40;97m'; printf '█%.0s' $(seq 65); printf '\033[0m')" ] ||
		fail "$name: terminal: the first line is not 65 light modules (57 + 2 x 4 quiet zone) in colour"
	grep -qF '▀' "$out/t.txt" || fail "$name: terminal: no upper half blocks"
	grep -qF '▄' "$out/t.txt" || fail "$name: terminal: no lower half blocks"
	expect_log "counter [0-9]+, amount 2" "$name terminal present"
	next_counters "$name terminal present" 1
	local theme
	for theme in dark light; do
		"$TERMQR" --theme "$theme" --pgm "$out/t-$theme.pgm" <"$out/t.txt" >"$out/t-$theme.bin" ||
			fail "$name: terminal code not read in a $theme theme"
		cmp -s "$out/t-$theme.bin" "$out/t.raw" || fail "$name: terminal code in a $theme theme != --raw"
	done

	# Two-way channel: the challenge makes it type 3 and is signed.
	run "${H[@]}" present --amount 3 --challenge 00112233445566778899aabbccddeeff --raw "$out/ch.raw"
	line=$("$KIT" check "$out/ch.raw")
	[ "$(field type "$line") $(field challenge "$line")" = "3 00112233445566778899aabbccddeeff" ] ||
		fail "$name: challenge presentation: $line"
	next_counters "$name challenge present" 1

	# --refresh with a bounded count: fresh codes, counters in order.
	run "${H[@]}" present --amount 4 --refresh 1 --count 2 --raw "$out/r.raw"
	expect_log "counter [0-9]+, amount 4" "$name refresh codes"
	next_counters "$name refresh codes" 2
	expect_log "done after 2 codes" "$name refresh count"
	[ "$(counter_of "$out/r.raw")" = "$COUNTER_LAST" ] || fail "$name: --refresh left an old code"

	# --refresh until SIGINT: stops cleanly between codes, exit 0. Job
	# control, or bash would start the background job with SIGINT ignored.
	set -m
	"${H[@]}" present --amount 5 --refresh 1 --raw "$out/int.raw" >"$out/int.log" 2>&1 &
	local pid=$!
	set +m
	for _ in $(seq 50); do
		grep -q "^presentation:" "$out/int.log" 2>/dev/null && break
		sleep 0.1
	done
	kill -INT "$pid"
	wait "$pid" || fail "$name: present --refresh exited $? on SIGINT: $(cat "$out/int.log")"
	grep -Eq "^interrupted after [0-9]+ codes?$" "$out/int.log" ||
		fail "$name: no clean stop on SIGINT: $(cat "$out/int.log")"
	"$KIT" check "$out/int.raw" >/dev/null || fail "$name: the last code before SIGINT is not whole"

	# Plain (NO_COLOR, or --plain): no escape codes; right on a dark theme,
	# a negative on a light one, as the man page says.
	NO_COLOR=1 "${H[@]}" present --amount 6 --terminal --raw "$out/p.raw" >"$out/p.txt" 2>&1 ||
		fail "$name: NO_COLOR present: $(cat "$out/p.txt")"
	[ "$(head -n 1 "$out/p.txt")" = "$(printf '█%.0s' $(seq 65))" ] ||
		fail "$name: NO_COLOR: the first line is not 65 plain light modules"
	grep -q $'\033' "$out/p.txt" && fail "$name: NO_COLOR: escape codes in the drawing"
	"$TERMQR" --theme dark <"$out/p.txt" >"$out/p-dark.bin" || fail "$name: plain code not read in a dark theme"
	cmp -s "$out/p-dark.bin" "$out/p.raw" || fail "$name: plain code in a dark theme != --raw"
	local rc=0
	"$TERMQR" --theme light <"$out/p.txt" >/dev/null 2>&1 || rc=$?
	[ "$rc" = 1 ] || fail "$name: plain code in a light theme: term-qr exit $rc, not 1 (a negative)"
	"$TERMQR" --theme light --invert <"$out/p.txt" >"$out/p-neg.bin" || fail "$name: plain light negative"
	cmp -s "$out/p-neg.bin" "$out/p.raw" || fail "$name: the light theme's negative is not the code"
	"${H[@]}" present --amount 6 --plain --raw "$out/p2.raw" >"$out/p2.txt" 2>&1 ||
		fail "$name: present --plain: $(cat "$out/p2.txt")"
	grep -q $'\033' "$out/p2.txt" && fail "$name: --plain: escape codes in the drawing"
	"$TERMQR" --theme dark <"$out/p2.txt" >"$out/p2-dark.bin" || fail "$name: --plain code not read"
	cmp -s "$out/p2-dark.bin" "$out/p2.raw" || fail "$name: --plain code != --raw"

	# ---- two `present` at once: no counter twice ----
	if [ "$parallel" = yes ]; then
		parallel_present "$name" "$out" par one "${H[@]}"
		parallel_present "$name" "$out" par2 two "${H[@]}"
	fi
	# ---- one token, two state directories: the counter is the token's ----
	alternate_dirs "$name" "$out" "${H[@]}"

	# ---- bad input changes nothing ----
	run "${H[@]}" status
	before=$(grep '^counter:' "$WORK/last.log")
	cp "$out/cred.bin" "$out/cred.saved"
	expect_rc 3 "${H[@]}" present --amount 501 --raw "$out/over.raw"
	expect_log "amount 501 is over the credential's per-operation maximum 500" "$name over the grant"
	[ ! -e "$out/over.raw" ] || fail "$name: a refused present wrote a file"
	expect_rc 1 "${H[@]}" --pin-file "$WORK/pin.bad" present --amount 1 --png "$out/bad.png"
	expect_log "token '$label': C_Login: CKR_PIN_INCORRECT" "$name wrong PIN"
	[ ! -e "$out/bad.png" ] || fail "$name: present with a wrong PIN wrote a file"
	expect_rc 1 "${H[@]}" --pin-file "$WORK/pin.bad" install "$out/cred.bin"
	expect_log "CKR_PIN_INCORRECT" "$name install with a wrong PIN"
	expect_rc 1 "${H[@]}" --pin-file "$WORK/nopin" status
	expect_log "PIN file '$WORK/nopin'" "$name missing PIN file"
	expect_rc 1 env -u NOPIN "${H[@]}" --pin-env NOPIN status </dev/null
	expect_log "--pin-env NOPIN: the variable is not set" "$name unset PIN variable"
	expect_rc 1 "${H[@]}" --token-label "no such token" status
	expect_log "no token .*'no such token'" "$name missing token"
	expect_rc 1 "${H[@]}" --module "$WORK/missing.so" status
	expect_log "$WORK/missing.so: cannot load the PKCS#11 module" "$name missing module"

	head -c 100 "$out/cred.bin" >"$out/trunc.bin"
	expect_rc 3 "${H[@]}" install "$out/trunc.bin"
	expect_log "credential file '$out/trunc.bin': not a valid credential \\(truncated" "$name truncated"
	{ printf '\x12'; tail -c +2 "$out/cred.bin"; } >"$out/flip.bin"
	expect_rc 3 "${H[@]}" install "$out/flip.bin"
	expect_log "credential file '$out/flip.bin': not a valid credential \\(version" "$name bit-flipped header"
	{ cat "$out/cred.bin"; printf x; } >"$out/long.bin"
	expect_rc 3 "${H[@]}" install "$out/long.bin"
	expect_log "larger than any credential" "$name oversized"
	: >"$out/empty.bin"
	expect_rc 3 "${H[@]}" install "$out/empty.bin"
	expect_rc 1 "${H[@]}" install "$out/absent.bin"
	expect_log "credential file '$out/absent.bin': No such file" "$name missing file"
	if [ -n "${FOREIGN_CRED:-}" ]; then
		expect_rc 3 "${H[@]}" install "$FOREIGN_CRED"
		expect_log "issued for another key" "$name credential for another key"
	fi
	run "${H[@]}" status
	expect_log "serial 77, holder $HOLDER_ID" "$name credential kept"
	[ "$(grep '^counter:' "$WORK/last.log")" = "$before" ] || fail "$name: a refusal moved the counter"
	same_file "$out/cred.bin" "$out/cred.saved" "$name: credential file"

	# The counter file is the state: corrupt, it stops present.
	local cf
	cf=$(sed -n 's/^counter:.*(\(.*\))$/\1/p' "$WORK/last.log")
	[ -f "$cf" ] || fail "$name: no counter file $cf"
	cp "$cf" "$cf.saved"
	echo garbage >"$cf"
	expect_rc 1 "${H[@]}" present --amount 1 --raw "$out/c.raw"
	expect_log "counter file '$cf' is corrupt" "$name corrupt counter"
	mv "$cf.saved" "$cf"
	local extra=""
	[ "$parallel" = no ] || extra=", two presents at once (one and two state directories)"
	echo "ok: $name: keygen, enroll, install, present (PNG = raw via zbarimg, SVG, terminal in" \
		"colour and plain read in dark and light themes, challenge, refresh, SIGINT), status," \
		"two state directories alternating, refusals$extra"
}

# ---- offpass-p11 ----
init_token holder-p11
flow p11 "$MODULE" holder-p11 yes
FOREIGN_CRED=$WORK/p11/cred.bin

# ---- SoftHSM2, with the credential of the offpass-p11 key as a foreign one ----
if [ -e "$SOFTHSM" ] && command -v softhsm2-util >/dev/null; then
	# Its own token directory: SoftHSM2 takes every subdirectory for a token.
	mkdir -p "$WORK/softhsm-tokens"
	SOFTHSM2_CONF=$WORK/softhsm.conf
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$WORK/softhsm-tokens" >"$SOFTHSM2_CONF"
	export SOFTHSM2_CONF
	run softhsm2-util --init-token --free --label holder-hsm --so-pin "$SO_PIN" --pin "$USER_PIN"
	# Not two processes at once: SoftHSM2 2.6 itself then fails to open its
	# token now and then ("Token integrity check failed", SoftHSMv2 issue
	# #757). The counter's guarantee is the holder's own (holder/counter.c)
	# and does not depend on the module; the offpass-p11 run checks it.
	flow softhsm "$SOFTHSM" holder-hsm no
	# The PKCS#11 URI chooses token and key as well as the label does.
	run "$HOLDER" --uri "pkcs11:token=holder-hsm;object=offpass-holder?module-path=$SOFTHSM&pin-source=file:$WORK/pin" \
		--dir "$WORK/softhsm/state" --now "$T0" status
	expect_log "serial 77" "SoftHSM2 by URI"
	# A PIN in a URI on the command line is readable by every local user
	# (/proc/PID/cmdline): refused before anything is opened.
	expect_rc 2 "$HOLDER" --uri "pkcs11:token=holder-hsm?module-path=$SOFTHSM&pin-value=$USER_PIN" \
		--dir "$WORK/softhsm/state" --now "$T0" status
	expect_log "--uri: the URI holds a PIN \\(pin-value=\\).*/proc/PID/cmdline.*--pin-file" "URI pin-value refused"
	grep -q -- "$USER_PIN" "$WORK/last.log" && fail "the refusal of pin-value printed the PIN"
	where="offpass-p11 and SoftHSM2"
else
	echo "SKIP: SoftHSM2 part ($SOFTHSM or softhsm2-util missing)" >&2
	where="offpass-p11 (SoftHSM2 not installed)"
fi

pass "holder CLI on $where"
