#!/usr/bin/env bash
# Install the Debian 12 packages offpass needs (run as root, or through sudo).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" != 0 ]; then
	exec sudo "$0" "$@"
fi
mapfile -t pkgs < <(grep -v '^#' "$here/debian-packages.txt" | grep -v '^$')
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
echo "deps: ${#pkgs[@]} packages installed"
