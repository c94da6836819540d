#include "storage/db/people.h"

#include <fmt/core.h>

#include <algorithm>
#include <pqxx/result>

#include "storage/db/audit_trail.h"

namespace cv {
namespace {

constexpr const char* kPersonColumns =
    "id, name, role, date_trunc('second', created_at)::text, created_by, "
    "date_trunc('second', disabled_at)::text, disabled_by";

Person person_from_row(const pqxx::row& r) {
  Person p;
  p.id = r[0].as<int64_t>();
  p.name = r[1].as<std::string>();
  p.role = r[2].as<std::string>();
  p.created_at = r[3].as<std::string>();
  p.created_by = r[4].as<std::string>();
  if (!r[5].is_null()) p.disabled_at = r[5].as<std::string>();
  if (!r[6].is_null()) p.disabled_by = r[6].as<std::string>();
  return p;
}

PeopleResult refused(PeopleStatus status, std::string message) {
  PeopleResult r;
  r.status = status;
  r.message = std::move(message);
  return r;
}

nlohmann::json with_role(const nlohmann::json& details, const std::string& role) {
  nlohmann::json d = details.is_object() ? details : nlohmann::json::object();
  d["role"] = role;
  return d;
}

}  // namespace

const std::vector<std::string>& default_access_roles() {
  static const std::vector<std::string> roles = {"mayor",         "deputy_mayor", "secretary",
                                                 "legal_counsel", "it_admin",     "technician"};
  return roles;
}

std::string person_name_problem(const std::string& name) {
  if (name.empty()) return "a person's name must not be empty";
  if (name.front() == ' ' || name.back() == ' ' || name.front() == '\t' || name.back() == '\t')
    return "a person's name must not start or end with a space";
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7F) return "a person's name must not contain control characters";
  // Characters, not bytes: count the bytes that do not continue a UTF-8 sequence.
  const auto chars = std::count_if(name.begin(), name.end(),
                                   [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
  if (chars > 200) return "a person's name must not be longer than 200 characters";
  return {};
}

PeopleResult add_person(pqxx::transaction_base& tx, const std::string& name, const std::string& role,
                        const std::vector<std::string>& allowed_roles, const std::string& actor,
                        const nlohmann::json& details) {
  if (auto problem = person_name_problem(name); !problem.empty())
    return refused(PeopleStatus::kInvalidName, problem);
  if (std::find(allowed_roles.begin(), allowed_roles.end(), role) == allowed_roles.end()) {
    std::string list;
    for (const auto& r : allowed_roles) list += (list.empty() ? "" : ", ") + r;
    return refused(
        PeopleStatus::kUnknownRole,
        fmt::format("role \"{}\" is not one of the configured roles ([access] roles): {}", role, list));
  }
  const pqxx::result r =
      tx.exec_params(fmt::format("INSERT INTO callvault.persons (name, role, created_by) VALUES ($1, $2, $3) "
                                 "ON CONFLICT (name) DO NOTHING RETURNING {}",
                                 kPersonColumns),
                     name, role, actor);
  if (r.empty()) {
    auto existing = find_person(tx, name);
    return refused(PeopleStatus::kDuplicate,
                   fmt::format("a person named \"{}\" is already registered{}", name,
                               existing && !existing->active() ? " (disabled)" : ""));
  }
  PeopleResult res;
  res.person = person_from_row(r[0]);
  res.audit_seq = append_audit(tx, actor, "person.added", name, with_role(details, role));
  return res;
}

PeopleResult disable_person(pqxx::transaction_base& tx, const std::string& name, const std::string& actor,
                            const nlohmann::json& details) {
  const pqxx::result cur = tx.exec_params(
      fmt::format("SELECT {} FROM callvault.persons WHERE name = $1 FOR UPDATE", kPersonColumns), name);
  if (cur.empty())
    return refused(PeopleStatus::kNotFound, fmt::format("no person named \"{}\" is registered", name));
  const Person before = person_from_row(cur[0]);
  if (!before.active())
    return refused(PeopleStatus::kAlreadyDisabled,
                   fmt::format("\"{}\" was already disabled at {} by {}", name, *before.disabled_at,
                               before.disabled_by.value_or("?")));
  const pqxx::result r = tx.exec_params(
      fmt::format(
          "UPDATE callvault.persons SET disabled_at = now(), disabled_by = $2 WHERE id = $1 RETURNING {}",
          kPersonColumns),
      before.id, actor);
  PeopleResult res;
  res.person = person_from_row(r[0]);
  res.audit_seq = append_audit(tx, actor, "person.disabled", name, with_role(details, before.role));
  return res;
}

std::optional<Person> find_person(pqxx::transaction_base& tx, const std::string& name) {
  const pqxx::result r =
      tx.exec_params(fmt::format("SELECT {} FROM callvault.persons WHERE name = $1", kPersonColumns), name);
  if (r.empty()) return std::nullopt;
  return person_from_row(r[0]);
}

std::vector<Person> list_people(pqxx::transaction_base& tx) {
  const pqxx::result r =
      tx.exec(fmt::format("SELECT {} FROM callvault.persons ORDER BY name, id", kPersonColumns));
  std::vector<Person> out;
  out.reserve(r.size());
  for (const auto& row : r) out.push_back(person_from_row(row));
  return out;
}

}  // namespace cv
