// `callvault doctor`: is this machine ready to record? Each check says ok or
// FIX with the one thing to do; nothing is changed, except that the embedded
// database is started when it is initialised but stopped, as the recorder
// itself would start it.
#pragma once

#include <string>
#include <vector>

#include "app/config.h"

namespace CLI {
class App;
}

namespace cv {

struct DoctorOptions {
  std::string interface;          // the capture interface ([capture] interface on the live branch)
  bool json = false;              // one JSON object on stdout instead of the table
  double calls_per_day = 0;       // with minutes_per_call: the expected load, instead of the index's
  double minutes_per_call = 0;    // last 7 days
  std::vector<std::string> skip;  // checks not to run (names as printed)
};

// One finding. `fix` is empty when ok.
struct DoctorCheck {
  std::string name;
  bool ok = false;
  std::string detail;
  std::string fix;
};

// The checks, in the order they are printed.
inline const std::vector<std::string>& doctor_check_names() {
  static const std::vector<std::string> names = {"interface", "capabilities", "database", "data_dir",
                                                 "disk",      "key_dir",      "clock"};
  return names;
}

// Bytes one minute of recorded audio takes in the store: 8 kHz stereo 16-bit
// (32,000 bytes/s) plus the encryption's per-record overhead.
double stored_bytes_per_minute();

// Days a retention period ("1 month", "2 weeks") keeps audio, rounded up
// (a month is 31 days, a year 366); 0 when `period` does not parse.
int retention_days(const std::string& period);

// Registers the `doctor` subcommand and its options on `app`.
CLI::App* add_doctor_command(CLI::App& app, DoctorOptions& options);

// Runs every check not skipped and prints them. Exit code 0 when all are ok,
// 1 when something must be fixed.
int run_doctor(const Config& config, const DoctorOptions& options);

}  // namespace cv
