// Retention (R5, R7): deletes every recording whose period is over and that
// nothing keeps (legal hold, restriction, open disclosure), in the order of
// storage/migrations/0005_retention_access.sql so that a crash at any point
// is finished by the next sweep:
//   1. start: calls.deletion_started_at set, committed (the database refuses
//      it for a protected or unexpired call);
//   2. the audio file unlinked, its directory fsynced;
//   3. personal data and audio path cleared, streams and DTMF rows deleted,
//      the audit entry recording.deleted (no personal data) appended: one
//      transaction.
// Then the keys of days of which nothing is left are destroyed (key.destroyed).
// Fail safe: nothing is unlinked unless step 1 committed, so with the
// database unreachable nothing is deleted. A file the index expected but
// that is missing at expiry is a finding (audit entry recording.missing,
// reported), and the personal data is cleared all the same.
#pragma once

#include <cstdint>
#include <optional>
#include <pqxx/connection>
#include <string>
#include <vector>

namespace cv {

struct RetentionSettings {
  std::string audio_dir;  // where calls.audio_path is relative to
  std::string period;     // the configured period, for the audit entries ("1 month")
  std::string time_zone;  // ... and its zone
  // The moment to evaluate (timestamptz text, read in the session's time
  // zone); empty: the database's clock. Later than the database's clock only
  // for a dry run (the database refuses to delete before expiry).
  std::string now;
  bool dry_run = false;
  size_t batch = 200;  // calls per transaction
  // The recordings' key directory (R12): a day's keys are destroyed once
  // nothing of that day is left (no file in its audio directory, no recording
  // of it in the index), so that its data is unreadable in backups too.
  // Empty: keys are not touched.
  std::string key_dir;
  std::string actor = "retention";
  std::string os_user;  // who ran it, for the audit entries
};

struct RetentionReport {
  std::string evaluated_at;               // the moment evaluated, as the database printed it
  uint64_t deleted = 0;                   // recordings whose deletion completed in this sweep
  uint64_t files_deleted = 0;             // audio files unlinked
  uint64_t files_missing = 0;             // findings: a file the index expected was not there
  uint64_t resumed = 0;                   // deletions a killed sweep had started, finished now
  uint64_t kept = 0;                      // past their period, kept by a hold, restriction or disclosure
  uint64_t failed = 0;                    // could not be deleted now (error below); retried next sweep
  std::vector<std::string> planned;       // dry run: "uuid start expires path" per recording it would delete
  std::vector<std::string> kept_why;      // "uuid: why" for kept recordings (dry run, at most 1000)
  uint64_t keys_destroyed = 0;            // days whose encryption keys were destroyed
  std::vector<std::string> keys_planned;  // dry run: days whose keys would be destroyed
  std::vector<std::string> findings;      // one sentence per finding
  std::vector<std::string> errors;        // one sentence per failure
};

// One sweep over the database behind `conn` (as callvault_retention, or any
// role with its rights). Throws what libpqxx throws when the database fails
// (connection lost); what it had finished stays finished, and a rerun picks
// up the rest.
RetentionReport run_retention_sweep(pqxx::connection& conn, const RetentionSettings& settings);

// Test hook: CALLVAULT_CRASH_AT=<point>[:<n>] ends the process (_exit(137),
// as kill -9 would) the n-th time (default 1st) the sweep reaches <point>:
// retention.started (step 1 committed), retention.unlinked (after each file),
// retention.synced (directories fsynced), retention.finished (step 3 committed).
void retention_crash_point(const char* point);

}  // namespace cv
