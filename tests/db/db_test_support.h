// What the tests against a real PostgreSQL share: a scratch database per test
// on the cluster of the ctest fixture `postgres` (CV_TEST_PG_ADMIN_URL), the
// callvault binary, and SQLSTATEs of refused statements. Temporary
// directories and child processes come from the generator's test helpers.
#pragma once

#include <fmt/core.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <pqxx/connection>
#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "storage/db/database.h"
#include "tests/gen/test_util.h"

namespace cv::dbtest {

using gen::test::TempDir;

inline const std::string kNull = "<NULL>";

inline bool in_ci() {
  const char* v = std::getenv("CI");
  return v && std::string(v) == "true";
}

inline std::string callvault_bin() {
  const char* v = std::getenv("CALLVAULT_BIN");
  return v && *v ? v : CALLVAULT_BIN;
}

inline std::string random_hex(size_t bytes) {
  std::random_device rd;
  std::string s;
  for (size_t i = 0; i < bytes; ++i) s += fmt::format("{:02x}", rd() & 0xFF);
  return s;
}

struct RunResult {
  int status = -1;     // exit status; -1: did not exit normally
  std::string output;  // stdout, then stderr
};

inline RunResult run(const std::vector<std::string>& argv) {
  gen::test::RunResult r = gen::test::run(argv);
  return {r.status, r.out + r.err};
}

// The SQLSTATE of `query` run with `conninfo`, "" when it succeeds.
inline std::string sqlstate_of(const std::string& conninfo, const std::string& query) {
  pqxx::connection c(conninfo);
  pqxx::nontransaction tx(c);
  try {
    tx.exec(query);
    return "";
  } catch (const pqxx::insufficient_privilege&) {
    return "42501";  // libpqxx 6 leaves the sqlstate of this one empty
  } catch (const pqxx::sql_error& e) {
    return e.sqlstate().empty() ? std::string("?") + e.what() : e.sqlstate();
  }
}

// A fresh database with a random name (`prefix` + hex) for each test, dropped
// afterwards, so tests run in parallel on one cluster. Without
// CV_TEST_PG_ADMIN_URL the test is skipped, except under CI=true.
class ScratchDatabaseTest : public ::testing::Test {
 protected:
  explicit ScratchDatabaseTest(std::string prefix) : prefix_(std::move(prefix)) {}

  void SetUp() override {
    const char* url = std::getenv("CV_TEST_PG_ADMIN_URL");
    if (!url || !*url) {
      if (in_ci()) FAIL() << "CV_TEST_PG_ADMIN_URL is not set (run the tests with ctest -L db)";
      GTEST_SKIP() << "CV_TEST_PG_ADMIN_URL is not set (run the tests with ctest -L db)";
    }
    base_ = url;
    db_ = prefix_ + random_hex(6);
    pqxx::connection c(base_ + " dbname=postgres");
    pqxx::nontransaction tx(c);
    tx.exec("CREATE DATABASE " + db_ + " ENCODING 'UTF8' TEMPLATE template0");
    created_ = true;
  }

  void TearDown() override {
    if (!created_) return;
    pqxx::connection c(base_ + " dbname=postgres");
    pqxx::nontransaction tx(c);
    tx.exec("DROP DATABASE IF EXISTS " + db_ + " WITH (FORCE)");
  }

  [[nodiscard]] std::string conninfo(const std::string& user = "callvault_admin") const {
    return base_ + " dbname=" + db_ + " user=" + user;
  }

  pqxx::result sql(const std::string& query, const std::string& user = "callvault_admin") {
    pqxx::connection c(conninfo(user));
    pqxx::nontransaction tx(c);
    return tx.exec(query);
  }

  // The one value a query returns, "<NULL>" for NULL.
  std::string value(const std::string& query, const std::string& user = "callvault_admin") {
    auto r = sql(query, user);
    if (r.size() != 1 || r.columns() != 1)
      throw std::runtime_error(fmt::format("{} rows, {} columns: {}", r.size(), r.columns(), query));
    return r[0][0].is_null() ? kNull : r[0][0].as<std::string>();
  }

  // Applies every migration as the superuser (for tests of a current schema).
  void migrate_to_current() {
    pqxx::connection c(conninfo());
    std::vector<std::string> applied;
    std::string error;
    ASSERT_TRUE(migrate(c, applied, error)) << error;
  }

  std::string base_, db_;
  bool created_ = false;

 private:
  std::string prefix_;
};

}  // namespace cv::dbtest
