// Who may reach recordings (R8), restriction (R11), disclosures (R10) and
// subject access (R11), through the `callvault` commands people run, against
// a real PostgreSQL and a store of real files: every grant and every refusal
// path, the audit entry each leaves (R9), and what leaves the store (byte
// for byte the recorded file, checked against its indexed SHA-256).
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/db/recordings_fixture.h"

namespace cv {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using dbtest::callvault_bin;
using dbtest::run;
using dbtest::RunResult;
using dbtest::TempDir;
using dbtest::uuid_of;
using dbtest::wav_bytes;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class AccessDb : public dbtest::RecordingsDb {
 protected:
  AccessDb() : RecordingsDb("cv_access_test_") {}

  void SetUp() override {
    RecordingsDb::SetUp();
    if (!created_) return;
    config_ = out_.path() + "/callvault.toml";
    // The regulation's roles plus one that may not listen.
    std::ofstream(config_)
        << "[access]\nroles = [\"mayor\", \"deputy_mayor\", \"secretary\", \"legal_counsel\", "
           "\"it_admin\", \"technician\", \"clerk\"]\n";
    for (const auto& [name, role] :
         std::vector<std::pair<std::string, std::string>>{{"Anna Nowak", "secretary"},
                                                          {"Jan Mazur", "mayor"},
                                                          {"Ewa Lis", "it_admin"},
                                                          {"Piotr Serwis", "technician"},
                                                          {"Olga Prawnik", "legal_counsel"},
                                                          {"Zofia Biuro", "clerk"},
                                                          {"Adam Dawny", "deputy_mayor"}}) {
      const RunResult r = cli({"person", "add", name, "--role", role});
      ASSERT_EQ(r.status, 0) << r.output;
    }
    ASSERT_EQ(cli({"person", "disable", "Adam Dawny"}).status, 0);
  }

  RunResult cli(std::vector<std::string> args) {
    args.insert(args.begin(), {callvault_bin(), "--config", config_, "--db", conninfo("callvault_operator"),
                               "--data-dir", store_.path()});
    return run(args);
  }

  // play UUID --as PERSON --reason ... into a new file; the file's bytes ("" when none).
  std::pair<RunResult, std::string> play(const std::string& uuid, const std::string& as,
                                         std::vector<std::string> extra = {}) {
    const std::string out = out_.path() + fmt::format("/play-{}.wav", ++outputs_);
    std::vector<std::string> args = {"play",     uuid, "--as", as, "--reason", "complaint 12/26",
                                     "--output", out};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = cli(args);
    return {r, fs::exists(out) ? read_file(out) : ""};
  }

  // The last audit entry: action, actor, subject, details.
  json last_audit() {
    const auto r =
        sql("SELECT action, actor, coalesce(subject, ''), details::text FROM callvault.audit_log "
            "ORDER BY seq DESC LIMIT 1")[0];
    return {{"action", r[0].as<std::string>()},
            {"actor", r[1].as<std::string>()},
            {"subject", r[2].as<std::string>()},
            {"details", json::parse(r[3].as<std::string>())}};
  }

  TempDir out_;
  std::string config_;
  int outputs_ = 0;
};

TEST_F(AccessDb, ListedRolesPlayTheRecordedBytesAndEveryoneElseIsRefusedAndLogged) {
  add_call({.n = 1, .start_days_ago = 3});
  const std::string u = uuid_of(1);
  const std::string original = wav_bytes(1);

  for (const std::string who : {"Anna Nowak", "Jan Mazur", "Ewa Lis", "Olga Prawnik"}) {
    auto [r, bytes] = play(u, who);
    EXPECT_EQ(r.status, 0) << who << ": " << r.output;
    EXPECT_EQ(bytes, original) << who;
    const json a = last_audit();
    EXPECT_EQ(a["action"], "play.granted");
    EXPECT_EQ(a["actor"], who);
    EXPECT_EQ(a["subject"], u);
    EXPECT_EQ(a["details"]["reason"], "complaint 12/26");
  }
  {
    // Without --output the WAV goes to stdout (a pipe to a player), messages to stderr.
    const auto piped = gen::test::run({callvault_bin(), "--config", config_, "--db",
                                       conninfo("callvault_operator"), "--data-dir", store_.path(), "play", u,
                                       "--as", "Anna Nowak", "--reason", "listening"});
    EXPECT_EQ(piped.status, 0) << piped.err;
    EXPECT_EQ(piped.out, original);
    EXPECT_EQ(last_audit()["details"]["output"], "stdout");
  }
  {
    const std::string out = out_.path() + "/new.wav";
    RunResult r = cli({"export", u, "--as", "Anna Nowak", "--reason", "court copy", "--output", out});
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(read_file(out), original);
    struct stat st {};
    ASSERT_EQ(::stat(out.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << "copies are private to who made them";
    EXPECT_EQ(last_audit()["action"], "export.granted");
    r = cli({"export", u, "--as", "Anna Nowak", "--reason", "again", "--output", out});
    EXPECT_EQ(r.status, 2) << "an existing file is never overwritten: " << r.output;
  }

  struct Refusal {
    std::string as;
    std::vector<std::string> extra;
    std::string says;
  };
  const std::vector<Refusal> refusals = {
      {"Nobody Known", {}, "not a registered person"},
      {"Zofia Biuro", {}, "role clerk may not listen"},
      {"Adam Dawny", {}, "was disabled"},
      {"Piotr Serwis", {}, "with a it_admin present"},
      {"Piotr Serwis",
       {"--present", "Anna Nowak", "--statement", "OZ-3/2026"},
       "is a secretary, not a it_admin"},
      {"Piotr Serwis", {"--present", "Ewa Lis"}, "confidentiality statement"},
      {"Piotr Serwis", {"--present", "Nobody", "--statement", "OZ-3/2026"}, "not a registered person"},
      {"Piotr Serwis", {"--present", "Piotr Serwis", "--statement", "OZ-3/2026"}, "not a it_admin"},
  };
  for (const auto& ref : refusals) {
    auto [r, bytes] = play(u, ref.as, ref.extra);
    EXPECT_EQ(r.status, 1) << ref.as << ": " << r.output;
    EXPECT_NE(r.output.find(ref.says), std::string::npos) << ref.as << ": " << r.output;
    EXPECT_EQ(bytes, "") << "nothing written for " << ref.as;
    const json a = last_audit();
    EXPECT_EQ(a["action"], "play.refused") << ref.as;
    EXPECT_EQ(a["subject"], u);
    EXPECT_NE(a["details"]["refusal"].get<std::string>().find(ref.says), std::string::npos) << a.dump();
  }
  // The technician with the administrator present and a signed statement.
  auto [granted, bytes] = play(u, "Piotr Serwis", {"--present", "Ewa Lis", "--statement", "OZ-3/2026"});
  EXPECT_EQ(granted.status, 0) << granted.output;
  EXPECT_EQ(bytes, original);
  const json a = last_audit();
  EXPECT_EQ(a["details"]["present"], "Ewa Lis");
  EXPECT_EQ(a["details"]["statement"], "OZ-3/2026");
  EXPECT_EQ(a["details"]["role"], "technician");

  // Unknown and deleted recordings, and a file altered since it was indexed.
  auto [none, nb] = play(uuid_of(99), "Anna Nowak");
  EXPECT_EQ(none.status, 1) << none.output;
  EXPECT_NE(none.output.find("no recording"), std::string::npos) << none.output;
  add_call({.n = 2, .start_days_ago = 60});
  {
    pqxx::connection c(conninfo("callvault_retention"));
    RetentionSettings s;
    s.audio_dir = audio_;
    s.period = "1 month";
    s.time_zone = "UTC";
    ASSERT_EQ(run_retention_sweep(c, s).deleted, 1u);
  }
  auto [gone, gb] = play(uuid_of(2), "Anna Nowak");
  EXPECT_EQ(gone.status, 1) << gone.output;
  EXPECT_NE(gone.output.find("was deleted"), std::string::npos) << gone.output;
  add_call({.n = 3, .start_days_ago = 2});
  std::ofstream(audio_ + "/" + paths_[uuid_of(3)], std::ios::binary | std::ios::app) << "x";
  auto [altered, ab] = play(uuid_of(3), "Anna Nowak");
  EXPECT_EQ(altered.status, 2) << altered.output;
  // Encrypted at rest: the appended byte fails the file's own authentication (a plain
  // WAV of an older store would fail the index's SHA-256); either way it says so.
  EXPECT_NE(altered.output.find("altered"), std::string::npos) << altered.output;
  EXPECT_EQ(ab, "") << "a copy that fails its check is not left behind";
  EXPECT_EQ(last_audit()["action"], "play.failed");

  // R9: the Secretary's view shows every grant and refusal; the chain holds.
  const int logged = std::stoi(value("SELECT count(*) FROM audit.access_log", "callvault_auditor"));
  EXPECT_GE(logged, static_cast<int>(4 + 1 + refusals.size() + 1 + 3));
  const RunResult v = cli({"audit", "verify"});
  EXPECT_EQ(v.status, 0) << v.output;
}

TEST_F(AccessDb, ARestrictedRecordingIsKeptAndReachedOnlyForALegalClaim) {
  add_call({.n = 1, .start_days_ago = 45});  // past its period
  const std::string u = uuid_of(1);
  RunResult r = cli({"restriction", "place", u, "--by", "Anna Nowak", "--reason", "art. 18 request 4/26"});
  ASSERT_EQ(r.status, 0) << r.output;
  r = cli({"restriction", "place", u, "--by", "Anna Nowak", "--reason", "twice"});
  EXPECT_EQ(r.status, 1) << "one active restriction per recording: " << r.output;

  auto [refused, rb] = play(u, "Jan Mazur");
  EXPECT_EQ(refused.status, 1) << refused.output;
  EXPECT_NE(refused.output.find("restricted"), std::string::npos) << refused.output;
  EXPECT_EQ(rb, "");
  auto [claim, cb] = play(u, "Jan Mazur", {"--legal-claim", "defence in case I C 100/26"});
  EXPECT_EQ(claim.status, 0) << claim.output;
  EXPECT_EQ(cb, wav_bytes(1));
  EXPECT_EQ(last_audit()["details"]["legal_claim"], "defence in case I C 100/26");

  // Kept past its period while restricted; retention applies once it is lifted.
  r = run({callvault_bin(), "--db", conninfo("callvault_retention"), "--data-dir", store_.path(), "retention",
           "run", "--once"});
  EXPECT_NE(r.output.find("0 recording(s) deleted"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1 kept"), std::string::npos) << r.output;
  const std::string id = value("SELECT restriction_id FROM callvault.restrictions");
  r = cli({"restriction", "lift", id, "--by", "Zofia Biuro", "--reason", "subject withdrew"});
  EXPECT_EQ(r.status, 0) << "any registered person may record the lift: " << r.output;
  r = run({callvault_bin(), "--db", conninfo("callvault_retention"), "--data-dir", store_.path(), "retention",
           "run", "--once"});
  EXPECT_NE(r.output.find("1 recording(s) deleted"), std::string::npos) << r.output;
}

TEST_F(AccessDb, DisclosureIsExportedOnlyAfterApprovalAsAVerifiablePackage) {
  add_call({.n = 1, .start_days_ago = 2});
  add_call({.n = 2, .start_days_ago = 2, .caller = "48222222222"});
  const std::string calls = uuid_of(1) + "," + uuid_of(2);
  RunResult r = cli({"disclosure", "request", "--authority", "Komenda Miejska Policji", "--basis",
                     "art. 217 k.p.k., request KMP-77/26", "--calls", calls, "--by", "Ewa Lis"});
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string pkg = out_.path() + "/package";

  r = cli({"disclosure", "export", "1", "--to", pkg, "--by", "Anna Nowak"});
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("nothing is exported before approval"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(pkg));
  EXPECT_EQ(last_audit()["action"], "disclosure.refused");

  for (const std::string who : {"Ewa Lis", "Olga Prawnik", "Adam Dawny", "Nobody"}) {
    r = cli({"disclosure", "approve", "1", "--by", who});
    EXPECT_EQ(r.status, 1) << who << ": " << r.output;
    EXPECT_EQ(last_audit()["action"], "disclosure.refused") << who;
  }
  r = cli({"disclosure", "approve", "1", "--by", "Jan Mazur", "--reason", "legal basis checked"});
  ASSERT_EQ(r.status, 0) << r.output;
  r = cli({"disclosure", "reject", "1", "--by", "Anna Nowak", "--reason", "too late"});
  EXPECT_EQ(r.status, 1) << "decided once: " << r.output;

  r = cli({"disclosure", "export", "1", "--to", pkg, "--by", "Zofia Biuro"});
  EXPECT_EQ(r.status, 1) << "the exporter must be allowed to handle recordings: " << r.output;
  r = cli({"disclosure", "export", "1", "--to", pkg, "--by", "Anna Nowak"});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(read_file(pkg + "/" + uuid_of(1) + ".wav"), wav_bytes(1));
  EXPECT_EQ(read_file(pkg + "/" + uuid_of(2) + ".wav"), wav_bytes(2));
  const RunResult sums = run({"/bin/sh", "-c", "cd \"$0\" && sha256sum -c SHA256SUMS", pkg});
  EXPECT_EQ(sums.status, 0) << sums.output;
  EXPECT_NE(sums.output.find("manifest.json: OK"), std::string::npos) << sums.output;
  const json manifest = json::parse(read_file(pkg + "/manifest.json"));
  EXPECT_EQ(manifest["disclosure"]["authority"], "Komenda Miejska Policji");
  EXPECT_EQ(manifest["disclosure"]["decided_by"], "Jan Mazur");
  ASSERT_EQ(manifest["calls"].size(), 2u);
  for (const auto& call : manifest["calls"]) {
    const int n = call["file"] == uuid_of(1) + ".wav" ? 1 : 2;
    EXPECT_EQ(call["file_sha256"], sha256_hex(wav_bytes(n))) << call.dump();
    EXPECT_EQ(call["file_bytes"], wav_bytes(n).size()) << call.dump();
  }
  EXPECT_EQ(value("SELECT export_manifest_sha256 FROM callvault.disclosures"),
            sha256_hex(read_file(pkg + "/manifest.json")));
  EXPECT_EQ(last_audit()["action"], "disclosure.exported");

  r = cli({"disclosure", "export", "1", "--to", out_.path() + "/again", "--by", "Anna Nowak"});
  EXPECT_EQ(r.status, 1) << "exported once: " << r.output;
  r = cli({"disclosure", "list"});
  EXPECT_NE(r.output.find("disclosure 1  approved"), std::string::npos) << r.output;

  // A rejected request is never exported.
  r = cli({"disclosure", "request", "--authority", "X", "--basis", "Y", "--calls", uuid_of(1), "--by",
           "Ewa Lis"});
  ASSERT_EQ(r.status, 0) << r.output;
  ASSERT_EQ(cli({"disclosure", "reject", "2", "--by", "Anna Nowak", "--reason", "no legal basis"}).status, 0);
  r = cli({"disclosure", "export", "2", "--to", out_.path() + "/rejected", "--by", "Anna Nowak"});
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("rejected"), std::string::npos) << r.output;
  // The database itself refuses an export of an unapproved disclosure.
  EXPECT_NE(dbtest::sqlstate_of(conninfo("callvault_admin"),
                                "UPDATE callvault.disclosures SET exported_by = 'x', exported_at = now(), "
                                "export_manifest_sha256 = repeat('0', 64) WHERE disclosure_id = 2"),
            "");
}

TEST_F(AccessDb, SubjectAccessExportsEveryRecordingOfTheNumberInThePeriod) {
  add_call({.n = 1, .start_days_ago = 3, .caller = "48601111111"});
  add_call({.n = 2, .start_days_ago = 4, .caller = "100", .callee = "48601111111"});
  add_call({.n = 3, .start_days_ago = 3, .caller = "48602222222"});   // another person
  add_call({.n = 4, .start_days_ago = 20, .caller = "48601111111"});  // outside the period
  add_call({.n = 5, .start_days_ago = 3, .caller = "48601111111"});   // restricted: withheld
  ASSERT_EQ(cli({"restriction", "place", uuid_of(5), "--by", "Anna Nowak", "--reason", "art. 18"}).status, 0);
  const std::string from = value("SELECT (now() - interval '10 days')::text");
  const std::string to = value("SELECT now()::text");
  const std::string pkg = out_.path() + "/subject";

  RunResult r = cli({"subject-access", "--number", "48601111111", "--from", from, "--to", to, "--as",
                     "Zofia Biuro", "--reason", "art. 15 request 9/26", "--to-dir", pkg});
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_FALSE(fs::exists(pkg));
  EXPECT_EQ(last_audit()["action"], "subject_access.refused");

  r = cli({"subject-access", "--number", "48601111111", "--from", from, "--to", to, "--as", "Anna Nowak",
           "--reason", "art. 15 request 9/26", "--to-dir", pkg});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("2 recording(s) exported"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1 withheld"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(pkg + "/" + uuid_of(1) + ".wav"));
  EXPECT_TRUE(fs::exists(pkg + "/" + uuid_of(2) + ".wav"));
  EXPECT_FALSE(fs::exists(pkg + "/" + uuid_of(3) + ".wav"));
  EXPECT_FALSE(fs::exists(pkg + "/" + uuid_of(4) + ".wav"));
  EXPECT_FALSE(fs::exists(pkg + "/" + uuid_of(5) + ".wav"));
  const RunResult sums = run({"/bin/sh", "-c", "cd \"$0\" && sha256sum -c SHA256SUMS", pkg});
  EXPECT_EQ(sums.status, 0) << sums.output;
  const json manifest = json::parse(read_file(pkg + "/manifest.json"));
  EXPECT_EQ(manifest["withheld"][0]["uuid"], uuid_of(5));
  // Logged like a disclosure, without the phone number (the trail outlives recordings).
  const json a = last_audit();
  EXPECT_EQ(a["action"], "subject_access.exported");
  EXPECT_EQ(a["details"]["calls"].size(), 2u);
  EXPECT_EQ(a["details"].dump().find("48601111111"), std::string::npos) << a.dump();
}

}  // namespace
}  // namespace cv
