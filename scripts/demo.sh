#!/usr/bin/env bash
# The main job: set up, build, and show what the three-tier example allows.
# Usage: bash scripts/demo.sh   (as root; installs packages with apt-get)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh >/dev/null
build=${BUILD_DIR:-build}
[ -d "$build" ] || meson setup "$build" >/dev/null
meson compile -C "$build" >/dev/null

echo "Connectivity of examples/three-tier (new connections; '.' allowed, 'X' denied):"
echo
"$build/npbpf" explain -f examples/three-tier --matrix
echo
echo "Why is the frontend allowed to reach the backend?"
"$build/npbpf" explain -f examples/three-tier \
	--from production/frontend --to production/backend --port 8080 || true
