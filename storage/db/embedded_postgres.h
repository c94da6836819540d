// The private PostgreSQL cluster callvault runs when no server is configured.
//
// It lives in <data_dir>/postgres, listens only on a unix socket in
// <data_dir>/run (no TCP), logs to <data_dir>/postgres.log, and runs as an
// unprivileged account: PostgreSQL refuses to run as root, so when callvault is
// root the cluster belongs to `embedded_account` (default "postgres").
// Authentication is `trust` on that socket; the socket directory is private
// to the cluster's account (mode 0700), so only that account and root reach it.
#pragma once

#include <string>

#include "storage/db/database.h"

namespace cv {

class EmbeddedPostgres {
 public:
  // Initialises the cluster on first use, starts it unless it runs already,
  // and creates the database "callvault". `started` tells whether this call
  // started the server. Serialised by a lock file in the data directory.
  static bool ensure_running(const DatabaseSettings& settings, std::string& error, bool* started = nullptr);

  // Stops the cluster (fast shutdown: open sessions are rolled back).
  static bool stop(const DatabaseSettings& settings, std::string& error, bool* was_running = nullptr);

  static bool is_running(const DatabaseSettings& settings);

  static std::string cluster_dir(const DatabaseSettings& s) { return s.data_dir + "/postgres"; }
  static std::string socket_dir(const DatabaseSettings& s) { return s.data_dir + "/run"; }
  static std::string log_file(const DatabaseSettings& s) { return s.data_dir + "/postgres.log"; }
};

}  // namespace cv
