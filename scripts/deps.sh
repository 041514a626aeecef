#!/usr/bin/env bash
# Install the Debian 12 packages offpass needs (as root; through sudo otherwise).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "deps: run as root (apt-get needs it)" >&2; exit 1; }
	exec sudo "$0" "$@"
fi
mapfile -t pkgs < <(grep -v '^#' "$here/debian-packages.txt" | grep -v '^$')
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
echo "deps: ${#pkgs[@]} packages installed"
