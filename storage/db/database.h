// Connecting to PostgreSQL, checking and applying the schema (libpqxx).
//
// callvault uses one database with two schemas: `callvault` (tables, written
// by the recorder) and `audit` (views, read by auditors). Roles: callvault_admin
// (the embedded cluster's superuser: migrations), callvault_writer (the
// recorder, never a superuser), callvault_auditor (views only) and
// callvault_retention (retention runs), callvault_operator (the commands people
// run: person, audit, and later hold, play, export, disclosure).
#pragma once

#include <memory>
#include <optional>
#include <pqxx/connection>
#include <string>
#include <vector>

namespace cv {

enum class DbRole { kAdmin, kWriter, kAuditor, kRetention, kOperator };
const char* db_role_name(DbRole role);  // the PostgreSQL role: "callvault_writer", ...
// "admin", "writer", "auditor", "retention", "operator"
std::optional<DbRole> parse_db_role(const std::string& name);

struct DatabaseSettings {
  std::string url;  // an external server; empty: see uses_embedded()
  std::string data_dir = "/var/lib/callvault";
  std::string embedded_account = "postgres";  // runs the embedded cluster when callvault runs as root
  std::string pg_bin_dir;                     // empty: the newest /usr/lib/postgresql/*/bin
  int connect_timeout_s = 5;
};

// True when no server is configured: neither a URL nor the standard PG*
// environment variables (PGHOST, PGHOSTADDR, PGPORT, PGDATABASE, PGUSER, PGSERVICE).
bool uses_embedded(const DatabaseSettings& settings);

// The libpq connection string for `role`. Embedded: the private socket in the
// data directory. External: the configured URL (or "" for the PG* variables);
// the role is then whatever that URL names.
std::string connection_string(const DatabaseSettings& settings, DbRole role);

// Opens a connection; on failure returns null and a one-line reason.
std::unique_ptr<pqxx::connection> connect_database(const std::string& conninfo, int timeout_s,
                                                   std::string& error);

// The schema version recorded in callvault.schema_migrations (0: none).
std::optional<int> schema_version(pqxx::connection& conn, std::string& error);

// Empty when the database has exactly the schema this build knows; otherwise
// what is wrong and the command that fixes it.
std::string schema_problem(pqxx::connection& conn);

// The recorder must not run with more rights than it needs.
bool is_superuser(pqxx::connection& conn);

// Applies every shipped migration newer than the database's version, each in
// its own transaction together with its schema_migrations row. Idempotent and
// safe against a concurrent migrate (advisory lock). `applied` names what ran.
bool migrate(pqxx::connection& conn, std::vector<std::string>& applied, std::string& error);

// A pqxx/libpq message on one line, without trailing newlines.
std::string one_line(const std::string& message);

}  // namespace cv
