#include "common/time.h"

#include <chrono>
#include <cstdio>

namespace cv {

std::string to_iso8601(Timestamp t) {
  using namespace std::chrono;
  int64_t sec = t.seconds();
  int64_t ms = (t.ns - sec * kNsPerSec) / kNsPerMs;
  auto days = floor<std::chrono::days>(sys_seconds{seconds{sec}});
  year_month_day ymd{days};
  hh_mm_ss hms{seconds{sec} - days.time_since_epoch()};
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02ld:%02ld:%02ld.%03ldZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<long>(hms.hours().count()), static_cast<long>(hms.minutes().count()),
                static_cast<long>(hms.seconds().count()), static_cast<long>(ms));
  return buf;
}

}  // namespace cv
