#!/bin/bash
# install.sh - `make install DESTDIR=...` from the build tree, and where
# everything lands: the CLIs in bindir (and no development or test
# program), offpass-p11.so in LIBDIR/pkcs11 exporting only the PKCS#11
# entry points, offpass-p11.module naming it, in the directory p11-kit
# reads when the prefix is p11-kit's own and in DATADIR/p11-kit/modules
# otherwise; the verifier library, its header and .pc; the man pages; and
# nothing outside the prefix. `make uninstall` takes it all back. Two more
# configure runs (no build) check the module directory for p11-kit's prefix
# and for --with-p11-kit-module-configs.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
need make find

B=${top_builddir:-.}
case $B in /*) ;; *) B=$PWD/$B ;; esac
S=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
case $S in /*) ;; *) S=$PWD/$S ;; esac
[ -f "$B/Makefile" ] || fail "$B is not a configured build tree"
mk() { env -u MAKEFLAGS -u MFLAGS make --no-print-directory "$@"; }

# dirs BUILD: the install directories of that build tree, as shell variables.
dirs()
{
	mk -s -C "$1" print-install-dirs >"$WORK/dirs.txt" || fail "make print-install-dirs in $1"
	# shellcheck disable=SC1091
	. "$WORK/dirs.txt"
}

# The rule for the module config: p11-kit's own directory when installing
# into p11-kit's prefix, else inside the prefix.
expect_confdir()
{
	if [ -n "$P11_MODULE_CONFIGS" ] && [ "$prefix" = "$P11KIT_PREFIX" ]; then
		[ "$p11kitconfdir" = "$P11_MODULE_CONFIGS" ] ||
			fail "prefix $prefix is p11-kit's, but the module config goes to $p11kitconfdir, not $P11_MODULE_CONFIGS"
	else
		[ "$p11kitconfdir" = "$datadir/p11-kit/modules" ] ||
			fail "prefix $prefix: the module config goes to $p11kitconfdir, not $datadir/p11-kit/modules"
	fi
}

cd "$WORK"
dirs "$B"
MODDIR=$p11moduledir
if ! "$B/config.status" --config | grep -q -- '--with-p11-kit-module-configs'; then
	expect_confdir
fi

# ---- install into a staging root ---------------------------------------------------------
R=$WORK/root
mk -C "$B" install DESTDIR="$R" >install.log 2>&1 || { tail -n 30 install.log >&2; fail "make install"; }

for p in offpass-card offpass-holder offpass-issuer offpass-gate; do
	[ -x "$R$bindir/$p" ] || fail "$bindir/$p not installed"
	[ -f "$R$mandir/man1/$p.1" ] || fail "$mandir/man1/$p.1 not installed"
done
for f in "$R$bindir"/*; do
	case ${f##*/} in
	offpass-vcard | test-* | *-testkit | p11-stress) fail "a development program was installed: $f" ;;
	esac
done

SO=$R$p11moduledir/offpass-p11.so
[ -f "$SO" ] || fail "$p11moduledir/offpass-p11.so not installed"
if command -v nm >/dev/null 2>&1; then
	nm -D --defined-only "$SO" | awk '{ print $NF }' | sort >exports.txt
	grep -qx C_GetFunctionList exports.txt || fail "the module does not export C_GetFunctionList"
	if grep -v '^C_Get\(FunctionList\|InterfaceList\|Interface\)$' exports.txt | grep -q .; then
		fail "the module exports more than the PKCS#11 entry points: $(grep -v '^C_Get' exports.txt | head -n 5 | tr '\n' ' ')"
	fi
fi

MOD=$R$p11kitconfdir/offpass-p11.module
[ -f "$MOD" ] || fail "offpass-p11.module not in $p11kitconfdir"
grep -qx "module: $p11moduledir/offpass-p11.so" "$MOD" ||
	fail "offpass-p11.module does not name $p11moduledir/offpass-p11.so: $(cat "$MOD")"

compgen -G "$R$libdir/liboffpass-verifier.so*" >/dev/null || fail "liboffpass-verifier.so not in $libdir"
[ -f "$R$includedir/offpass-verifier.h" ] || fail "offpass-verifier.h not in $includedir"
[ -f "$R$pkgconfigdir/liboffpass-verifier.pc" ] || fail "liboffpass-verifier.pc not in $pkgconfigdir"

# Nothing outside the prefix (or the module config directory).
find "$R" -type f -o -type l | while read -r f; do
	case ${f#"$R"} in
	"$prefix"/* | "$p11kitconfdir"/*) ;;
	*) fail "installed outside the prefix: ${f#"$R"}" ;;
	esac
done

mk -C "$B" uninstall DESTDIR="$R" >uninstall.log 2>&1 || { tail -n 30 uninstall.log >&2; fail "make uninstall"; }
LEFT=$(find "$R" -type f -o -type l)
[ -z "$LEFT" ] || fail "make uninstall left: $LEFT"

# ---- the module directory for other prefixes (configure only, no build) -------------------------
PKPREFIX=$P11KIT_PREFIX
PKCONFIGS=$P11_MODULE_CONFIGS
[ -n "$PKPREFIX" ] && [ -n "$PKCONFIGS" ] || skip "p11-kit's pkg-config file names no prefix or module config directory"
CACHE=$WORK/config.cache
mkdir c1 c2
(cd c1 && "$S/configure" --cache-file="$CACHE" --prefix="$PKPREFIX") >c1.log 2>&1 ||
	{ tail -n 20 c1.log >&2; fail "configure --prefix=$PKPREFIX"; }
grep -q "offpass-p11.module goes to $PKCONFIGS, where p11-kit looks" c1.log ||
	{ cat c1.log >&2; fail "configure did not say where the module config goes"; }
dirs "$WORK/c1"
expect_confdir
R2=$WORK/root2
mk -C c1 install-p11kitconfDATA DESTDIR="$R2" >c1-install.log 2>&1 || { cat c1-install.log >&2; fail "install the module config"; }
grep -qx "module: $p11moduledir/offpass-p11.so" "$R2$PKCONFIGS/offpass-p11.module" ||
	fail "prefix $PKPREFIX: no offpass-p11.module in $PKCONFIGS"

(cd c2 && "$S/configure" --cache-file="$CACHE" --prefix="$WORK/opt" \
	--with-p11-kit-module-configs=/etc/pkcs11/modules) >c2.log 2>&1 ||
	{ tail -n 20 c2.log >&2; fail "configure --with-p11-kit-module-configs"; }
dirs "$WORK/c2"
[ "$p11kitconfdir" = /etc/pkcs11/modules ] || fail "--with-p11-kit-module-configs ignored: $p11kitconfdir"
grep -q "see Install in the README" c2.log || { cat c2.log >&2; fail "configure did not point at the README"; }

pass "make install: programs, module ($MODDIR), module config ($PKCONFIGS for prefix $PKPREFIX), library, header, .pc, man pages; uninstall clean"
