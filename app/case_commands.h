// The commands that make recording lawful (issue 4, R5-R12): `retention run`,
// `hold`, `restriction`, `play`, `export`, `disclosure`, `subject-access`.
// Each connects as callvault_operator (retention: callvault_retention), checks
// who acts against the database and the [access] rules, and writes its audit
// entry, granted or refused, before any audio leaves the store.
// Exit codes: 0 done, 1 refused, 2 usage or database error.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "app/config.h"

namespace cv {

struct CaseCommandOptions {
  // retention run
  bool once = false;
  bool dry_run = false;
  std::string now;
  size_t batch = 200;
  // who and why
  std::string by;
  std::string as;
  std::string reason;
  std::string present;
  std::string statement;
  std::string legal_claim;
  // what
  std::string case_ref;
  std::string basis;
  std::string authority;
  std::vector<std::string> calls;
  std::vector<std::string> numbers;
  std::string from, to;
  std::string uuid;
  int64_t id = 0;
  bool all = false;
  std::string output;
  std::string to_dir;
};

class CaseCommands {
 public:
  explicit CaseCommands(CLI::App& app);
  CaseCommands(const CaseCommands&) = delete;
  CaseCommands& operator=(const CaseCommands&) = delete;

  // After parsing: the exit code of the chosen command, or nullopt when none
  // of these commands was chosen.
  [[nodiscard]] std::optional<int> run(const Config& config) const;

 private:
  CaseCommandOptions o_;
  CLI::App* retention_run_ = nullptr;
  CLI::App* hold_place_ = nullptr;
  CLI::App* hold_release_ = nullptr;
  CLI::App* hold_list_ = nullptr;
  CLI::App* restriction_place_ = nullptr;
  CLI::App* restriction_lift_ = nullptr;
  CLI::App* play_ = nullptr;
  CLI::App* export_ = nullptr;
  CLI::App* disclosure_request_ = nullptr;
  CLI::App* disclosure_approve_ = nullptr;
  CLI::App* disclosure_reject_ = nullptr;
  CLI::App* disclosure_export_ = nullptr;
  CLI::App* disclosure_list_ = nullptr;
  CLI::App* subject_access_ = nullptr;
};

}  // namespace cv
