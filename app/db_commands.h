// `callvault db ...`: the index database's life cycle and the connection string.
#pragma once

#include <string>

#include "app/config.h"

namespace cv {

struct DbCommandOptions {
  std::string role = "auditor";  // db url --role
  int wait_s = 30;               // db flush --wait
};

int db_url(const Config& config, const DbCommandOptions& options);
int db_migrate(const Config& config);
int db_start(const Config& config);
int db_stop(const Config& config);
int db_status(const Config& config);
int db_flush(const Config& config, const DbCommandOptions& options);

}  // namespace cv
