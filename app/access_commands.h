// `callvault person ...` and `callvault audit ...`: the people who may act on
// recordings (R8) and the tamper-evident audit trail (R9). They connect as
// callvault_operator to the embedded database, or with the configured URL.
// Exit codes: 0 done, 1 refused or verification failed, 2 usage or database error.
#pragma once

#include <CLI/CLI.hpp>
#include <cstddef>
#include <optional>
#include <string>

#include "app/config.h"

namespace cv {

class AccessCommands {
 public:
  // Adds `person add|list|disable` and `audit verify|log` to `app`. Keep the
  // object alive (and in place) until run().
  explicit AccessCommands(CLI::App& app);
  AccessCommands(const AccessCommands&) = delete;
  AccessCommands& operator=(const AccessCommands&) = delete;

  // After parsing: the exit code of the chosen command, or nullopt when none
  // of these commands was chosen.
  [[nodiscard]] std::optional<int> run(const Config& config) const;

 private:
  CLI::App* person_add_ = nullptr;
  CLI::App* person_list_ = nullptr;
  CLI::App* person_disable_ = nullptr;
  CLI::App* audit_verify_ = nullptr;
  CLI::App* audit_log_ = nullptr;
  std::string name_;
  std::string role_;
  std::string by_;
  size_t limit_ = 20;
};

}  // namespace cv
