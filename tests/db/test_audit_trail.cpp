// People, roles and the tamper-evident audit trail against a real PostgreSQL
// (storage/migrations/0003_people_audit.sql, storage/db/audit_trail.h,
// storage/db/people.h, `callvault person|audit`).
//
// Needs CV_TEST_PG_ADMIN_URL: a libpq key=value connection string of a
// superuser on a cluster where the callvault_* roles connect without a
// password over the same socket (the ctest fixture `postgres` of
// tests/db/CMakeLists.txt). Every test creates its own database with a random
// name and drops it. Without the variable the tests are skipped, except under
// CI=true, where that is a failure.
#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <latch>
#include <map>
#include <nlohmann/json.hpp>
#include <pqxx/connection>
#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>
#include <random>
#include <thread>
#include <vector>

#include "storage/db/audit_trail.h"
#include "storage/db/database.h"
#include "storage/db/people.h"
#include "tests/db/db_test_support.h"

namespace cv {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using dbtest::callvault_bin;
using dbtest::kNull;
using dbtest::run;
using dbtest::RunResult;
using dbtest::sqlstate_of;
using dbtest::TempDir;

const std::string kDenied = "42501";  // insufficient_privilege
const char* const kProductRoles[] = {"callvault_writer", "callvault_auditor", "callvault_retention",
                                     "callvault_operator"};

class AuditDb : public dbtest::ScratchDatabaseTest {
 protected:
  AuditDb() : ScratchDatabaseTest("cv_audit_test_") {}

  void SetUp() override {
    ScratchDatabaseTest::SetUp();
    if (!created_) return;
    migrate_to_current();
  }

  // Appends `n` simple entries as the writer, each in its own transaction.
  void append_simple(int n, const std::string& action = "play.granted") {
    pqxx::connection c(conninfo("callvault_writer"));
    for (int i = 0; i < n; ++i) {
      pqxx::work tx(c);
      append_audit(tx, fmt::format("person {}", i % 3), action,
                   fmt::format("00000000-0000-4000-8000-{:012d}", i),
                   {{"reason", fmt::format("reason {}", i)}, {"n", i}});
      tx.commit();
    }
  }

  AuditVerification verify(size_t page_rows = 5000) {
    pqxx::connection c(conninfo("callvault_operator"));
    return verify_audit_chain(c, page_rows);
  }

  // Runs `statements` as the superuser with the audit triggers disabled, as
  // an attacker with full rights would.
  void tamper(const std::string& statements) {
    sql("BEGIN; ALTER TABLE callvault.audit_log DISABLE TRIGGER ALL; "
        "ALTER TABLE callvault.audit_head DISABLE TRIGGER ALL; " +
        statements +
        "; ALTER TABLE callvault.audit_log ENABLE TRIGGER ALL; "
        "ALTER TABLE callvault.audit_head ENABLE TRIGGER ALL; COMMIT");
  }

  // seq of the entries audit.audit_trail flags, as the auditor sees them.
  std::vector<int64_t> flagged_by_view() {
    std::vector<int64_t> v;
    for (const auto& r : sql("SELECT seq FROM audit.audit_trail WHERE NOT (hash_ok AND linked) ORDER BY seq",
                             "callvault_auditor"))
      v.push_back(r[0].as<int64_t>());
    return v;
  }
};

// ---------------------------------------------------------------------------
// The canonical text
// ---------------------------------------------------------------------------

TEST(AuditCanonical, MatchesTheExampleDocumentedInTheMigration) {
  AuditEntry e;
  e.seq = 1;
  e.at_us = 1'724'925'600'000'000;  // 2024-08-29 10:00:00 UTC
  e.actor = "os:root";
  e.action = "person.added";
  e.subject = "Jan Kowalski";
  e.details = R"({"role": "mayor"})";
  e.prev_hash = kAuditGenesisHash;
  EXPECT_EQ(audit_canonical_text(e),
            "callvault-audit-v1\n1:1\n16:1724925600000000\n7:os:root\n12:person.added\n12:Jan Kowalski\n"
            "17:{\"role\": \"mayor\"}\n64:" +
                std::string(64, '0') + "\n");
  EXPECT_EQ(audit_entry_hash(e), "694dbfe5460ef9a4261c7e57c937321244aae1b5eabdaa94c0fbb1db8ad2b49a");
  // NULL and empty differ; lengths count bytes.
  AuditEntry n = e;
  n.subject.reset();
  AuditEntry empty = e;
  empty.subject = "";
  EXPECT_NE(audit_entry_hash(n), audit_entry_hash(empty));
  EXPECT_NE(audit_canonical_text(n).find("\n-\n"), std::string::npos);
  EXPECT_NE(audit_canonical_text(empty).find("\n0:\n"), std::string::npos);
  AuditEntry utf8 = e;
  utf8.subject = "Łódź";
  EXPECT_NE(audit_canonical_text(utf8).find("\n7:Łódź\n"), std::string::npos);
}

TEST_F(AuditDb, SqlHashEqualsTheCppHashOfTheDocumentedExample) {
  EXPECT_EQ(value("SELECT callvault.audit_hash(1, '2024-08-29 10:00:00+00', 'os:root', 'person.added', "
                  "'Jan Kowalski', '{\"role\":\"mayor\"}', repeat('0', 64))"),
            "694dbfe5460ef9a4261c7e57c937321244aae1b5eabdaa94c0fbb1db8ad2b49a");
}

// ---------------------------------------------------------------------------
// Appending and verifying
// ---------------------------------------------------------------------------

// Strings that would break a naive canonical text: separators, newlines,
// length-like prefixes, quotes, backslashes, multi-byte UTF-8, control characters.
std::string awkward(std::mt19937& rng) {
  static const std::vector<std::string> parts = {
      "a", "Łobez",      "😀", "\n", "\n5:x\n",           ":",   "-", "\"", "\\", "'", "\t", "\x01",
      " ", "{\"k\": 1}", "ż", "0:", "Zażółć gęślą jaźń", "\r\n"};
  std::string s;
  const int n = static_cast<int>(rng() % 6);
  for (int i = 0; i < n; ++i) s += parts[rng() % parts.size()];
  return s;
}

TEST_F(AuditDb, ManyVariedEntriesVerifyInCppAndInTheAuditorsView) {
  std::mt19937 rng(4242);
  pqxx::connection c(conninfo("callvault_operator"));
  int64_t committed = 0;
  for (int t = 0; t < 150; ++t) {
    pqxx::work tx(c);
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) {
      std::optional<std::string> subject;
      if (rng() % 4 != 0) subject = awkward(rng);
      json details = json::object();
      if (rng() % 5 != 0) {
        details["reason"] = awkward(rng);
        details["n"] = static_cast<int64_t>(rng()) - (1LL << 31);
        details["x"] = static_cast<double>(rng() % 1000) / 7.0;
        details["big"] = 1e300;
        details["list"] = {1, "two", nullptr, true, json::object({{"z", awkward(rng)}, {"a", 1.5}})};
        details[awkward(rng) + "key"] = awkward(rng);
      }
      append_audit(tx, "actor " + awkward(rng), rng() % 2 ? "play.granted" : "export.refused", subject,
                   details);
    }
    if (rng() % 6 == 0) {
      tx.abort();  // rolled back: leaves no gap
    } else {
      tx.commit();
      committed += n;
    }
  }
  ASSERT_GT(committed, 300);
  EXPECT_EQ(value("SELECT count(*) FROM callvault.audit_log"), std::to_string(committed));
  EXPECT_EQ(value("SELECT max(seq) FROM callvault.audit_log"), std::to_string(committed));

  for (size_t page : {size_t{1}, size_t{7}, size_t{5000}}) {
    SCOPED_TRACE(page);
    const auto v = verify(page);
    EXPECT_TRUE(v.ok) << v.what;
    EXPECT_EQ(v.entries_checked, static_cast<uint64_t>(committed));
    EXPECT_EQ(v.last_seq, committed);
    EXPECT_EQ(v.last_hash, value("SELECT last_hash FROM callvault.audit_head"));
    EXPECT_EQ(v.problem, AuditProblem::kNone);
  }
  EXPECT_TRUE(flagged_by_view().empty());
  EXPECT_EQ(value("SELECT count(*) FROM audit.audit_trail WHERE hash_ok AND linked", "callvault_auditor"),
            std::to_string(committed));
}

TEST_F(AuditDb, EmptyTrailVerifies) {
  const auto v = verify();
  EXPECT_TRUE(v.ok) << v.what;
  EXPECT_EQ(v.entries_checked, 0u);
  EXPECT_EQ(v.last_seq, 0);
  EXPECT_EQ(v.last_hash, kAuditGenesisHash);
}

TEST_F(AuditDb, ConcurrentAppendsKeepSeqGaplessAndTheChainIntact) {
  constexpr int kThreads = 4, kTransactions = 60;
  std::latch go(kThreads);
  std::atomic<int64_t> committed{0};
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  const char* roles[kThreads] = {"callvault_writer", "callvault_retention", "callvault_operator",
                                 "callvault_operator"};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        std::mt19937 rng(t);
        pqxx::connection c(conninfo(roles[t]));
        go.arrive_and_wait();
        for (int i = 0; i < kTransactions; ++i) {
          pqxx::work tx(c);
          const int n = 1 + static_cast<int>(rng() % 3);
          for (int k = 0; k < n; ++k)
            append_audit(tx, fmt::format("thread {}", t), "hold.placed", fmt::format("{}-{}-{}", t, i, k),
                         {{"k", k}});
          if (rng() % 5 == 0) {
            tx.abort();
          } else {
            tx.commit();
            committed += n;
          }
        }
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(errors[t], "") << "thread " << t;
  const std::string n = std::to_string(committed.load());
  EXPECT_EQ(value("SELECT count(*) FROM callvault.audit_log"), n);
  EXPECT_EQ(value("SELECT min(seq) || '-' || max(seq) FROM callvault.audit_log"), "1-" + n);
  // Time grows with seq (taken under the lock).
  EXPECT_EQ(
      value("SELECT count(*) FROM callvault.audit_log a JOIN callvault.audit_log b ON b.seq = a.seq + 1 "
            "WHERE b.at < a.at"),
      "0");
  const auto v = verify(50);
  EXPECT_TRUE(v.ok) << v.what;
  EXPECT_EQ(v.entries_checked, static_cast<uint64_t>(committed.load()));
}

TEST_F(AuditDb, VerifyReadsALargeTrailInPagesWithBoundedMemory) {
  // 50000 valid entries, made in SQL (triggers off: one transaction of
  // audit_append calls would take minutes), then the head moved to the end.
  // (1M entries: `callvault audit verify` takes 8 s and 32 MB.)
  constexpr int kEntries = 50000;
  tamper(fmt::format(
      "INSERT INTO callvault.audit_log (seq, at, actor, action, subject, details, prev_hash, hash) "
      "WITH RECURSIVE chain(seq, at, actor, action, subject, details, prev_hash, hash) AS ("
      "  SELECT 1::bigint, t, 'retention', 'recording.deleted', md5('1'), d, repeat('0', 64),"
      "         callvault.audit_hash(1, t, 'retention', 'recording.deleted', md5('1'), d, repeat('0', 64))"
      "    FROM (SELECT timestamptz '2024-01-01 00:00:00+00' AS t,"
      "                 jsonb_build_object('file_sha256', md5('x1') || md5('y1'), 'rule', '1 month') AS d) s"
      "  UNION ALL"
      "  SELECT c.seq + 1, s.t, 'retention', 'recording.deleted', md5((c.seq + 1)::text), s.d, c.hash,"
      "         callvault.audit_hash(c.seq + 1, s.t, 'retention', 'recording.deleted', md5((c.seq + "
      "1)::text),"
      "                              s.d, c.hash)"
      "    FROM chain c,"
      "         LATERAL (SELECT c.at + interval '1.000001 second' AS t,"
      "                         jsonb_build_object('file_sha256', md5('x' || c.seq) || md5('y' || c.seq),"
      "                                            'rule', '1 month') AS d) s"
      "   WHERE c.seq < {0})"
      "SELECT * FROM chain; "
      "UPDATE callvault.audit_head SET last_seq = {0}, last_hash = (SELECT hash FROM callvault.audit_log "
      "WHERE seq = {0})",
      kEntries));
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  const auto v = verify(1000);
  getrusage(RUSAGE_SELF, &after);
  EXPECT_TRUE(v.ok) << v.what;
  EXPECT_EQ(v.entries_checked, static_cast<uint64_t>(kEntries));
  // All 50000 rows at once would take over 20 MB; pages of 1000 well under 1.
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 8 * 1024) << "KiB";
  // Appending goes on from the end.
  append_simple(1);
  EXPECT_TRUE(verify().ok);
}

// ---------------------------------------------------------------------------
// Nobody changes the trail
// ---------------------------------------------------------------------------

TEST_F(AuditDb, ProductRolesAreRefusedEveryChangeOfTheAuditTables) {
  append_simple(3);
  const std::string forged =
      "INSERT INTO callvault.audit_log VALUES (4, now(), 'x', 'play.granted', NULL, '{}', repeat('0', 64), "
      "repeat('0', 64))";
  for (const char* role : kProductRoles) {
    SCOPED_TRACE(role);
    const std::string c = conninfo(role);
    EXPECT_EQ(sqlstate_of(c, "UPDATE callvault.audit_log SET actor = 'x' WHERE seq = 2"), kDenied);
    EXPECT_EQ(sqlstate_of(c, "DELETE FROM callvault.audit_log WHERE seq = 2"), kDenied);
    EXPECT_EQ(sqlstate_of(c, "TRUNCATE callvault.audit_log"), kDenied);
    EXPECT_EQ(sqlstate_of(c, forged), kDenied);
    EXPECT_EQ(sqlstate_of(c, "UPDATE callvault.audit_head SET last_seq = 0"), kDenied);
    EXPECT_EQ(sqlstate_of(c, "DELETE FROM callvault.audit_head"), kDenied);
    EXPECT_EQ(sqlstate_of(c, "ALTER TABLE callvault.audit_log DISABLE TRIGGER ALL"), kDenied);
    EXPECT_EQ(sqlstate_of(c, "DROP TABLE callvault.audit_log"), kDenied);
    // A view that cannot be updated at all says so before checking privileges.
    EXPECT_TRUE(testing::Matches(testing::AnyOf(kDenied, "55000"))(
        sqlstate_of(c, "UPDATE audit.audit_trail SET actor = 'x'")));
    EXPECT_EQ(sqlstate_of(c, "DELETE FROM audit.access_log"), kDenied);
    EXPECT_EQ(value(fmt::format("SELECT rolsuper FROM pg_roles WHERE rolname = '{}'", role)), "f");
  }
  // Who may append, and who may not.
  for (const char* role : {"callvault_writer", "callvault_retention", "callvault_operator"})
    EXPECT_EQ(sqlstate_of(conninfo(role), "SELECT callvault.audit_append('t', 'hold.placed', NULL, '{}')"),
              "")
        << role;
  EXPECT_EQ(sqlstate_of(conninfo("callvault_auditor"),
                        "SELECT callvault.audit_append('t', 'hold.placed', NULL, '{}')"),
            kDenied);
  // Even the owner, a superuser, is refused while the triggers are on.
  const std::string admin = conninfo();
  EXPECT_EQ(sqlstate_of(admin, "UPDATE callvault.audit_log SET actor = 'x' WHERE seq = 2"), kDenied);
  EXPECT_EQ(sqlstate_of(admin, "DELETE FROM callvault.audit_log WHERE seq = 2"), kDenied);
  EXPECT_EQ(sqlstate_of(admin, "TRUNCATE callvault.audit_log"), kDenied);
  EXPECT_EQ(sqlstate_of(admin, "TRUNCATE callvault.audit_head"), kDenied);
  EXPECT_EQ(sqlstate_of(admin, forged), kDenied);
  EXPECT_EQ(sqlstate_of(admin, "UPDATE callvault.audit_head SET last_seq = 1"), kDenied);
  EXPECT_EQ(sqlstate_of(admin, "DELETE FROM callvault.audit_head"), kDenied);
  // An entry must be a JSON object with a well-formed action.
  EXPECT_EQ(sqlstate_of(admin, "SELECT callvault.audit_append('t', 'Play Granted', NULL, '{}')"), "23514");
  EXPECT_EQ(sqlstate_of(admin, "SELECT callvault.audit_append('t', 'play.granted', NULL, '[1]')"), "23514");
  EXPECT_EQ(sqlstate_of(admin, "SELECT callvault.audit_append('', 'play.granted', NULL, '{}')"), "23514");
  EXPECT_EQ(value("SELECT count(*) FROM callvault.audit_log"), "6");
  const auto v = verify();
  EXPECT_TRUE(v.ok) << v.what;
  EXPECT_EQ(v.entries_checked, 6u);
}

// ---------------------------------------------------------------------------
// Tampering as a superuser, found by verify and by the auditors' view
// ---------------------------------------------------------------------------

TEST_F(AuditDb, AlteredDetailsAreFoundAtTheAlteredEntry) {
  append_simple(12);
  tamper(
      "UPDATE callvault.audit_log SET details = details || '{\"reason\": \"nothing to see\"}' WHERE seq = 7");
  const auto v = verify(5);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 7);
  EXPECT_EQ(v.problem, AuditProblem::kAltered);
  EXPECT_EQ(v.entries_checked, 6u);
  EXPECT_NE(v.what.find("entry 7"), std::string::npos) << v.what;
  EXPECT_EQ(flagged_by_view(), std::vector<int64_t>{7});
}

TEST_F(AuditDb, AlteredTimeActorOrSubjectIsFound) {
  append_simple(6);
  for (const auto& [k, change] : std::vector<std::pair<int, std::string>>{
           {2, "at = at + interval '1 microsecond'"}, {3, "actor = 'someone else'"}, {5, "subject = NULL"}}) {
    SCOPED_TRACE(change);
    const std::string before =
        value(fmt::format("SELECT row(l.*)::text FROM callvault.audit_log l WHERE seq = {}", k));
    tamper(fmt::format("UPDATE callvault.audit_log SET {} WHERE seq = {}", change, k));
    const auto v = verify();
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.first_bad_seq, k);
    EXPECT_EQ(v.problem, AuditProblem::kAltered);
    // Put it back: the trail verifies again.
    tamper(
        fmt::format("DELETE FROM callvault.audit_log WHERE seq = {0}; INSERT INTO callvault.audit_log "
                    "SELECT ({1}::callvault.audit_log).*",
                    k, pqxx::connection(conninfo()).quote(before)));
    EXPECT_TRUE(verify().ok);
  }
}

TEST_F(AuditDb, RemovedEntryIsFoundAsAGap) {
  append_simple(12);
  tamper("DELETE FROM callvault.audit_log WHERE seq = 5");
  auto v = verify(3);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 5);
  EXPECT_EQ(v.problem, AuditProblem::kRemoved);
  EXPECT_EQ(v.entries_checked, 4u);
  EXPECT_EQ(flagged_by_view(), std::vector<int64_t>{6});  // entry 6 no longer links to an entry 5
  tamper("DELETE FROM callvault.audit_log WHERE seq BETWEEN 6 AND 8");
  v = verify();
  EXPECT_EQ(v.first_bad_seq, 5);
  EXPECT_EQ(v.problem, AuditProblem::kRemoved);
  EXPECT_NE(v.what.find("5 to 8"), std::string::npos) << v.what;
}

TEST_F(AuditDb, RemovedFirstEntryIsFound) {
  append_simple(4);
  tamper("DELETE FROM callvault.audit_log WHERE seq = 1");
  const auto v = verify();
  EXPECT_EQ(v.first_bad_seq, 1);
  EXPECT_EQ(v.problem, AuditProblem::kRemoved);
}

TEST_F(AuditDb, RemovedLastEntriesAreFoundThroughTheHead) {
  append_simple(10);
  tamper("DELETE FROM callvault.audit_log WHERE seq >= 9");
  const auto v = verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 9);
  EXPECT_EQ(v.problem, AuditProblem::kRemoved);
  EXPECT_EQ(v.entries_checked, 8u);
}

TEST_F(AuditDb, EntryRehashedToMatchItsAlteredContentBreaksTheChain) {
  append_simple(12);
  tamper(
      "UPDATE callvault.audit_log SET actor = 'nobody', "
      "hash = callvault.audit_hash(seq, at, 'nobody', action, subject, details, prev_hash) WHERE seq = 6");
  const auto v = verify(4);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 6);
  EXPECT_EQ(v.problem, AuditProblem::kChainBroken);
  EXPECT_NE(v.what.find("entry 6"), std::string::npos) << v.what;
  EXPECT_EQ(flagged_by_view(), std::vector<int64_t>{7});  // entry 7 no longer links to entry 6
}

TEST_F(AuditDb, LastEntryRehashedIsFoundThroughTheHead) {
  append_simple(5);
  tamper(
      "UPDATE callvault.audit_log SET details = '{}', "
      "hash = callvault.audit_hash(seq, at, actor, action, subject, '{}', prev_hash) WHERE seq = 5");
  const auto v = verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 5);
  EXPECT_EQ(v.problem, AuditProblem::kChainBroken);
}

TEST_F(AuditDb, EntryAddedAroundAuditAppendIsFound) {
  append_simple(3);
  tamper(
      "INSERT INTO callvault.audit_log SELECT 4, now(), 'x', 'play.granted', NULL, '{}'::jsonb, hash, "
      "callvault.audit_hash(4, now(), 'x', 'play.granted', NULL, '{}'::jsonb, hash) FROM callvault.audit_log "
      "WHERE seq = 3");
  const auto v = verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_seq, 4);
  EXPECT_EQ(v.problem, AuditProblem::kChainBroken);
}

// ---------------------------------------------------------------------------
// The views
// ---------------------------------------------------------------------------

TEST_F(AuditDb, AccessLogShowsOnlyAccessAndTheAuditorReadsOnlyTheViews) {
  pqxx::connection c(conninfo("callvault_operator"));
  pqxx::work tx(c);
  const std::string rec = "0b7e1c2a-3d4f-5a6b-8c9d-0e1f2a3b4c5d";
  append_audit(tx, "os:root", "person.added", "Anna Nowak", {{"role", "secretary"}, {"os_user", "root"}});
  append_audit(tx, "Anna Nowak", "play.granted", rec,
               {{"role", "secretary"}, {"reason", "complaint 12/2024"}});
  append_audit(tx, "Piotr Serwis", "play.refused", rec,
               {{"role", "technician"}, {"reason", "repair"}, {"refusal", "no it_admin present"}});
  append_audit(tx, "Anna Nowak", "export.granted", rec, {{"role", "secretary"}, {"reason", "court"}});
  append_audit(tx, "Jan Kowalski", "disclosure.approved", "7",
               {{"role", "mayor"}, {"basis", "art. 15 kpk"}, {"authority", "Policja Łobez"}});
  append_audit(tx, "retention", "recording.deleted", rec,
               {{"file_sha256", std::string(64, 'a')}, {"rule", "1 month"}});
  append_audit(tx, "Anna Nowak", "hold.placed", "3", {{"case", "II K 12/24"}});
  tx.commit();

  const auto r =
      sql("SELECT seq, person, role, operation, outcome, subject, reason, refusal, basis, authority "
          "FROM audit.access_log ORDER BY seq",
          "callvault_auditor");
  ASSERT_EQ(r.size(), 4u);
  auto row = [&](size_t i) {
    std::vector<std::string> v;
    for (const auto& f : r[i]) v.push_back(f.is_null() ? kNull : f.as<std::string>());
    return v;
  };
  EXPECT_EQ(row(0), (std::vector<std::string>{"2", "Anna Nowak", "secretary", "play", "granted", rec,
                                              "complaint 12/2024", kNull, kNull, kNull}));
  EXPECT_EQ(row(1), (std::vector<std::string>{"3", "Piotr Serwis", "technician", "play", "refused", rec,
                                              "repair", "no it_admin present", kNull, kNull}));
  EXPECT_EQ(row(2)[3], "export");
  EXPECT_EQ(row(3), (std::vector<std::string>{"5", "Jan Kowalski", "mayor", "disclosure", "approved", "7",
                                              kNull, kNull, "art. 15 kpk", "Policja Łobez"}));
  EXPECT_EQ(value("SELECT count(*) FROM audit.audit_trail", "callvault_auditor"), "7");
  EXPECT_EQ(value("SELECT count(*) FROM audit.access_log", "callvault_operator"), "4");
  // The auditor reads the views, not the tables or the people.
  const std::string auditor = conninfo("callvault_auditor");
  for (const char* table : {"audit_log", "audit_head", "persons"})
    EXPECT_EQ(sqlstate_of(auditor, fmt::format("SELECT 1 FROM callvault.{} LIMIT 1", table)), kDenied)
        << table;
  // The writer and retention roles append but do not read the trail.
  for (const char* role : {"callvault_writer", "callvault_retention"}) {
    EXPECT_EQ(sqlstate_of(conninfo(role), "SELECT 1 FROM callvault.audit_log LIMIT 1"), kDenied) << role;
    EXPECT_EQ(sqlstate_of(conninfo(role), "SELECT 1 FROM audit.access_log LIMIT 1"), kDenied) << role;
  }
}

// ---------------------------------------------------------------------------
// People
// ---------------------------------------------------------------------------

TEST_F(AuditDb, PeopleAreAddedListedAndDisabledWithAuditEntries) {
  pqxx::connection c(conninfo("callvault_operator"));
  const auto& roles = default_access_roles();
  {
    pqxx::work tx(c);
    auto r = add_person(tx, "Anna Nowak", "secretary", roles, "os:root", {{"os_user", "root"}});
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_EQ(r.person->name, "Anna Nowak");
    EXPECT_EQ(r.person->role, "secretary");
    EXPECT_EQ(r.person->created_by, "os:root");
    EXPECT_TRUE(r.person->active());
    EXPECT_EQ(r.audit_seq, 1);
    r = add_person(tx, "Jan Kowalski", "mayor", roles, "Anna Nowak", {{"os_user", "root"}});
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_EQ(r.audit_seq, 2);
    r = add_person(tx, "Zofia Żak", "it_admin", roles, "Anna Nowak", json::object());
    ASSERT_TRUE(r.ok()) << r.message;
    tx.commit();
  }
  {
    pqxx::work tx(c);
    auto r = disable_person(tx, "Jan Kowalski", "Anna Nowak", {{"os_user", "root"}});
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_FALSE(r.person->active());
    EXPECT_EQ(r.person->disabled_by, "Anna Nowak");
    EXPECT_EQ(r.audit_seq, 4);
    tx.commit();
  }
  pqxx::read_transaction tx(c);
  const auto people = list_people(tx);
  ASSERT_EQ(people.size(), 3u);
  EXPECT_EQ(people[0].name, "Anna Nowak");
  EXPECT_TRUE(people[0].active());
  EXPECT_EQ(people[1].name, "Jan Kowalski");
  EXPECT_FALSE(people[1].active());
  EXPECT_EQ(people[1].role, "mayor");
  ASSERT_TRUE(people[1].disabled_at);
  EXPECT_EQ(people[2].name, "Zofia Żak");
  ASSERT_TRUE(find_person(tx, "Jan Kowalski"));
  EXPECT_FALSE(find_person(tx, "jan kowalski"));

  const auto log =
      sql("SELECT seq, actor, action, subject, details::text FROM callvault.audit_log ORDER BY seq");
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[0][2].as<std::string>(), "person.added");
  EXPECT_EQ(log[0][3].as<std::string>(), "Anna Nowak");
  EXPECT_EQ(json::parse(log[0][4].as<std::string>()), (json{{"role", "secretary"}, {"os_user", "root"}}));
  EXPECT_EQ(log[1][1].as<std::string>(), "Anna Nowak");
  EXPECT_EQ(log[3][1].as<std::string>(), "Anna Nowak");
  EXPECT_EQ(log[3][2].as<std::string>(), "person.disabled");
  EXPECT_EQ(log[3][3].as<std::string>(), "Jan Kowalski");
  EXPECT_EQ(json::parse(log[3][4].as<std::string>())["role"], "mayor");
  EXPECT_TRUE(verify().ok);
}

TEST_F(AuditDb, RefusedPersonChangesWriteNothing) {
  pqxx::connection c(conninfo("callvault_operator"));
  const auto& roles = default_access_roles();
  {
    pqxx::work tx(c);
    ASSERT_TRUE(add_person(tx, "Anna Nowak", "secretary", roles, "os:root", {}).ok());
    tx.commit();
  }
  pqxx::work tx(c);
  auto r = add_person(tx, "Jan", "janitor", roles, "os:root", {});
  EXPECT_EQ(r.status, PeopleStatus::kUnknownRole);
  EXPECT_NE(r.message.find("janitor"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("legal_counsel"), std::string::npos) << r.message;
  // A role from the configuration, not from the defaults.
  EXPECT_TRUE(add_person(tx, "Jan", "janitor", {"janitor"}, "os:root", {}).ok());
  r = add_person(tx, "Anna Nowak", "mayor", roles, "os:root", {});
  EXPECT_EQ(r.status, PeopleStatus::kDuplicate);
  EXPECT_NE(r.message.find("already registered"), std::string::npos) << r.message;
  for (const char* bad : {"", " Anna", "Anna ", "An\nna"})
    EXPECT_EQ(add_person(tx, bad, "mayor", roles, "os:root", {}).status, PeopleStatus::kInvalidName) << bad;
  EXPECT_EQ(add_person(tx, std::string(201, 'x'), "mayor", roles, "os:root", {}).status,
            PeopleStatus::kInvalidName);
  EXPECT_EQ(disable_person(tx, "Nobody", "os:root", {}).status, PeopleStatus::kNotFound);
  ASSERT_TRUE(disable_person(tx, "Anna Nowak", "os:root", {}).ok());
  r = disable_person(tx, "Anna Nowak", "os:root", {});
  EXPECT_EQ(r.status, PeopleStatus::kAlreadyDisabled);
  r = add_person(tx, "Anna Nowak", "mayor", roles, "os:root", {});
  EXPECT_EQ(r.status, PeopleStatus::kDuplicate);
  EXPECT_NE(r.message.find("disabled"), std::string::npos) << r.message;
  tx.commit();
  // Entries: Anna added, Jan added, Anna disabled.
  EXPECT_EQ(value("SELECT string_agg(action || ' ' || subject, ', ' ORDER BY seq) FROM callvault.audit_log"),
            "person.added Anna Nowak, person.added Jan, person.disabled Anna Nowak");
}

TEST_F(AuditDb, TheDatabaseKeepsPeopleUnchangedAndUndeleted) {
  pqxx::connection c(conninfo("callvault_operator"));
  {
    pqxx::work tx(c);
    ASSERT_TRUE(add_person(tx, "Anna Nowak", "secretary", default_access_roles(), "os:root", {}).ok());
    ASSERT_TRUE(disable_person(tx, "Anna Nowak", "os:root", {}).ok());
    tx.commit();
  }
  const std::string op = conninfo("callvault_operator");
  EXPECT_EQ(sqlstate_of(op, "DELETE FROM callvault.persons"), kDenied);
  EXPECT_EQ(sqlstate_of(op, "TRUNCATE callvault.persons"), kDenied);
  EXPECT_EQ(sqlstate_of(op, "UPDATE callvault.persons SET role = 'mayor'"), kDenied);
  EXPECT_EQ(sqlstate_of(op, "UPDATE callvault.persons SET disabled_at = NULL, disabled_by = NULL"), kDenied);
  const std::string admin = conninfo();
  EXPECT_EQ(sqlstate_of(admin, "DELETE FROM callvault.persons"), kDenied);
  EXPECT_EQ(sqlstate_of(admin, "TRUNCATE callvault.persons"), kDenied);
  EXPECT_EQ(sqlstate_of(admin, "UPDATE callvault.persons SET role = 'mayor'"), kDenied);
  EXPECT_EQ(sqlstate_of(admin, "UPDATE callvault.persons SET disabled_at = NULL, disabled_by = NULL"),
            kDenied);
  EXPECT_EQ(
      sqlstate_of(admin, "INSERT INTO callvault.persons (name, role, created_by) VALUES ('B', 'Mayor', 'x')"),
      "23514");
  for (const char* role : {"callvault_writer", "callvault_auditor", "callvault_retention"})
    EXPECT_EQ(sqlstate_of(conninfo(role),
                          "INSERT INTO callvault.persons (name, role, created_by) VALUES ('B', "
                          "'mayor', 'x')"),
              kDenied)
        << role;
  EXPECT_EQ(value("SELECT count(*) FROM callvault.persons WHERE disabled_at IS NOT NULL"), "1");
}

// ---------------------------------------------------------------------------
// The command line
// ---------------------------------------------------------------------------

TEST_F(AuditDb, PersonAndAuditCommandsEndToEnd) {
  const std::string op = conninfo("callvault_operator");
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {callvault_bin(), "--db", op});
    return run(args);
  };
  RunResult r = cli({"audit", "verify"});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("0 entries"), std::string::npos) << r.output;

  r = cli({"person", "add", "Anna Nowak", "--role", "secretary"});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("added Anna Nowak (secretary), audit entry 1"), std::string::npos) << r.output;
  r = cli({"person", "add", "Anna Nowak", "--role", "secretary"});
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("already registered"), std::string::npos) << r.output;
  r = cli({"person", "add", "Jan Kowalski", "--role", "janitor"});
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("janitor"), std::string::npos) << r.output;
  r = cli({"person", "add", "Jan Kowalski", "--role", "mayor", "--by", "Nobody"});
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("not a registered person"), std::string::npos) << r.output;
  r = cli({"person", "add", "Jan Kowalski", "--role", "mayor", "--by", "Anna Nowak"});
  EXPECT_EQ(r.status, 0) << r.output;
  r = cli({"person", "add", " ", "--role", "mayor"});
  EXPECT_EQ(r.status, 2) << r.output;
  r = cli({"person", "disable", "Jan Kowalski", "--by", "Anna Nowak"});
  EXPECT_EQ(r.status, 0) << r.output;
  r = cli({"person", "disable", "Jan Kowalski"});
  EXPECT_EQ(r.status, 1) << r.output;
  r = cli({"person", "add", "Piotr", "--role", "mayor", "--by", "Jan Kowalski"});
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("disabled"), std::string::npos) << r.output;

  r = cli({"person", "list"});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("Anna Nowak    secretary  active"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Jan Kowalski  mayor      disabled"), std::string::npos) << r.output;

  // Roles come from the configuration.
  TempDir dir;
  const std::string config = dir.path() + "/callvault.toml";
  std::ofstream(config) << "[access]\nroles = [\"mayor\", \"janitor\"]\n";
  r = run({callvault_bin(), "--config", config, "--db", op, "person", "add", "Jan K.", "--role", "janitor"});
  EXPECT_EQ(r.status, 0) << r.output;
  r = run({callvault_bin(), "--config", config, "--db", op, "person", "add", "Ewa", "--role", "secretary"});
  EXPECT_EQ(r.status, 1) << r.output;

  r = cli({"audit", "log", "--limit", "2"});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 2) << r.output;
  EXPECT_EQ(r.output.rfind("3  ", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("person.disabled  Jan Kowalski"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("person.added  Jan K."), std::string::npos) << r.output;

  r = cli({"audit", "verify"});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("4 entries, chain intact"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(value("SELECT last_hash FROM callvault.audit_head")), std::string::npos)
      << r.output;

  tamper("UPDATE callvault.audit_log SET actor = 'os:someone' WHERE seq = 2");
  r = cli({"audit", "verify"});
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("FAILED at entry 2: altered"), std::string::npos) << r.output;
  tamper("DELETE FROM callvault.audit_log WHERE seq = 1");
  r = cli({"audit", "verify"});
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("FAILED at entry 1: removed"), std::string::npos) << r.output;

  // Database errors exit 2.
  r = run(
      {callvault_bin(), "--db", base_ + " dbname=cv_no_such_db user=callvault_operator", "audit", "verify"});
  EXPECT_EQ(r.status, 2) << r.output;
  r = run({callvault_bin(), "--db", conninfo("callvault_auditor"), "audit", "verify"});
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("permission denied"), std::string::npos) << r.output;
}

TEST_F(AuditDb, CommandsNameMigrateOnAnOldSchema) {
  sql("DELETE FROM callvault.schema_migrations WHERE version >= 3");  // back to version 2
  const RunResult r = run({callvault_bin(), "--db", conninfo("callvault_operator"), "person", "list"});
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("callvault db migrate"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace cv
