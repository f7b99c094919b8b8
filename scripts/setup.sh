#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the examples need.
# Safe to run again: apt-get skips what is already there.
set -euo pipefail

packages=(
  build-essential pkg-config meson ninja-build
  clang llvm libclang-rt-14-dev libbpf-dev bpftool libelf-dev zlib1g-dev linux-libc-dev
  libyaml-dev libcurl4-openssl-dev libcriterion-dev libyajl-dev libmicrohttpd-dev libmnl-dev
  python3 openssl curl
  iproute2 iputils-ping python3-scapy containernetworking-plugins
  iptables nftables ipset
)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: must run as root to install packages (apt-get)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${packages[@]}"
# kubectl checks the test API server (tests/apiserver): the machine image has
# one; Debian's kubernetes-client where it is missing.
command -v kubectl >/dev/null || apt-get install -y -q --no-install-recommends kubernetes-client
