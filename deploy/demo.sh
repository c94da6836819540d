#!/usr/bin/env bash
# The main job on its defaults, from a fresh Debian 12 machine (as root):
# installs what is missing, builds callvault, makes a capture of a short office
# call (the project's own generator: SIP + RTP with spoken audio, DTMF), replays
# it into a folder of recordings and prints the calls it recorded.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target callvault callvault-gen
work=${CALLVAULT_DEMO_DIR:-/tmp/callvault-demo}
rm -rf "$work" && mkdir -p "$work"
build/tests/gen/callvault-gen --case demo --out "$work" >/dev/null
echo
echo "Replaying $work/demo.pcap into $work/recordings:"
build/app/callvault replay --out "$work/recordings" --office-numbers 100-199,4822555* "$work/demo.pcap"
echo
echo "Recordings:"
find "$work/recordings" -name '*.wav' -printf '  %P (%s bytes)\n'
