#!/usr/bin/env bash
# Installs every build, test and lab dependency from Debian 12 packages.
# Idempotent: packages already present are skipped by apt.
set -euo pipefail

PKGS=(
  # build
  make cmake pkg-config g++ clang llvm lld
  libbpf-dev libxdp-dev xdp-tools bpftool libelf-dev zlib1g-dev linux-libc-dev
  libcli11-dev prometheus-cpp-dev libgtest-dev libgmock-dev
  libyaml-cpp-dev nlohmann-json3-dev libsystemd-dev
  # lab, tests and benchmarks
  iproute2 iputils-ping netsniff-ng nftables iptables procps psmisc
  prometheus python3 python3-scapy python3-jsonschema jq curl systemd
  util-linux passwd    # nsenter, unshare, runuser, useradd, setpriv (daemon tests)
  libcap2-bin          # capsh --decode (least-privilege test)
  ethtool              # bench: veth GRO/NAPI toggles
  linux-perf           # bench: scripts/bench/profile.sh
  libclang-rt-14-dev
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# bpffs is needed for pinned state; mount it if the host did not.
if ! mount | grep -q ' /sys/fs/bpf type bpf'; then
  mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
fi
