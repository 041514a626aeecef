#!/bin/bash
# demo.sh - the README's main job (scripts/demo.sh) as a test: the whole
# offline flow on the tree make check has just built, with the production
# KDF cost. It checks the balance itself and fails on any step.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
: "${top_builddir:?run through make check}" "${top_srcdir:?run through make check}"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! OFFPASS_BUILD_DIR=$top_builddir OFFPASS_DEMO_SKIP_BUILD=1 \
	bash "$top_srcdir/scripts/demo.sh" >"$out" 2>&1; then
	cat "$out"
	echo "FAIL: demo: scripts/demo.sh failed"
	exit 1
fi
grep -q '^demo: done' "$out" || { cat "$out"; echo "FAIL: demo: no closing line"; exit 1; }
grep -q 'REFUSE replay' "$out" || { cat "$out"; echo "FAIL: demo: the replay was not refused"; exit 1; }
echo "PASS: demo: $(grep '^demo: done' "$out")"
