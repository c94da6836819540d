#include "storage/db/audit_trail.h"

#include <fmt/core.h>

#include <limits>
#include <pqxx/result>
#include <pqxx/transaction>

#include "storage/recording_id.h"

namespace cv {

const char* const kAuditGenesisHash = "0000000000000000000000000000000000000000000000000000000000000000";

namespace {

// The columns the hash covers, `at` exactly as the SQL function turns it into text.
constexpr const char* kEntryColumns =
    "seq, (extract(epoch FROM at) * 1000000)::bigint, actor, action, subject, details::text, prev_hash, "
    "hash, "
    "at::text";

AuditEntry entry_from_row(const pqxx::row& r) {
  AuditEntry e;
  e.seq = r[0].as<int64_t>();
  e.at_us = r[1].as<int64_t>();
  e.actor = r[2].as<std::string>();
  e.action = r[3].as<std::string>();
  if (!r[4].is_null()) e.subject = r[4].as<std::string>();
  e.details = r[5].as<std::string>();
  e.prev_hash = r[6].as<std::string>();
  e.hash = r[7].as<std::string>();
  e.at_text = r[8].as<std::string>();
  return e;
}

AuditVerification failed(AuditVerification v, AuditProblem problem, int64_t seq, std::string what) {
  v.ok = false;
  v.problem = problem;
  v.first_bad_seq = seq;
  v.what = std::move(what);
  return v;
}

}  // namespace

int64_t append_audit(pqxx::transaction_base& tx, const std::string& actor, const std::string& action,
                     const std::optional<std::string>& subject, const nlohmann::json& details) {
  const std::string json = details.is_null() ? "{}" : details.dump();
  pqxx::result r;
  if (subject)
    r = tx.exec_params("SELECT callvault.audit_append($1, $2, $3, $4::jsonb)", actor, action, *subject, json);
  else
    r = tx.exec_params("SELECT callvault.audit_append($1, $2, NULL, $3::jsonb)", actor, action, json);
  return r[0][0].as<int64_t>();
}

std::string audit_canonical_text(const AuditEntry& e) {
  std::string t = "callvault-audit-v1\n";
  auto field = [&t](const std::string* v) {
    if (!v) {
      t += "-\n";
      return;
    }
    t += std::to_string(v->size());
    t += ':';
    t += *v;
    t += '\n';
  };
  const std::string seq = std::to_string(e.seq), at = std::to_string(e.at_us);
  field(&seq);
  field(&at);
  field(&e.actor);
  field(&e.action);
  field(e.subject ? &*e.subject : nullptr);
  field(&e.details);
  field(&e.prev_hash);
  return t;
}

std::string audit_entry_hash(const AuditEntry& e) { return sha256_hex(audit_canonical_text(e)); }

const char* audit_problem_name(AuditProblem problem) {
  switch (problem) {
    case AuditProblem::kNone:
      return "none";
    case AuditProblem::kAltered:
      return "altered";
    case AuditProblem::kRemoved:
      return "removed";
    case AuditProblem::kChainBroken:
      return "chain broken";
  }
  return "?";
}

AuditVerification verify_audit_chain(pqxx::connection& conn, size_t page_rows) {
  if (page_rows == 0) page_rows = 1;
  // The canonical text is UTF-8; lengths count bytes.
  conn.set_client_encoding("UTF8");
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn);
  AuditVerification v;
  v.last_hash = kAuditGenesisHash;
  int64_t expected = 1;
  int64_t after = std::numeric_limits<int64_t>::min();
  const std::string page_query =
      fmt::format("SELECT {} FROM callvault.audit_log WHERE seq > $1 ORDER BY seq LIMIT $2", kEntryColumns);
  for (;;) {
    const pqxx::result page = tx.exec_params(page_query, after, page_rows);
    for (const auto& row : page) {
      const AuditEntry e = entry_from_row(row);
      after = e.seq;
      if (e.seq > expected)
        return failed(v, AuditProblem::kRemoved, expected,
                      e.seq == expected + 1
                          ? fmt::format("entry {} is missing (removed)", expected)
                          : fmt::format("entries {} to {} are missing (removed)", expected, e.seq - 1));
      if (e.seq < expected)
        return failed(
            v, AuditProblem::kChainBroken, e.seq,
            fmt::format("entry {} is out of sequence (added around callvault.audit_append)", e.seq));
      if (audit_entry_hash(e) != e.hash)
        return failed(v, AuditProblem::kAltered, e.seq,
                      fmt::format("entry {} was altered: its content no longer matches its hash", e.seq));
      if (e.prev_hash != v.last_hash) {
        if (e.seq == 1)
          return failed(v, AuditProblem::kChainBroken, 1,
                        "entry 1 was rewritten: it does not start the chain");
        return failed(v, AuditProblem::kChainBroken, e.seq - 1,
                      fmt::format("entry {} was rewritten together with its hash: entry {} names a different "
                                  "previous hash",
                                  e.seq - 1, e.seq));
      }
      ++v.entries_checked;
      v.last_seq = e.seq;
      v.last_hash = e.hash;
      ++expected;
    }
    if (page.size() < page_rows) break;
  }
  // Entries removed from the end leave the head ahead of the log.
  const pqxx::result head = tx.exec("SELECT last_seq, last_hash FROM callvault.audit_head WHERE id = 1");
  if (head.empty())
    return failed(v, AuditProblem::kRemoved, v.last_seq + 1,
                  "the head of the chain (callvault.audit_head) was removed");
  const auto head_seq = head[0][0].as<int64_t>();
  const auto head_hash = head[0][1].as<std::string>();
  if (head_seq > v.last_seq)
    return failed(v, AuditProblem::kRemoved, v.last_seq + 1,
                  head_seq == v.last_seq + 1
                      ? fmt::format("entry {}, the last one, is missing (removed)", head_seq)
                      : fmt::format("entries {} to {}, the last ones, are missing (removed)", v.last_seq + 1,
                                    head_seq));
  if (head_seq < v.last_seq)
    return failed(v, AuditProblem::kChainBroken, head_seq + 1,
                  fmt::format("entries after {} were added around callvault.audit_append", head_seq));
  if (head_hash != v.last_hash)
    return failed(v, AuditProblem::kChainBroken, v.last_seq,
                  fmt::format("entry {}, the last one, was rewritten together with its hash", v.last_seq));
  v.ok = true;
  return v;
}

std::vector<AuditEntry> recent_audit_entries(pqxx::connection& conn, size_t limit) {
  conn.set_client_encoding("UTF8");
  pqxx::transaction<pqxx::read_committed, pqxx::read_only> tx(conn);
  const pqxx::result r = tx.exec_params(
      fmt::format(
          "SELECT * FROM (SELECT {} FROM callvault.audit_log ORDER BY seq DESC LIMIT $1) t ORDER BY 1",
          kEntryColumns),
      limit);
  std::vector<AuditEntry> out;
  out.reserve(r.size());
  for (const auto& row : r) out.push_back(entry_from_row(row));
  return out;
}

}  // namespace cv
