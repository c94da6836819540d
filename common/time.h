// Time as seen by the pipeline: always the packet's capture timestamp, never the
// wall clock, so that replay behaves exactly like live capture (timeouts,
// expiry and file dates are all derived from packet time).
#pragma once

#include <cstdint>
#include <string>

namespace cv {

// Nanoseconds since the Unix epoch, UTC.
struct Timestamp {
  int64_t ns = 0;

  static constexpr Timestamp from_sec_usec(int64_t sec, int64_t usec) { return {sec * 1'000'000'000 + usec * 1000}; }
  static constexpr Timestamp from_sec_nsec(int64_t sec, int64_t nsec) { return {sec * 1'000'000'000 + nsec}; }
  [[nodiscard]] constexpr int64_t seconds() const { return ns >= 0 ? ns / 1'000'000'000 : -((-ns + 999'999'999) / 1'000'000'000); }
  friend constexpr auto operator<=>(Timestamp, Timestamp) = default;
};

constexpr int64_t kNsPerSec = 1'000'000'000;
constexpr int64_t kNsPerMs = 1'000'000;

// ISO 8601 UTC with millisecond precision: 2024-01-31T12:34:56.789Z
std::string to_iso8601(Timestamp t);

}  // namespace cv
