#include "storage/db/database.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include "storage/db/migrations.h"
#include "storage/recording_id.h"

namespace cv {

const char* db_role_name(DbRole role) {
  switch (role) {
    case DbRole::kAdmin:
      return "callvault_admin";
    case DbRole::kWriter:
      return "callvault_writer";
    case DbRole::kAuditor:
      return "callvault_auditor";
    case DbRole::kRetention:
      return "callvault_retention";
    case DbRole::kOperator:
      return "callvault_operator";
  }
  return "callvault_auditor";
}

std::optional<DbRole> parse_db_role(const std::string& name) {
  if (name == "admin") return DbRole::kAdmin;
  if (name == "writer") return DbRole::kWriter;
  if (name == "auditor") return DbRole::kAuditor;
  if (name == "retention") return DbRole::kRetention;
  if (name == "operator") return DbRole::kOperator;
  return std::nullopt;
}

bool uses_embedded(const DatabaseSettings& settings) {
  if (!settings.url.empty()) return false;
  for (const char* var : {"PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE"}) {
    const char* v = std::getenv(var);
    if (v && *v) return false;
  }
  return true;
}

std::string connection_string(const DatabaseSettings& settings, DbRole role) {
  if (!uses_embedded(settings)) return settings.url;
  // libpq key=value syntax: values in single quotes, \ and ' escaped.
  std::string dir;
  for (char c : settings.data_dir + "/run") {
    if (c == '\'' || c == '\\') dir += '\\';
    dir += c;
  }
  return fmt::format("host='{}' port=5432 dbname=callvault user={}", dir, db_role_name(role));
}

std::string one_line(const std::string& message) {
  std::string out;
  bool space = false;
  for (char c : message) {
    if (c == '\n' || c == '\t' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::unique_ptr<pqxx::connection> connect_database(const std::string& conninfo, int timeout_s,
                                                   std::string& error) {
  // libpq takes the timeout and application name from the environment too,
  // which works for both URI and key=value connection strings.
  setenv("PGCONNECT_TIMEOUT", std::to_string(timeout_s).c_str(), 0);
  setenv("PGAPPNAME", "callvault", 0);
  try {
    return std::make_unique<pqxx::connection>(conninfo);
  } catch (const std::exception& e) {
    error = one_line(e.what());
    return nullptr;
  }
}

std::optional<int> schema_version(pqxx::connection& conn, std::string& error) {
  try {
    pqxx::nontransaction tx(conn);
    auto r = tx.exec("SELECT to_regclass('callvault.schema_migrations') IS NOT NULL");
    if (!r[0][0].as<bool>()) return 0;
    r = tx.exec("SELECT coalesce(max(version), 0) FROM callvault.schema_migrations");
    return r[0][0].as<int>();
  } catch (const std::exception& e) {
    error = one_line(e.what());
    return std::nullopt;
  }
}

std::string schema_problem(pqxx::connection& conn) {
  std::string error;
  auto version = schema_version(conn, error);
  if (!version) return "cannot read the schema version: " + error;
  const int latest = latest_schema_version();
  if (*version == 0)
    return fmt::format("the database \"{}\" has no callvault schema: run `callvault db migrate`",
                       conn.dbname());
  if (*version < latest)
    return fmt::format(
        "the database schema is at version {}, this callvault needs version {}: run `callvault db migrate`",
        *version, latest);
  if (*version > latest)
    return fmt::format(
        "the database schema is at version {}, newer than this callvault knows ({}): upgrade callvault "
        "before running it against this database",
        *version, latest);
  return {};
}

bool is_superuser(pqxx::connection& conn) {
  pqxx::nontransaction tx(conn);
  return tx.exec("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")[0][0].as<bool>();
}

namespace {

// Any number: the same for every callvault, so concurrent migrations queue.
constexpr long long kMigrationLock = 0x63616c6c7661756cLL;  // "callvaul"

}  // namespace

bool migrate(pqxx::connection& conn, std::vector<std::string>& applied, std::string& error) {
  try {
    {
      pqxx::work tx(conn);
      tx.exec("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLock) + ")");
      tx.exec(
          "CREATE SCHEMA IF NOT EXISTS callvault;"
          "CREATE TABLE IF NOT EXISTS callvault.schema_migrations ("
          "  version integer PRIMARY KEY,"
          "  name text NOT NULL,"
          "  sha256 text NOT NULL,"
          "  applied_at timestamptz NOT NULL DEFAULT now())");
      tx.commit();
    }
    for (const Migration& m : shipped_migrations()) {
      pqxx::work tx(conn);
      tx.exec("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLock) + ")");
      auto r = tx.exec_params("SELECT sha256 FROM callvault.schema_migrations WHERE version = $1", m.version);
      const std::string hash = sha256_hex(m.sql);
      if (!r.empty()) {
        // Already applied. A different text means someone edited a shipped
        // migration; the schema may differ from what the code expects.
        if (r[0][0].as<std::string>() != hash)
          spdlog::warn("migration {} was applied from a different text than this callvault ships", m.name);
        continue;
      }
      tx.exec(std::string(m.sql));
      tx.exec_params("INSERT INTO callvault.schema_migrations (version, name, sha256) VALUES ($1, $2, $3)",
                     m.version, std::string(m.name), hash);
      tx.commit();
      applied.emplace_back(m.name);
    }
    return true;
  } catch (const std::exception& e) {
    error = one_line(e.what());
    return false;
  }
}

}  // namespace cv
