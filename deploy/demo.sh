#!/usr/bin/env bash
# The main job on its defaults, from a fresh Debian 12 machine (as root):
# installs what is missing, builds callvault, makes a capture of short office
# calls (the project's own generator: SIP + RTP with spoken audio, DTMF),
# replays it into callvault's embedded PostgreSQL (started in the data
# directory on first use) and prints the calls as an auditor sees them.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target callvault callvault-gen
data=${CALLVAULT_DATA_DIR:-/var/lib/callvault}
work=$(mktemp -d /tmp/callvault-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
build/tests/gen/callvault-gen --case demo --out "$work" >/dev/null
cv=(build/app/callvault --data-dir "$data")
echo
echo "Replaying a generated capture into $data (audio in $data/audio, index in its embedded database):"
"${cv[@]}" replay --sensor demo --office-numbers 100-199,4822555* "$work/demo.pcap" >/dev/null 2>"$work/stats" || {
  cat "$work/stats" >&2
  exit 1
}
grep -E "^  (packets|calls|index):" "$work/stats" || true
echo "Recordings, encrypted at rest with the key of their day (keys in $data/keys; \`callvault play\` decrypts):"
find "$data/audio" -name '*.wav.enc' -printf '  %m %u %p\n' | sort | tail -5
echo
echo "The calls as auditors see them (psql \"\$(callvault --data-dir $data db url)\"):"
psql -X "$("${cv[@]}" db url)" -c "
  SELECT start_time, caller, callee, direction, round(duration_s::numeric, 1) AS seconds, end_reason,
         stream_count AS streams, left(audio_sha256, 12) AS sha256, audio_path
  FROM audit.calls WHERE sensor = 'demo' ORDER BY start_time"
# Listening is for registered people in a listed role, and every access is logged (R8, R9).
"${cv[@]}" person add "Demo Secretary" --role secretary >/dev/null 2>&1 || true
uuid=$(psql -X -At "$("${cv[@]}" db url)" -c \
  "SELECT uuid FROM audit.calls WHERE sensor = 'demo' AND has_audio ORDER BY start_time LIMIT 1")
echo "callvault play $uuid --as \"Demo Secretary\" --reason demo --output $work/call.wav:"
"${cv[@]}" play "$uuid" --as "Demo Secretary" --reason demo --output "$work/call.wav"
echo "  $(head -c 4 "$work/call.wav") file of $(stat -c %s "$work/call.wav") bytes, decrypted and checked against the index's SHA-256"
echo "The audit trail's newest entries (callvault audit log):"
"${cv[@]}" audit log --limit 2 | sed 's/^/  /'
echo "Stop the embedded database with: build/app/callvault --data-dir $data db stop"
