#include "storage/db/access_policy.h"

#include <fmt/core.h>

#include <algorithm>

namespace cv {
namespace {

bool contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

std::string joined(const std::vector<std::string>& list) {
  std::string out;
  for (const auto& s : list) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "none" : out;
}

AccessDecision refuse(std::string why, std::optional<std::string> role = std::nullopt) {
  AccessDecision d;
  d.refusal = std::move(why);
  d.role = std::move(role);
  return d;
}

// Refused unless `person` (the database's answer for `name`) is registered and active.
std::optional<AccessDecision> refuse_unless_active(const std::string& name,
                                                   const std::optional<Person>& person) {
  if (!person) return refuse(fmt::format("\"{}\" is not a registered person (callvault person list)", name));
  if (!person->active())
    return refuse(fmt::format("{} was disabled at {}", person->name, person->disabled_at.value_or("?")),
                  person->role);
  return std::nullopt;
}

}  // namespace

AccessPolicy AccessPolicy::regulation_default() {
  AccessPolicy p;
  p.listen_roles = {"mayor", "deputy_mayor", "secretary", "legal_counsel", "it_admin", "technician"};
  p.supervised_roles = {"technician"};
  p.supervisor_role = "it_admin";
  p.approve_roles = {"mayor", "deputy_mayor", "secretary"};
  return p;
}

bool AccessPolicy::may_listen(const std::string& role) const { return contains(listen_roles, role); }
bool AccessPolicy::is_supervised(const std::string& role) const { return contains(supervised_roles, role); }
bool AccessPolicy::may_approve(const std::string& role) const { return contains(approve_roles, role); }

AccessDecision decide_person_access(const AccessPolicy& policy, const AccessRequest& request,
                                    const std::optional<Person>& person,
                                    const std::optional<Person>& present) {
  if (auto refused = refuse_unless_active(request.as, person)) return *refused;
  if (!policy.may_listen(person->role))
    return refuse(fmt::format("role {} may not listen to or export recordings (allowed: {})", person->role,
                              joined(policy.listen_roles)),
                  person->role);
  if (request.reason.empty()) return refuse("no reason given (--reason)", person->role);
  if (policy.is_supervised(person->role)) {
    if (request.present.empty())
      return refuse(fmt::format("a {} may listen only with a {} present (--present NAME)", person->role,
                                policy.supervisor_role),
                    person->role);
    if (!present)
      return refuse(fmt::format("--present \"{}\" is not a registered person", request.present),
                    person->role);
    if (!present->active())
      return refuse(
          fmt::format("--present {} was disabled at {}", present->name, present->disabled_at.value_or("?")),
          person->role);
    if (present->role != policy.supervisor_role)
      return refuse(
          fmt::format("--present {} is a {}, not a {}", present->name, present->role, policy.supervisor_role),
          person->role);
    if (present->id == person->id)
      return refuse(fmt::format("{} cannot supervise themselves", person->name), person->role);
    if (request.statement.empty())
      return refuse(
          fmt::format("a {} must have signed a confidentiality statement (--statement REF)", person->role),
          person->role);
  }
  AccessDecision d;
  d.granted = true;
  d.role = person->role;
  return d;
}

AccessDecision decide_recording_access(const AccessDecision& person_decision, const AccessRequest& request,
                                       const std::string& uuid, const RecordingState& recording) {
  if (!person_decision.granted) return person_decision;
  const auto& role = person_decision.role;
  if (!recording.exists) return refuse(fmt::format("no recording {}", uuid), role);
  if (recording.deleted_at)
    return refuse(fmt::format("recording {} was deleted at {} (retention)", uuid, *recording.deleted_at),
                  role);
  if (recording.deletion_started_at)
    return refuse(fmt::format("recording {} is being deleted (retention, since {})", uuid,
                              *recording.deletion_started_at),
                  role);
  if (!recording.has_audio) return refuse(fmt::format("recording {} has no audio file", uuid), role);
  if (recording.restricted_since && request.legal_claim.empty())
    return refuse(fmt::format("recording {} is restricted since {} ({}): it is played or exported only for a "
                              "legal claim (--legal-claim TEXT)",
                              uuid, *recording.restricted_since, recording.restriction_reason),
                  role);
  return person_decision;
}

AccessDecision decide_approval(const AccessPolicy& policy, const std::string& name,
                               const std::optional<Person>& person) {
  if (auto refused = refuse_unless_active(name, person)) return *refused;
  if (!policy.may_approve(person->role))
    return refuse(fmt::format("role {} may not approve or reject disclosures (allowed: {})", person->role,
                              joined(policy.approve_roles)),
                  person->role);
  AccessDecision d;
  d.granted = true;
  d.role = person->role;
  return d;
}

}  // namespace cv
