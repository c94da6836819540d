// Legal holds (R6), restrictions of processing (R11) and disclosures to
// authorities (R10): callvault.legal_holds, held_calls, restrictions,
// disclosures, disclosure_calls (storage/migrations/0004_retention_access.sql).
// Each change writes its audit entry in the caller's transaction, so the two
// commit together or not at all. The database itself refuses what must never
// happen (deleting a held recording, holding one whose deletion started,
// exporting an unapproved disclosure, rewriting any of these records); the
// functions here check first so that people get a clear sentence, not an
// SQL error.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/transaction_base>
#include <string>
#include <vector>

#include "storage/db/access_policy.h"

namespace cv {

// Which calls: by uuid, or by a phone number (as caller or callee) in a time
// range [from, to) given as PostgreSQL timestamptz text in the session's zone.
struct CallSelection {
  std::vector<std::string> uuids;
  std::vector<std::string> numbers;
  std::string from, to;
  [[nodiscard]] nlohmann::json to_json() const;
};

// Empty when the selection is well formed (uuids xor numbers with from and to).
std::string selection_problem(const CallSelection& selection);

struct SelectedCall {
  std::string uuid;
  std::string start_time;
  std::optional<std::string> problem;  // deleted, being deleted, no audio, no such recording
};

// The selected calls in start order; a uuid that does not exist is listed with a problem.
std::vector<SelectedCall> select_calls(pqxx::transaction_base& tx, const CallSelection& selection);

struct CaseResult {
  bool ok = false;
  std::string message;  // why not, when !ok
  int64_t id = 0;       // the hold, restriction or disclosure
  int64_t audit_seq = 0;
  std::vector<std::string> calls;    // the recordings it covers
  std::vector<std::string> skipped;  // "uuid: why" for selected calls it could not cover
};

// --- Legal holds ----------------------------------------------------------
CaseResult place_hold(pqxx::transaction_base& tx, const std::string& case_ref, const std::string& basis,
                      const CallSelection& selection, const std::string& actor,
                      const nlohmann::json& details);
// Releases an active hold. `calls` lists its recordings that are now past
// their period with nothing else keeping them: the next sweep deletes them.
CaseResult release_hold(pqxx::transaction_base& tx, int64_t hold_id, const std::string& reason,
                        const std::string& actor, const nlohmann::json& details);

struct HoldInfo {
  int64_t id = 0;
  std::string case_ref, basis, placed_by, placed_at;
  std::optional<std::string> released_by, released_at, release_reason;
  int64_t calls = 0;
};
std::vector<HoldInfo> list_holds(pqxx::transaction_base& tx, bool include_released);

// --- Restrictions (R11) -------------------------------------------------------
CaseResult place_restriction(pqxx::transaction_base& tx, const std::string& uuid, const std::string& reason,
                             const std::string& actor, const nlohmann::json& details);
CaseResult lift_restriction(pqxx::transaction_base& tx, int64_t restriction_id, const std::string& reason,
                            const std::string& actor, const nlohmann::json& details);

// --- Disclosures (R10) ---------------------------------------------------------
CaseResult request_disclosure(pqxx::transaction_base& tx, const std::string& authority,
                              const std::string& basis, const std::string& legal_claim,
                              const std::vector<std::string>& uuids, const std::string& actor,
                              const nlohmann::json& details);
// approve = false rejects. The caller has checked the approver (decide_approval).
CaseResult decide_disclosure(pqxx::transaction_base& tx, int64_t disclosure_id, bool approve,
                             const std::string& reason, const std::string& actor,
                             const nlohmann::json& details);

struct DisclosureInfo {
  int64_t id = 0;
  std::string authority, basis, requested_by, requested_at;
  std::optional<std::string> legal_claim;
  std::string state;  // requested, approved, rejected
  std::optional<std::string> decided_by, decided_at, decision_reason, exported_at;
  std::vector<std::string> calls;
};
std::optional<DisclosureInfo> find_disclosure(pqxx::transaction_base& tx, int64_t disclosure_id);
std::vector<DisclosureInfo> list_disclosures(pqxx::transaction_base& tx);
// Records the (first) export of an approved disclosure.
void record_disclosure_export(pqxx::transaction_base& tx, int64_t disclosure_id, const std::string& actor,
                              const std::string& manifest_sha256);

// --- Recordings ----------------------------------------------------------------
struct RecordingFile {
  RecordingState state;
  std::string audio_path;  // relative to the audio directory
  std::string audio_sha256;
  int64_t audio_bytes = 0;
};
// The recording's state for access decisions, with its file. Locks nothing.
RecordingFile load_recording(pqxx::transaction_base& tx, const std::string& uuid);

// The call's index entry as JSON for an evidence manifest: the call's
// metadata, its SIP summary (Call-ID, parties, times, final status, end
// reason), its RTP streams and DTMF.
nlohmann::json call_manifest_entry(pqxx::transaction_base& tx, const std::string& uuid);

// True when `text` is a UUID in its canonical text form (lowercase or uppercase hex).
bool looks_like_uuid(const std::string& text);

}  // namespace cv
