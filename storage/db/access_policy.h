// Who may listen to and export recordings (R8), who may approve disclosures
// (R10), and what a restriction of processing (R11) allows. The rules come
// from configuration ([access]); the default is the regulation's: mayor,
// deputy mayor, secretary, legal counsel and the IT systems administrator
// listen; a technician only with an administrator present and a signed
// confidentiality statement; mayor, deputy mayor and secretary approve
// disclosures. decide_access is a pure function of the request and what the
// database says about the people and the recording, so every refusal path is
// tested without a server; the commands log its verdict, granted or refused,
// in the audit trail before any audio leaves the store.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "storage/db/people.h"

namespace cv {

struct AccessPolicy {
  std::vector<std::string> listen_roles;      // may play and export
  std::vector<std::string> supervised_roles;  // ... only with a supervisor present and a statement
  std::string supervisor_role;                // who must be present for a supervised role
  std::vector<std::string> approve_roles;     // may approve or reject disclosures

  static AccessPolicy regulation_default();
  [[nodiscard]] bool may_listen(const std::string& role) const;
  [[nodiscard]] bool is_supervised(const std::string& role) const;
  [[nodiscard]] bool may_approve(const std::string& role) const;
};

// What the database knows about a recording, for deciding access to it.
struct RecordingState {
  bool exists = false;
  bool has_audio = false;  // a file was written and not deleted
  std::optional<std::string> deleted_at;
  std::optional<std::string> deletion_started_at;
  std::optional<std::string> restricted_since;  // an active restriction: when, and why
  std::string restriction_reason;
};

// One request to reach recordings: play, export, subject access, disclosure export.
struct AccessRequest {
  std::string as;           // --as / --by: the name given
  std::string reason;       // why, as stated (required)
  std::string present;      // --present: the supervisor present (supervised roles)
  std::string statement;    // --statement: reference of the signed confidentiality statement
  std::string legal_claim;  // --legal-claim: the legal claim that lifts a restriction (R11)
};

struct AccessDecision {
  bool granted = false;
  std::string refusal;              // one sentence when refused
  std::optional<std::string> role;  // the person's role, when registered
};

// The person asking may reach recordings at all: registered, active, a
// listening role, and for a supervised role a registered, active supervisor
// (another person) present and a statement reference. `person` and `present`
// are the database's answers for request.as and request.present.
AccessDecision decide_person_access(const AccessPolicy& policy, const AccessRequest& request,
                                    const std::optional<Person>& person,
                                    const std::optional<Person>& present);

// ... and this recording: it exists, still has its audio, and is not
// restricted unless a legal claim is stated.
AccessDecision decide_recording_access(const AccessDecision& person_decision, const AccessRequest& request,
                                       const std::string& uuid, const RecordingState& recording);

// Approving or rejecting a disclosure (R10): a registered, active person with an approving role.
AccessDecision decide_approval(const AccessPolicy& policy, const std::string& name,
                               const std::optional<Person>& person);

}  // namespace cv
