#!/bin/bash
# verifier-api.sh - liboffpass-verifier as an integrator meets it:
#  1. the installed header compiles on its own as C99 and C11 (gcc) and as
#     C++11, 14, 17 and 20 (g++), with -Wall -Wextra -pedantic -Werror;
#  2. installed into a scratch prefix (make install-... DESTDIR=), a
#     program built with `pkg-config --cflags --libs liboffpass-verifier`
#     (PKG_CONFIG_SYSROOT_DIR) links and runs: version, config, open in
#     till mode, a refused config, status and reason texts, the id getter;
#  3. the shared library exports offpass_* only, every one versioned
#     LIBOFFPASS_VERIFIER_1; the man pages and the documents the header
#     cites are installed.
# make check may run this with a POSIX sh: the rest needs bash.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need pkg-config
need nm

top_builddir=${top_builddir:?run from make check}
top_srcdir=${top_srcdir:?run from make check}
CC=${CC:-cc}

# 1. The header alone, in every language mode an integrator may use.
printf '#include <offpass-verifier.h>\nint main(void) { return offpass_verifier_version() == 0; }\n' \
	>"$WORK/use.c"
cp "$WORK/use.c" "$WORK/use.cc"
for std in c99 c11; do
	run "$CC" -std=$std -Wall -Wextra -pedantic -Werror -I"$top_srcdir/verifier" -c "$WORK/use.c" \
		-o "$WORK/use-$std.o"
done
if command -v g++ >/dev/null 2>&1; then
	for std in c++11 c++14 c++17 c++20; do
		run g++ -std=$std -Wall -Wextra -pedantic -Werror -I"$top_srcdir/verifier" -c "$WORK/use.cc" \
			-o "$WORK/use-$std.o"
	done
	cxx="C++11/14/17/20"
else
	echo "note: g++ not installed: C++ modes not compiled" >&2
	cxx="no C++ (g++ missing)"
fi

# 2. An installed prefix, as `make install` lays it out.
ROOT=$WORK/root
run make -C "$top_builddir" -s install-libLTLIBRARIES install-includeHEADERS install-pkgconfigDATA \
	install-dist_docDATA install-man3 DESTDIR="$ROOT"
pc=$(find "$ROOT" -name liboffpass-verifier.pc | head -n 1)
[ -n "$pc" ] || fail "liboffpass-verifier.pc not installed"
PKG_CONFIG_PATH=$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR=$ROOT
cflags=$(pkg-config --cflags liboffpass-verifier)
libs=$(pkg-config --libs liboffpass-verifier)
libdir=$(dirname "$(dirname "$pc")") # pkgconfigdir is $(libdir)/pkgconfig
case $libs in *"-L$ROOT"*) ;; *) fail "pkg-config --libs does not point into the prefix: $libs" ;; esac

cat >"$WORK/gate.c" <<'PROG'
#include <offpass-verifier.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	offpass_verifier_config_t cfg;
	offpass_verifier_t *v = NULL;
	uint8_t id[8];
	char err[256];

	if (argc != 2 || offpass_verifier_version() >> 16 != OFFPASS_VERIFIER_VERSION_MAJOR)
		return 10;
	offpass_verifier_config_init(&cfg);
	cfg.state_dir = argv[1];
	memcpy(cfg.verifier_id, "INTEGR01", 8);
	/* No price rule: refused. */
	if (offpass_verifier_open(&cfg, &v, err, sizeof(err)) != OFFPASS_STATUS_INVALID_ARGUMENT || v != NULL)
		return 11;
	cfg.fare_mode = OFFPASS_FARE_TILL;
	if (offpass_verifier_open(&cfg, &v, err, sizeof(err)) != OFFPASS_STATUS_OK) {
		fprintf(stderr, "%s\n", err);
		return 12;
	}
	if (offpass_verifier_id(v, id) != OFFPASS_STATUS_OK || memcmp(id, "INTEGR01", 8) != 0)
		return 13;
	printf("version %u.%u.%u; %s; %s; %s\n", offpass_verifier_version() >> 16,
	       (offpass_verifier_version() >> 8) & 255, offpass_verifier_version() & 255,
	       offpass_status_text(OFFPASS_STATUS_CORRUPT), offpass_reason_text(OFFPASS_REASON_WRONG_AMOUNT),
	       offpass_reason_text(OFFPASS_REASON_CLOCK_BACK));
	offpass_verifier_close(v);
	return 0;
}
PROG
# shellcheck disable=SC2086
run "$CC" -std=c99 -Wall -Wextra -pedantic -Werror $cflags "$WORK/gate.c" -o "$WORK/gate" $libs
LD_LIBRARY_PATH=$libdir run "$WORK/gate" "$WORK/state"
expect_log '^version 1\.[0-9]+\.[0-9]+; corrupt state; wrong amount; gate clock went back$' \
	"an integrator's program linked against the installed prefix runs"

# 3. The exported symbols, and what the header points at.
so=$(find "$libdir" -name 'liboffpass-verifier.so.*' -type f | head -n 1)
[ -n "$so" ] || fail "no shared library in $libdir"
nm -D --defined-only "$so" | awk '$2 ~ /^[TDBR]$/ { print $3 }' >"$WORK/syms"
[ -s "$WORK/syms" ] || fail "no exported symbol"
if grep -v '^offpass_.*@@LIBOFFPASS_VERIFIER_1$' "$WORK/syms" | grep -v '^LIBOFFPASS_VERIFIER_1$' |
	grep -v '^offpass_verifier_deny_age@@LIBOFFPASS_VERIFIER_1\.1$' | grep -v '^LIBOFFPASS_VERIFIER_1\.1$' |
	grep -v '^offpass_verifier_note_time@@LIBOFFPASS_VERIFIER_1\.2$' | grep -v '^LIBOFFPASS_VERIFIER_1\.2$' >"$WORK/bad"; then
	cat "$WORK/bad" >&2
	fail "symbols exported outside offpass_*@@LIBOFFPASS_VERIFIER_1 (and the 1.1 and 1.2 additions)"
fi
grep -q '^offpass_verifier_deny_age@@LIBOFFPASS_VERIFIER_1\.1$' "$WORK/syms" ||
	fail "offpass_verifier_deny_age is not exported as LIBOFFPASS_VERIFIER_1.1"
grep -q '^offpass_verifier_note_time@@LIBOFFPASS_VERIFIER_1\.2$' "$WORK/syms" ||
	fail "offpass_verifier_note_time is not exported as LIBOFFPASS_VERIFIER_1.2"
grep -q '^offpass_verifier_next_batch@@LIBOFFPASS_VERIFIER_1$' "$WORK/syms" ||
	fail "offpass_verifier_next_batch is not exported"
for doc in VERIFIER.md FORMAT.md; do
	[ -n "$(find "$ROOT" -path "*/doc/*/$doc" | head -n 1)" ] || fail "$doc not installed under docdir"
done
for page in liboffpass-verifier offpass_verifier_open offpass_verifier_check offpass_verifier_next_batch; do
	[ -n "$(find "$ROOT" -path "*/man3/$page.3" | head -n 1)" ] || fail "man page $page(3) not installed"
done
# The header cites only documents that exist (and are installed above).
for cited in $(grep -o '[A-Za-z_]*\.md' "$top_srcdir/verifier/offpass-verifier.h" | sort -u); do
	[ -f "$top_srcdir/docs/$cited" ] || fail "the header cites $cited, which does not exist"
done
grep -q 'DESIGN' "$top_srcdir/verifier/offpass-verifier.h" && fail "the header cites a DESIGN document"

pass "header compiles as C99/C11 and $cxx with -pedantic -Werror; installed prefix links and runs; $(wc -l <"$WORK/syms") symbols, all LIBOFFPASS_VERIFIER_1, 1.1 or 1.2; docs and man3 installed"
