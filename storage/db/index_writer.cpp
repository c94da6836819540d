#include "storage/db/index_writer.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <concepts>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <future>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/tablewriter>
#include <pqxx/transaction>
#include <stdexcept>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "common/utf8.h"
#include "storage/db/database.h"
#include "storage/index/index_journal.h"

// A statement parameter that may be NULL.
namespace cv {
struct NullableText {
  std::string text;
  bool null = true;
};
}  // namespace cv

namespace pqxx {
template <>
struct string_traits<cv::NullableText> {
  static constexpr const char* name() noexcept { return "cv::NullableText"; }
  static constexpr bool has_null() noexcept { return true; }
  static bool is_null(const cv::NullableText& f) { return f.null; }
  static cv::NullableText null() { return {}; }
  static void from_string(const char str[], cv::NullableText& f) { f = {str, false}; }
  static std::string to_string(const cv::NullableText& f) { return f.text; }
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
std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = s[i] == '\0' ? 0 : utf8_sequence_length(s, i);
    if (n) {
      out.append(s, i, n);
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

// "YYYY-MM-DD HH:MM:SS.ffffff+00" of nanoseconds since the epoch, written
// directly (gmtime_r and a format string cost more than the rest of a row).
constexpr size_t kTimestampChars = 29;
void put_digits(char* at, int64_t v, int width) {
  for (int i = width - 1; i >= 0; --i, v /= 10) at[i] = static_cast<char>('0' + v % 10);
}
void append_timestamp(std::string& out, int64_t ns) {
  int64_t sec = ns / 1'000'000'000;
  int64_t rem = ns % 1'000'000'000;
  if (rem < 0) {
    rem += 1'000'000'000;
    --sec;
  }
  int64_t days = sec / 86400;
  int64_t tod = sec % 86400;
  if (tod < 0) {
    tod += 86400;
    --days;
  }
  // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = yoe + era * 400 + (month <= 2);
  if (year < 1 || year > 9999) {  // not reachable from a capture clock; keep it exact anyway
    std::time_t t = sec;
    std::tm tm{};
    gmtime_r(&t, &tm);
    out += fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}+00", tm.tm_year + 1900, tm.tm_mon + 1,
                       tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, rem / 1000);
    return;
  }
  char b[kTimestampChars] = {'0', '0', '0', '0', '-', '0', '0', '-', '0', '0', ' ', '0', '0', ':', '0',
                             '0', ':', '0', '0', '.', '0', '0', '0', '0', '0', '0', '+', '0', '0'};
  put_digits(b, year, 4);
  put_digits(b + 5, month, 2);
  put_digits(b + 8, day, 2);
  put_digits(b + 11, tod / 3600, 2);
  put_digits(b + 14, tod / 60 % 60, 2);
  put_digits(b + 17, tod % 60, 2);
  put_digits(b + 20, rem / 1000, 6);
  out.append(b, kTimestampChars);
}

std::string timestamp_text(int64_t ns) {
  std::string s;
  append_timestamp(s, ns);
  return s;
}

NullableText time_or_null(int64_t ns) {
  return ns ? NullableText{timestamp_text(ns), false} : NullableText{};
}
NullableText text_or_null(const std::string& s) {
  return s.empty() ? NullableText{} : NullableText{valid_utf8(s), false};
}

// Rows in PostgreSQL's COPY text format, built directly into one buffer:
// fields separated by tabs, rows ended by newlines, \N for NULL, backslash
// escapes, text made valid UTF-8 as valid_utf8() does.
class CopyText {
 public:
  CopyText& text(std::string_view s) {
    separate();
    escape(s);
    return *this;
  }
  CopyText& text_or_null(std::string_view s) { return s.empty() ? null() : text(s); }
  CopyText& null() {
    separate();
    out_ += "\\N";
    return *this;
  }
  template <std::integral T>
  CopyText& number(T v) {
    separate();
    char b[24];
    out_.append(b, std::to_chars(b, b + sizeof b, v).ptr);
    return *this;
  }
  CopyText& number(double v) {  // shortest exact form; nan and inf as float8in reads them
    separate();
    char b[32];
    out_.append(b, std::to_chars(b, b + sizeof b, v).ptr);
    return *this;
  }
  CopyText& boolean(bool v) {
    separate();
    out_ += v ? 't' : 'f';
    return *this;
  }
  CopyText& time(int64_t ns) {
    separate();
    append_timestamp(out_, ns);
    return *this;
  }
  CopyText& time_or_null(int64_t ns) { return ns ? time(ns) : null(); }
  // An array literal of text: {"a","b"}, quotes and backslashes escaped
  // inside it, then the whole literal escaped for COPY.
  CopyText& text_array(const std::vector<std::string>& items) {
    std::string literal = "{";
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) literal += ',';
      literal += '"';
      for (char c : valid_utf8(items[i])) {
        if (c == '"' || c == '\\') literal += '\\';
        literal += c;
      }
      literal += '"';
    }
    literal += '}';
    return text(literal);
  }
  CopyText& number_array(const std::vector<uint8_t>& items) {
    separate();
    out_ += '{';
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out_ += ',';
      char b[4];
      out_.append(b, std::to_chars(b, b + sizeof b, items[i]).ptr);
    }
    out_ += '}';
    return *this;
  }
  void end_row() {
    out_ += '\n';
    first_ = true;
    ++rows_;
  }
  [[nodiscard]] size_t rows() const { return rows_; }
  [[nodiscard]] bool empty() const { return rows_ == 0; }
  [[nodiscard]] const std::string& data() const { return out_; }

 private:
  void separate() {
    if (!first_) out_ += '\t';
    first_ = false;
  }
  void escape(std::string_view s) {
    // Nearly always plain ASCII without anything to escape: one append.
    bool plain = true;
    for (char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      if (c >= 0x80 || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == 0) {
        plain = false;
        break;
      }
    }
    if (plain) {
      out_ += s;
      return;
    }
    for (char c : valid_utf8(s)) {
      switch (c) {
        case '\\':
          out_ += "\\\\";
          break;
        case '\n':
          out_ += "\\n";
          break;
        case '\r':
          out_ += "\\r";
          break;
        case '\t':
          out_ += "\\t";
          break;
        default:
          out_ += c;
      }
    }
  }

  std::string out_;
  bool first_ = true;
  size_t rows_ = 0;
};

// COPY ... FROM STDIN of text already in COPY format. libpqxx 6 offers raw
// lines only through tablewriter (deprecated there in favour of stream_to,
// which escapes every field itself and cannot take them).
void copy_in(pqxx::transaction_base& tx, const std::string& table, const std::vector<std::string>& columns,
             const CopyText& rows) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  pqxx::tablewriter copy(tx, table, columns.begin(), columns.end());
#pragma GCC diagnostic pop
  // The text goes in pieces of whole rows, so that the server parses and
  // inserts while the rest is still on its way.
  constexpr size_t kPiece = 256 * 1024;
  const std::string& text = rows.data();
  for (size_t at = 0; at < text.size();) {
    size_t end = std::min(text.size(), at + kPiece);
    if (end < text.size()) end = text.find('\n', end) + 1;  // a row never spans two pieces
    copy.write_raw_line(text.substr(at, end - at));
    at = end;
  }
  copy.complete();
}

constexpr const char* kStageCalls = R"(
CREATE TEMP TABLE IF NOT EXISTS stage_calls (
  call_uuid uuid, sensor text, session_uuid uuid, sip_call_id text, caller text, callee text,
  start_time timestamptz, answer_time timestamptz, end_time timestamptz, direction text, codecs text[],
  duration_s double precision, answered boolean, joined_mid_call boolean, final_status integer,
  end_reason text, stream_count integer, audio_path text, audio_bytes bigint, audio_sha256 text,
  sample_rate integer, audio_start timestamptz, audio_error text, caller_audio boolean, callee_audio boolean,
  expires_at timestamptz
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_streams (LIKE callvault.streams) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_dtmf (LIKE callvault.dtmf_events) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_coverage (LIKE callvault.coverage_intervals) ON COMMIT DELETE ROWS;
)";

const std::vector<std::string> kCallColumns = {
    "call_uuid",    "sensor",          "session_uuid", "sip_call_id", "caller",       "callee",
    "start_time",   "answer_time",     "end_time",     "direction",   "codecs",       "duration_s",
    "answered",     "joined_mid_call", "final_status", "end_reason",  "stream_count", "audio_path",
    "audio_bytes",  "audio_sha256",    "sample_rate",  "audio_start", "audio_error",  "caller_audio",
    "callee_audio", "expires_at"};

const std::vector<std::string> kStreamColumns = {
    "call_uuid", "ordinal", "ssrc",          "src_ip",       "src_port",       "dst_ip",
    "dst_port",  "codec",   "payload_types", "packets",      "lost",           "duplicates",
    "late",      "channel", "decoded",       "first_packet", "offset_samples", "call_start_time"};

const std::vector<std::string> kDtmfColumns = {"call_uuid",   "ordinal", "digit", "at",
                                               "duration_ms", "channel", "source"};

const std::vector<std::string> kCoverageColumns = {
    "session_uuid", "interval_start", "interval_end",        "packets",
    "bytes",        "kernel_drops",   "interface_drops",     "rtp_unmatched",
    "sip_messages", "calls_started",  "calls_without_media", "malformed"};

std::string column_list(const std::vector<std::string>& columns) {
  std::string out;
  for (const auto& c : columns) out += (out.empty() ? "" : ", ") + c;
  return out;
}

// When each call expires: its start in the configured time zone plus the
// retention period, so that "1 month" follows the office's calendar (and
// summer time). Asked once per batch; the calls are then copied straight
// into their table. $3 holds the start times in microseconds since the epoch.
constexpr const char* kExpiries = R"(
SELECT (extract(epoch FROM ((('epoch'::timestamptz + s * interval '1 microsecond') AT TIME ZONE $2)
                            + $1::interval) AT TIME ZONE $2) * 1000000)::bigint
  FROM unnest($3::bigint[]) WITH ORDINALITY AS u(s, i)
 ORDER BY i
)";

// When some calls of a batch are in the database already (a journal segment
// inserted again after a crash): one statement inserts the new calls, then
// the streams and DTMF of exactly those calls.
const std::string kInsertStaged =
    "WITH new_calls AS (INSERT INTO callvault.calls (" + column_list(kCallColumns) + ") SELECT " +
    column_list(kCallColumns) +
    " FROM stage_calls ON CONFLICT (call_uuid) DO NOTHING RETURNING call_uuid"
    "), new_streams AS (INSERT INTO callvault.streams (" +
    column_list(kStreamColumns) + ") SELECT " + column_list(kStreamColumns) +
    " FROM stage_streams WHERE call_uuid IN (SELECT call_uuid FROM new_calls)"
    " RETURNING 1"
    "), new_dtmf AS (INSERT INTO callvault.dtmf_events (" +
    column_list(kDtmfColumns) + ") SELECT " + column_list(kDtmfColumns) +
    " FROM stage_dtmf WHERE call_uuid IN (SELECT call_uuid FROM new_calls)"
    " RETURNING 1"
    ") SELECT (SELECT count(*) FROM new_calls), (SELECT count(*) FROM new_streams),"
    " (SELECT count(*) FROM new_dtmf)";

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

// A batch as COPY text, built once and reused if the transaction has to be
// redone. The calls' rows wait for their expiry times (calls_text()).
struct BatchText {
  std::vector<const IndexedCall*> calls;
  CopyText streams, dtmf, coverage;
  std::vector<const CaptureSessionRecord*> sessions;
};

// Whether some decoded stream of the party went into the audio file: the
// one-sided calls are those where exactly one party's did.
bool has_audio_of(const IndexedCall& c, std::string_view channel) {
  for (const IndexedStream& s : c.streams)
    if (s.decoded && s.channel == channel) return true;
  return false;
}

// The batch in `parts.size()` parts, the calls dealt out in turn (each with
// its streams and DTMF); coverage and sessions go with the first part.
void build_batch(const std::vector<IndexRecord>& records, std::vector<BatchText>& parts) {
  std::unordered_set<std::string_view> seen;  // a uuid twice in one batch: keep the first
  size_t next = 0;
  for (const IndexRecord& r : records) {
    if (const auto* c = std::get_if<IndexedCall>(&r)) {
      if (!seen.insert(c->uuid).second) continue;
      BatchText& b = parts[next++ % parts.size()];
      b.calls.push_back(c);
      for (size_t i = 0; i < c->streams.size(); ++i) {
        const IndexedStream& s = c->streams[i];
        b.streams.text(c->uuid)
            .number(i)
            .number(s.ssrc)
            .text(s.src_ip)
            .number(s.src_port)
            .text(s.dst_ip)
            .number(s.dst_port)
            .text(s.codec)
            .number_array(s.payload_types)
            .number(s.packets)
            .number(s.lost)
            .number(s.duplicates)
            .number(s.late)
            .text(s.channel)
            .boolean(s.decoded)
            .time(s.first_packet_ns)
            .number(s.offset_samples)
            .time(c->start_ns)
            .end_row();
      }
      for (size_t i = 0; i < c->dtmf.size(); ++i) {
        const IndexedDtmf& d = c->dtmf[i];
        b.dtmf.text(c->uuid)
            .number(i)
            .text(std::string_view(&d.digit, 1))
            .time(d.at_ns)
            .number(d.duration_ms)
            .text(d.channel)
            .text(d.source)
            .end_row();
      }
    } else if (const auto* v = std::get_if<CoverageInterval>(&r)) {
      parts[0]
          .coverage.text(v->session)
          .time(v->start_ns)
          .time(v->end_ns)
          .number(v->packets)
          .number(v->bytes)
          .number(v->kernel_drops)
          .number(v->interface_drops)
          .number(v->rtp_unmatched)
          .number(v->sip_messages)
          .number(v->calls_started)
          .number(v->calls_without_media)
          .number(v->malformed)
          .end_row();
    } else if (const auto* s = std::get_if<CaptureSessionRecord>(&r)) {
      parts[0].sessions.push_back(s);
    }
  }
}

int64_t start_us(const IndexedCall& c) {  // as the COPY text has it: whole microseconds, rounded down
  return c.start_ns / 1000 - (c.start_ns % 1000 < 0 ? 1 : 0);
}

CopyText calls_text(const BatchText& b, const std::vector<int64_t>& expires_us) {
  CopyText t;
  for (size_t k = 0; k < b.calls.size(); ++k) {
    const IndexedCall& c = *b.calls[k];
    t.text(c.uuid)
        .text(c.sensor)
        .text_or_null(c.session)
        .text(c.sip_call_id)
        .text(c.caller)
        .text(c.callee)
        .time(c.start_ns)
        .time_or_null(c.answer_ns)
        .time(c.end_ns)
        .text(c.direction)
        .text_array(c.codecs)
        .number(c.duration_s)
        .boolean(c.answered)
        .boolean(c.joined_mid_call)
        .number(c.final_status)
        .text(c.end_reason)
        .number(c.streams.size())
        .text_or_null(c.audio_path);
    if (c.audio_path.empty()) {
      t.null();
    } else {
      t.number(c.audio_bytes);
    }
    t.text_or_null(c.audio_sha256);
    if (c.sample_rate) {
      t.number(c.sample_rate);
    } else {
      t.null();
    }
    t.time_or_null(c.audio_start_ns)
        .text_or_null(c.audio_error)
        .boolean(has_audio_of(c, "caller"))
        .boolean(has_audio_of(c, "callee"))
        .time(expires_us[k] * 1000)
        .end_row();
  }
  return t;
}

// A failure that retrying cannot fix (bad data or schema) versus one that it
// can (connection lost, server shutting down or out of resources).
bool is_transient(const std::exception& e) {
  // Serialization failures and deadlocks (class 40): libpqxx 6 throws them as
  // transaction_rollback, which is not an sql_error there.
  if (dynamic_cast<const pqxx::broken_connection*>(&e) || dynamic_cast<const pqxx::in_doubt_error*>(&e) ||
      dynamic_cast<const pqxx::transaction_rollback*>(&e))
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
  explicit Connection(std::vector<std::unique_ptr<pqxx::connection>> c) : conns_(std::move(c)) {}

  // Inserts a batch. Returns the number of new calls.
  //
  // With several connections the batch is split by call, and the parts are
  // inserted at the same time, each in its own transaction with its calls'
  // streams and DTMF, so that PostgreSQL works on more than one core. The
  // journal segment is removed only when every part is committed; if one
  // fails, the batch is inserted again later, and the calls of the parts that
  // made it are then found present.
  uint64_t insert(const std::vector<IndexRecord>& records, const IndexWriterConfig& cfg) {
    size_t calls = 0;
    for (const auto& r : records) calls += std::holds_alternative<IndexedCall>(r);
    // Small batches (the usual trickle) are not worth the threads.
    std::vector<BatchText> parts(calls >= 200 ? conns_.size() : 1);
    build_batch(records, parts);
    std::vector<std::future<uint64_t>> others;
    for (size_t i = 1; i < parts.size(); ++i)
      others.push_back(
          std::async(std::launch::async, [&, i] { return insert_part(*conns_[i], parts[i], cfg); }));
    uint64_t inserted = 0;
    std::exception_ptr failure;
    try {
      inserted += insert_part(*conns_[0], parts[0], cfg);
    } catch (...) {
      failure = std::current_exception();
    }
    for (auto& f : others) {
      try {
        inserted += f.get();
      } catch (...) {
        if (!failure) failure = std::current_exception();
      }
    }
    if (failure) std::rethrow_exception(failure);
    return inserted;
  }

 private:
  // One part in one transaction.
  //
  // Usually every call is new, and calls, streams and DTMF are copied
  // straight into their tables: the cheapest way in. When some were there
  // already (a journal segment inserted again after a crash), the copy fails
  // on the primary key, and the part goes through the staging tables
  // instead, so that only the new calls and their streams and DTMF are added.
  static uint64_t insert_part(pqxx::connection& conn, const BatchText& b, const IndexWriterConfig& cfg) {
    CopyText calls;
    try {
      pqxx::work tx(conn);
      if (!b.calls.empty()) calls = calls_text(b, expiries(tx, b, cfg));
      if (!b.streams.empty()) copy_in(tx, "callvault.streams", kStreamColumns, b.streams);
      if (!b.dtmf.empty()) copy_in(tx, "callvault.dtmf_events", kDtmfColumns, b.dtmf);
      // The calls last, just before the commit: their insert trigger updates
      // the hourly summary (0004), whose rows the other connection's part
      // may need too; they stay locked only from here to the commit.
      finish(tx, b, [&] {
        if (!b.calls.empty()) copy_in(tx, "callvault.calls", kCallColumns, calls);
      });
      return b.calls.size();
    } catch (const pqxx::unique_violation&) {
      // Rolled back; some of these calls are in the database already.
    }
    pqxx::work tx(conn);
    if (!b.calls.empty()) copy_in(tx, "stage_calls", kCallColumns, calls);
    if (!b.streams.empty()) copy_in(tx, "stage_streams", kStreamColumns, b.streams);
    if (!b.dtmf.empty()) copy_in(tx, "stage_dtmf", kDtmfColumns, b.dtmf);
    uint64_t new_calls = 0;
    finish(tx, b, [&] { new_calls = tx.exec(kInsertStaged)[0][0].as<uint64_t>(); });
    return new_calls;
  }

  static std::vector<int64_t> expiries(pqxx::work& tx, const BatchText& b, const IndexWriterConfig& cfg) {
    std::string starts = "{";
    char digits[24];
    for (size_t k = 0; k < b.calls.size(); ++k) {
      if (k) starts += ',';
      starts.append(digits, std::to_chars(digits, digits + sizeof digits, start_us(*b.calls[k])).ptr);
    }
    starts += '}';
    const pqxx::result r = tx.exec_params(kExpiries, cfg.retention_period, cfg.time_zone, starts);
    std::vector<int64_t> out;
    out.reserve(r.size());
    for (const auto& row : r) out.push_back(row[0].as<int64_t>());
    if (out.size() != b.calls.size())
      throw std::logic_error(fmt::format("{} expiry times for {} calls", out.size(), b.calls.size()));
    return out;
  }

  // Coverage and sessions, then `last` (the calls), then commit.
  template <typename Last>
  static void finish(pqxx::work& tx, const BatchText& b, Last&& last) {
    if (!b.coverage.empty()) {
      copy_in(tx, "stage_coverage", kCoverageColumns, b.coverage);
      tx.exec(kInsertCoverage);
    }
    for (const CaptureSessionRecord* s : b.sessions) {
      tx.exec_params(kUpsertSession, s->uuid, valid_utf8(s->sensor), s->kind, valid_utf8(s->source),
                     timestamp_text(s->started_ns), time_or_null(s->stopped_ns), text_or_null(s->stop_reason),
                     s->packets, s->bytes, s->kernel_drops, s->interface_drops, s->rtp_unmatched, s->calls,
                     s->calls_without_media, s->index_records_lost);
    }
    last();
    tx.commit();
  }

  std::vector<std::unique_ptr<pqxx::connection>> conns_;
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
    w->publish_journal_size();
    if (!w->pending_.empty())
      spdlog::info("index journal {}: {} segments from an earlier run will be inserted", config.journal_dir,
                   w->pending_.size());
  }
  w->thread_ = std::thread([p = w.get()] { p->run(); });
  return w;
}

void IndexWriter::publish_journal_size() {
  stats_.journal_segments = journal_->pending_segments();
  stats_.journal_records = journal_->pending_records();
  stats_.journal_bytes = journal_->pending_bytes();
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
  std::vector<std::unique_ptr<pqxx::connection>> conns;
  const size_t wanted = std::max<size_t>(1, config_.insert_connections);
  while (error.empty() && conns.size() < wanted) {
    auto conn = connect_database(config_.conninfo, config_.connect_timeout_s, error);
    if (!conn) break;
    try {
      if (conns.empty() && is_superuser(*conn)) {
        error = fmt::format(
            "the recorder connected as the superuser \"{}\"; it must use a role without superuser "
            "rights (callvault_writer)",
            conn->username());
      } else if (std::string problem = conns.empty() ? schema_problem(*conn) : ""; !problem.empty()) {
        error = problem;
      } else {
        pqxx::nontransaction tx(*conn);
        // A database that hangs (locks, stalled storage) counts as an outage:
        // the batch stays journaled and the queue cannot grow without bound.
        tx.exec("SET statement_timeout = '60s'");
        // Compiling a batch's statements with LLVM costs more than running
        // them (the planner cannot know the staging tables are small).
        tx.exec("SET jit = off");
        tx.exec(kStageCalls);
        // Validate the retention settings once, with a clear message.
        tx.exec_params("SELECT (now() AT TIME ZONE $2) + $1::interval", config_.retention_period,
                       config_.time_zone);
      }
    } catch (const std::exception& e) {
      error = one_line(e.what());
    }
    if (error.empty()) conns.push_back(std::move(conn));
  }
  if (error.empty()) {
    db_ = std::make_unique<Connection>(std::move(conns));
    stats_.connected = true;
    if (!last_db_error_.empty()) spdlog::info("index database reachable again; inserting what waited");
    last_db_error_.clear();
    backoff_ms_ = 0;
    return true;
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
      publish_journal_size();
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

bool IndexWriter::insert_pending(std::future<uint64_t>* started, size_t max_batches) {
  for (size_t batches = 0; !pending_.empty() && batches < max_batches; ++batches) {
    // The first batch may be in the database's hands already (run()).
    const bool in_flight = started && started->valid();
    if (!in_flight && !db_ && !connect()) return false;
    Pending& p = pending_.front();
    if (!in_flight && p.segment && p.records.empty()) {
      std::string error;
      if (!journal_->read(p.segment, p.records, error)) {
        spdlog::error("index journal: {}; the segment is set aside for inspection", error);
        std::string qerr;
        if (!journal_->quarantine(p.segment, qerr)) spdlog::error("index journal: {}", qerr);
        stats_.segments_quarantined.fetch_add(1);
        publish_journal_size();
        pending_.pop_front();
        continue;
      }
    }
    size_t calls = 0;
    for (const auto& r : p.records) calls += std::holds_alternative<IndexedCall>(r);
    try {
      const uint64_t inserted = in_flight ? started->get() : db_->insert(p.records, config_);
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
        publish_journal_size();
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
      publish_journal_size();
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
    // A pipeline when calls come faster than one batch at a time: while this
    // batch is journaled (serialised, written, fsynced), the oldest journaled
    // one goes to the database on another thread. pending_ is a deque, so
    // journal_batch()'s push_back leaves that batch where it is.
    std::future<uint64_t> inserting;
    // Connected before journaling, so that the batch also stays in memory.
    if (!db_ && (!batch.empty() || !pending_.empty()) && clock::now() >= next_attempt_) connect();
    if (!pending_.empty() && db_ && !pending_.front().records.empty()) {
      const std::vector<IndexRecord>& records = pending_.front().records;
      inserting = std::async(std::launch::async, [this, &records] { return db_->insert(records, config_); });
    }
    journal_batch(std::move(batch));
    bool more_coming = false;  // another full batch waits: this one goes in with the next journaling
    {
      std::lock_guard lock(mutex_);
      more_coming = !stopping_ && queue_.size() >= config_.batch_max;
    }
    if (inserting.valid()) {
      insert_pending(&inserting, more_coming ? 1 : SIZE_MAX);
    } else if (!more_coming && !pending_.empty() && (db_ || clock::now() >= next_attempt_)) {
      insert_pending();
    }
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
    return;
  }
}

}  // namespace cv
