#include "app/access_commands.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <pqxx/transaction>

#include "app/db_session.h"
#include "storage/db/audit_trail.h"
#include "storage/db/database.h"
#include "storage/db/people.h"

namespace cv {
namespace {

constexpr int kOk = kExitOk, kRefused = kExitRefused, kError = kExitError;

int person_add(const Config& config, const std::string& name, const std::string& role,
               const std::string& by) {
  if (auto problem = person_name_problem(name); !problem.empty()) {
    spdlog::error("{}", problem);
    return kError;
  }
  auto conn = open_database(config, DbRole::kOperator);
  if (!conn) return kError;
  pqxx::work tx(*conn);
  const std::string actor = actor_for(tx, by);
  if (actor.empty()) return kRefused;
  const PeopleResult r = add_person(tx, name, role, config.access_roles, actor, command_context());
  if (!r.ok()) {
    spdlog::error("refused: {}", r.message);
    return kRefused;
  }
  tx.commit();
  fmt::print("added {} ({}), audit entry {}\n", r.person->name, r.person->role, r.audit_seq);
  return kOk;
}

int person_disable(const Config& config, const std::string& name, const std::string& by) {
  auto conn = open_database(config, DbRole::kOperator);
  if (!conn) return kError;
  pqxx::work tx(*conn);
  const std::string actor = actor_for(tx, by);
  if (actor.empty()) return kRefused;
  const PeopleResult r = disable_person(tx, name, actor, command_context());
  if (!r.ok()) {
    spdlog::error("refused: {}", r.message);
    return kRefused;
  }
  tx.commit();
  fmt::print("disabled {} ({}), audit entry {}\n", r.person->name, r.person->role, r.audit_seq);
  return kOk;
}

int person_list(const Config& config) {
  auto conn = open_database(config, DbRole::kOperator);
  if (!conn) return kError;
  pqxx::read_transaction tx(*conn);
  const auto people = list_people(tx);
  if (people.empty()) {
    fmt::print("no people registered (callvault person add NAME --role ROLE)\n");
    return kOk;
  }
  size_t name_w = 4, role_w = 4;
  for (const auto& p : people) {
    name_w = std::max(name_w, p.name.size());
    role_w = std::max(role_w, p.role.size());
  }
  fmt::print("{:<{}}  {:<{}}  {:<8}  {}\n", "NAME", name_w, "ROLE", role_w, "STATUS", "SINCE");
  for (const auto& p : people) {
    const std::string since = p.active()
                                  ? fmt::format("added {} by {}", p.created_at, p.created_by)
                                  : fmt::format("disabled {} by {} (added {} by {})", *p.disabled_at,
                                                p.disabled_by.value_or("?"), p.created_at, p.created_by);
    fmt::print("{:<{}}  {:<{}}  {:<8}  {}\n", p.name, name_w, p.role, role_w,
               p.active() ? "active" : "disabled", since);
  }
  return kOk;
}

int audit_verify(const Config& config) {
  auto conn = open_database(config, DbRole::kOperator);
  if (!conn) return kError;
  const AuditVerification v = verify_audit_chain(*conn);
  if (!v.ok) {
    fmt::print("audit trail verification FAILED at entry {}: {}: {} ({} entries before it verified)\n",
               v.first_bad_seq, audit_problem_name(v.problem), v.what, v.entries_checked);
    return kRefused;
  }
  fmt::print("audit trail verified: {} entries, chain intact\n", v.entries_checked);
  fmt::print(
      "head: entry {}, hash {} (note it elsewhere: a later verify must reach this entry with this hash)\n",
      v.last_seq, v.last_hash);
  return kOk;
}

int audit_log(const Config& config, size_t limit) {
  auto conn = open_database(config, DbRole::kOperator);
  if (!conn) return kError;
  for (const auto& e : recent_audit_entries(*conn, limit))
    fmt::print("{}  {}  {}  {}  {}  {}\n", e.seq, e.at_text, e.actor, e.action, e.subject.value_or("-"),
               e.details);
  return kOk;
}

}  // namespace

AccessCommands::AccessCommands(CLI::App& app) {
  auto* person = app.add_subcommand("person", "People who may act on recordings, and their roles (R8)");
  person->require_subcommand(1);
  person_add_ = person->add_subcommand("add", "Register a person with a role from [access] roles");
  person_add_->add_option("name", name_, "The person's full name, as it will appear in the audit trail")
      ->required();
  person_add_->add_option("--role", role_, "mayor, deputy_mayor, secretary, legal_counsel, it_admin, ...")
      ->required();
  person_add_->add_option("--by", by_, "The registered person doing this (default: your OS account)");
  person_list_ = person->add_subcommand("list", "Everyone registered, active or disabled");
  person_disable_ = person->add_subcommand("disable", "Withdraw a person's access for good");
  person_disable_->add_option("name", name_, "The person's name")->required();
  person_disable_->add_option("--by", by_, "The registered person doing this (default: your OS account)");

  auto* audit = app.add_subcommand("audit", "The tamper-evident audit trail (R9)");
  audit->require_subcommand(1);
  audit_verify_ = audit->add_subcommand(
      "verify", "Recompute the hash chain; name the first entry altered or removed (exit 1)");
  audit_log_ = audit->add_subcommand("log", "Print the newest audit entries, oldest first");
  audit_log_->add_option("--limit", limit_, "How many entries (default 20)")->check(CLI::Range(1, 1000000));
}

std::optional<int> AccessCommands::run(const Config& config) const {
  try {
    if (*person_add_) return person_add(config, name_, role_, by_);
    if (*person_list_) return person_list(config);
    if (*person_disable_) return person_disable(config, name_, by_);
    if (*audit_verify_) return audit_verify(config);
    if (*audit_log_) return audit_log(config, limit_);
  } catch (const std::exception& e) {
    spdlog::error("database: {}", one_line(e.what()));
    return kError;
  }
  return std::nullopt;
}

}  // namespace cv
