#!/usr/bin/env bash
# Installs what oxnic's build and tests need and is missing. Idempotent: a second run installs
# nothing. As root it uses apt-get; otherwise it prints the exact command to run and fails.
set -euo pipefail

# command -> Debian package
declare -A NEED=(
  [verilator]=verilator   # co-simulation of the generated Verilog
  [yosys]=yosys           # synthesis checks and cell counts
  [iverilog]=iverilog     # second opinion on the Verilog (lint)
  [ip]=iproute2           # network namespaces for the Linux-peer tests
  [ping]=iputils-ping     # Linux-peer tests: the kernel pings oxnic
  [curl]=curl             # Linux-peer tests: HTTP from the kernel to oxnic's TcpListener
  [nc]=netcat-openbsd     # Linux-peer tests: TCP echo through oxnic
  [socat]=socat           # Linux-peer tests: UDP echo, a kernel TCP listener for oxnic
  [tcpdump]=tcpdump       # Linux-peer tests: capture on the kernel side of the TAP
  [tshark]=tshark         # Linux-peer tests: checksum and malformed-packet check of it
  [ethtool]=ethtool       # inspecting the TAP's offload settings
  [g++]=g++               # compiles the verilated C++ models
  [make]=make             # verilator's include files expect it present
  [pkg-config]=pkg-config
)

missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" -ne 0 ]; then
  echo "oxnic setup: missing ${missing[*]}; run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "oxnic setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "oxnic setup: done" >&2
