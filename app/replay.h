// `callvault replay`: capture files through the whole pipeline.
#pragma once

#include <string>
#include <vector>

#include "app/config.h"

namespace cv {

struct ReplayOptions {
  std::vector<std::string> files;
  std::string out_dir = "recordings";
  bool json = false;
  bool no_db = true;  // the index arrives with the PostgreSQL stage
  int max_warnings_per_kind = 10;
};

// Returns the process exit code: 0 when every file was usable, 1 when some
// input was unusable (missing, not a capture), 2 when nothing could be read.
int run_replay(const Config& config, const ReplayOptions& options);

}  // namespace cv
