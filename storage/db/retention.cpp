#include "storage/db/retention.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>
#include <set>

#include "storage/db/audit_trail.h"
#include "storage/db/sql_values.h"
#include "storage/vault/key_store.h"
#include "storage/wav_writer.h"

namespace cv {
namespace {

namespace fs = std::filesystem;

struct DueCall {
  std::string uuid;
  std::optional<std::string> audio_path;
  std::optional<std::string> sha256;
  std::string expires_at;
  std::string start_time;
  std::string file = "none";  // deleted, missing, none
  bool ok = true;
};

constexpr const char* kDueColumns =
    "c.call_uuid::text, c.audio_path, c.audio_sha256, c.expires_at::text, "
    "date_trunc('second', c.start_time)::text";

DueCall due_from_row(const pqxx::row& r) {
  DueCall d;
  d.uuid = r[0].as<std::string>();
  d.audio_path = opt_text(r[1]);
  d.sha256 = opt_text(r[2]);
  d.expires_at = r[3].as<std::string>();
  d.start_time = r[4].as<std::string>();
  return d;
}

std::string uuid_array(const std::vector<DueCall>& calls) {
  std::vector<std::string> uuids;
  uuids.reserve(calls.size());
  for (const auto& c : calls) uuids.push_back(c.uuid);
  return sql_plain_array(uuids);
}

// audio_path comes from the database: it must stay inside the audio directory.
bool safe_relative_path(const std::string& p) {
  if (p.empty() || p.front() == '/') return false;
  size_t start = 0;
  while (start <= p.size()) {
    const size_t end = std::min(p.find('/', start), p.size());
    const std::string_view part(p.data() + start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return p.find('\0') == std::string::npos;
}

std::string parent_dir(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// The shared fsync_dir, where a directory that is gone counts as durable
// (nothing left to make durable there), with the reason in `error`.
bool fsync_dir_or_gone(const std::string& dir, std::string& error) {
  if (fsync_dir(dir) || errno == ENOENT) return true;
  error = fmt::format("cannot fsync {}: {}", dir, std::strerror(errno));
  return false;
}

class Sweep {
 public:
  Sweep(pqxx::connection& conn, const RetentionSettings& s) : conn_(conn), s_(s) {}

  RetentionReport run() {
    evaluate_time();
    finish_started();
    if (s_.dry_run)
      plan();
    else
      delete_due();
    retire_keys();
    count_kept();
    return std::move(r_);
  }

 private:
  void evaluate_time() {
    pqxx::nontransaction tx(conn_);
    const pqxx::result t =
        s_.now.empty() ? tx.exec("SELECT now()::text, true")
                       : tx.exec_params("SELECT $1::timestamptz::text, $1::timestamptz <= now()", s_.now);
    now_ = t[0][0].as<std::string>();
    r_.evaluated_at = now_;
    if (!t[0][1].as<bool>() && !s_.dry_run)
      throw std::invalid_argument(fmt::format(
          "--now {} is later than the database's clock: recordings are not deleted before their time "
          "(use --dry-run to see what that moment would delete)",
          now_));
  }

  // Deletions a killed sweep started: their files may already be gone.
  void finish_started() {
    for (;;) {
      std::vector<DueCall> batch;
      {
        pqxx::nontransaction tx(conn_);
        const pqxx::result rows = tx.exec_params(
            fmt::format("SELECT {} FROM callvault.calls c WHERE c.deletion_started_at IS NOT NULL "
                        "AND c.deleted_at IS NULL AND NOT (c.call_uuid = ANY($1::uuid[])) "
                        "ORDER BY c.deletion_started_at, c.call_uuid LIMIT $2",
                        kDueColumns),
            failed_array(), s_.batch);
        for (const auto& row : rows) batch.push_back(due_from_row(row));
      }
      if (batch.empty()) return;
      if (s_.dry_run) {
        for (const auto& d : batch) {
          r_.planned.push_back(fmt::format("{}  started {}  expired {}  {}  (unfinished deletion)", d.uuid,
                                           d.start_time, d.expires_at, d.audio_path.value_or("-")));
          failed_.insert(d.uuid);  // only to page on
        }
        continue;
      }
      r_.resumed += finish(batch, /*resumed=*/true);
    }
  }

  void plan() {
    std::string after_expiry = "-infinity", after_uuid = "00000000-0000-0000-0000-000000000000";
    for (;;) {
      pqxx::nontransaction tx(conn_);
      const pqxx::result rows =
          tx.exec_params(fmt::format("SELECT {} FROM callvault.calls c WHERE c.deleted_at IS NULL "
                                     "AND c.deletion_started_at IS NULL AND c.expires_at <= $1::timestamptz "
                                     "AND (c.expires_at, c.call_uuid) > ($2::timestamptz, $3::uuid) "
                                     "AND callvault.retention_block(c.call_uuid) IS NULL "
                                     "ORDER BY c.expires_at, c.call_uuid LIMIT $4",
                                     kDueColumns),
                         now_, after_expiry, after_uuid, s_.batch);
      if (rows.empty()) return;
      for (const auto& row : rows) {
        const DueCall d = due_from_row(row);
        r_.planned.push_back(fmt::format("{}  started {}  expired {}  {}", d.uuid, d.start_time, d.expires_at,
                                         d.audio_path.value_or("(no audio)")));
        after_expiry = d.expires_at;
        after_uuid = d.uuid;
      }
    }
  }

  void delete_due() {
    for (;;) {
      std::vector<DueCall> batch = start_batch();
      if (batch.empty()) return;
      retention_crash_point("retention.started");
      finish(batch, /*resumed=*/false);
    }
  }

  // Step 1 for up to `batch` calls: returns the calls whose deletion started.
  std::vector<DueCall> start_batch() {
    const std::string select_due = fmt::format(
        "SELECT c.call_uuid FROM callvault.calls c WHERE c.deleted_at IS NULL "
        "AND c.deletion_started_at IS NULL AND c.expires_at <= $1::timestamptz "
        "AND callvault.retention_block(c.call_uuid) IS NULL AND NOT (c.call_uuid = ANY($3::uuid[])) "
        "ORDER BY c.expires_at, c.call_uuid LIMIT $2");
    const std::string start = fmt::format(
        "UPDATE callvault.calls c SET deletion_started_at = now(), deletion_rule = $2 "
        "WHERE c.call_uuid = ANY($1::uuid[]) AND c.deleted_at IS NULL AND c.deletion_started_at IS NULL "
        "RETURNING {}",
        kDueColumns);
    std::vector<std::string> uuids;
    {
      pqxx::nontransaction tx(conn_);
      for (const auto& row : tx.exec_params(select_due, now_, s_.batch, failed_array()))
        uuids.push_back(row[0].as<std::string>());
    }
    if (uuids.empty()) return {};
    std::vector<DueCall> started;
    try {
      pqxx::work tx(conn_);
      for (const auto& row : tx.exec_params(start, sql_plain_array(uuids), rule()))
        started.push_back(due_from_row(row));
      tx.commit();
      return started;
    } catch (const pqxx::broken_connection&) {
      throw;
    } catch (const pqxx::sql_error&) {
      // A hold (or restriction, disclosure) placed since the SELECT: the
      // guard refused the whole batch. One by one, so that the rest goes on.
    }
    for (const auto& uuid : uuids) {
      try {
        pqxx::work tx(conn_);
        for (const auto& row : tx.exec_params(start, sql_plain_array({uuid}), rule()))
          started.push_back(due_from_row(row));
        tx.commit();
      } catch (const pqxx::broken_connection&) {
        throw;
      } catch (const pqxx::sql_error& e) {
        failed_.insert(uuid);
        const std::string why = first_line(e.what());
        if (why.find("is kept by") != std::string::npos) continue;  // protected after all: counted as kept
        ++r_.failed;
        r_.errors.push_back(fmt::format("recording {}: deletion not started: {}", uuid, why));
      }
    }
    return started;
  }

  // Steps 2 and 3 for calls whose deletion started. Returns how many completed.
  uint64_t finish(std::vector<DueCall>& batch, bool resumed) {
    std::set<std::string> dirs;
    for (auto& d : batch) {
      if (!d.audio_path) continue;
      if (!safe_relative_path(*d.audio_path)) {
        d.ok = false;
        ++r_.failed;
        failed_.insert(d.uuid);
        r_.errors.push_back(
            fmt::format("recording {}: audio path \"{}\" leaves the audio directory: not deleted", d.uuid,
                        *d.audio_path));
        continue;
      }
      const std::string path = s_.audio_dir + "/" + *d.audio_path;
      if (::unlink(path.c_str()) == 0) {
        d.file = "deleted";
        ++r_.files_deleted;
        dirs.insert(parent_dir(path));
      } else if (errno == ENOENT) {
        // A resumed deletion may have unlinked it before it was killed.
        d.file = resumed ? "deleted" : "missing";
        dirs.insert(parent_dir(path));
      } else {
        d.ok = false;
        ++r_.failed;
        failed_.insert(d.uuid);
        r_.errors.push_back(
            fmt::format("recording {}: cannot delete {}: {}", d.uuid, path, std::strerror(errno)));
        continue;
      }
      retention_crash_point("retention.unlinked");
    }
    for (const auto& dir : dirs) {
      std::string error;
      if (!fsync_dir_or_gone(dir, error)) {
        // Without a durable unlink the row must keep pointing at the file.
        r_.errors.push_back(error);
        for (auto& d : batch)
          if (d.ok && d.audio_path && parent_dir(s_.audio_dir + "/" + *d.audio_path) == dir) {
            d.ok = false;
            ++r_.failed;
            failed_.insert(d.uuid);
          }
      }
    }
    retention_crash_point("retention.synced");
    std::vector<DueCall> done;
    for (const auto& d : batch)
      if (d.ok) done.push_back(d);
    if (done.empty()) return 0;
    pqxx::work tx(conn_);
    const pqxx::result cleared = tx.exec_params(
        "UPDATE callvault.calls SET deleted_at = now(), sip_call_id = NULL, caller = NULL, callee = NULL, "
        "audio_path = NULL WHERE call_uuid = ANY($1::uuid[]) AND deletion_started_at IS NOT NULL "
        "AND deleted_at IS NULL RETURNING call_uuid::text",
        uuid_array(done));
    std::set<std::string> cleared_set;
    for (const auto& row : cleared) cleared_set.insert(row[0].as<std::string>());
    tx.exec_params("DELETE FROM callvault.streams WHERE call_uuid = ANY($1::uuid[])", uuid_array(done));
    tx.exec_params("DELETE FROM callvault.dtmf_events WHERE call_uuid = ANY($1::uuid[])", uuid_array(done));
    uint64_t completed = 0;
    std::vector<std::string> findings;
    for (const auto& d : done) {
      if (!cleared_set.count(d.uuid)) continue;  // another sweep finished it
      nlohmann::json details = {
          {"rule", rule()},       {"period", s_.period},        {"time_zone", s_.time_zone},
          {"file", d.file},       {"expires_at", d.expires_at}, {"evaluated_at", now_},
          {"os_user", s_.os_user}};
      details["file_sha256"] = d.sha256 ? nlohmann::json(*d.sha256) : nlohmann::json(nullptr);
      if (d.file == "missing") {
        append_audit(tx, s_.actor, "recording.missing", d.uuid,
                     {{"expected_path", *d.audio_path},
                      {"file_sha256", d.sha256 ? nlohmann::json(*d.sha256) : nlohmann::json(nullptr)},
                      {"os_user", s_.os_user}});
        findings.push_back(fmt::format(
            "recording {}: the audio file {} the index expected was missing at expiry (audit entry "
            "recording.missing); its personal data was cleared",
            d.uuid, *d.audio_path));
      }
      append_audit(tx, s_.actor, "recording.deleted", d.uuid, details);
      ++completed;
    }
    tx.commit();
    retention_crash_point("retention.finished");
    r_.deleted += completed;
    for (const auto& d : done)
      if (cleared_set.count(d.uuid) && d.file == "missing") ++r_.files_missing;
    r_.findings.insert(r_.findings.end(), findings.begin(), findings.end());
    return completed;
  }

  // R12: destroys the keys of every day of which nothing is left, older than
  // yesterday (by the database's clock, UTC: calls may still be recording
  // under today's and yesterday's keys). A file in the day's audio directory
  // (a held, restricted or not yet indexed recording, a call being written)
  // or a recording of that day in the index keeps the key.
  void retire_keys() {
    if (s_.key_dir.empty()) return;
    KeyStore keys(s_.key_dir);
    std::string error;
    const auto days = keys.days_with_keys(error);
    if (!days) {
      r_.errors.push_back(error);
      return;
    }
    int32_t today = 0;
    {
      pqxx::nontransaction tx(conn_);
      today = tx.exec("SELECT (now() AT TIME ZONE 'UTC')::date - DATE '1970-01-01'")[0][0].as<int32_t>();
    }
    for (const VaultDay day : *days) {
      if (day.days >= today - 1) continue;
      const std::string name = vault_day_name(day);  // YYYY-MM-DD
      std::string prefix = name;                     // YYYY/MM/DD
      std::replace(prefix.begin(), prefix.end(), '-', '/');
      std::error_code ec;
      const std::string dir = s_.audio_dir + "/" + prefix;
      if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) continue;
      if (ec) {
        r_.errors.push_back(fmt::format("key of {} kept: cannot read {}: {}", name, dir, ec.message()));
        continue;
      }
      try {
        pqxx::work tx(conn_);
        const bool still_indexed =
            tx.exec_params(
                  "SELECT EXISTS (SELECT FROM callvault.calls WHERE deleted_at IS NULL "
                  "AND audio_path LIKE $1)",
                  prefix + "/%")[0][0]
                .as<bool>();
        if (still_indexed) continue;  // its file is missing: a finding for the sweep, not a reason
        if (s_.dry_run) {
          r_.keys_planned.push_back(name);
          continue;
        }
        // The entry commits only once the key is gone; a failure leaves both as they were.
        append_audit(tx, s_.actor, "key.destroyed", name,
                     {{"rule", "R12: a day's key is destroyed once none of its recordings is left"},
                      {"key_dir", s_.key_dir},
                      {"evaluated_at", now_},
                      {"os_user", s_.os_user}});
        const auto destroyed = keys.destroy_day(day, error);
        if (!destroyed) {
          r_.errors.push_back(fmt::format("key of {} not destroyed: {}", name, error));
          continue;
        }
        tx.commit();
        ++r_.keys_destroyed;
      } catch (const pqxx::broken_connection&) {
        throw;
      } catch (const pqxx::sql_error& e) {
        r_.errors.push_back(fmt::format("key of {} kept: {}", name, first_line(e.what())));
      }
    }
  }

  void count_kept() {
    pqxx::nontransaction tx(conn_);
    const pqxx::result rows = tx.exec_params(
        "SELECT c.call_uuid::text, b.why FROM callvault.calls c "
        "CROSS JOIN LATERAL (SELECT callvault.retention_block(c.call_uuid) AS why) b "
        "WHERE c.deleted_at IS NULL AND c.deletion_started_at IS NULL AND c.expires_at <= $1::timestamptz "
        "AND b.why IS NOT NULL ORDER BY c.expires_at, c.call_uuid",
        now_);
    r_.kept = rows.size();
    for (const auto& row : rows) {
      if (r_.kept_why.size() >= 1000) break;
      r_.kept_why.push_back(row[0].as<std::string>() + ": " + row[1].as<std::string>());
    }
  }

  [[nodiscard]] std::string rule() const {
    return fmt::format("R5 retention: {} from call start ({})", s_.period, s_.time_zone);
  }
  [[nodiscard]] std::string failed_array() const {
    std::vector<std::string> v(failed_.begin(), failed_.end());
    return sql_plain_array(v);
  }
  static std::string first_line(const std::string& s) {
    std::string out = s.substr(0, s.find('\n'));
    if (out.rfind("ERROR:  ", 0) == 0) out.erase(0, 8);
    return out;
  }

  pqxx::connection& conn_;
  const RetentionSettings& s_;
  RetentionReport r_;
  std::string now_;
  std::set<std::string> failed_;  // not retried within this sweep
};

}  // namespace

void retention_crash_point(const char* point) {
  static const char* spec = std::getenv("CALLVAULT_CRASH_AT");
  if (!spec || !*spec) return;
  static int remaining = [] {
    const char* colon = std::strchr(spec, ':');
    return colon ? std::max(1, std::atoi(colon + 1)) : 1;
  }();
  const char* colon = std::strchr(spec, ':');
  const size_t len = colon ? static_cast<size_t>(colon - spec) : std::strlen(spec);
  if (std::strlen(point) != len || std::strncmp(point, spec, len) != 0) return;
  if (--remaining == 0) ::_exit(137);
}

RetentionReport run_retention_sweep(pqxx::connection& conn, const RetentionSettings& settings) {
  return Sweep(conn, settings).run();
}

}  // namespace cv
