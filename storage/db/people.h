// The people who may act on recordings, and their roles (R8): callvault.persons
// (storage/migrations/0003_people_audit.sql). A role is free text checked
// against the configured list ([access] roles). People are added and
// disabled, never changed or deleted; every change writes an audit entry
// (person.added, person.disabled; subject: the name) in the same transaction.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/transaction_base>
#include <string>
#include <vector>

namespace cv {

// The regulation's list (R8), the default of [access] roles.
const std::vector<std::string>& default_access_roles();

struct Person {
  int64_t id = 0;
  std::string name;
  std::string role;
  std::string created_at;  // to the second, as the session prints timestamptz (its TimeZone)
  std::string created_by;
  std::optional<std::string> disabled_at;
  std::optional<std::string> disabled_by;
  [[nodiscard]] bool active() const { return !disabled_at; }
};

enum class PeopleStatus { kOk, kInvalidName, kUnknownRole, kDuplicate, kNotFound, kAlreadyDisabled };

struct PeopleResult {
  PeopleStatus status = PeopleStatus::kOk;
  std::string message;  // why not, when status is not kOk
  std::optional<Person> person;
  int64_t audit_seq = 0;  // the audit entry written, when kOk
  [[nodiscard]] bool ok() const { return status == PeopleStatus::kOk; }
};

// Empty when `name` can name a person: not empty, no leading or trailing
// spaces, no control characters, at most 200 characters.
std::string person_name_problem(const std::string& name);

// Adds a person with a role from `allowed_roles`. `actor` acts (a person's
// name or "os:<account>"); `details` (a JSON object, e.g. {"os_user": ...})
// goes into the audit entry together with the role. Nothing is written
// unless the result is kOk; the caller commits.
PeopleResult add_person(pqxx::transaction_base& tx, const std::string& name, const std::string& role,
                        const std::vector<std::string>& allowed_roles, const std::string& actor,
                        const nlohmann::json& details);

// Disables a person for good (they keep their name in the audit trail).
PeopleResult disable_person(pqxx::transaction_base& tx, const std::string& name, const std::string& actor,
                            const nlohmann::json& details);

std::optional<Person> find_person(pqxx::transaction_base& tx, const std::string& name);

// Everyone, active or disabled, by name.
std::vector<Person> list_people(pqxx::transaction_base& tx);

}  // namespace cv
