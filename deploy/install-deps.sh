#!/usr/bin/env bash
# Installs the Debian 12 packages callvault needs to build and to run its
# tests. Does nothing (and needs no network) when they are all present.
set -euo pipefail

BUILD_PACKAGES=(
  build-essential cmake ninja-build pkg-config clang clang-format libclang-rt-14-dev git
  libpcap-dev libavcodec-dev libavutil-dev libswresample-dev
  libssl-dev nlohmann-json3-dev libfmt-dev libspdlog-dev libcli11-dev libtomlplusplus-dev
  libpqxx-dev libpq-dev libsodium-dev libboost-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # The DPDK capture backend (built when present) and the net_pcap poll-mode
  # driver its test reads captures through (tests/dpdk/).
  dpdk-dev libdpdk-dev librte-net-pcap23
)
# The embedded index database (initdb, pg_ctl, postgres) and psql for auditors.
RUN_PACKAGES=(postgresql postgresql-client tzdata)
# Independent references and sources of test audio; tcpreplay and iproute2 (ip netns,
# veth) for the live capture test (tests/live/); systemd for systemd-analyze (tests/deploy/).
TEST_PACKAGES=(tshark ffmpeg espeak-ng sox python3 tcpreplay iproute2 systemd)

want=("${BUILD_PACKAGES[@]}" "${RUN_PACKAGES[@]}")
if [[ "${1:-}" != "--build-only" ]]; then want+=("${TEST_PACKAGES[@]}"); fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then missing+=("$p"); fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "callvault: missing Debian packages: ${missing[*]}" >&2
  echo "callvault: run this script as root, or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "callvault: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer for it.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's postgresql package creates and starts a default cluster; callvault
# runs its own private one and needs only the binaries and the postgres account.
