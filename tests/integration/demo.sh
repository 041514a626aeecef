#!/bin/bash
# demo.sh - the README's main job (scripts/demo.sh) as a test: the whole
# offline flow on the tree make check has just built, with the production
# KDF cost. It checks the balance itself and fails on any step. pkcs11-tool
# runs through a shim that records its arguments: no PIN of the demo may
# be among them (a command line is readable by every user of the machine).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
: "${top_builddir:?run through make check}" "${top_srcdir:?run through make check}"
out=$(mktemp)
shim=$(mktemp -d)
work=$(mktemp -d)
trap 'rm -rf "$out" "$shim" "$work"' EXIT
real=$(command -v pkcs11-tool) || { echo "SKIP: demo: pkcs11-tool not installed"; exit 77; }
cat >"$shim/pkcs11-tool" <<SHIM
#!/bin/bash
printf '%s\n' "\$@" >>"$shim/argv.log"
exec "$real" "\$@"
SHIM
chmod 755 "$shim/pkcs11-tool"
if ! PATH=$shim:$PATH OFFPASS_DEMO_DIR=$work OFFPASS_BUILD_DIR=$top_builddir OFFPASS_DEMO_SKIP_BUILD=1 \
	bash "$top_srcdir/scripts/demo.sh" >"$out" 2>&1; then
	cat "$out"
	echo "FAIL: demo: scripts/demo.sh failed"
	exit 1
fi
grep -q '^demo: done' "$out" || { cat "$out"; echo "FAIL: demo: no closing line"; exit 1; }
grep -q 'REFUSE replay' "$out" || { cat "$out"; echo "FAIL: demo: the replay was not refused"; exit 1; }
[ -s "$shim/argv.log" ] || { echo "FAIL: demo: pkcs11-tool was not run through the shim"; exit 1; }
for f in "$work"/*.pin; do
	pin=$(head -n 1 "$f")
	if grep -qxF -- "$pin" "$shim/argv.log" || grep -qF -- "=$pin" "$shim/argv.log"; then
		echo "FAIL: demo: the PIN in ${f##*/} was on pkcs11-tool's command line"
		exit 1
	fi
done
echo "PASS: demo: $(grep '^demo: done' "$out")"
