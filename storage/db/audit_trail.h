// The append-only, tamper-evident audit trail: callvault.audit_log
// (storage/migrations/0003_people_audit.sql). Entries are appended only by the
// SQL function callvault.audit_append, in the caller's transaction, so an
// action and its audit entry commit together or not at all. Each entry's hash
// covers its content and the previous entry's hash; verify_audit_chain
// recomputes every hash here, independently of the database's own function,
// from the canonical text documented at the top of the migration.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/connection>
#include <pqxx/transaction_base>
#include <string>
#include <vector>

namespace cv {

// Appends one entry with callvault.audit_append and returns its seq. `details`
// must be a JSON object (keys: see the migration's list of conventional keys).
// Throws what libpqxx throws (the caller's transaction is then unusable).
int64_t append_audit(pqxx::transaction_base& tx, const std::string& actor, const std::string& action,
                     const std::optional<std::string>& subject, const nlohmann::json& details);

// One entry as stored, with the values the hash covers.
struct AuditEntry {
  int64_t seq = 0;
  int64_t at_us = 0;  // at, in whole microseconds since 1970-01-01 00:00:00 UTC
  std::string actor;
  std::string action;
  std::optional<std::string> subject;
  std::string details;  // details::text: PostgreSQL's rendering of the jsonb value
  std::string prev_hash;
  std::string hash;
  std::string at_text;  // for display only: at as the session prints it
};

// prev_hash of entry 1.
extern const char* const kAuditGenesisHash;

// The canonical text of version 1 (see 0003_people_audit.sql) and its SHA-256,
// lowercase hex.
std::string audit_canonical_text(const AuditEntry& entry);
std::string audit_entry_hash(const AuditEntry& entry);

enum class AuditProblem {
  kNone,
  kAltered,      // an entry's content no longer matches its hash
  kRemoved,      // an entry is missing (a gap in seq, or the end of the log is behind its head)
  kChainBroken,  // an entry was rewritten together with its hash, or added around audit_append
};
const char* audit_problem_name(AuditProblem problem);  // "altered", "removed", "chain broken"

struct AuditVerification {
  bool ok = false;
  uint64_t entries_checked = 0;
  int64_t first_bad_seq = 0;  // 0 when ok
  AuditProblem problem = AuditProblem::kNone;
  std::string what;       // one sentence when not ok
  int64_t last_seq = 0;   // the last entry read (0: empty log)
  std::string last_hash;  // its hash (kAuditGenesisHash for an empty log)
};

// Reads callvault.audit_log in seq order, `page_rows` entries at a time (memory
// does not grow with the log), in one read-only snapshot, and checks every
// entry: seq without gaps from 1, the hash recomputed from the content, the
// link to the previous entry, and that the end of the log is callvault.audit_head.
// Stops at the first problem. Throws what libpqxx throws.
AuditVerification verify_audit_chain(pqxx::connection& conn, size_t page_rows = 5000);

// The last `limit` entries, oldest first.
std::vector<AuditEntry> recent_audit_entries(pqxx::connection& conn, size_t limit);

}  // namespace cv
