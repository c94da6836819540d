#include "storage/db/index_writer.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <array>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <pqxx/nontransaction>
#include <pqxx/stream_to>
#include <pqxx/transaction>
#include <tuple>
#include <unordered_set>
#include <utility>

#include "storage/db/database.h"
#include "storage/index/index_journal.h"

// A COPY field that may be NULL, for pqxx::stream_to.
namespace cv {
struct CopyField {
  std::string text;
  bool null = true;
};
}  // namespace cv

namespace pqxx {
template <>
struct string_traits<cv::CopyField> {
  static constexpr const char* name() noexcept { return "cv::CopyField"; }
  static constexpr bool has_null() noexcept { return true; }
  static bool is_null(const cv::CopyField& f) { return f.null; }
  static cv::CopyField null() { return {}; }
  static void from_string(const char str[], cv::CopyField& f) { f = {str, false}; }
  static std::string to_string(const cv::CopyField& f) { return f.text; }
};
}  // namespace pqxx

namespace cv {
namespace {

// Test hooks for the crash tests (tests/db): CALLVAULT_FAULT=kill-after-journal
// kills the process right after the first segment is durable, before it is
// inserted; kill-after-insert right after the commit, before the segment is removed.
enum class Fault { kNone, kKillAfterJournal, kKillAfterInsert };
Fault fault_from_env() {
  const char* v = std::getenv("CALLVAULT_FAULT");
  if (!v) return Fault::kNone;
  if (std::string_view(v) == "kill-after-journal") return Fault::kKillAfterJournal;
  if (std::string_view(v) == "kill-after-insert") return Fault::kKillAfterInsert;
  return Fault::kNone;
}

// PostgreSQL text must be valid UTF-8 without NUL; SIP fields come off the
// wire and may be neither. Invalid bytes become U+FFFD (the journal keeps the
// original bytes).
std::string valid_utf8(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size() && c != 0;
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok && len == 2) ok = c >= 0xC2;  // no overlong forms
    if (ok && len == 3) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0);  // overlong, surrogates
    }
    if (ok && len == 4) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xF0 && c1 < 0x90) && !(c == 0xF4 && c1 >= 0x90) && c <= 0xF4;
    }
    if (ok) {
      out.append(s, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

std::string timestamp_text(int64_t ns) {
  int64_t sec = ns / 1'000'000'000;
  int64_t rem = ns % 1'000'000'000;
  if (rem < 0) {
    rem += 1'000'000'000;
    --sec;
  }
  std::time_t t = sec;
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}+00", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, rem / 1000);
}

CopyField text(const std::string& s) { return {valid_utf8(s), false}; }
CopyField text_or_null(const std::string& s) { return s.empty() ? CopyField{} : text(s); }
CopyField number(auto v) { return {fmt::format("{}", v), false}; }
CopyField boolean(bool v) { return {v ? "t" : "f", false}; }
CopyField time_or_null(int64_t ns) { return ns ? CopyField{timestamp_text(ns), false} : CopyField{}; }

std::string text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : valid_utf8(items[i])) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

// Streams and DTMF travel as JSON in the staging row and are unpacked by
// PostgreSQL, so a call is one COPY row however many streams it has.
std::string streams_json(const IndexedCall& c) {
  nlohmann::json a = nlohmann::json::array();
  for (size_t i = 0; i < c.streams.size(); ++i) {
    const IndexedStream& s = c.streams[i];
    std::vector<int> pts(s.payload_types.begin(), s.payload_types.end());
    a.push_back({{"ordinal", i},
                 {"ssrc", s.ssrc},
                 {"src_ip", s.src_ip},
                 {"src_port", s.src_port},
                 {"dst_ip", s.dst_ip},
                 {"dst_port", s.dst_port},
                 {"codec", valid_utf8(s.codec)},
                 {"payload_types", pts},
                 {"packets", s.packets},
                 {"lost", s.lost},
                 {"duplicates", s.duplicates},
                 {"late", s.late},
                 {"channel", s.channel},
                 {"decoded", s.decoded},
                 {"first_packet", timestamp_text(s.first_packet_ns)},
                 {"offset_samples", s.offset_samples}});
  }
  return a.dump();
}

std::string dtmf_json(const IndexedCall& c) {
  nlohmann::json a = nlohmann::json::array();
  for (size_t i = 0; i < c.dtmf.size(); ++i) {
    const IndexedDtmf& d = c.dtmf[i];
    a.push_back({{"ordinal", i},
                 {"digit", valid_utf8(std::string(1, d.digit))},
                 {"at", timestamp_text(d.at_ns)},
                 {"duration_ms", d.duration_ms},
                 {"channel", d.channel},
                 {"source", d.source}});
  }
  return a.dump();
}

constexpr const char* kStageCalls = R"(
CREATE TEMP TABLE IF NOT EXISTS stage_calls (
  call_uuid uuid, sensor text, session_uuid uuid, sip_call_id text, caller text, callee text,
  start_time timestamptz, answer_time timestamptz, end_time timestamptz, direction text, codecs text[],
  duration_s double precision, answered boolean, joined_mid_call boolean, final_status integer,
  end_reason text, stream_count integer, audio_path text, audio_bytes bigint, audio_sha256 text,
  sample_rate integer, audio_start timestamptz, audio_error text, streams jsonb, dtmf jsonb
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_coverage (
  LIKE callvault.coverage_intervals
) ON COMMIT DELETE ROWS;
)";

const std::vector<std::string> kStageCallColumns = {
    "call_uuid",   "sensor",       "session_uuid", "sip_call_id",     "caller",
    "callee",      "start_time",   "answer_time",  "end_time",        "direction",
    "codecs",      "duration_s",   "answered",     "joined_mid_call", "final_status",
    "end_reason",  "stream_count", "audio_path",   "audio_bytes",     "audio_sha256",
    "sample_rate", "audio_start",  "audio_error",  "streams",         "dtmf"};

// One statement: new calls, then the streams and DTMF of exactly those calls.
// Duplicates (a journal segment replayed) insert nothing.
constexpr const char* kInsertCalls = R"(
WITH new_calls AS (
  INSERT INTO callvault.calls (call_uuid, sensor, session_uuid, sip_call_id, caller, callee, start_time,
      answer_time, end_time, direction, codecs, duration_s, answered, joined_mid_call, final_status,
      end_reason, stream_count, audio_path, audio_bytes, audio_sha256, sample_rate, audio_start,
      audio_error, expires_at)
  SELECT call_uuid, sensor, session_uuid, sip_call_id, caller, callee, start_time, answer_time, end_time,
      direction, codecs, duration_s, answered, joined_mid_call, final_status, end_reason, stream_count,
      audio_path, audio_bytes, audio_sha256, sample_rate, audio_start, audio_error,
      ((start_time AT TIME ZONE $2) + $1::interval) AT TIME ZONE $2
  FROM stage_calls
  ON CONFLICT (call_uuid) DO NOTHING
  RETURNING call_uuid
), new_streams AS (
  INSERT INTO callvault.streams
  SELECT s.call_uuid, x.ordinal, x.ssrc, x.src_ip, x.src_port, x.dst_ip, x.dst_port, x.codec,
         x.payload_types, x.packets, x.lost, x.duplicates, x.late, x.channel, x.decoded, x.first_packet,
         x.offset_samples
  FROM stage_calls s JOIN new_calls USING (call_uuid),
       jsonb_to_recordset(s.streams) AS x(ordinal smallint, ssrc bigint, src_ip inet, src_port integer,
         dst_ip inet, dst_port integer, codec text, payload_types smallint[], packets bigint, lost bigint,
         duplicates bigint, late bigint, channel text, decoded boolean, first_packet timestamptz,
         offset_samples bigint)
  RETURNING 1
), new_dtmf AS (
  INSERT INTO callvault.dtmf_events
  SELECT s.call_uuid, x.ordinal, x.digit, x.at, x.duration_ms, x.channel, x.source
  FROM stage_calls s JOIN new_calls USING (call_uuid),
       jsonb_to_recordset(s.dtmf) AS x(ordinal integer, digit text, at timestamptz, duration_ms integer,
         channel text, source text)
  RETURNING 1
)
SELECT (SELECT count(*) FROM new_calls), (SELECT count(*) FROM new_streams), (SELECT count(*) FROM new_dtmf)
)";

constexpr const char* kInsertCoverage =
    "INSERT INTO callvault.coverage_intervals SELECT * FROM stage_coverage ON CONFLICT DO NOTHING";

// A session is written when it starts and again when it stops; only the stop
// record (stopped_at set) may overwrite, so replay order does not matter.
constexpr const char* kUpsertSession = R"(
INSERT INTO callvault.capture_sessions (session_uuid, sensor, kind, source, started_at, stopped_at,
    stop_reason, packets, bytes, kernel_drops, interface_drops, rtp_unmatched, calls, calls_without_media,
    index_records_lost)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (session_uuid) DO UPDATE SET stopped_at = EXCLUDED.stopped_at, stop_reason = EXCLUDED.stop_reason,
    packets = EXCLUDED.packets, bytes = EXCLUDED.bytes, kernel_drops = EXCLUDED.kernel_drops,
    interface_drops = EXCLUDED.interface_drops, rtp_unmatched = EXCLUDED.rtp_unmatched, calls = EXCLUDED.calls,
    calls_without_media = EXCLUDED.calls_without_media, index_records_lost = EXCLUDED.index_records_lost
  WHERE EXCLUDED.stopped_at IS NOT NULL
)";

// A failure that retrying cannot fix (bad data or schema) versus one that it
// can (connection lost, server shutting down or out of resources).
bool is_transient(const std::exception& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) || dynamic_cast<const pqxx::in_doubt_error*>(&e))
    return true;
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string state = sql->sqlstate();
    if (state.empty()) return true;  // no server answer: the connection is gone
    const std::string cls = state.substr(0, 2);
    return cls == "08" || cls == "53" || cls == "57" || cls == "58" || cls == "40" || state == "55P03";
  }
  return false;
}

}  // namespace

// The writer's connection with its staging tables.
class IndexWriter::Connection {
 public:
  explicit Connection(std::unique_ptr<pqxx::connection> c) : conn_(std::move(c)) {}
  pqxx::connection& get() { return *conn_; }

  // Inserts a batch in one transaction. Returns the number of new calls.
  uint64_t insert(const std::vector<IndexRecord>& records, const IndexWriterConfig& cfg) {
    pqxx::work tx(*conn_);
    std::unordered_set<std::string> seen;  // a uuid twice in one batch: keep the first
    bool any_calls = false, any_coverage = false;
    {
      pqxx::stream_to calls(tx, "stage_calls", kStageCallColumns);
      for (const IndexRecord& r : records) {
        const auto* c = std::get_if<IndexedCall>(&r);
        if (!c || !seen.insert(c->uuid).second) continue;
        any_calls = true;
        calls << std::make_tuple(
            text(c->uuid), text(c->sensor), text_or_null(c->session), text(c->sip_call_id), text(c->caller),
            text(c->callee), CopyField{timestamp_text(c->start_ns), false}, time_or_null(c->answer_ns),
            CopyField{timestamp_text(c->end_ns), false}, text(c->direction),
            CopyField{text_array(c->codecs), false}, number(c->duration_s), boolean(c->answered),
            boolean(c->joined_mid_call), number(c->final_status), text(c->end_reason),
            number(c->streams.size()), text_or_null(c->audio_path),
            c->audio_path.empty() ? CopyField{} : number(c->audio_bytes), text_or_null(c->audio_sha256),
            c->sample_rate ? number(c->sample_rate) : CopyField{}, time_or_null(c->audio_start_ns),
            text_or_null(c->audio_error), CopyField{streams_json(*c), false},
            CopyField{dtmf_json(*c), false});
      }
      calls.complete();
    }
    {
      pqxx::stream_to cov(tx, "stage_coverage");
      for (const IndexRecord& r : records) {
        const auto* v = std::get_if<CoverageInterval>(&r);
        if (!v) continue;
        any_coverage = true;
        cov << std::make_tuple(text(v->session), CopyField{timestamp_text(v->start_ns), false},
                               CopyField{timestamp_text(v->end_ns), false}, number(v->packets),
                               number(v->bytes), number(v->kernel_drops), number(v->interface_drops),
                               number(v->rtp_unmatched), number(v->sip_messages), number(v->calls_started),
                               number(v->calls_without_media), number(v->malformed));
      }
      cov.complete();
    }
    uint64_t new_calls = 0;
    if (any_calls) {
      auto res = tx.exec_params(kInsertCalls, cfg.retention_period, cfg.time_zone);
      new_calls = res[0][0].as<uint64_t>();
    }
    if (any_coverage) tx.exec(kInsertCoverage);
    for (const IndexRecord& r : records) {
      const auto* s = std::get_if<CaptureSessionRecord>(&r);
      if (!s) continue;
      tx.exec_params(kUpsertSession, s->uuid, valid_utf8(s->sensor), s->kind, valid_utf8(s->source),
                     timestamp_text(s->started_ns), time_or_null(s->stopped_ns), text_or_null(s->stop_reason),
                     s->packets, s->bytes, s->kernel_drops, s->interface_drops, s->rtp_unmatched, s->calls,
                     s->calls_without_media, s->index_records_lost);
    }
    tx.commit();
    return new_calls;
  }

 private:
  std::unique_ptr<pqxx::connection> conn_;
};

IndexWriter::IndexWriter(const IndexWriterConfig& config) : config_(config) {}

std::unique_ptr<IndexWriter> IndexWriter::start(const IndexWriterConfig& config, std::string& error) {
  std::unique_ptr<IndexWriter> w(new IndexWriter(config));
  if (!config.journal_dir.empty()) {
    w->journal_ = IndexJournal::open(config.journal_dir, error);
    if (!w->journal_) return nullptr;
    // Segments left by an earlier run (the database was down, or the process
    // died) go first, in order.
    for (uint64_t seg : w->journal_->pending()) w->pending_.push_back({seg, {}});
    w->stats_.journal_segments = w->pending_.size();
    if (!w->pending_.empty())
      spdlog::info("index journal {}: {} segments from an earlier run will be inserted", config.journal_dir,
                   w->pending_.size());
  }
  w->thread_ = std::thread([p = w.get()] { p->run(); });
  return w;
}

IndexWriter::~IndexWriter() {
  if (thread_.joinable()) finish(std::chrono::milliseconds(0));
}

void IndexWriter::submit(IndexRecord record) {
  std::lock_guard lock(mutex_);
  queue_.push_back(std::move(record));
  stats_.submitted.fetch_add(1, std::memory_order_relaxed);
  stats_.queue_depth.store(queue_.size(), std::memory_order_relaxed);
  if (queue_.size() >= config_.batch_max) wake_.notify_one();
}

bool IndexWriter::finish(std::chrono::milliseconds wait_for_db) {
  {
    std::lock_guard lock(mutex_);
    if (!thread_.joinable()) return all_inserted_;
    stopping_ = true;
    give_up_at_ = std::chrono::steady_clock::now() + wait_for_db;
  }
  wake_.notify_one();
  thread_.join();
  std::lock_guard lock(mutex_);
  return all_inserted_;
}

bool IndexWriter::connect() {
  std::string error;
  auto conn = connect_database(config_.conninfo, config_.connect_timeout_s, error);
  if (conn) {
    try {
      if (is_superuser(*conn)) {
        error = fmt::format(
            "the recorder connected as the superuser \"{}\"; it must use a role without superuser "
            "rights (callvault_writer)",
            conn->username());
      } else if (std::string problem = schema_problem(*conn); !problem.empty()) {
        error = problem;
      } else {
        pqxx::nontransaction tx(*conn);
        // A database that hangs (locks, stalled storage) counts as an outage:
        // the batch stays journaled and the queue cannot grow without bound.
        tx.exec("SET statement_timeout = '60s'");
        tx.exec(kStageCalls);
        // Validate the retention settings once, with a clear message.
        tx.exec_params("SELECT (now() AT TIME ZONE $2) + $1::interval", config_.retention_period,
                       config_.time_zone);
      }
    } catch (const std::exception& e) {
      error = one_line(e.what());
    }
    if (error.empty()) {
      db_ = std::make_unique<Connection>(std::move(conn));
      stats_.connected = true;
      if (!last_db_error_.empty()) spdlog::info("index database reachable again; inserting what waited");
      last_db_error_.clear();
      backoff_ms_ = 0;
      return true;
    }
  }
  disconnect(error);
  return false;
}

void IndexWriter::disconnect(const std::string& why) {
  if (stats_.connected) stats_.db_outages.fetch_add(1);
  const bool first = last_db_error_.empty() && stats_.db_outages == 0;
  if (why != last_db_error_ || first) {
    spdlog::warn("index database: {}; finished calls wait in the journal {} and are inserted when it is back",
                 why, config_.journal_dir.empty() ? "(none: in memory)" : config_.journal_dir);
  }
  last_db_error_ = why;
  db_.reset();
  stats_.connected = false;
  backoff_ms_ = backoff_ms_ ? std::min(backoff_ms_ * 2, config_.retry_max_ms) : config_.retry_min_ms;
  next_attempt_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(backoff_ms_);
}

void IndexWriter::journal_batch(std::vector<IndexRecord> batch) {
  if (batch.empty()) return;
  if (journal_) {
    auto result = journal_->append(batch);
    if (result.ok) {
      stats_.segments_journaled.fetch_add(1);
      if (journal_failing_) spdlog::info("index journal {} is writable again", config_.journal_dir);
      journal_failing_ = false;
      if (fault_from_env() == Fault::kKillAfterJournal) std::raise(SIGKILL);
      // Keep the records in memory too while the database keeps up: no re-read.
      pending_.push_back({result.segment, db_ ? std::move(batch) : std::vector<IndexRecord>{}});
      stats_.journal_segments = journal_->pending_segments();
      return;
    }
    stats_.journal_failures.fetch_add(1);
    if (!journal_failing_)
      spdlog::error("{}; recording goes on, the records wait in memory for the database", result.error);
    journal_failing_ = true;
  }
  // Not journaled: hold in memory, bounded.
  if (unjournaled_records_ + batch.size() > config_.max_unjournaled) {
    stats_.records_lost.fetch_add(batch.size());
    spdlog::error(
        "index: {} records lost: the journal cannot be written and {} records already wait in memory",
        batch.size(), unjournaled_records_);
    return;
  }
  unjournaled_records_ += batch.size();
  pending_.push_back({0, std::move(batch)});
}

bool IndexWriter::insert_pending() {
  while (!pending_.empty()) {
    if (!db_ && !connect()) return false;
    Pending& p = pending_.front();
    if (p.segment && p.records.empty()) {
      std::string error;
      if (!journal_->read(p.segment, p.records, error)) {
        spdlog::error("index journal: {}; the segment is set aside for inspection", error);
        std::string qerr;
        if (!journal_->quarantine(p.segment, qerr)) spdlog::error("index journal: {}", qerr);
        stats_.segments_quarantined.fetch_add(1);
        pending_.pop_front();
        continue;
      }
    }
    size_t calls = 0;
    for (const auto& r : p.records) calls += std::holds_alternative<IndexedCall>(r);
    try {
      const uint64_t inserted = db_->insert(p.records, config_);
      stats_.calls_inserted.fetch_add(inserted);
      stats_.calls_already_present.fetch_add(calls - std::min<uint64_t>(calls, inserted));
      stats_.batches_committed.fetch_add(1);
    } catch (const std::exception& e) {
      if (is_transient(e)) {
        // A journaled batch is on disk: do not hold its memory through an
        // outage. An unjournaled one has nowhere else to live.
        if (p.segment) p.records.clear();
        disconnect(one_line(e.what()));
        return false;
      }
      // The data or schema is wrong: retrying cannot help. Keep it on disk.
      spdlog::error("index: a batch of {} records was refused by the database: {}", p.records.size(),
                    one_line(e.what()));
      if (p.segment) {
        std::string qerr;
        if (!journal_->quarantine(p.segment, qerr)) spdlog::error("index journal: {}", qerr);
        stats_.segments_quarantined.fetch_add(1);
      } else {
        stats_.records_lost.fetch_add(p.records.size());
      }
      if (!p.segment) unjournaled_records_ -= p.records.size();
      pending_.pop_front();
      db_.reset();  // the transaction state is unknown; start clean
      stats_.connected = false;
      continue;
    }
    if (fault_from_env() == Fault::kKillAfterInsert) std::raise(SIGKILL);
    if (p.segment) {
      std::string error;
      if (!journal_->remove(p.segment, error))
        spdlog::error("index journal: {} (its records are in the database; a rerun inserts nothing twice)",
                      error);
      stats_.journal_segments = journal_->pending_segments();
    } else {
      unjournaled_records_ -= p.records.size();
    }
    pending_.pop_front();
  }
  return true;
}

void IndexWriter::run() {
  using clock = std::chrono::steady_clock;
  for (;;) {
    std::vector<IndexRecord> batch;
    bool stopping = false;
    clock::time_point give_up;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, std::chrono::milliseconds(config_.flush_interval_ms),
                     [&] { return stopping_ || queue_.size() >= config_.batch_max; });
      const size_t n = std::min(queue_.size(), config_.batch_max);
      batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.begin() + n));
      queue_.erase(queue_.begin(), queue_.begin() + n);
      stats_.queue_depth.store(queue_.size(), std::memory_order_relaxed);
      stopping = stopping_ && queue_.empty();
      give_up = give_up_at_;
    }
    journal_batch(std::move(batch));
    if (!pending_.empty() && (db_ || clock::now() >= next_attempt_)) insert_pending();
    if (!stopping) continue;
    // Everything is journaled; wait for the database as long as allowed.
    while (!pending_.empty() && clock::now() < give_up) {
      const auto wait = std::min(next_attempt_, give_up) - clock::now();
      if (wait > clock::duration::zero()) std::this_thread::sleep_for(wait);
      if (clock::now() >= next_attempt_) insert_pending();
    }
    size_t on_disk = 0, in_memory = 0;
    for (const auto& p : pending_) (p.segment ? on_disk : in_memory) += 1;
    if (in_memory) {
      stats_.records_lost.fetch_add(unjournaled_records_);
      spdlog::error("index: {} records could be neither journaled nor inserted and are lost",
                    unjournaled_records_);
    }
    if (on_disk)
      spdlog::warn(
          "index: {} journal segments in {} are not in the database yet; the next callvault run or "
          "`callvault db "
          "flush` inserts them",
          on_disk, config_.journal_dir);
    std::lock_guard lock(mutex_);
    all_inserted_ = pending_.empty();
    done_ = true;
    return;
  }
}

}  // namespace cv
