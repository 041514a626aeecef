#!/usr/bin/env bash
# Build and run the whole test suite: Check unit suites and the integration
# scripts that drive pkcs11-tool, p11tool, openssl and p11-kit. Ends with one
# line "check: N passed, N failed, N skipped" counting every Check test case
# and every integration script.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${OFFPASS_BUILD_DIR:-$top/build}
"$top/scripts/build.sh"
cd "$build"
status=0
make -s -j"$(nproc)" check || status=$?
"$top/scripts/test-summary.sh" "$build"
exit "$status"
