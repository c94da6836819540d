// `callvault capture`: live capture from an interface through the recording
// pipeline until SIGTERM/SIGINT; SIGHUP reloads what can change while running.
#pragma once

#include <string>

#include "app/config.h"

namespace cv {

struct CaptureOptions {
  // As for replay: empty out_dir is <data_dir>/audio, or ./recordings with no_db.
  std::string out_dir;
  bool json = false;
  bool no_db = false;
  bool encrypt = false;
  int stats_interval_s = 5;  // how often the drop counters are read
  // The configuration file SIGHUP rereads (empty: SIGHUP only logs that
  // there is nothing to reload). Settings given on the command line win
  // over the file on reload too.
  std::string config_path;
  bool office_numbers_from_cli = false;
  bool filter_from_cli = false;
  bool log_level_from_cli = false;
  // The status endpoint's address ([status] listen, or --status-listen);
  // empty: none ([status] enabled = false and no --status-listen).
  std::string status_listen;
  uint64_t status_min_free_mb = 1024;
};

// Returns the exit code: 0 when stopped by SIGTERM/SIGINT with everything
// recorded and indexed, 1 when the capture failed while running (the
// interface went away), 2 when it could not start (no such interface, down,
// no permission, bad filter, unusable store or database, the status
// endpoint's address in use), 3 when everything
// was recorded but some index records still wait in the journal.
int run_capture(const Config& config, const CaptureOptions& options);

}  // namespace cv
