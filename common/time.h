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

  static constexpr Timestamp from_sec_usec(int64_t sec, int64_t usec) {
    return {sec * 1'000'000'000 + usec * 1000};
  }
  static constexpr Timestamp from_sec_nsec(int64_t sec, int64_t nsec) { return {sec * 1'000'000'000 + nsec}; }
  [[nodiscard]] constexpr int64_t seconds() const {
    return ns >= 0 ? ns / 1'000'000'000 : -((-ns + 999'999'999) / 1'000'000'000);
  }
  friend constexpr auto operator<=>(Timestamp, Timestamp) = default;
};

constexpr int64_t kNsPerSec = 1'000'000'000;
constexpr int64_t kNsPerMs = 1'000'000;

// The pipeline's notion of "now", fed with packet timestamps. Broken captures
// (and broken clocks) produce timestamps that leap by years; one such packet
// must not expire every open call. A forward leap beyond `max_step` is only
// believed when the next packet confirms it (lands within `max_step` of the
// leap); backward steps never move the clock back.
class PacketClock {
 public:
  explicit PacketClock(int64_t max_step_ns = 3600 * 1'000'000'000LL) : max_step_(max_step_ns) {}
  // Returns false when `ts` was not believed (the clock did not move).
  bool observe(Timestamp ts) {
    if (!started_) {
      started_ = true;
      now_ = ts;
      return true;
    }
    if (ts.ns <= now_.ns) return true;
    if (ts.ns - now_.ns <= max_step_) {
      now_ = ts;
      pending_ = false;
      return true;
    }
    if (pending_ && ts.ns >= pending_ts_.ns && ts.ns - pending_ts_.ns <= max_step_) {
      now_ = ts;
      pending_ = false;
      return true;
    }
    pending_ = true;
    pending_ts_ = ts;
    return false;
  }
  [[nodiscard]] Timestamp now() const { return now_; }

 private:
  int64_t max_step_;
  bool started_ = false;
  bool pending_ = false;
  Timestamp now_;
  Timestamp pending_ts_;
};

// ISO 8601 UTC with millisecond precision: 2024-01-31T12:34:56.789Z
std::string to_iso8601(Timestamp t);

}  // namespace cv
