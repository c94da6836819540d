// The access decisions (R8, R10, R11) as pure functions of the request and
// what the database says: every refusal path, without a server (the db tests
// drive the same paths through the commands).
#include <gtest/gtest.h>

#include <functional>

#include "storage/db/access_policy.h"

namespace cv {
namespace {

Person person(const std::string& name, const std::string& role, bool disabled = false) {
  Person p;
  p.id = static_cast<int64_t>(std::hash<std::string>{}(name) % 1000000);  // one id per person
  p.name = name;
  p.role = role;
  if (disabled) p.disabled_at = "2026-12-01 10:00:00+01";
  return p;
}

AccessRequest request(const std::string& as, const std::string& reason = "complaint 12/26") {
  AccessRequest r;
  r.as = as;
  r.reason = reason;
  return r;
}

RecordingState live_recording() {
  RecordingState s;
  s.exists = true;
  s.has_audio = true;
  return s;
}

const AccessPolicy kPolicy = AccessPolicy::regulation_default();

TEST(AccessPolicy, TheRegulationsListedRolesMayListen) {
  for (const char* role : {"mayor", "deputy_mayor", "secretary", "legal_counsel", "it_admin"}) {
    const AccessDecision d = decide_person_access(kPolicy, request("X"), person("X", role), std::nullopt);
    EXPECT_TRUE(d.granted) << role << ": " << d.refusal;
    EXPECT_EQ(d.role, role);
  }
  EXPECT_TRUE(kPolicy.may_approve("mayor"));
  EXPECT_TRUE(kPolicy.may_approve("deputy_mayor"));
  EXPECT_TRUE(kPolicy.may_approve("secretary"));
  EXPECT_FALSE(kPolicy.may_approve("it_admin"));
  EXPECT_FALSE(kPolicy.may_approve("legal_counsel"));
}

TEST(AccessPolicy, EveryonElseIsRefusedWithTheReason) {
  auto refusal = [](const AccessRequest& req, const std::optional<Person>& p,
                    const std::optional<Person>& present) {
    const AccessDecision d = decide_person_access(kPolicy, req, p, present);
    EXPECT_FALSE(d.granted);
    return d.refusal;
  };
  EXPECT_NE(refusal(request("Nobody"), std::nullopt, std::nullopt).find("not a registered person"),
            std::string::npos);
  EXPECT_NE(refusal(request("X"), person("X", "clerk"), std::nullopt).find("role clerk may not listen"),
            std::string::npos);
  EXPECT_NE(refusal(request("X"), person("X", "mayor", true), std::nullopt).find("disabled"),
            std::string::npos);
  EXPECT_NE(refusal(request("X", ""), person("X", "mayor"), std::nullopt).find("no reason"),
            std::string::npos);

  // The technician: an administrator present (registered, active, another
  // person, of the supervisor role) and a signed statement, all of them.
  AccessRequest tech = request("T");
  const Person t = person("T", "technician");
  EXPECT_NE(refusal(tech, t, std::nullopt).find("present"), std::string::npos);
  tech.present = "A";
  tech.statement = "OZ-1";
  EXPECT_NE(refusal(tech, t, std::nullopt).find("not a registered person"), std::string::npos);
  EXPECT_NE(refusal(tech, t, person("A", "it_admin", true)).find("disabled"), std::string::npos);
  EXPECT_NE(refusal(tech, t, person("A", "secretary")).find("not a it_admin"), std::string::npos);
  tech.statement.clear();
  EXPECT_NE(refusal(tech, t, person("A", "it_admin")).find("confidentiality statement"), std::string::npos);
  tech.statement = "OZ-1";
  // An administrator cannot supervise themselves into a supervised role's rights.
  Person self = person("A", "it_admin");
  self.id = t.id;
  EXPECT_FALSE(decide_person_access(kPolicy, tech, t, self).granted);
  const AccessDecision ok = decide_person_access(kPolicy, tech, t, person("A", "it_admin"));
  EXPECT_TRUE(ok.granted) << ok.refusal;
}

TEST(AccessPolicy, TheRecordingMustExistHaveAudioAndNotBeRestricted) {
  const AccessDecision who = decide_person_access(kPolicy, request("X"), person("X", "mayor"), std::nullopt);
  ASSERT_TRUE(who.granted);
  const std::string u = "00000000-0000-4000-8000-000000000001";
  EXPECT_TRUE(decide_recording_access(who, request("X"), u, live_recording()).granted);

  RecordingState missing;
  EXPECT_NE(decide_recording_access(who, request("X"), u, missing).refusal.find("no recording"),
            std::string::npos);
  RecordingState deleted = live_recording();
  deleted.deleted_at = "2026-11-01";
  EXPECT_NE(decide_recording_access(who, request("X"), u, deleted).refusal.find("was deleted"),
            std::string::npos);
  RecordingState going = live_recording();
  going.deletion_started_at = "2026-11-01";
  EXPECT_NE(decide_recording_access(who, request("X"), u, going).refusal.find("being deleted"),
            std::string::npos);
  RecordingState silent = live_recording();
  silent.has_audio = false;
  EXPECT_NE(decide_recording_access(who, request("X"), u, silent).refusal.find("no audio"),
            std::string::npos);

  RecordingState restricted = live_recording();
  restricted.restricted_since = "2026-12-01";
  restricted.restriction_reason = "art. 18";
  EXPECT_NE(decide_recording_access(who, request("X"), u, restricted).refusal.find("legal claim"),
            std::string::npos);
  AccessRequest claim = request("X");
  claim.legal_claim = "defence in I C 1/26";
  EXPECT_TRUE(decide_recording_access(who, claim, u, restricted).granted);

  // A refused person stays refused whatever the recording.
  const AccessDecision nobody = decide_person_access(kPolicy, request("N"), std::nullopt, std::nullopt);
  EXPECT_FALSE(decide_recording_access(nobody, request("N"), u, live_recording()).granted);
}

TEST(AccessPolicy, ApprovalNeedsAnActiveApprover) {
  EXPECT_TRUE(decide_approval(kPolicy, "M", person("M", "mayor")).granted);
  EXPECT_FALSE(decide_approval(kPolicy, "M", person("M", "mayor", true)).granted);
  EXPECT_FALSE(decide_approval(kPolicy, "N", std::nullopt).granted);
  const AccessDecision admin = decide_approval(kPolicy, "A", person("A", "it_admin"));
  EXPECT_FALSE(admin.granted);
  EXPECT_NE(admin.refusal.find("may not approve"), std::string::npos) << admin.refusal;
}

TEST(AccessPolicy, RulesFromConfiguration) {
  AccessPolicy p;
  p.listen_roles = {"boss", "tech"};
  p.supervised_roles = {"tech"};
  p.supervisor_role = "boss";
  p.approve_roles = {"boss"};
  AccessRequest req = request("T");
  req.present = "B";
  req.statement = "S-1";
  EXPECT_TRUE(decide_person_access(p, req, person("T", "tech"), person("B", "boss")).granted);
  EXPECT_FALSE(decide_person_access(p, request("M"), person("M", "mayor"), std::nullopt).granted);
  EXPECT_TRUE(decide_approval(p, "B", person("B", "boss")).granted);
}

}  // namespace
}  // namespace cv
