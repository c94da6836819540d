// Retention (R5, R7), legal holds (R6), restrictions (R11) and the database's
// own refusals, against a real PostgreSQL (storage/migrations/0005_retention_access.sql,
// storage/db/retention.h, storage/db/case_records.h, `callvault retention|hold`).
//
// Calls are inserted as the superuser with start times in the past (the
// database refuses to delete anything before its expiry by its own clock, so
// "the future" cannot be simulated; --now evaluates earlier moments), each
// with a real audio file in a temporary store. Same fixture and skip rules as
// test_audit_trail (CV_TEST_PG_ADMIN_URL; under CI=true its absence fails).
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/transaction>
#include <random>
#include <set>

#include "storage/db/audit_trail.h"
#include "storage/db/case_records.h"
#include "storage/db/database.h"
#include "storage/db/retention.h"
#include "storage/recording_id.h"
#include "storage/vault/key_store.h"
#include "storage/vault/vault_format.h"
#include "tests/db/recordings_fixture.h"

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

const std::string kDenied = "42501";

class RetentionDb : public dbtest::RecordingsDb {
 protected:
  RetentionDb() : RecordingsDb("cv_retention_test_") {}
};

using dbtest::uuid_of;
using dbtest::wav_bytes;

// ---------------------------------------------------------------------------
// One sweep: what goes and what stays
// ---------------------------------------------------------------------------

TEST_F(RetentionDb, DeletesExpiredUnprotectedRecordingsAndKeepsEverythingElse) {
  add_call({.n = 1});                                            // expired: deleted
  add_call({.n = 2, .start_days_ago = 10});                      // not expired: kept
  add_call({.n = 3});                                            // held: kept
  add_call({.n = 4});                                            // restricted: kept
  add_call({.n = 5});                                            // in a requested disclosure: kept
  add_call({.n = 6, .audio = false});                            // expired, no audio: row cleared
  add_call({.n = 7, .start_days_ago = 45, .expires_days = 44});  // expired yesterday
  ASSERT_TRUE(hold({uuid_of(3)}).ok);
  {
    pqxx::connection c(conninfo("callvault_operator"));
    pqxx::work tx(c);
    ASSERT_TRUE(place_restriction(tx, uuid_of(4), "art. 18 request 7/26", "Anna Nowak", {}).ok);
    ASSERT_TRUE(
        request_disclosure(tx, "Prokuratura Rejonowa", "art. 15 k.p.k.", "", {uuid_of(5)}, "Anna Nowak", {})
            .ok);
    tx.commit();
  }

  const RetentionReport dry = sweep("", /*dry_run=*/true);
  EXPECT_EQ(dry.planned.size(), 3u);
  EXPECT_EQ(dry.kept, 3u);
  EXPECT_EQ(dry.deleted, 0u);
  EXPECT_TRUE(file_exists(uuid_of(1))) << "a dry run deletes nothing";
  EXPECT_EQ(value("SELECT count(*) FROM callvault.calls WHERE deletion_started_at IS NOT NULL"), "0");

  const RetentionReport r = sweep();
  EXPECT_EQ(r.deleted, 3u) << fmt::format("{}", fmt::join(r.errors, "; "));
  EXPECT_EQ(r.files_deleted, 2u);
  EXPECT_EQ(r.files_missing, 0u);
  EXPECT_EQ(r.kept, 3u);
  EXPECT_EQ(r.failed, 0u);
  for (int n : {1, 6, 7}) EXPECT_TRUE(deleted(uuid_of(n))) << n;
  for (int n : {2, 3, 4, 5}) {
    EXPECT_FALSE(deleted(uuid_of(n))) << n;
    EXPECT_TRUE(file_exists(uuid_of(n))) << n;
  }
  EXPECT_FALSE(file_exists(uuid_of(1)));
  EXPECT_FALSE(file_exists(uuid_of(7)));

  // The personal data goes, the proof of what was recorded stays.
  EXPECT_EQ(
      value(fmt::format("SELECT concat_ws('|', sip_call_id, caller, callee, audio_path) FROM callvault.calls "
                        "WHERE call_uuid = '{}'",
                        uuid_of(1))),
      "");
  EXPECT_EQ(value(fmt::format("SELECT audio_sha256 FROM callvault.calls WHERE call_uuid = '{}'", uuid_of(1))),
            sha256_hex(wav_bytes(1)));
  EXPECT_EQ(value(fmt::format("SELECT count(*) FROM callvault.streams WHERE call_uuid IN ('{}', '{}', '{}')",
                              uuid_of(1), uuid_of(6), uuid_of(7))),
            "0");
  EXPECT_EQ(
      value(fmt::format("SELECT count(*) FROM callvault.dtmf_events WHERE call_uuid = '{}'", uuid_of(1))),
      "0");
  EXPECT_EQ(value("SELECT count(*) FROM callvault.streams"), "4");

  // R7: one audit entry per deletion, which recording, its hash, the rule; no personal data.
  const auto entries =
      sql("SELECT subject, details::text FROM callvault.audit_log WHERE action = "
          "'recording.deleted' ORDER BY subject");
  ASSERT_EQ(entries.size(), 3u);
  for (const auto& e : entries) {
    const std::string details = e[1].as<std::string>();
    EXPECT_EQ(details.find("48601234567"), std::string::npos) << details;
    EXPECT_EQ(details.find("@pbx"), std::string::npos) << details;
    EXPECT_EQ(details.find(".wav"), std::string::npos)
        << "the path carries the uuid only, still: " << details;
    const json d = json::parse(details);
    EXPECT_NE(d["rule"].get<std::string>().find("R5"), std::string::npos) << details;
    EXPECT_EQ(d["period"], "1 month");
  }
  EXPECT_EQ(json::parse(entries[0][1].as<std::string>())["file_sha256"], sha256_hex(wav_bytes(1)));
  EXPECT_EQ(json::parse(entries[1][1].as<std::string>())["file"], "none");
  EXPECT_EQ(value("SELECT count(*) FROM audit.deletions", "callvault_auditor"), "3");
  EXPECT_EQ(
      value("SELECT string_agg(split_part(why, ' ', 1), ',' ORDER BY uuid) FROM audit.retention_blocked",
            "callvault_auditor"),
      "legal,restriction,disclosure");

  // A second sweep finds nothing more to do.
  const RetentionReport again = sweep();
  EXPECT_EQ(again.deleted, 0u);
  EXPECT_EQ(again.kept, 3u);
  EXPECT_TRUE(verify().ok);
}

TEST_F(RetentionDb, ReleasingTheLastHoldAppliesRetentionAtOnce) {
  add_call({.n = 1});
  add_call({.n = 2});
  add_call({.n = 3, .start_days_ago = 5});
  const CaseResult a = hold({uuid_of(1), uuid_of(2), uuid_of(3)}, "case A");
  const CaseResult b = hold({uuid_of(1)}, "case B");
  ASSERT_TRUE(a.ok && b.ok) << a.message << b.message;
  EXPECT_EQ(sweep().deleted, 0u);

  const CaseResult ra = release(a.id);
  ASSERT_TRUE(ra.ok) << ra.message;
  // Only 2 is now past its period with nothing keeping it (1 is still held by B, 3 is young).
  EXPECT_EQ(ra.calls, (std::vector<std::string>{uuid_of(2)}));
  EXPECT_EQ(sweep().deleted, 1u);
  EXPECT_TRUE(deleted(uuid_of(2)));
  EXPECT_FALSE(deleted(uuid_of(1)));
  EXPECT_FALSE(release(a.id).ok) << "a hold is released once";
  ASSERT_TRUE(release(b.id).ok);
  EXPECT_EQ(sweep().deleted, 1u);
  EXPECT_TRUE(deleted(uuid_of(1)));
  EXPECT_FALSE(deleted(uuid_of(3)));

  // A deleted recording cannot be held any more; the hold says so.
  const CaseResult late = hold({uuid_of(1), uuid_of(3)}, "case C");
  ASSERT_TRUE(late.ok) << late.message;
  EXPECT_EQ(late.calls, (std::vector<std::string>{uuid_of(3)}));
  ASSERT_EQ(late.skipped.size(), 1u);
  EXPECT_NE(late.skipped[0].find(uuid_of(1)), std::string::npos);
  const CaseResult none = hold({uuid_of(1)}, "case D");
  EXPECT_FALSE(none.ok);
  EXPECT_TRUE(verify().ok);
}

TEST_F(RetentionDb, ADaysKeyIsDestroyedOnceNothingOfThatDayIsLeft) {
  // The fixture files call n under 2026/01/<1 + n % 28>/: 1 and 29 share a day, 2 has its own.
  add_call({.n = 1});
  add_call({.n = 29});
  add_call({.n = 2});
  ASSERT_TRUE(hold({uuid_of(29)}).ok);
  const std::string keys = store_.path() + "/keys";
  KeyStore store(keys);
  std::string error;
  const auto today =
      store.key_for_writing(vault_day_of(Timestamp::from_sec_nsec(std::time(nullptr), 0)), error);
  ASSERT_TRUE(today) << error;
  auto key_files = [&] {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(keys)) names.insert(e.path().filename().string());
    return names;
  };
  ASSERT_TRUE(key_files().count("2026-01-02.1.key") && key_files().count("2026-01-03.1.key"));

  const RetentionReport dry = sweep("", /*dry_run=*/true);
  EXPECT_TRUE(dry.keys_planned.empty()) << "files still there: nothing to destroy yet";
  const RetentionReport r = sweep();
  EXPECT_EQ(r.deleted, 2u);
  EXPECT_EQ(r.keys_destroyed, 1u) << fmt::format("{}", fmt::join(r.errors, "; "));
  EXPECT_FALSE(key_files().count("2026-01-03.1.key")) << "nothing of 2026-01-03 is left";
  EXPECT_TRUE(key_files().count("2026-01-03.1.destroyed"));
  EXPECT_TRUE(key_files().count("2026-01-02.1.key")) << "the held recording of 2026-01-02 needs it";
  EXPECT_TRUE(key_files().count(vault_day_name(today->day) + ".1.key")) << "today's key is never touched";
  EXPECT_TRUE(verify_recording(store, audio_ + "/" + paths_[uuid_of(29)]).ok());
  EXPECT_EQ(
      value("SELECT subject FROM audit.retention_findings WHERE kind = 'key.destroyed'", "callvault_auditor"),
      "2026-01-03");

  // A late recording of a day whose key was destroyed gets a new key generation.
  add_call({.n = 30, .start_days_ago = 3});  // 2026/01/03, not expired
  EXPECT_TRUE(key_files().count("2026-01-03.2.key"));
  EXPECT_TRUE(verify_recording(store, audio_ + "/" + paths_[uuid_of(30)]).ok());
  EXPECT_EQ(sweep().keys_destroyed, 0u);

  // Released: the held recording goes, and its day's key with it.
  ASSERT_TRUE(release(1).ok);
  const RetentionReport after = sweep();
  EXPECT_EQ(after.deleted, 1u);
  EXPECT_EQ(after.keys_destroyed, 1u);
  EXPECT_FALSE(key_files().count("2026-01-02.1.key"));
  EXPECT_TRUE(key_files().count("2026-01-03.2.key"));
  EXPECT_EQ(value("SELECT count(*) FROM callvault.audit_log WHERE action = 'key.destroyed'"), "2");
  EXPECT_TRUE(verify().ok);
}

TEST_F(RetentionDb, AMissingFileIsAFindingAndTheDataIsClearedAllTheSame) {
  add_call({.n = 1});
  add_call({.n = 2});
  fs::remove(audio_ + "/" + paths_[uuid_of(1)]);
  const RetentionReport r = sweep();
  EXPECT_EQ(r.deleted, 2u);
  EXPECT_EQ(r.files_missing, 1u);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_NE(r.findings[0].find(uuid_of(1)), std::string::npos) << r.findings[0];
  EXPECT_EQ(value("SELECT subject FROM audit.retention_findings WHERE kind = 'recording.missing'",
                  "callvault_auditor"),
            uuid_of(1));
  EXPECT_EQ(value(fmt::format("SELECT file FROM audit.deletions WHERE uuid = '{}'", uuid_of(1)),
                  "callvault_auditor"),
            "missing");
  EXPECT_TRUE(deleted(uuid_of(1)));
}

TEST_F(RetentionDb, NowEvaluatesAnEarlierMomentAndNeverALaterOne) {
  add_call({.n = 1, .start_days_ago = 90});  // expired 60 days ago
  add_call({.n = 2, .start_days_ago = 40});  // expired 10 days ago
  const std::string twenty_days_ago = value("SELECT (now() - interval '20 days')::text");
  EXPECT_EQ(sweep(twenty_days_ago).deleted, 1u);
  EXPECT_TRUE(deleted(uuid_of(1)));
  EXPECT_FALSE(deleted(uuid_of(2)));
  const std::string tomorrow = value("SELECT (now() + interval '1 day')::text");
  EXPECT_THROW(sweep(tomorrow), std::invalid_argument);
  EXPECT_EQ(sweep(tomorrow, /*dry_run=*/true).planned.size(), 1u) << "a dry run may look ahead";
  EXPECT_FALSE(deleted(uuid_of(2)));
}

// ---------------------------------------------------------------------------
// What the database refuses, whoever asks (the superuser included)
// ---------------------------------------------------------------------------

TEST_F(RetentionDb, TheDatabaseRefusesToDeleteHeldOrUnexpiredRecordings) {
  add_call({.n = 1});                       // expired, held
  add_call({.n = 2, .start_days_ago = 5});  // not expired
  add_call({.n = 3});                       // expired, free
  ASSERT_TRUE(hold({uuid_of(1)}).ok);
  for (const std::string user : {"callvault_admin", "callvault_retention"}) {
    for (int n : {1, 2}) {
      EXPECT_EQ(sqlstate_of(
                    conninfo(user),
                    fmt::format("UPDATE callvault.calls SET deletion_started_at = now(), deletion_rule = 'x' "
                                "WHERE call_uuid = '{}'",
                                uuid_of(n))),
                kDenied)
          << user << " " << n;
      EXPECT_EQ(
          sqlstate_of(conninfo(user), fmt::format("UPDATE callvault.calls SET caller = NULL, callee = NULL, "
                                                  "sip_call_id = NULL WHERE call_uuid = '{}'",
                                                  uuid_of(n))),
          kDenied)
          << user << " " << n;
      EXPECT_EQ(sqlstate_of(conninfo(user),
                            fmt::format("DELETE FROM callvault.streams WHERE call_uuid = '{}'", uuid_of(n))),
                kDenied)
          << user << " " << n;
    }
    EXPECT_EQ(sqlstate_of(conninfo(user),
                          fmt::format("DELETE FROM callvault.calls WHERE call_uuid = '{}'", uuid_of(3))),
              kDenied)
        << user;
    EXPECT_EQ(sqlstate_of(conninfo(user), "TRUNCATE callvault.calls CASCADE"), kDenied) << user;
  }
  // Holds are never deleted or rewritten; released once, through its columns.
  for (const std::string user : {"callvault_admin", "callvault_operator"}) {
    EXPECT_EQ(sqlstate_of(conninfo(user), "DELETE FROM callvault.held_calls"), kDenied) << user;
    EXPECT_EQ(sqlstate_of(conninfo(user), "UPDATE callvault.legal_holds SET case_ref = 'other'"), kDenied)
        << user;
    EXPECT_EQ(sqlstate_of(conninfo(user), "DELETE FROM callvault.legal_holds"), kDenied) << user;
  }
  EXPECT_EQ(sqlstate_of(conninfo("callvault_admin"), "TRUNCATE callvault.legal_holds CASCADE"), kDenied);
  // Starting the deletion of a free expired call alone, then holding it: refused.
  sql(fmt::format(
      "UPDATE callvault.calls SET deletion_started_at = now(), deletion_rule = 'test' WHERE call_uuid = '{}'",
      uuid_of(3)));
  EXPECT_NE(sqlstate_of(conninfo("callvault_operator"),
                        fmt::format("INSERT INTO callvault.held_calls VALUES (1, '{}')", uuid_of(3))),
            "");
  // The auditor and the writer change nothing of it.
  EXPECT_EQ(sqlstate_of(conninfo("callvault_writer"), "UPDATE callvault.calls SET caller = NULL"), kDenied);
  EXPECT_EQ(sqlstate_of(conninfo("callvault_auditor"), "SELECT * FROM callvault.legal_holds"), kDenied);
  EXPECT_EQ(value(fmt::format("SELECT caller FROM callvault.calls WHERE call_uuid = '{}'", uuid_of(1))),
            "48601234567");
}

// ---------------------------------------------------------------------------
// Randomized: many calls, holds, releases and moments
// ---------------------------------------------------------------------------

TEST_F(RetentionDb, RandomizedHoldsReleasesAndMomentsNeverLoseAHeldRecording) {
  const int seed = static_cast<int>(std::random_device{}() % 100000);
  SCOPED_TRACE(fmt::format("seed {}", seed));
  std::mt19937 rng(seed);
  constexpr int kCalls = 240;
  for (int n = 1; n <= kCalls; ++n)
    add_call({.n = n,
              .start_days_ago = 2 + static_cast<int>(rng() % 150),
              .expires_days = 28 + static_cast<int>(rng() % 4),
              .audio = rng() % 10 != 0,
              .caller = fmt::format("4860000{:04d}", static_cast<int>(rng() % 30))});
  std::vector<int64_t> active_holds;
  std::vector<std::pair<int64_t, std::string>> restrictions;  // id, uuid
  int64_t deletions_seen = 0;
  // Moments from 120 days ago to the present, in order.
  for (int days_ago : {120, 100, 80, 60, 45, 30, 20, 10, 5, 0}) {
    // Place a few holds (by uuid or by number and range) and release some.
    for (int k = 0; k < 3; ++k) {
      pqxx::connection c(conninfo("callvault_operator"));
      pqxx::work tx(c);
      CallSelection sel;
      if (rng() % 2) {
        for (int i = 0; i < 1 + static_cast<int>(rng() % 6); ++i)
          sel.uuids.push_back(uuid_of(1 + rng() % kCalls));
        std::sort(sel.uuids.begin(), sel.uuids.end());
        sel.uuids.erase(std::unique(sel.uuids.begin(), sel.uuids.end()), sel.uuids.end());
      } else {
        sel.numbers = {fmt::format("4860000{:04d}", static_cast<int>(rng() % 30))};
        sel.from = value(fmt::format("SELECT (now() - interval '{} days')::text", 150));
        sel.to = value(fmt::format("SELECT (now() - interval '{} days')::text", rng() % 100));
      }
      const CaseResult r =
          place_hold(tx, fmt::format("case {}-{}", days_ago, k), "basis", sel, "Anna Nowak", {});
      if (r.ok) {
        tx.commit();
        active_holds.push_back(r.id);
      }
    }
    if (rng() % 3 == 0) {
      pqxx::connection c(conninfo("callvault_operator"));
      pqxx::work tx(c);
      const std::string u = uuid_of(1 + rng() % kCalls);
      const CaseResult r = place_restriction(tx, u, "art. 18", "Anna Nowak", {});
      if (r.ok) {
        tx.commit();
        restrictions.emplace_back(r.id, u);
      }
    }
    while (!active_holds.empty() && rng() % 2) {
      const size_t i = rng() % active_holds.size();
      ASSERT_TRUE(release(active_holds[i]).ok);
      active_holds.erase(active_holds.begin() + static_cast<long>(i));
    }
    if (!restrictions.empty() && rng() % 2) {
      pqxx::connection c(conninfo("callvault_operator"));
      pqxx::work tx(c);
      ASSERT_TRUE(lift_restriction(tx, restrictions.back().first, "lifted", "Anna Nowak", {}).ok);
      tx.commit();
      restrictions.pop_back();
    }

    // What must stay and what must go at this moment, from the database's
    // own records of holds and restrictions (the model the sweep must obey).
    const std::string now = value(fmt::format("SELECT (now() - interval '{} days')::text", days_ago));
    std::set<std::string> protected_now, due_now, deleted_before;
    for (const auto& r :
         sql("SELECT DISTINCT hc.call_uuid::text FROM callvault.held_calls hc JOIN "
             "callvault.legal_holds h USING (hold_id) WHERE h.released_at IS NULL "
             "UNION SELECT call_uuid::text FROM callvault.restrictions WHERE lifted_at IS NULL"))
      protected_now.insert(r[0].as<std::string>());
    for (const auto& r :
         sql(fmt::format("SELECT call_uuid::text FROM callvault.calls WHERE expires_at <= '{}'", now)))
      due_now.insert(r[0].as<std::string>());
    for (const auto& r : sql("SELECT call_uuid::text FROM callvault.calls WHERE deleted_at IS NOT NULL"))
      deleted_before.insert(r[0].as<std::string>());

    const RetentionReport rep = sweep(now, false, 1 + rng() % 50);
    ASSERT_EQ(rep.failed, 0u) << fmt::format("{}", fmt::join(rep.errors, "; "));
    deletions_seen += static_cast<int64_t>(rep.deleted);

    std::set<std::string> deleted_after;
    for (const auto& r : sql("SELECT call_uuid::text FROM callvault.calls WHERE deleted_at IS NOT NULL"))
      deleted_after.insert(r[0].as<std::string>());
    for (int n = 1; n <= kCalls; ++n) {
      const std::string u = uuid_of(n);
      const bool is_deleted = deleted_after.count(u) > 0;
      if (protected_now.count(u) && !deleted_before.count(u)) {
        EXPECT_FALSE(is_deleted) << u << " is protected and was deleted at " << now;
      }
      if (due_now.count(u) && !protected_now.count(u)) {
        EXPECT_TRUE(is_deleted) << u << " expired, nothing keeps it, still there at " << now;
      }
      if (!due_now.count(u)) {
        EXPECT_FALSE(is_deleted) << u << " deleted before its expiry, at " << now;
      }
      if (!paths_[u].empty()) {
        EXPECT_EQ(file_exists(u), !is_deleted) << u << " file and row disagree";
      }
    }
    const AuditVerification v = verify();
    ASSERT_TRUE(v.ok) << v.what;
  }
  EXPECT_EQ(value("SELECT count(*) FROM callvault.audit_log WHERE action = 'recording.deleted'"),
            std::to_string(deletions_seen));
  EXPECT_EQ(value("SELECT count(*) FROM (SELECT subject FROM callvault.audit_log WHERE action = "
                  "'recording.deleted' GROUP BY subject HAVING count(*) > 1) d"),
            "0");
  EXPECT_GT(deletions_seen, kCalls / 3) << "the scenario deletes a good part of the calls";
  EXPECT_LT(deletions_seen, kCalls) << "and keeps some";
}

// ---------------------------------------------------------------------------
// A killed sweep, at every step: the rerun leaves files and rows consistent
// ---------------------------------------------------------------------------

TEST_F(RetentionDb, KilledAtEveryStepTheRerunFinishesAndNothingIsInconsistent) {
  const std::vector<std::string> points = {
      "retention.started", "retention.unlinked:1", "retention.unlinked:2", "retention.unlinked:3",
      "retention.synced",  "retention.started:2",  "retention.finished",   "retention.finished:2"};
  int base = 0;
  for (const auto& point : points) {
    SCOPED_TRACE(point);
    base += 10;
    for (int n = base; n < base + 5; ++n) add_call({.n = n, .audio = n % 5 != 4});
    // The store the CLI uses is <data-dir>/audio.
    const std::vector<std::string> cli = {callvault_bin(),
                                          "--db",
                                          conninfo("callvault_retention"),
                                          "--data-dir",
                                          store_.path(),
                                          "retention",
                                          "run",
                                          "--once",
                                          "--batch",
                                          "2"};
    std::vector<std::string> crashing = {"/usr/bin/env", "CALLVAULT_CRASH_AT=" + point};
    crashing.insert(crashing.end(), cli.begin(), cli.end());
    const RunResult killed = run(crashing);
    EXPECT_EQ(killed.status, 137) << killed.output;

    // Between the kill and the rerun: every row with a file path points at a
    // file unless its deletion has started; every file has its row's path.
    for (int n = base; n < base + 5; ++n) {
      const std::string u = uuid_of(n);
      const auto row =
          sql(fmt::format("SELECT audio_path IS NOT NULL, deletion_started_at IS NOT NULL, "
                          "deleted_at IS NOT NULL FROM callvault.calls WHERE call_uuid = '{}'",
                          u))[0];
      const bool has_path = row[0].as<bool>(), started = row[1].as<bool>(), done = row[2].as<bool>();
      if (has_path && !started) {
        EXPECT_TRUE(file_exists(u)) << u;
      }
      if (file_exists(u)) {
        EXPECT_TRUE(has_path) << u << ": a file no row knows";
      }
      if (done) {
        EXPECT_FALSE(file_exists(u)) << u;
      }
    }
    const RunResult rerun = run(cli);
    EXPECT_EQ(rerun.status, 0) << rerun.output;
    for (int n = base; n < base + 5; ++n) {
      EXPECT_TRUE(deleted(uuid_of(n))) << n;
      EXPECT_FALSE(file_exists(uuid_of(n))) << n;
    }
    EXPECT_EQ(value("SELECT count(*) FROM callvault.calls WHERE deletion_started_at IS NOT NULL AND "
                    "deleted_at IS NULL"),
              "0");
  }
  // Exactly one deletion entry per recording, no spurious findings, the chain intact.
  EXPECT_EQ(value("SELECT count(*) FROM callvault.audit_log WHERE action = 'recording.deleted'"),
            std::to_string(points.size() * 5));
  EXPECT_EQ(
      value("SELECT count(DISTINCT subject) FROM callvault.audit_log WHERE action = 'recording.deleted'"),
      std::to_string(points.size() * 5));
  EXPECT_EQ(value("SELECT count(*) FROM callvault.audit_log WHERE action = 'recording.missing'"), "0");
  EXPECT_TRUE(verify().ok);
}

// ---------------------------------------------------------------------------
// The command: dry run, fail safe, daemon
// ---------------------------------------------------------------------------

TEST_F(RetentionDb, RetentionCommandDryRunFailSafeAndHolds) {
  add_call({.n = 1});
  add_call({.n = 2});
  add_call({.n = 3, .start_days_ago = 3});
  auto cli = [&](std::vector<std::string> args, const std::string& role = "callvault_retention") {
    args.insert(args.begin(), {callvault_bin(), "--db", conninfo(role), "--data-dir", store_.path()});
    return run(args);
  };
  RunResult r = cli({"retention", "run", "--dry-run"});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("2 recording(s) would be deleted"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("would delete " + uuid_of(1)), std::string::npos) << r.output;
  EXPECT_TRUE(file_exists(uuid_of(1)));

  // The database unreachable: nothing is deleted, exit 2, a clear message.
  r = run({callvault_bin(), "--db", base_ + " dbname=cv_no_such_db user=callvault_retention", "--data-dir",
           store_.path(), "retention", "run", "--once"});
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("nothing deleted"), std::string::npos) << r.output;
  EXPECT_TRUE(file_exists(uuid_of(1)));
  EXPECT_TRUE(file_exists(uuid_of(2)));

  // A person places a hold from the command line; it keeps call 1.
  r = cli({"person", "add", "Anna Nowak", "--role", "secretary"}, "callvault_operator");
  ASSERT_EQ(r.status, 0) << r.output;
  r = cli({"hold", "place", "--case", "II K 7/26", "--basis", "art. 218 kpk", "--by", "Nobody", "--calls",
           uuid_of(1)},
          "callvault_operator");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("not a registered person"), std::string::npos) << r.output;
  r = cli({"hold", "place", "--case", "II K 7/26", "--basis", "art. 218 kpk", "--by", "Anna Nowak", "--calls",
           uuid_of(1)},
          "callvault_operator");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("hold 1: 1 recording(s)"), std::string::npos) << r.output;
  r = cli({"hold", "list"}, "callvault_operator");
  EXPECT_NE(r.output.find("case II K 7/26"), std::string::npos) << r.output;

  r = cli({"retention", "run", "--once"});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("1 recording(s) deleted"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1 kept past their period"), std::string::npos) << r.output;
  EXPECT_TRUE(file_exists(uuid_of(1)));
  EXPECT_FALSE(file_exists(uuid_of(2)));
  EXPECT_TRUE(file_exists(uuid_of(3)));

  r = cli({"hold", "release", "1", "--by", "Anna Nowak", "--reason", "judgment final 2026-11-30"},
          "callvault_operator");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find(uuid_of(1)), std::string::npos) << "names what the next run deletes: " << r.output;
  r = cli({"hold", "list", "--all"}, "callvault_operator");
  EXPECT_NE(r.output.find("released"), std::string::npos) << r.output;

  // The daemon sweeps at once, then every interval, and stops on SIGTERM.
  TempDir cfg;
  const std::string config = cfg.path() + "/callvault.toml";
  std::ofstream(config) << "[retention]\ninterval_s = 10\n";
  r = run({"/usr/bin/timeout", "--preserve-status", "-s", "TERM", "4", callvault_bin(), "--config", config,
           "--db", conninfo("callvault_retention"), "--data-dir", store_.path(), "retention", "run"});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("1 recording(s) deleted"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("stopping"), std::string::npos) << r.output;
  EXPECT_FALSE(file_exists(uuid_of(1)));
  EXPECT_TRUE(verify().ok);
}

}  // namespace
}  // namespace cv
