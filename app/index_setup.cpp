#include "app/index_setup.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <array>
#include <random>

#include "storage/db/database.h"
#include "storage/db/embedded_postgres.h"

namespace cv {

std::string journal_dir(const Config& config) { return config.database.data_dir + "/journal"; }
std::string audio_dir(const Config& config) { return config.database.data_dir + "/audio"; }

bool prepare_index_database(const Config& config, std::string& writer_conninfo, std::string& error) {
  const DatabaseSettings& db = config.database;
  writer_conninfo = connection_string(db, DbRole::kWriter);
  if (uses_embedded(db)) {
    // Our own private cluster: start it and bring its schema up to date.
    if (!EmbeddedPostgres::ensure_running(db, error)) {
      error = "embedded database: " + error;
      return false;
    }
    auto admin = connect_database(connection_string(db, DbRole::kAdmin), db.connect_timeout_s, error);
    if (!admin) {
      error = "embedded database: " + error;
      return false;
    }
    std::vector<std::string> applied;
    if (!migrate(*admin, applied, error)) {
      error = "embedded database: migration failed: " + error;
      return false;
    }
    for (const auto& m : applied) spdlog::info("embedded database: applied migration {}", m);
    return true;
  }
  // An external server: the operator migrates it; we only check.
  std::string why;
  auto conn = connect_database(writer_conninfo, db.connect_timeout_s, why);
  if (!conn) {
    spdlog::warn(
        "database unreachable ({}); recording goes on and finished calls are journaled in {} until it is "
        "back",
        why, journal_dir(config));
    return true;
  }
  try {
    if (is_superuser(*conn)) {
      error = fmt::format(
          "the database user \"{}\" is a superuser; the recorder must connect as a role without superuser "
          "rights "
          "(callvault_writer, see docs/AUDITORS.md)",
          conn->username());
      return false;
    }
  } catch (const std::exception& e) {
    spdlog::warn("database: {}; finished calls are journaled until it answers", one_line(e.what()));
    return true;
  }
  if (std::string problem = schema_problem(*conn); !problem.empty()) {
    error = problem;
    return false;
  }
  return true;
}

std::unique_ptr<IndexWriter> start_index_writer(const Config& config, std::string& error) {
  IndexWriterConfig wc;
  if (!prepare_index_database(config, wc.conninfo, error)) return nullptr;
  wc.connect_timeout_s = config.database.connect_timeout_s;
  wc.journal_dir = journal_dir(config);
  wc.retention_period = config.retention_period;
  wc.time_zone = config.time_zone;
  auto writer = IndexWriter::start(wc, error);
  if (!writer) error = "index journal: " + error;
  return writer;
}

std::string random_uuid() {
  std::random_device rd;
  std::array<uint8_t, 16> b{};
  for (size_t i = 0; i < b.size(); i += 4) {
    const uint32_t v = rd();
    for (size_t k = 0; k < 4; ++k) b[i + k] = static_cast<uint8_t>(v >> (8 * k));
  }
  b[6] = static_cast<uint8_t>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<uint8_t>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  std::string s;
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += fmt::format("{:02x}", b[i]);
  }
  return s;
}

}  // namespace cv
