#!/usr/bin/env bash
# Summarise a finished `make check` in build dir $1: the logs of failed
# tests, then "check: N passed, N failed, N skipped" where a Check suite
# counts its test cases and a script counts as one.
set -euo pipefail
build=$1
passed=0 failed=0 skipped=0
while IFS= read -r trs; do
	log=${trs%.trs}.log
	result=$(sed -n 's/^:test-result: //p' "$trs" | head -1)
	checks=$(grep -Eo 'Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' "$log" 2>/dev/null | tail -1 || true)
	if [ -n "$checks" ]; then
		set -- $(echo "$checks" | grep -Eo '[0-9]+')
		passed=$((passed + $1 - $2 - $3))
		failed=$((failed + $2 + $3))
	else
		case $result in
		PASS | XFAIL) passed=$((passed + 1)) ;;
		SKIP) skipped=$((skipped + 1)) ;;
		*) failed=$((failed + 1)) ;;
		esac
	fi
	case $result in
	FAIL | ERROR | XPASS) echo "=== $log"; tail -n 60 "$log" ;;
	SKIP) echo "skipped: ${log#"$build"/}: $(grep -m1 -i 'skip' "$log" || true)" ;;
	esac
done < <(find "$build" -name '*.trs' | sort)
echo "check: $passed passed, $failed failed, $skipped skipped"
