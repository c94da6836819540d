// `callvault status`: asks the running recorder's status endpoint (GET
// /status) how it is doing and prints a summary.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "app/config.h"

namespace CLI {
class App;
}

namespace cv {

struct StatusCommandOptions {
  bool json = false;       // the endpoint's JSON on stdout instead of the summary
  std::string listen;      // empty: [status] listen
  double timeout_s = 3.0;  // for connecting and the answer
};

// Exit codes of `callvault status`.
constexpr int kStatusHealthy = 0;
constexpr int kStatusUnhealthy = 1;    // running, but a health rule is broken (see "problems")
constexpr int kStatusUnreachable = 3;  // nothing answers there: not running, or the endpoint is disabled

CLI::App* add_status_command(CLI::App& app, StatusCommandOptions& options);
int run_status(const Config& config, const StatusCommandOptions& options);

// The readable summary of a /status document (also for the tests).
std::string format_status_summary(const std::string& address, const nlohmann::json& status);

}  // namespace cv
