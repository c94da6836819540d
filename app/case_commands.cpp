#include "app/case_commands.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <csignal>
#include <ctime>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include "app/db_session.h"
#include "app/index_setup.h"
#include "app/recording_copy.h"
#include "storage/db/access_policy.h"
#include "storage/db/audit_trail.h"
#include "storage/db/case_records.h"
#include "storage/db/people.h"
#include "storage/db/retention.h"

namespace cv {
namespace {

nlohmann::json with_context(nlohmann::json extra) {
  nlohmann::json d = command_context();
  for (auto it = extra.begin(); it != extra.end(); ++it)
    if (!it.value().is_null() && !(it.value().is_string() && it.value().get<std::string>().empty()))
      d[it.key()] = it.value();
  return d;
}

int refused(const std::string& why) {
  spdlog::error("refused: {}", why);
  return kExitRefused;
}

int usage(const std::string& why) {
  spdlog::error("{}", why);
  return kExitError;
}

// --- retention run ------------------------------------------------------------------

void print_report(const RetentionReport& r, bool dry_run) {
  if (dry_run) {
    fmt::print("dry run at {}: {} recording(s) would be deleted, {} kept past their period\n", r.evaluated_at,
               r.planned.size(), r.kept);
    for (const auto& p : r.planned) fmt::print("  would delete {}\n", p);
    for (const auto& k : r.kept_why) fmt::print("  kept {}\n", k);
    for (const auto& d : r.keys_planned) fmt::print("  would destroy the encryption key of {}\n", d);
  } else {
    fmt::print(
        "retention at {}: {} recording(s) deleted ({} files removed, {} resumed from an earlier run), {} "
        "kept "
        "past their period, {} missing file(s), {} failed, {} day key(s) destroyed\n",
        r.evaluated_at, r.deleted, r.files_deleted, r.resumed, r.kept, r.files_missing, r.failed,
        r.keys_destroyed);
  }
  for (const auto& f : r.findings) spdlog::warn("finding: {}", f);
  for (const auto& e : r.errors) spdlog::error("{}", e);
}

// One sweep; false when the database could not be reached or failed midway
// (nothing is deleted without it; what was finished stays finished).
bool one_sweep(const Config& config, const CaseCommandOptions& o, RetentionReport& report) {
  auto conn = open_database(config, DbRole::kRetention);
  if (!conn) {
    spdlog::error("retention: nothing deleted, the database is needed to know what is held");
    return false;
  }
  RetentionSettings s;
  s.audio_dir = audio_dir(config);
  s.period = config.retention_period;
  s.time_zone = config.time_zone;
  s.now = o.now;
  s.dry_run = o.dry_run;
  s.batch = o.batch;
  s.os_user = os_user();
  s.key_dir = key_dir(config);
  try {
    report = run_retention_sweep(*conn, s);
  } catch (const std::exception& e) {
    spdlog::error("retention: database: {} (what was finished stays finished; the next run goes on)",
                  one_line(e.what()));
    return false;
  }
  return true;
}

int retention_run(const Config& config, const CaseCommandOptions& o) {
  if (o.once || o.dry_run) {
    RetentionReport r;
    if (!one_sweep(config, o, r)) return kExitError;
    print_report(r, o.dry_run);
    return r.failed ? kExitRefused : kExitOk;
  }
  if (!o.now.empty()) return usage("--now is for --once or --dry-run: a daemon evaluates the present");
  // A daemon: sweep every [retention] interval_s until SIGTERM or SIGINT.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  spdlog::info("retention daemon: a sweep every {} s (SIGTERM or SIGINT stops it)",
               config.retention_interval_s);
  for (;;) {
    RetentionReport r;
    if (one_sweep(config, o, r)) print_report(r, false);
    std::fflush(stdout);
    timespec wait{config.retention_interval_s, 0};
    const int sig = sigtimedwait(&stop, nullptr, &wait);
    if (sig == SIGTERM || sig == SIGINT) {
      spdlog::info("retention daemon: signal {}, stopping", sig);
      return kExitOk;
    }
  }
}

// --- holds and restrictions -------------------------------------------------------------

CallSelection selection_from(const CaseCommandOptions& o) {
  CallSelection s;
  s.uuids = o.calls;
  s.numbers = o.numbers;
  s.from = o.from;
  s.to = o.to;
  return s;
}

void print_case(const char* what, const CaseResult& r) {
  fmt::print("{} {}: {} recording(s), audit entry {}\n", what, r.id, r.calls.size(), r.audit_seq);
  for (const auto& c : r.calls) fmt::print("  {}\n", c);
  for (const auto& s : r.skipped) spdlog::warn("not covered: {}", s);
}

int hold_place(const Config& config, const CaseCommandOptions& o) {
  const CallSelection sel = selection_from(o);
  if (auto p = selection_problem(sel); !p.empty()) return usage(p);
  auto conn = open_database(config, DbRole::kOperator);
  if (!conn) return kExitError;
  pqxx::work tx(*conn);
  const std::string actor = actor_for(tx, o.by, true);
  if (actor.empty()) return kExitRefused;
  const CaseResult r = place_hold(tx, o.case_ref, o.basis, sel, actor, command_context());
  if (!r.ok) return refused(r.message);
  tx.commit();
  print_case("hold", r);
  return kExitOk;
}

int hold_release(const Config& config, const CaseCommandOptions& o) {
  auto conn = open_database(config, DbRole::kOperator);
  if (!conn) return kExitError;
  pqxx::work tx(*conn);
  const std::string actor = actor_for(tx, o.by, true);
  if (actor.empty()) return kExitRefused;
  const CaseResult r = release_hold(tx, o.id, o.reason, actor, command_context());
  if (!r.ok) return refused(r.message);
  tx.commit();
  fmt::print(
      "hold {} released, audit entry {}; {} recording(s) now past their period with nothing keeping "
      "them (the next retention run deletes them)\n",
      r.id, r.audit_seq, r.calls.size());
  for (const auto& c : r.calls) fmt::print("  {}\n", c);
  return kExitOk;
}

int hold_list(const Config& config, const CaseCommandOptions& o) {
  auto conn = open_database(config, DbRole::kOperator);
  if (!conn) return kExitError;
  pqxx::read_transaction tx(*conn);
  const auto holds = list_holds(tx, o.all);
  if (holds.empty())
    fmt::print("{}\n", o.all ? "no holds" : "no active holds (--all lists released ones too)");
  for (const auto& h : holds) {
    fmt::print("hold {}  case {}  {} recording(s)  placed {} by {}  basis: {}\n", h.id, h.case_ref, h.calls,
               h.placed_at, h.placed_by, h.basis);
    if (h.released_at)
      fmt::print("    released {} by {}: {}\n", *h.released_at, h.released_by.value_or("?"),
                 h.release_reason.value_or(""));
  }
  return kExitOk;
}

int restriction_place(const Config& config, const CaseCommandOptions& o) {
  auto conn = open_database(config, DbRole::kOperator);
  if (!conn) return kExitError;
  pqxx::work tx(*conn);
  const std::string actor = actor_for(tx, o.by, true);
  if (actor.empty()) return kExitRefused;
  const CaseResult r = place_restriction(tx, o.uuid, o.reason, actor, command_context());
  if (!r.ok) return refused(r.message);
  tx.commit();
  fmt::print(
      "restriction {} on {}: kept past its period, played or exported only for a legal claim; audit "
      "entry {}\n",
      r.id, o.uuid, r.audit_seq);
  return kExitOk;
}

int restriction_lift(const Config& config, const CaseCommandOptions& o) {
  auto conn = open_database(config, DbRole::kOperator);
  if (!conn) return kExitError;
  pqxx::work tx(*conn);
  const std::string actor = actor_for(tx, o.by, true);
  if (actor.empty()) return kExitRefused;
  const CaseResult r = lift_restriction(tx, o.id, o.reason, actor, command_context());
  if (!r.ok) return refused(r.message);
  tx.commit();
  fmt::print("restriction {} lifted, audit entry {}\n", r.id, r.audit_seq);
  return kExitOk;
}

// --- play and export ---------------------------------------------------------------------

AccessRequest request_from(const CaseCommandOptions& o) {
  AccessRequest req;
  req.as = o.as;
  req.reason = o.reason;
  req.present = o.present;
  req.statement = o.statement;
  req.legal_claim = o.legal_claim;
  return req;
}

// The person's decision (who they are, their role, their supervisor) and the
// actor to log it under: the person when registered and active, else the OS account.
AccessDecision decide_person(pqxx::transaction_base& tx, const Config& config, const AccessRequest& req,
                             std::string& actor) {
  const auto person = req.as.empty() ? std::nullopt : find_person(tx, req.as);
  const auto present = req.present.empty() ? std::nullopt : find_person(tx, req.present);
  actor = person && person->active() ? person->name : "os:" + os_user();
  if (req.as.empty()) {
    AccessDecision d;
    d.refusal = "no person named (--as NAME)";
    return d;
  }
  return decide_person_access(config.access_policy, req, person, present);
}

nlohmann::json access_details(const AccessRequest& req, const AccessDecision& d) {
  return with_context({{"as", req.as},
                       {"reason", req.reason},
                       {"role", d.role.value_or("")},
                       {"present", req.present},
                       {"statement", req.statement},
                       {"legal_claim", req.legal_claim},
                       {"refusal", d.granted ? "" : d.refusal}});
}

int play_or_export(const Config& config, const CaseCommandOptions& o, const std::string& op) {
  if (!looks_like_uuid(o.uuid)) return usage(fmt::format("\"{}\" is not a recording uuid", o.uuid));
  if (op == "export" && o.output.empty()) return usage("export needs --output FILE (a new file)");
  if (o.output.empty() && isatty(STDOUT_FILENO))
    return usage(
        "play writes the WAV to stdout, which is a terminal: pipe it to a player or use --output FILE");
  const AccessRequest req = request_from(o);
  auto conn = open_database(config, DbRole::kOperator);
  if (!conn) return kExitError;
  std::string actor;
  AccessDecision d;
  RecordingFile rec;
  int64_t seq = 0;
  {
    pqxx::work tx(*conn);
    d = decide_person(tx, config, req, actor);
    rec = load_recording(tx, o.uuid);
    if (d.granted) d = decide_recording_access(d, req, o.uuid, rec.state);
    nlohmann::json details = access_details(req, d);
    details["output"] = o.output.empty() ? "stdout" : o.output;
    // Logged before any audio leaves the store: a copy nobody can account for cannot exist.
    seq = append_audit(tx, actor, op + (d.granted ? ".granted" : ".refused"), o.uuid, details);
    tx.commit();
  }
  if (!d.granted) return refused(fmt::format("{} (audit entry {})", d.refusal, seq));

  std::string error;
  CopiedRecording copied;
  bool ok = false;
  if (o.output.empty()) {
    ok = copy_recording(config, rec.audio_path, rec.audio_sha256, STDOUT_FILENO, copied, error);
  } else {
    NewOutputFile out;
    ok = out.open(o.output, error) &&
         copy_recording(config, rec.audio_path, rec.audio_sha256, out.fd(), copied, error) &&
         out.commit(error);
  }
  if (!ok) {
    try {
      pqxx::work tx(*conn);
      append_audit(tx, actor, op + ".failed", o.uuid, with_context({{"error", error}, {"grant", seq}}));
      tx.commit();
    } catch (const std::exception& e) {
      spdlog::error("database: {}", one_line(e.what()));
    }
    spdlog::error("{} {}: {}", op, o.uuid, error);
    return kExitError;
  }
  spdlog::info("{} {}: {} bytes, SHA-256 {} as indexed, to {}; audit entry {}", op, o.uuid, copied.bytes,
               copied.sha256, o.output.empty() ? "stdout" : o.output, seq);
  return kExitOk;
}

// --- disclosures and subject access ----------------------------------------------------------

int disclosure_request(const Config& config, const CaseCommandOptions& o) {
  for (const auto& c : o.calls)
    if (!looks_like_uuid(c)) return usage(fmt::format("--calls: \"{}\" is not a recording uuid", c));
  if (o.calls.empty()) return usage("a disclosure needs its recordings (--calls UUID,...)");
  auto conn = open_database(config, DbRole::kOperator);
  if (!conn) return kExitError;
  pqxx::work tx(*conn);
  const std::string actor = actor_for(tx, o.by, true);
  if (actor.empty()) return kExitRefused;
  const CaseResult r =
      request_disclosure(tx, o.authority, o.basis, o.legal_claim, o.calls, actor, command_context());
  if (!r.ok) return refused(r.message);
  tx.commit();
  fmt::print(
      "disclosure {} requested: {} recording(s) kept until it is decided and exported; it needs the "
      "approval of one of: ",
      r.id, r.calls.size());
  for (size_t i = 0; i < config.access_policy.approve_roles.size(); ++i)
    fmt::print("{}{}", i ? ", " : "", config.access_policy.approve_roles[i]);
  fmt::print(" (audit entry {})\n", r.audit_seq);
  return kExitOk;
}

int disclosure_decide(const Config& config, const CaseCommandOptions& o, bool approve) {
  auto conn = open_database(config, DbRole::kOperator);
  if (!conn) return kExitError;
  pqxx::work tx(*conn);
  const auto person = o.by.empty() ? std::nullopt : find_person(tx, o.by);
  const AccessDecision d = o.by.empty() ? AccessDecision{false, "no person named (--by NAME)", std::nullopt}
                                        : decide_approval(config.access_policy, o.by, person);
  if (!d.granted) {
    const std::string actor = person && person->active() ? person->name : "os:" + os_user();
    const int64_t seq = append_audit(tx, actor, "disclosure.refused", std::to_string(o.id),
                                     with_context({{"by", o.by},
                                                   {"role", d.role.value_or("")},
                                                   {"decision", approve ? "approve" : "reject"},
                                                   {"refusal", d.refusal}}));
    tx.commit();
    return refused(fmt::format("{} (audit entry {})", d.refusal, seq));
  }
  const CaseResult r = decide_disclosure(tx, o.id, approve, o.reason, person->name, command_context());
  if (!r.ok) return refused(r.message);
  tx.commit();
  fmt::print("disclosure {} {} by {}, audit entry {}\n", r.id, approve ? "approved" : "rejected",
             person->name, r.audit_seq);
  return kExitOk;
}

nlohmann::json disclosure_json(const DisclosureInfo& d) {
  nlohmann::json j = {{"id", d.id},
                      {"authority", d.authority},
                      {"basis", d.basis},
                      {"requested_by", d.requested_by},
                      {"requested_at", d.requested_at},
                      {"state", d.state}};
  if (d.legal_claim) j["legal_claim"] = *d.legal_claim;
  if (d.decided_by) j["decided_by"] = *d.decided_by;
  if (d.decided_at) j["decided_at"] = *d.decided_at;
  if (d.decision_reason) j["decision_reason"] = *d.decision_reason;
  return j;
}

std::string db_now(pqxx::transaction_base& tx) {
  return tx.exec("SELECT date_trunc('second', now())::text")[0][0].as<std::string>();
}

int disclosure_export(const Config& config, const CaseCommandOptions& o) {
  if (o.to_dir.empty()) return usage("disclosure export needs --to DIR (a new directory)");
  AccessRequest req;
  req.as = o.by;
  auto conn = open_database(config, DbRole::kOperator);
  if (!conn) return kExitError;
  std::string actor;
  std::optional<DisclosureInfo> info;
  AccessDecision d;
  {
    pqxx::work tx(*conn);
    info = find_disclosure(tx, o.id);
    if (!info) return refused(fmt::format("no disclosure {} (callvault disclosure list)", o.id));
    req.reason = fmt::format("disclosure {} to {}", info->id, info->authority);
    req.legal_claim = info->legal_claim.value_or("");
    req.present = o.present;
    req.statement = o.statement;
    d = decide_person(tx, config, req, actor);
    if (d.granted && info->state != "approved")
      d = AccessDecision{
          false,
          fmt::format("disclosure {} is {}: nothing is exported before approval", info->id, info->state),
          d.role};
    if (d.granted && info->exported_at)
      d = AccessDecision{
          false, fmt::format("disclosure {} was exported already at {}", info->id, *info->exported_at),
          d.role};
    if (!d.granted) {
      const int64_t seq =
          append_audit(tx, actor, "disclosure.refused", std::to_string(o.id), access_details(req, d));
      tx.commit();
      return refused(fmt::format("{} (audit entry {})", d.refusal, seq));
    }
    tx.commit();
  }

  // Every recording is checked like a play before it is copied into the package.
  EvidencePackage pkg;
  std::string error;
  if (!pkg.begin(o.to_dir, error)) return usage(error);
  nlohmann::json calls = nlohmann::json::array();
  std::string exported_at;
  {
    pqxx::read_transaction tx(*conn);
    exported_at = db_now(tx);
    for (const auto& uuid : info->calls) {
      const RecordingFile rec = load_recording(tx, uuid);
      const AccessDecision rd = decide_recording_access(d, req, uuid, rec.state);
      if (!rd.granted) return refused(rd.refusal + " (nothing exported)");
      CopiedRecording copied;
      if (!pkg.add_recording(config, uuid, rec.audio_path, rec.audio_sha256, copied, error))
        return usage(fmt::format("disclosure {}: {} (nothing exported)", o.id, error));
      nlohmann::json entry = call_manifest_entry(tx, uuid);
      entry["file"] = uuid + ".wav";
      entry["file_bytes"] = copied.bytes;
      entry["file_sha256"] = copied.sha256;
      calls.push_back(std::move(entry));
    }
  }
  const nlohmann::json manifest = {{"package", "disclosure"},       {"disclosure", disclosure_json(*info)},
                                   {"exported_by", actor},          {"exported_at", exported_at},
                                   {"time_zone", config.time_zone}, {"calls", calls}};
  const std::string manifest_sha = pkg.finish(manifest, error);
  if (manifest_sha.empty()) return usage(fmt::format("disclosure {}: {} (nothing exported)", o.id, error));
  int64_t seq = 0;
  {
    pqxx::work tx(*conn);
    record_disclosure_export(tx, o.id, actor, manifest_sha);
    seq = append_audit(tx, actor, "disclosure.exported", std::to_string(o.id),
                       with_context({{"authority", info->authority},
                                     {"calls", info->calls},
                                     {"manifest_sha256", manifest_sha},
                                     {"to", o.to_dir}}));
    tx.commit();
  }
  if (!pkg.commit(error)) {
    spdlog::error("disclosure {}: recorded as exported (audit entry {}) but {}", o.id, seq, error);
    return kExitError;
  }
  fmt::print("disclosure {} exported to {}: {} recording(s), manifest.json SHA-256 {}, audit entry {}\n",
             o.id, o.to_dir, info->calls.size(), manifest_sha, seq);
  return kExitOk;
}

int disclosure_list(const Config& config) {
  auto conn = open_database(config, DbRole::kOperator);
  if (!conn) return kExitError;
  pqxx::read_transaction tx(*conn);
  const auto all = list_disclosures(tx);
  if (all.empty()) fmt::print("no disclosures\n");
  for (const auto& d : all) {
    fmt::print("disclosure {}  {}  to {}  {} recording(s)  requested {} by {}  basis: {}\n", d.id, d.state,
               d.authority, d.calls.size(), d.requested_at, d.requested_by, d.basis);
    if (d.decided_at)
      fmt::print("    {} {} by {}{}\n", d.state, *d.decided_at, d.decided_by.value_or("?"),
                 d.decision_reason ? ": " + *d.decision_reason : "");
    if (d.exported_at) fmt::print("    exported {}\n", *d.exported_at);
  }
  return kExitOk;
}

int subject_access(const Config& config, const CaseCommandOptions& o) {
  if (o.numbers.size() != 1) return usage("subject-access needs one --number");
  if (o.from.empty() || o.to.empty()) return usage("subject-access needs --from and --to");
  if (o.to_dir.empty()) return usage("subject-access needs --to-dir DIR (a new directory)");
  const AccessRequest req = request_from(o);
  auto conn = open_database(config, DbRole::kOperator);
  if (!conn) return kExitError;
  std::string actor;
  AccessDecision d;
  std::vector<SelectedCall> selected;
  {
    pqxx::work tx(*conn);
    d = decide_person(tx, config, req, actor);
    if (!d.granted) {
      const int64_t seq =
          append_audit(tx, actor, "subject_access.refused", std::nullopt, access_details(req, d));
      tx.commit();
      return refused(fmt::format("{} (audit entry {})", d.refusal, seq));
    }
    selected = select_calls(tx, selection_from(o));
    tx.commit();
  }
  EvidencePackage pkg;
  std::string error;
  if (!pkg.begin(o.to_dir, error)) return usage(error);
  nlohmann::json calls = nlohmann::json::array(), withheld = nlohmann::json::array();
  std::vector<std::string> copied_uuids, withheld_uuids;
  std::string exported_at;
  {
    pqxx::read_transaction tx(*conn);
    exported_at = db_now(tx);
    for (const auto& c : selected) {
      const RecordingFile rec = load_recording(tx, c.uuid);
      const AccessDecision rd = decide_recording_access(d, req, c.uuid, rec.state);
      if (!rd.granted) {
        withheld.push_back({{"uuid", c.uuid}, {"start_time", c.start_time}, {"why", rd.refusal}});
        withheld_uuids.push_back(c.uuid);
        continue;
      }
      CopiedRecording copied;
      if (!pkg.add_recording(config, c.uuid, rec.audio_path, rec.audio_sha256, copied, error))
        return usage(fmt::format("subject access: {} (nothing exported)", error));
      nlohmann::json entry = call_manifest_entry(tx, c.uuid);
      entry["file"] = c.uuid + ".wav";
      entry["file_bytes"] = copied.bytes;
      entry["file_sha256"] = copied.sha256;
      calls.push_back(std::move(entry));
      copied_uuids.push_back(c.uuid);
    }
  }
  const nlohmann::json manifest = {
      {"package", "subject_access"},
      {"request", {{"number", o.numbers.front()}, {"from", o.from}, {"to", o.to}, {"reason", o.reason}}},
      {"exported_by", actor},
      {"exported_at", exported_at},
      {"time_zone", config.time_zone},
      {"calls", calls},
      {"withheld", withheld}};
  const std::string manifest_sha = pkg.finish(manifest, error);
  if (manifest_sha.empty()) return usage(fmt::format("subject access: {} (nothing exported)", error));
  int64_t seq = 0;
  {
    // The phone number stays out of the audit trail, which outlives the
    // recordings (R7): the uuids say which calls were given.
    pqxx::work tx(*conn);
    nlohmann::json details = access_details(req, d);
    details["from"] = o.from;
    details["to"] = o.to;
    details["calls"] = copied_uuids;
    details["withheld"] = withheld_uuids;
    details["manifest_sha256"] = manifest_sha;
    details["to_dir"] = o.to_dir;
    seq = append_audit(tx, actor, "subject_access.exported", std::nullopt, details);
    tx.commit();
  }
  if (!pkg.commit(error)) {
    spdlog::error("subject access: logged (audit entry {}) but {}", seq, error);
    return kExitError;
  }
  fmt::print(
      "subject access: {} recording(s) exported to {}, {} withheld, manifest.json SHA-256 {}, audit entry "
      "{}\n",
      copied_uuids.size(), o.to_dir, withheld_uuids.size(), manifest_sha, seq);
  for (const auto& w : withheld)
    spdlog::warn("withheld {}: {}", w["uuid"].get<std::string>(), w["why"].get<std::string>());
  return kExitOk;
}

void who_options(CLI::App* cmd, CaseCommandOptions& o) {
  cmd->add_option("--as", o.as, "The registered person asking (R8)")->required();
  cmd->add_option("--reason", o.reason, "Why, as it will stand in the audit trail")->required();
  cmd->add_option("--present", o.present, "The administrator present (needed for a technician)");
  cmd->add_option("--statement", o.statement,
                  "Reference of the signed confidentiality statement (technician)");
  cmd->add_option("--legal-claim", o.legal_claim,
                  "The legal claim that allows reaching a restricted recording");
}

}  // namespace

CaseCommands::CaseCommands(CLI::App& app) {
  auto* retention = app.add_subcommand("retention", "Delete recordings whose period is over (R5-R7)");
  retention->require_subcommand(1);
  retention_run_ = retention->add_subcommand(
      "run", "Sweep: delete every expired recording nothing keeps; a daemon unless --once or --dry-run");
  retention_run_->add_flag("--once", o_.once, "One sweep, then exit (for a timer or cron)");
  retention_run_->add_flag("--dry-run", o_.dry_run,
                           "List what would be deleted and what is kept; delete nothing");
  retention_run_->add_option("--now", o_.now,
                             "Evaluate this moment (timestamptz, office time zone); not later than the "
                             "database's clock unless --dry-run");
  retention_run_->add_option("--batch", o_.batch, "Recordings per transaction (default 200)")
      ->check(CLI::Range(1, 100000));

  auto* hold = app.add_subcommand("hold", "Legal holds: recordings kept whatever their age (R6)");
  hold->require_subcommand(1);
  hold_place_ = hold->add_subcommand("place", "Hold recordings by uuid, or by number and time range");
  hold_place_->add_option("--case", o_.case_ref, "Case reference")->required();
  hold_place_->add_option("--basis", o_.basis, "Legal basis of the hold")->required();
  hold_place_->add_option("--by", o_.by, "The registered person placing it")->required();
  hold_place_->add_option("--calls", o_.calls, "Recording uuids")->delimiter(',');
  hold_place_->add_option("--number", o_.numbers, "Phone number as caller or callee (with --from, --to)")
      ->delimiter(',');
  hold_place_->add_option("--from", o_.from, "Start of the range (timestamptz, office time zone)");
  hold_place_->add_option("--to", o_.to, "End of the range, exclusive");
  hold_release_ = hold->add_subcommand("release", "Release a hold; normal retention applies again");
  hold_release_->add_option("hold", o_.id, "Hold id (callvault hold list)")->required();
  hold_release_->add_option("--by", o_.by, "The registered person releasing it")->required();
  hold_release_->add_option("--reason", o_.reason, "Why it is released")->required();
  hold_list_ = hold->add_subcommand("list", "Active holds");
  hold_list_->add_flag("--all", o_.all, "Released holds too");

  auto* restriction = app.add_subcommand("restriction", "Restriction of processing (R11)");
  restriction->require_subcommand(1);
  restriction_place_ = restriction->add_subcommand("place", "Keep a recording but refuse play and export");
  restriction_place_->add_option("uuid", o_.uuid, "Recording uuid")->required();
  restriction_place_->add_option("--by", o_.by, "The registered person placing it")->required();
  restriction_place_->add_option("--reason", o_.reason, "Why (e.g. the data subject's request)")->required();
  restriction_lift_ = restriction->add_subcommand("lift", "Lift a restriction");
  restriction_lift_->add_option("restriction", o_.id, "Restriction id")->required();
  restriction_lift_->add_option("--by", o_.by, "The registered person lifting it")->required();
  restriction_lift_->add_option("--reason", o_.reason, "Why")->required();

  play_ =
      app.add_subcommand("play", "Write a recording's WAV for listening (R8): logged, granted or refused");
  play_->add_option("uuid", o_.uuid, "Recording uuid")->required();
  who_options(play_, o_);
  play_->add_option("--output", o_.output, "A new file (default: stdout)");
  export_ = app.add_subcommand("export", "Copy a recording to a new file (R8): logged, granted or refused");
  export_->add_option("uuid", o_.uuid, "Recording uuid")->required();
  who_options(export_, o_);
  export_->add_option("--output", o_.output, "The new file")->required();

  auto* disclosure = app.add_subcommand("disclosure", "Disclosures to authorities (R10)");
  disclosure->require_subcommand(1);
  disclosure_request_ = disclosure->add_subcommand("request", "Record an authority's request");
  disclosure_request_->add_option("--authority", o_.authority, "Who asks (court, police, prosecutor...)")
      ->required();
  disclosure_request_->add_option("--basis", o_.basis, "Legal basis of the request")->required();
  disclosure_request_->add_option("--calls", o_.calls, "Recording uuids")->required()->delimiter(',');
  disclosure_request_->add_option("--by", o_.by, "The registered person recording the request")->required();
  disclosure_request_->add_option("--legal-claim", o_.legal_claim,
                                  "The legal claim, when restricted recordings are asked for (R11)");
  disclosure_approve_ = disclosure->add_subcommand("approve", "Approve (mayor, deputy mayor, secretary)");
  disclosure_approve_->add_option("id", o_.id, "Disclosure id")->required();
  disclosure_approve_->add_option("--by", o_.by, "The approving person")->required();
  disclosure_approve_->add_option("--reason", o_.reason, "Note");
  disclosure_reject_ = disclosure->add_subcommand("reject", "Reject (mayor, deputy mayor, secretary)");
  disclosure_reject_->add_option("id", o_.id, "Disclosure id")->required();
  disclosure_reject_->add_option("--by", o_.by, "The deciding person")->required();
  disclosure_reject_->add_option("--reason", o_.reason, "Why")->required();
  disclosure_export_ = disclosure->add_subcommand(
      "export", "Write the evidence package of an approved disclosure: WAVs, manifest.json, SHA256SUMS");
  disclosure_export_->add_option("id", o_.id, "Disclosure id")->required();
  disclosure_export_->add_option("--to", o_.to_dir, "A new directory")->required();
  disclosure_export_->add_option("--by", o_.by, "The registered person exporting (a listening role)")
      ->required();
  disclosure_export_->add_option("--present", o_.present, "The administrator present (technician)");
  disclosure_export_->add_option("--statement", o_.statement, "Confidentiality statement (technician)");
  disclosure_list_ = disclosure->add_subcommand("list", "Every disclosure and its state");

  subject_access_ = app.add_subcommand(
      "subject-access", "Copies of every recording of a number in a period, with a manifest (R11)");
  subject_access_->add_option("--number", o_.numbers, "The data subject's phone number")->required();
  subject_access_->add_option("--from", o_.from, "Start (timestamptz, office time zone)")->required();
  subject_access_->add_option("--to", o_.to, "End, exclusive")->required();
  who_options(subject_access_, o_);
  subject_access_->add_option("--to-dir", o_.to_dir, "A new directory for the package")->required();
}

std::optional<int> CaseCommands::run(const Config& config) const {
  try {
    if (*retention_run_) return retention_run(config, o_);
    if (*hold_place_) return hold_place(config, o_);
    if (*hold_release_) return hold_release(config, o_);
    if (*hold_list_) return hold_list(config, o_);
    if (*restriction_place_) return restriction_place(config, o_);
    if (*restriction_lift_) return restriction_lift(config, o_);
    if (*play_) return play_or_export(config, o_, "play");
    if (*export_) return play_or_export(config, o_, "export");
    if (*disclosure_request_) return disclosure_request(config, o_);
    if (*disclosure_approve_) return disclosure_decide(config, o_, true);
    if (*disclosure_reject_) return disclosure_decide(config, o_, false);
    if (*disclosure_export_) return disclosure_export(config, o_);
    if (*disclosure_list_) return disclosure_list(config);
    if (*subject_access_) return subject_access(config, o_);
  } catch (const std::exception& e) {
    spdlog::error("database: {}", one_line(e.what()));
    return kExitError;
  }
  return std::nullopt;
}

}  // namespace cv
