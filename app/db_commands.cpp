#include "app/db_commands.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <pqxx/nontransaction>

#include "app/index_setup.h"
#include "storage/db/database.h"
#include "storage/db/embedded_postgres.h"
#include "storage/db/migrations.h"
#include "storage/index/index_journal.h"

namespace cv {

int db_url(const Config& config, const DbCommandOptions& options) {
  auto role = parse_db_role(options.role);
  if (!role) {
    spdlog::error("--role {}: use admin, writer, auditor, retention or operator", options.role);
    return 2;
  }
  if (uses_embedded(config.database)) {
    // The usual next step is `psql "$(callvault db url)"`: have the server up.
    std::string error;
    if (!EmbeddedPostgres::ensure_running(config.database, error)) {
      spdlog::error("embedded database: {}", error);
      return 2;
    }
  } else if (*role != DbRole::kWriter) {
    spdlog::warn(
        "an external database is configured; this is its configured connection string, whatever --role");
  }
  fmt::print("{}\n", connection_string(config.database, *role));
  return 0;
}

int db_migrate(const Config& config) {
  std::string error;
  if (uses_embedded(config.database) && !EmbeddedPostgres::ensure_running(config.database, error)) {
    spdlog::error("embedded database: {}", error);
    return 2;
  }
  auto conn = connect_database(connection_string(config.database, DbRole::kAdmin),
                               config.database.connect_timeout_s, error);
  if (!conn) {
    spdlog::error("database: {}", error);
    return 2;
  }
  std::vector<std::string> applied;
  if (!migrate(*conn, applied, error)) {
    spdlog::error("migration failed (nothing of the failing migration was applied): {}", error);
    return 2;
  }
  for (const auto& m : applied) fmt::print("applied {}\n", m);
  fmt::print("database \"{}\" is at schema version {}\n", conn->dbname(), latest_schema_version());
  return 0;
}

int db_start(const Config& config) {
  if (!uses_embedded(config.database)) {
    spdlog::error(
        "an external database is configured ([database] url, --db or PG* variables); nothing to start");
    return 2;
  }
  std::string error;
  bool started = false;
  if (!EmbeddedPostgres::ensure_running(config.database, error, &started)) {
    spdlog::error("embedded database: {}", error);
    return 2;
  }
  fmt::print("embedded database {} in {}\n", started ? "started" : "already running",
             EmbeddedPostgres::cluster_dir(config.database));
  return 0;
}

int db_stop(const Config& config) {
  if (!uses_embedded(config.database)) {
    spdlog::error("an external database is configured; callvault only stops its embedded one");
    return 2;
  }
  std::string error;
  bool was_running = false;
  if (!EmbeddedPostgres::stop(config.database, error, &was_running)) {
    spdlog::error("{}", error);
    return 2;
  }
  fmt::print("embedded database {}\n", was_running ? "stopped" : "was not running");
  return 0;
}

int db_status(const Config& config) {
  const bool embedded = uses_embedded(config.database);
  fmt::print("database:        {}\n", embedded
                                          ? "embedded, in " + EmbeddedPostgres::cluster_dir(config.database)
                                          : std::string("external"));
  int rc = 0;
  std::string error;
  if (embedded && !EmbeddedPostgres::is_running(config.database)) {
    fmt::print("server:          not running (started by the next recording, or `callvault db start`)\n");
  } else if (auto conn = connect_database(connection_string(config.database, DbRole::kWriter),
                                          config.database.connect_timeout_s, error)) {
    std::string problem = schema_problem(*conn);
    fmt::print("server:          reachable\nschema:          {}\n",
               problem.empty() ? fmt::format("version {} (current)", latest_schema_version()) : problem);
    if (problem.empty()) {
      pqxx::nontransaction tx(*conn);
      auto r = tx.exec("SELECT count(*), min(start_time)::text, max(start_time)::text FROM callvault.calls");
      fmt::print("calls:           {} (first {}, last {})\n", r[0][0].as<uint64_t>(), r[0][1].c_str(),
                 r[0][2].c_str());
    } else {
      rc = 1;
    }
  } else {
    fmt::print("server:          unreachable: {}\n", error);
    rc = 1;
  }
  auto journal = IndexJournal::open(journal_dir(config), error);
  if (journal)
    fmt::print("journal:         {} segments, {} bytes waiting in {}\n", journal->pending_segments(),
               journal->pending_bytes(), journal_dir(config));
  else
    fmt::print("journal:         {}\n", error);
  return rc;
}

int db_flush(const Config& config, const DbCommandOptions& options) {
  std::string error;
  auto writer = start_index_writer(config, error);
  if (!writer) {
    spdlog::error("{}", error);
    return 2;
  }
  const bool complete = writer->finish(std::chrono::seconds(options.wait_s));
  const auto& s = writer->stats();
  fmt::print("{} calls inserted, {} already present, {} segments waiting\n", s.calls_inserted.load(),
             s.calls_already_present.load(), s.journal_segments.load());
  return complete ? 0 : 3;
}

}  // namespace cv
