// `callvault replay`: capture files through the whole pipeline.
#pragma once

#include <string>
#include <vector>

#include "app/config.h"

namespace cv {

struct ReplayOptions {
  std::vector<std::string> files;
  // Empty: <data_dir>/audio, or ./recordings with no_db (and not encrypt).
  std::string out_dir;
  bool json = false;
  bool no_db = false;  // true: files and summaries only, no index
  // Encrypted recordings (.wav.enc, keys in key_dir(config)). Always so with
  // the index: every indexed recording is encrypted at rest (R12). With
  // no_db, plain WAV unless asked.
  bool encrypt = false;
  int max_warnings_per_kind = 10;
  // --status-listen: serve the status endpoint while replaying (empty: not;
  // never from [status], so a replay beside the running recorder does not
  // compete for its port).
  std::string status_listen;
  uint64_t status_min_free_mb = 1024;
};

// Returns the process exit code: 0 when every file was usable, 1 when some
// input was unusable (missing, not a capture), 2 when nothing could be read
// or the database (or the status endpoint's address) cannot be used, 3 when everything was recorded but some
// index records still wait in the journal (the database stayed unreachable).
int run_replay(const Config& config, const ReplayOptions& options);

}  // namespace cv
