#!/usr/bin/env bash
# The main job: set up, build, and run the three-tier example in the lab:
# every pod a network namespace on this kernel, the real datapath on its
# veth, every pod probing every pod on the ports they declare. Prints the
# matrix the packets produced (the lab fails if it differs from what
# `npbpf explain` computes), the status of the lab's BPF maps before
# teardown, and why one flow is allowed.
# Usage: bash scripts/demo.sh   (as root; installs packages with apt-get)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "$(basename "$0"): run as root (BPF programs, network namespaces, apt-get)" >&2
  exit 1
fi

bash scripts/setup.sh >/dev/null
build=${BUILD_DIR:-build}
[ -d "$build" ] || meson setup "$build" >/dev/null
# npbpf-cni too: the lab chains it after bridge + host-local when it is built.
meson compile -C "$build" npbpf npbpf-cni >/dev/null
npbpf=$build/user/npbpf

echo "examples/three-tier on real network namespaces (new connections; '.' allowed,"
echo "'X' denied, '-' port not declared by the destination):"
echo
"$npbpf" lab -f examples/three-tier --status
echo
echo "Why is the frontend allowed to reach the backend?"
"$npbpf" explain -f examples/three-tier \
	--from production/frontend --to production/backend --port 8080 || true
