#!/usr/bin/env bash
# Configure and build offpass in build/ (out of tree). Extra arguments go to configure.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${OFFPASS_BUILD_DIR:-$top/build}
cd "$top"
[ -x configure ] || autoreconf -fi >/dev/null 2>&1
mkdir -p "$build"
cd "$build"
if [ ! -f Makefile ] || [ "$#" -gt 0 ]; then
	"$top/configure" -q --enable-strict "$@"
fi
make -s -j"$(nproc)"
