#!/usr/bin/env bash
# The one command that runs every test of callvault (CI runs exactly this):
#  1. installs missing Debian packages,
#  2. builds with gcc and runs unit, scenario (generated captures), corpus
#     (real captures vs tshark) and database tests (a real PostgreSQL started
#     by the tests themselves, in private clusters under /tmp),
#  3. builds with clang + AddressSanitizer + UndefinedBehaviorSanitizer and
#     runs the unit tests again under the sanitizers, then replays every
#     capture with the sanitized binary (files only, and into the index),
#  4. runs every libFuzzer target for a bounded time, seeded from the corpus,
#     after replaying the inputs of crashes found before.
# Environment: CALLVAULT_PCAPS (real captures, default ../shared/pcaps),
# FUZZ_SECONDS (per target, default 30), JOBS (default: nproc).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-$(nproc)}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
export CALLVAULT_PCAPS=${CALLVAULT_PCAPS:-$ROOT/../shared/pcaps}

passed=0
failed=0
step() { echo; echo "=== $*"; }
count_ctest() {  # adds ctest's "N tests failed out of M" to the totals
  local log=$1 line total bad
  line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -1)
  if [[ -z "$line" ]]; then failed=$((failed + 1)); return; fi
  bad=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
  total=$(sed -E 's/.* tests failed out of ([0-9]+).*/\1/' <<<"$line")
  passed=$((passed + total - bad))
  failed=$((failed + bad))
}

if [[ ! -d "$CALLVAULT_PCAPS" ]]; then
  if [[ "${CI:-}" == "true" ]]; then
    echo "callvault: the real captures are missing at $CALLVAULT_PCAPS (set CALLVAULT_PCAPS)" >&2
    exit 1
  fi
  echo "callvault: warning: no real captures at $CALLVAULT_PCAPS; corpus tests will be skipped" >&2
fi

step "dependencies"
deploy/install-deps.sh || exit 1

step "formatting (clang-format, .clang-format)"
if git ls-files '*.cpp' '*.h' | xargs clang-format --dry-run --Werror >/tmp/callvault-format.log 2>&1; then
  passed=$((passed + 1)); echo "formatting: ok"
else
  failed=$((failed + 1)); echo "formatting: FAILED (run: git ls-files '*.cpp' '*.h' | xargs clang-format -i)"
  head -20 /tmp/callvault-format.log
fi

step "build (gcc, RelWithDebInfo)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 1
cmake --build build -j "$JOBS" || exit 1

step "unit, scenario and corpus tests"
(cd build && ctest -j "$JOBS" --output-on-failure --timeout 900) 2>&1 | tee build/ctest.log
count_ctest build/ctest.log

step "build (clang, AddressSanitizer + UndefinedBehaviorSanitizer, fuzz targets)"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCALLVAULT_FUZZ=ON \
  -DCALLVAULT_BENCH=OFF >/dev/null || exit 1
cmake --build build-fuzz -j "$JOBS" || exit 1

step "unit tests under sanitizers"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-fuzz && ctest -j "$JOBS" -L unit --output-on-failure --timeout 900) 2>&1 | tee build-fuzz/ctest.log
count_ctest build-fuzz/ctest.log

step "replay of every real capture and generated case under sanitizers"
san_inputs=$(mktemp -d)
chmod 711 "$san_inputs"  # the embedded database runs as the postgres account and must get through
build/tests/gen/callvault-gen --case all --out "$san_inputs" >/dev/null
for f in "$san_inputs"/*.pcap "$CALLVAULT_PCAPS"/*; do
  [[ -f "$f" && "$f" != *.md ]] || continue
  build-fuzz/app/callvault replay --no-db --json --out "$san_inputs/rec" "$f" >/dev/null 2>"$san_inputs/err"
  rc=$?
  # Exit 1/2 are verdicts on the input (not a capture); anything else, or a
  # sanitizer report, is a failure.
  if ((rc > 2)) || grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error" "$san_inputs/err"; then
    failed=$((failed + 1)); echo "sanitizer replay FAILED: $f (exit $rc)"; grep -m5 -E "ERROR|runtime error" "$san_inputs/err"
  else
    passed=$((passed + 1))
  fi
done
# The index path (embedded PostgreSQL, journal, writer thread) under the
# sanitizers: every generated case into one database, twice (the second time
# every call is already present).
for round in 1 2; do
  build-fuzz/app/callvault --data-dir "$san_inputs/data" replay --json --out "$san_inputs/rec-db" \
    "$san_inputs"/*.pcap >"$san_inputs/db.json" 2>"$san_inputs/err"
  rc=$?
  if ((rc != 0)) || grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error" "$san_inputs/err"; then
    failed=$((failed + 1)); echo "sanitizer replay into the index FAILED (round $round, exit $rc)"; tail -20 "$san_inputs/err"
  else
    passed=$((passed + 1)); echo "sanitizer replay into the index (round $round): $(grep -E '^  index:' "$san_inputs/err")"
  fi
done
build-fuzz/app/callvault --data-dir "$san_inputs/data" db stop >/dev/null
# Indexed recordings are encrypted at rest (R12): no plain WAV where the index points.
if find "$san_inputs/rec-db" -type f ! -name '*.wav.enc' | grep -q .; then
  failed=$((failed + 1)); echo "FAILED: the indexed replay left files other than .wav.enc:"
  find "$san_inputs/rec-db" -type f ! -name '*.wav.enc' | head -5
else
  passed=$((passed + 1))
fi
echo "sanitizer replays done"

step "fuzzing (${FUZZ_SECONDS}s per target)"
seeds_dir=$(mktemp -d)
if [[ -d "$CALLVAULT_PCAPS" ]]; then
  echo "seeds from the captures: $(/usr/bin/python3 tests/fuzz/make_seeds.py "$CALLVAULT_PCAPS" "$seeds_dir")"
fi
for fuzzer in build-fuzz/tests/fuzz_*; do
  [[ -x "$fuzzer" ]] || continue
  name=$(basename "$fuzzer")
  work=$(mktemp -d)
  seeds=("$work")
  [[ -d tests/fuzz/corpus/${name#fuzz_} ]] && cp -r "tests/fuzz/corpus/${name#fuzz_}/." "$work/"
  [[ -d $seeds_dir/${name#fuzz_} ]] && cp -r "$seeds_dir/${name#fuzz_}/." "$work/"
  # Past crashers first: each must now run clean.
  if [[ -d tests/fuzz/regressions/$name ]] && compgen -G "tests/fuzz/regressions/$name/*" >/dev/null; then
    if "$fuzzer" tests/fuzz/regressions/"$name"/* >"$work.regress.log" 2>&1; then
      passed=$((passed + 1)); echo "$name regressions: ok"
    else
      failed=$((failed + 1)); echo "$name regressions: FAILED"; tail -30 "$work.regress.log"
    fi
  fi
  if "$fuzzer" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$work/" "${seeds[@]}" >"$work.log" 2>&1; then
    passed=$((passed + 1)); echo "$name: ok ($(grep -m1 -oE 'stat::number_of_executed_units: *[0-9]+' "$work.log" | grep -oE '[0-9]+$') runs)"
  else
    failed=$((failed + 1)); echo "$name: FAILED"; tail -40 "$work.log"; ls "$work"/crash-* "$work"/leak-* 2>/dev/null
  fi
done

echo
echo "tests: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
