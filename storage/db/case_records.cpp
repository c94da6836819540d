#include "storage/db/case_records.h"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <pqxx/result>

#include "storage/db/audit_trail.h"
#include "storage/db/sql_values.h"

namespace cv {
namespace {

CaseResult fail(std::string message) {
  CaseResult r;
  r.message = std::move(message);
  return r;
}

nlohmann::json merged(const nlohmann::json& details, nlohmann::json extra) {
  nlohmann::json d = details.is_object() ? details : nlohmann::json::object();
  for (auto it = extra.begin(); it != extra.end(); ++it) d[it.key()] = it.value();
  return d;
}

// Why a selected call cannot be covered by a hold, restriction or disclosure.
constexpr const char* kCallProblemSql =
    "CASE WHEN c.deleted_at IS NOT NULL THEN 'deleted at ' || date_trunc('second', c.deleted_at)::text "
    "WHEN c.deletion_started_at IS NOT NULL THEN 'being deleted (retention)' END";

}  // namespace

nlohmann::json CallSelection::to_json() const {
  if (!uuids.empty()) return {{"calls", uuids}};
  return {{"numbers", numbers}, {"from", from}, {"to", to}};
}

bool looks_like_uuid(const std::string& text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

std::string selection_problem(const CallSelection& s) {
  if (!s.uuids.empty() && !s.numbers.empty()) return "choose calls either by uuid or by --number, not both";
  if (s.uuids.empty() && s.numbers.empty())
    return "no calls chosen: give uuids, or --number with --from and --to";
  for (const auto& u : s.uuids)
    if (!looks_like_uuid(u)) return fmt::format("\"{}\" is not a recording uuid", u);
  if (!s.numbers.empty()) {
    if (s.from.empty() || s.to.empty())
      return "--number needs --from and --to (times, e.g. 2026-11-01 00:00)";
    for (const auto& n : s.numbers)
      if (n.empty()) return "an empty --number";
  }
  return {};
}

std::vector<SelectedCall> select_calls(pqxx::transaction_base& tx, const CallSelection& s) {
  std::vector<SelectedCall> out;
  pqxx::result r;
  if (!s.uuids.empty()) {
    r = tx.exec_params(
        fmt::format("SELECT u::text, date_trunc('second', c.start_time)::text, "
                    "CASE WHEN c.call_uuid IS NULL THEN 'no such recording' ELSE {} END "
                    "FROM unnest($1::uuid[]) WITH ORDINALITY AS x(u, i) "
                    "LEFT JOIN callvault.calls c ON c.call_uuid = x.u ORDER BY c.start_time, x.i",
                    kCallProblemSql),
        sql_plain_array(s.uuids));
  } else {
    // Either party, through the (caller, start_time) and (callee, start_time) indexes.
    r = tx.exec_params(
        fmt::format("SELECT c.call_uuid::text, date_trunc('second', c.start_time)::text, {} "
                    "FROM callvault.calls c WHERE c.call_uuid IN ("
                    "  SELECT call_uuid FROM callvault.calls WHERE caller = ANY($1::text[]) "
                    "    AND start_time >= $2::timestamptz AND start_time < $3::timestamptz "
                    "  UNION SELECT call_uuid FROM callvault.calls WHERE callee = ANY($1::text[]) "
                    "    AND start_time >= $2::timestamptz AND start_time < $3::timestamptz) "
                    "ORDER BY c.start_time, c.call_uuid",
                    kCallProblemSql),
        sql_text_array(s.numbers), s.from, s.to);
  }
  std::vector<std::string> seen;
  for (const auto& row : r) {
    SelectedCall c;
    c.uuid = row[0].as<std::string>();
    if (std::find(seen.begin(), seen.end(), c.uuid) != seen.end()) continue;  // a uuid given twice
    seen.push_back(c.uuid);
    c.start_time = row[1].is_null() ? "" : row[1].as<std::string>();
    c.problem = opt_text(row[2]);
    out.push_back(std::move(c));
  }
  return out;
}

// --- Legal holds ----------------------------------------------------------------

CaseResult place_hold(pqxx::transaction_base& tx, const std::string& case_ref, const std::string& basis,
                      const CallSelection& selection, const std::string& actor,
                      const nlohmann::json& details) {
  if (case_ref.empty()) return fail("a hold needs a case reference (--case)");
  if (basis.empty()) return fail("a hold needs its legal basis (--basis)");
  if (auto p = selection_problem(selection); !p.empty()) return fail(p);
  CaseResult res;
  std::vector<std::string> holdable;
  for (const auto& c : select_calls(tx, selection)) {
    if (c.problem)
      res.skipped.push_back(c.uuid + ": " + *c.problem);
    else
      holdable.push_back(c.uuid);
  }
  if (holdable.empty())
    return fail(res.skipped.empty() ? "no recordings match the selection"
                                    : "none of the selected recordings can be held: " + res.skipped.front());
  const pqxx::result h = tx.exec_params(
      "INSERT INTO callvault.legal_holds (case_ref, basis, selection, placed_by) "
      "VALUES ($1, $2, $3::jsonb, $4) RETURNING hold_id",
      case_ref, basis, selection.to_json().dump(), actor);
  res.id = h[0][0].as<int64_t>();
  // The guard trigger locks each call row: a concurrent retention run either
  // sees this hold or has started the deletion, and then this fails whole.
  tx.exec_params("INSERT INTO callvault.held_calls (hold_id, call_uuid) SELECT $1, unnest($2::uuid[])",
                 res.id, sql_plain_array(holdable));
  res.calls = holdable;
  res.audit_seq = append_audit(
      tx, actor, "hold.placed", std::to_string(res.id),
      merged(
          details,
          {{"case", case_ref}, {"basis", basis}, {"calls", holdable}, {"selection", selection.to_json()}}));
  res.ok = true;
  return res;
}

CaseResult release_hold(pqxx::transaction_base& tx, int64_t hold_id, const std::string& reason,
                        const std::string& actor, const nlohmann::json& details) {
  if (reason.empty()) return fail("say why the hold is released (--reason)");
  const pqxx::result cur = tx.exec_params(
      "SELECT case_ref, date_trunc('second', released_at)::text, released_by FROM callvault.legal_holds "
      "WHERE hold_id = $1 FOR UPDATE",
      hold_id);
  if (cur.empty()) return fail(fmt::format("no hold {} (callvault hold list)", hold_id));
  if (!cur[0][1].is_null())
    return fail(fmt::format("hold {} was already released at {} by {}", hold_id, cur[0][1].as<std::string>(),
                            cur[0][2].as<std::string>()));
  const std::string case_ref = cur[0][0].as<std::string>();
  tx.exec_params(
      "UPDATE callvault.legal_holds SET released_by = $2, released_at = now(), release_reason = $3 "
      "WHERE hold_id = $1",
      hold_id, actor, reason);
  CaseResult res;
  res.id = hold_id;
  // What normal retention takes back at once: past their period, nothing else keeping them.
  const pqxx::result due = tx.exec_params(
      "SELECT c.call_uuid::text FROM callvault.held_calls hc JOIN callvault.calls c USING (call_uuid) "
      "WHERE hc.hold_id = $1 AND c.deleted_at IS NULL AND c.expires_at <= now() "
      "AND callvault.retention_block(c.call_uuid) IS NULL ORDER BY c.start_time",
      hold_id);
  for (const auto& row : due) res.calls.push_back(row[0].as<std::string>());
  res.audit_seq =
      append_audit(tx, actor, "hold.released", std::to_string(hold_id),
                   merged(details, {{"case", case_ref}, {"reason", reason}, {"now_due", res.calls.size()}}));
  res.ok = true;
  return res;
}

std::vector<HoldInfo> list_holds(pqxx::transaction_base& tx, bool include_released) {
  const pqxx::result r = tx.exec(
      std::string(
          "SELECT h.hold_id, h.case_ref, h.basis, h.placed_by, date_trunc('second', h.placed_at)::text, "
          "h.released_by, date_trunc('second', h.released_at)::text, h.release_reason, "
          "(SELECT count(*) FROM callvault.held_calls hc WHERE hc.hold_id = h.hold_id) "
          "FROM callvault.legal_holds h ") +
      (include_released ? "" : "WHERE h.released_at IS NULL ") + "ORDER BY h.hold_id");
  std::vector<HoldInfo> out;
  for (const auto& row : r) {
    HoldInfo h;
    h.id = row[0].as<int64_t>();
    h.case_ref = row[1].as<std::string>();
    h.basis = row[2].as<std::string>();
    h.placed_by = row[3].as<std::string>();
    h.placed_at = row[4].as<std::string>();
    h.released_by = opt_text(row[5]);
    h.released_at = opt_text(row[6]);
    h.release_reason = opt_text(row[7]);
    h.calls = row[8].as<int64_t>();
    out.push_back(std::move(h));
  }
  return out;
}

// --- Restrictions -------------------------------------------------------------------

CaseResult place_restriction(pqxx::transaction_base& tx, const std::string& uuid, const std::string& reason,
                             const std::string& actor, const nlohmann::json& details) {
  if (!looks_like_uuid(uuid)) return fail(fmt::format("\"{}\" is not a recording uuid", uuid));
  if (reason.empty()) return fail("say why processing is restricted (--reason)");
  CallSelection s;
  s.uuids = {uuid};
  const auto sel = select_calls(tx, s);
  if (sel.empty() || sel[0].problem)
    return fail(fmt::format("recording {}: {}", uuid, sel.empty() ? "no such recording" : *sel[0].problem));
  const pqxx::result existing = tx.exec_params(
      "SELECT restriction_id, date_trunc('second', placed_at)::text FROM callvault.restrictions "
      "WHERE call_uuid = $1 AND lifted_at IS NULL",
      uuid);
  if (!existing.empty())
    return fail(fmt::format("recording {} is already restricted (restriction {}, since {})", uuid,
                            existing[0][0].as<int64_t>(), existing[0][1].as<std::string>()));
  const pqxx::result r = tx.exec_params(
      "INSERT INTO callvault.restrictions (call_uuid, reason, placed_by) VALUES ($1, $2, $3) "
      "RETURNING restriction_id",
      uuid, reason, actor);
  CaseResult res;
  res.id = r[0][0].as<int64_t>();
  res.calls = {uuid};
  res.audit_seq = append_audit(tx, actor, "restriction.placed", uuid,
                               merged(details, {{"restriction", res.id}, {"reason", reason}}));
  res.ok = true;
  return res;
}

CaseResult lift_restriction(pqxx::transaction_base& tx, int64_t restriction_id, const std::string& reason,
                            const std::string& actor, const nlohmann::json& details) {
  if (reason.empty()) return fail("say why the restriction is lifted (--reason)");
  const pqxx::result cur = tx.exec_params(
      "SELECT call_uuid::text, date_trunc('second', lifted_at)::text FROM callvault.restrictions "
      "WHERE restriction_id = $1 FOR UPDATE",
      restriction_id);
  if (cur.empty()) return fail(fmt::format("no restriction {}", restriction_id));
  if (!cur[0][1].is_null())
    return fail(
        fmt::format("restriction {} was already lifted at {}", restriction_id, cur[0][1].as<std::string>()));
  const std::string uuid = cur[0][0].as<std::string>();
  tx.exec_params(
      "UPDATE callvault.restrictions SET lifted_by = $2, lifted_at = now(), lift_reason = $3 "
      "WHERE restriction_id = $1",
      restriction_id, actor, reason);
  CaseResult res;
  res.id = restriction_id;
  res.calls = {uuid};
  res.audit_seq = append_audit(tx, actor, "restriction.lifted", uuid,
                               merged(details, {{"restriction", restriction_id}, {"reason", reason}}));
  res.ok = true;
  return res;
}

// --- Disclosures ----------------------------------------------------------------------

CaseResult request_disclosure(pqxx::transaction_base& tx, const std::string& authority,
                              const std::string& basis, const std::string& legal_claim,
                              const std::vector<std::string>& uuids, const std::string& actor,
                              const nlohmann::json& details) {
  if (authority.empty()) return fail("name the authority that asks (--authority)");
  if (basis.empty()) return fail("name the legal basis the authority gave (--basis)");
  CallSelection s;
  s.uuids = uuids;
  if (auto p = selection_problem(s); !p.empty()) return fail(p);
  std::vector<std::string> calls;
  for (const auto& c : select_calls(tx, s)) {
    if (c.problem) return fail(fmt::format("recording {}: {}", c.uuid, *c.problem));
    const RecordingFile f = load_recording(tx, c.uuid);
    if (!f.state.has_audio) return fail(fmt::format("recording {} has no audio file", c.uuid));
    if (f.state.restricted_since && legal_claim.empty())
      return fail(
          fmt::format("recording {} is restricted since {} ({}): it is disclosed only for a legal claim "
                      "(--legal-claim TEXT)",
                      c.uuid, *f.state.restricted_since, f.state.restriction_reason));
    calls.push_back(c.uuid);
  }
  const pqxx::result r = tx.exec_params(
      "INSERT INTO callvault.disclosures (authority, basis, legal_claim, requested_by) "
      "VALUES ($1, $2, NULLIF($3, ''), $4) RETURNING disclosure_id",
      authority, basis, legal_claim, actor);
  CaseResult res;
  res.id = r[0][0].as<int64_t>();
  tx.exec_params(
      "INSERT INTO callvault.disclosure_calls (disclosure_id, call_uuid) SELECT $1, unnest($2::uuid[])",
      res.id, sql_plain_array(calls));
  res.calls = calls;
  nlohmann::json extra = {{"authority", authority}, {"basis", basis}, {"calls", calls}};
  if (!legal_claim.empty()) extra["legal_claim"] = legal_claim;
  res.audit_seq =
      append_audit(tx, actor, "disclosure.requested", std::to_string(res.id), merged(details, extra));
  res.ok = true;
  return res;
}

CaseResult decide_disclosure(pqxx::transaction_base& tx, int64_t disclosure_id, bool approve,
                             const std::string& reason, const std::string& actor,
                             const nlohmann::json& details) {
  if (!approve && reason.empty()) return fail("say why the disclosure is rejected (--reason)");
  const pqxx::result cur = tx.exec_params(
      "SELECT decision, decided_by, date_trunc('second', decided_at)::text FROM callvault.disclosures "
      "WHERE disclosure_id = $1 FOR UPDATE",
      disclosure_id);
  if (cur.empty()) return fail(fmt::format("no disclosure {} (callvault disclosure list)", disclosure_id));
  if (!cur[0][0].is_null())
    return fail(fmt::format("disclosure {} was already {} by {} at {}", disclosure_id,
                            cur[0][0].as<std::string>(), cur[0][1].as<std::string>(),
                            cur[0][2].as<std::string>()));
  tx.exec_params(
      "UPDATE callvault.disclosures SET decision = $2, decided_by = $3, decided_at = now(), "
      "decision_reason = NULLIF($4, '') WHERE disclosure_id = $1",
      disclosure_id, approve ? "approved" : "rejected", actor, reason);
  CaseResult res;
  res.id = disclosure_id;
  nlohmann::json extra = nlohmann::json::object();
  if (!reason.empty()) extra["reason"] = reason;
  res.audit_seq = append_audit(tx, actor, approve ? "disclosure.approved" : "disclosure.rejected",
                               std::to_string(disclosure_id), merged(details, extra));
  res.ok = true;
  return res;
}

namespace {
DisclosureInfo disclosure_from_row(const pqxx::row& row) {
  DisclosureInfo d;
  d.id = row[0].as<int64_t>();
  d.authority = row[1].as<std::string>();
  d.basis = row[2].as<std::string>();
  d.legal_claim = opt_text(row[3]);
  d.requested_by = row[4].as<std::string>();
  d.requested_at = row[5].as<std::string>();
  d.state = row[6].as<std::string>();
  d.decided_by = opt_text(row[7]);
  d.decided_at = opt_text(row[8]);
  d.decision_reason = opt_text(row[9]);
  d.exported_at = opt_text(row[10]);
  return d;
}
constexpr const char* kDisclosureColumns =
    "d.disclosure_id, d.authority, d.basis, d.legal_claim, d.requested_by, "
    "date_trunc('second', d.requested_at)::text, coalesce(d.decision, 'requested'), d.decided_by, "
    "date_trunc('second', d.decided_at)::text, d.decision_reason, date_trunc('second', d.exported_at)::text";
}  // namespace

std::optional<DisclosureInfo> find_disclosure(pqxx::transaction_base& tx, int64_t disclosure_id) {
  const pqxx::result r = tx.exec_params(
      fmt::format("SELECT {} FROM callvault.disclosures d WHERE d.disclosure_id = $1", kDisclosureColumns),
      disclosure_id);
  if (r.empty()) return std::nullopt;
  DisclosureInfo d = disclosure_from_row(r[0]);
  const pqxx::result calls = tx.exec_params(
      "SELECT dc.call_uuid::text FROM callvault.disclosure_calls dc JOIN callvault.calls c USING (call_uuid) "
      "WHERE dc.disclosure_id = $1 ORDER BY c.start_time, dc.call_uuid",
      disclosure_id);
  for (const auto& row : calls) d.calls.push_back(row[0].as<std::string>());
  return d;
}

std::vector<DisclosureInfo> list_disclosures(pqxx::transaction_base& tx) {
  const pqxx::result r =
      tx.exec(fmt::format("SELECT {}, (SELECT count(*) FROM callvault.disclosure_calls dc WHERE "
                          "dc.disclosure_id = d.disclosure_id) "
                          "FROM callvault.disclosures d ORDER BY d.disclosure_id",
                          kDisclosureColumns));
  std::vector<DisclosureInfo> out;
  for (const auto& row : r) {
    DisclosureInfo d = disclosure_from_row(row);
    d.calls.resize(row[11].as<size_t>());  // the count only; find_disclosure has the uuids
    out.push_back(std::move(d));
  }
  return out;
}

void record_disclosure_export(pqxx::transaction_base& tx, int64_t disclosure_id, const std::string& actor,
                              const std::string& manifest_sha256) {
  tx.exec_params(
      "UPDATE callvault.disclosures SET exported_by = $2, exported_at = now(), export_manifest_sha256 = $3 "
      "WHERE disclosure_id = $1 AND exported_at IS NULL",
      disclosure_id, actor, manifest_sha256);
}

// --- Recordings ------------------------------------------------------------------------

RecordingFile load_recording(pqxx::transaction_base& tx, const std::string& uuid) {
  RecordingFile f;
  if (!looks_like_uuid(uuid)) return f;
  const pqxx::result r = tx.exec_params(
      "SELECT c.audio_path, c.audio_sha256, c.audio_bytes, date_trunc('second', c.deleted_at)::text, "
      "date_trunc('second', c.deletion_started_at)::text, date_trunc('second', r.placed_at)::text, r.reason "
      "FROM callvault.calls c LEFT JOIN callvault.restrictions r "
      "  ON r.call_uuid = c.call_uuid AND r.lifted_at IS NULL "
      "WHERE c.call_uuid = $1",
      uuid);
  if (r.empty()) return f;
  f.state.exists = true;
  f.state.has_audio = !r[0][0].is_null();
  f.audio_path = r[0][0].is_null() ? "" : r[0][0].as<std::string>();
  f.audio_sha256 = r[0][1].is_null() ? "" : r[0][1].as<std::string>();
  f.audio_bytes = r[0][2].is_null() ? 0 : r[0][2].as<int64_t>();
  f.state.deleted_at = opt_text(r[0][3]);
  f.state.deletion_started_at = opt_text(r[0][4]);
  f.state.restricted_since = opt_text(r[0][5]);
  f.state.restriction_reason = r[0][6].is_null() ? "" : r[0][6].as<std::string>();
  return f;
}

nlohmann::json call_manifest_entry(pqxx::transaction_base& tx, const std::string& uuid) {
  const pqxx::result r = tx.exec_params(
      "SELECT json_build_object("
      " 'uuid', c.call_uuid, 'sensor', c.sensor, 'sip_call_id', c.sip_call_id, 'caller', c.caller,"
      " 'callee', c.callee, 'direction', c.direction, 'start_time', c.start_time, 'answer_time', "
      "c.answer_time,"
      " 'end_time', c.end_time, 'duration_s', c.duration_s, 'answered', c.answered,"
      " 'joined_mid_call', c.joined_mid_call, 'final_status', c.final_status, 'end_reason', c.end_reason,"
      " 'codecs', c.codecs, 'sample_rate', c.sample_rate, 'audio_start', c.audio_start,"
      " 'audio_sha256', c.audio_sha256, 'audio_error', c.audio_error,"
      " 'streams', coalesce((SELECT json_agg(json_build_object("
      "    'ssrc', s.ssrc, 'src', host(s.src_ip) || ':' || s.src_port, 'dst', host(s.dst_ip) || ':' || "
      "s.dst_port,"
      "    'codec', s.codec, 'channel', s.channel, 'packets', s.packets, 'lost', s.lost,"
      "    'first_packet', s.first_packet, 'decoded', s.decoded) ORDER BY s.ordinal)"
      "   FROM callvault.streams s WHERE s.call_uuid = c.call_uuid), '[]'::json),"
      " 'dtmf', coalesce((SELECT json_agg(json_build_object("
      "    'digit', d.digit, 'at', d.at, 'duration_ms', d.duration_ms, 'channel', d.channel, 'source', "
      "d.source)"
      "    ORDER BY d.ordinal) FROM callvault.dtmf_events d WHERE d.call_uuid = c.call_uuid), '[]'::json)"
      ")::text FROM callvault.calls c WHERE c.call_uuid = $1",
      uuid);
  if (r.empty()) return nullptr;
  return nlohmann::json::parse(r[0][0].as<std::string>());
}

}  // namespace cv
