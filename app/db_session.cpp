#include "app/db_session.h"

#include <pwd.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <pqxx/nontransaction>

#include "storage/db/embedded_postgres.h"
#include "storage/db/people.h"

namespace cv {

std::string os_user() {
  if (const passwd* pw = getpwuid(getuid()); pw && pw->pw_name && *pw->pw_name) return pw->pw_name;
  return std::to_string(getuid());
}

std::unique_ptr<pqxx::connection> open_database(const Config& config, DbRole role) {
  std::string error;
  if (uses_embedded(config.database) && !EmbeddedPostgres::ensure_running(config.database, error)) {
    spdlog::error("embedded database: {}", error);
    return nullptr;
  }
  auto conn =
      connect_database(connection_string(config.database, role), config.database.connect_timeout_s, error);
  if (!conn) {
    spdlog::error("database: {}", error);
    return nullptr;
  }
  try {
    if (std::string problem = schema_problem(*conn); !problem.empty()) {
      spdlog::error("database: {}", problem);
      return nullptr;
    }
    conn->set_client_encoding("UTF8");
    pqxx::nontransaction tx(*conn);
    tx.exec("SET TIME ZONE " + tx.quote(config.time_zone));
  } catch (const std::exception& e) {
    spdlog::error("database: {}", one_line(e.what()));
    return nullptr;
  }
  return conn;
}

std::string actor_for(pqxx::transaction_base& tx, const std::string& by, bool required, const char* option) {
  if (by.empty()) {
    if (!required) return "os:" + os_user();
    spdlog::error("refused: {} PERSON is required: name the registered person acting", option);
    return {};
  }
  auto person = find_person(tx, by);
  if (!person) {
    spdlog::error("refused: {} \"{}\" is not a registered person (callvault person list)", option, by);
    return {};
  }
  if (!person->active()) {
    spdlog::error("refused: {} \"{}\" was disabled at {}", option, by, *person->disabled_at);
    return {};
  }
  return person->name;
}

nlohmann::json command_context() { return {{"os_user", os_user()}}; }

}  // namespace cv
