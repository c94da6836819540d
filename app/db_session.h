// What every command that people run against the index needs: a connection
// in the right role with the schema checked, and who is acting.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <pqxx/connection>
#include <pqxx/transaction_base>
#include <string>

#include "app/config.h"
#include "storage/db/database.h"

namespace cv {

// Exit codes of the people's commands: done, refused (or verification
// failed), usage or database error.
constexpr int kExitOk = 0, kExitRefused = 1, kExitError = 2;

// The account that runs this command (the real user, also under sudo).
std::string os_user();

// A connection as `role` to the embedded database (started if needed) or
// with the configured URL, with the current schema, UTF-8 and the office's
// time zone; null after logging why not.
std::unique_ptr<pqxx::connection> open_database(const Config& config, DbRole role);

// Who acts: the person named by `by`, who must be registered and active.
// With `by` empty: "os:<account>" unless `required`. Empty after logging a
// refusal (naming `option`, e.g. "--by").
std::string actor_for(pqxx::transaction_base& tx, const std::string& by, bool required = false,
                      const char* option = "--by");

// The details every audit entry of a command carries: who ran it.
nlohmann::json command_context();

}  // namespace cv
