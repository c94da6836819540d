// The index writer, the migrator and the roles against a real PostgreSQL.
//
// Needs CV_TEST_PG_ADMIN_URL: a libpq key=value connection string of a
// superuser on a cluster where callvault_writer and callvault_auditor connect
// without a password over the same socket (the ctest fixture `postgres` of
// tests/db/CMakeLists.txt). Every test creates its own database with a random
// name and drops it, so tests run in parallel. Without the variable the tests
// are skipped, except under CI=true, where that is a failure.
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <latch>
#include <map>
#include <nlohmann/json.hpp>
#include <pqxx/connection>
#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "storage/db/database.h"
#include "storage/db/index_writer.h"
#include "storage/db/migrations.h"
#include "storage/index/index_journal.h"
#include "tests/db/db_test_support.h"

namespace cv {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using dbtest::callvault_bin;
using dbtest::kNull;
using dbtest::run;
using dbtest::RunResult;
using dbtest::sqlstate_of;
using dbtest::TempDir;

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kT0 = 1'700'000'000 * kSec;  // 2023-11-14 22:13:20 UTC
const std::string kFFFD = "\xEF\xBF\xBD";      // U+FFFD REPLACEMENT CHARACTER

int64_t utc_ns(int y, int mo, int d, int h, int mi) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  return static_cast<int64_t>(timegm(&tm)) * kSec;
}

std::string uuid(int n) { return fmt::format("00000000-0000-4000-8000-{:012d}", n); }

// Everything logged through spdlog while it lives (the writer logs why it
// cannot use the database).
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  // Call when no other thread logs any more.
  std::string text() {
    spdlog::default_logger()->flush();
    return out_.str();
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

// What a writer run did (IndexWriterStats holds atomics and cannot be copied).
struct WriteResult {
  bool complete = false;
  uint64_t inserted = 0, already_present = 0, quarantined = 0, lost = 0, outages = 0;
  bool connected = false;
};

// Simple calls: one stream, answered, with audio.
IndexedCall simple_call(int n) {
  IndexedCall c;
  c.uuid = uuid(n);
  c.sensor = "test";
  c.session = "5e550000-0000-4000-8000-000000000099";
  c.sip_call_id = fmt::format("call-{}@test.example", n);
  c.start_ns = kT0 + n * kSec;
  c.answer_ns = c.start_ns + kSec;
  c.end_ns = c.start_ns + 10 * kSec;
  c.caller = "100";
  c.callee = fmt::format("{}", 200 + n);
  c.direction = "internal";
  c.codecs = {"PCMU"};
  c.duration_s = 9;
  c.answered = true;
  c.final_status = 200;
  c.end_reason = "bye";
  c.audio_path = fmt::format("2023/11/14/{}.wav", c.uuid);
  c.audio_bytes = 144044;
  c.audio_sha256 = std::string(64, 'a');
  c.sample_rate = 8000;
  c.audio_start_ns = c.answer_ns;
  IndexedStream s;
  s.ssrc = static_cast<uint32_t>(n);
  s.src_ip = "10.0.0.1";
  s.src_port = 16000;
  s.dst_ip = "10.0.0.2";
  s.dst_port = 17000;
  s.codec = "PCMU";
  s.payload_types = {0};
  s.packets = 450;
  s.channel = "caller";
  s.decoded = true;
  s.first_packet_ns = c.answer_ns;
  s.offset_samples = 0;
  c.streams.push_back(s);
  return c;
}

std::vector<IndexRecord> simple_calls(int from, int count) {
  std::vector<IndexRecord> v;
  for (int i = from; i < from + count; ++i) v.emplace_back(simple_call(i));
  return v;
}

class IndexDb : public dbtest::ScratchDatabaseTest {
 protected:
  IndexDb() : ScratchDatabaseTest("cv_index_test_") {}

  // Row `i` of a result by column name, NULL as "<NULL>".
  static std::map<std::string, std::string> row(const pqxx::result& r, size_t i = 0) {
    std::map<std::string, std::string> m;
    for (pqxx::row::size_type k = 0; k < r.columns(); ++k)
      m[r.column_name(k)] = r[i][k].is_null() ? kNull : r[i][k].as<std::string>();
    return m;
  }

  void migrate_db() {
    pqxx::connection c(conninfo());
    std::vector<std::string> applied;
    std::string error;
    ASSERT_TRUE(migrate(c, applied, error)) << error;
  }

  // A writer that takes everything submitted before finish() as one batch,
  // and retries quickly.
  [[nodiscard]] IndexWriterConfig writer_config(const std::string& journal,
                                                const std::string& user = "callvault_writer") const {
    IndexWriterConfig cfg;
    cfg.conninfo = conninfo(user);
    cfg.connect_timeout_s = 5;
    cfg.journal_dir = journal;
    cfg.batch_max = 100000;
    cfg.flush_interval_ms = 60'000;
    cfg.retry_min_ms = 50;
    cfg.retry_max_ms = 200;
    return cfg;
  }

  static WriteResult write(const std::vector<IndexRecord>& records, const IndexWriterConfig& cfg,
                           std::chrono::milliseconds wait = 30s) {
    std::string error;
    auto w = IndexWriter::start(cfg, error);
    if (!w) throw std::runtime_error("IndexWriter::start: " + error);
    for (const auto& r : records) w->submit(r);
    WriteResult res;
    res.complete = w->finish(wait);
    const auto& s = w->stats();
    res.inserted = s.calls_inserted;
    res.already_present = s.calls_already_present;
    res.quarantined = s.segments_quarantined;
    res.lost = s.records_lost;
    res.outages = s.db_outages;
    res.connected = s.connected;
    return res;
  }

  // call_uuid -> how many rows have it.
  std::map<std::string, int> call_counts() {
    std::map<std::string, int> m;
    for (const auto& r : sql("SELECT call_uuid::text, count(*) FROM callvault.calls GROUP BY 1"))
      m[r[0].as<std::string>()] = r[1].as<int>();
    return m;
  }

  static size_t journal_segments(const std::string& dir) {
    std::string error;
    auto j = IndexJournal::open(dir, error);
    if (!j) throw std::runtime_error(error);
    return j->pending_segments();
  }
};

// A time as "YYYY-MM-DD HH:MM:SS.ffffff" in UTC.
std::string utc(const std::string& column) {
  return fmt::format("to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS {0}", column);
}

// ---------------------------------------------------------------------------
// Every field reads back exactly
// ---------------------------------------------------------------------------

TEST_F(IndexDb, EveryFieldOfCallsStreamsDtmfCoverageAndSessionsReadsBackExactly) {
  migrate_db();
  const std::string session = "5e550000-0000-4000-8000-0000000000a1";

  IndexedCall full;
  full.uuid = "0b7e1c2a-3d4f-5a6b-8c9d-0e1f2a3b4c5d";
  full.sensor = "town-office-1";
  full.session = session;
  full.sip_call_id = "a84b4c76e66710@pc33.example.org";
  full.start_ns = kT0 + 123'456'000;              // 22:13:20.123456
  full.answer_ns = kT0 + 2 * kSec + 623'456'000;  // 22:13:22.623456
  full.end_ns = kT0 + 62 * kSec + 1'000;          // 22:14:22.000001
  full.caller = "+48 22 555 01 00";
  full.callee = "4822555123";
  full.direction = "incoming";
  full.codecs = {"PCMA", "telephone-event", "we\"ird,co\\dec {x}"};
  full.duration_s = 59.376;
  full.answered = true;
  full.joined_mid_call = true;
  full.final_status = 200;
  full.end_reason = "bye";
  full.audio_path = "2023/11/14/0b7e1c2a-3d4f-5a6b-8c9d-0e1f2a3b4c5d.wav";
  full.audio_bytes = 950060;
  full.audio_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  full.sample_rate = 16000;
  full.audio_start_ns = kT0 + 2 * kSec + 640'000'999;  // sub-microsecond part: truncated
  IndexedStream s1;
  s1.ssrc = 0xDEADBEEF;  // above INT32_MAX
  s1.src_ip = "10.0.0.1";
  s1.src_port = 16000;
  s1.dst_ip = "2001:db8::5";
  s1.dst_port = 65535;
  s1.codec = "PCMA";
  s1.payload_types = {8, 101};
  s1.packets = 2969;
  s1.lost = 3;
  s1.duplicates = 1;
  s1.late = 2;
  s1.channel = "caller";
  s1.decoded = true;
  s1.first_packet_ns = kT0 + 2 * kSec + 640'000'000;
  s1.offset_samples = 0;
  IndexedStream s2;
  s2.ssrc = 1;
  s2.src_ip = "192.168.1.20";
  s2.src_port = 1;
  s2.dst_ip = "10.0.0.1";
  s2.dst_port = 16002;
  s2.codec = "G729";
  s2.payload_types = {18};
  s2.packets = 7;
  s2.channel = "callee";
  s2.decoded = false;
  s2.first_packet_ns = kT0 + 3 * kSec + 1'000;
  s2.offset_samples = -1;
  full.streams = {s1, s2};
  full.dtmf = {{'5', kT0 + 10 * kSec + 500'000'000, 160, "caller", "rfc4733"},
               {'#', kT0 + 11 * kSec + 1'000, 0, "callee", "sip_info"}};

  // Rejected, no session, no answer, no audio, no media, an audio error.
  IndexedCall bare;
  bare.uuid = "0b7e1c2a-3d4f-5a6b-8c9d-0e1f2a3b4c5e";
  bare.sensor = "town-office-1";
  bare.sip_call_id = "reject-1@example.org";
  bare.start_ns = kT0 + 500 * kSec;
  bare.end_ns = kT0 + 501 * kSec;
  bare.caller = "101";
  bare.callee = "0700123456";
  bare.direction = "outgoing";
  bare.duration_s = 1;
  bare.final_status = 486;
  bare.end_reason = "rejected";
  bare.audio_error = "cannot write: No space left on device";
  // No audio and no error: every audio column NULL.
  IndexedCall silent = bare;
  silent.uuid = "0b7e1c2a-3d4f-5a6b-8c9d-0e1f2a3b4c5f";
  silent.sip_call_id = "reject-2@example.org";
  silent.audio_error.clear();
  silent.direction = "unknown";
  silent.end_reason = "cancel";
  silent.final_status = 0;

  CaptureSessionRecord sess;
  sess.uuid = session;
  sess.sensor = "town-office-1";
  sess.kind = "live";
  sess.source = "eth1";
  sess.started_ns = kT0 - 3600 * kSec + 7'000;
  sess.stopped_ns = kT0 + 3600 * kSec + 8'000;
  sess.stop_reason = "signal";
  sess.packets = 5'000'000'000ULL;  // above INT32_MAX
  sess.bytes = 1'234'567'890'123ULL;
  sess.kernel_drops = 11;
  sess.interface_drops = 12;
  sess.rtp_unmatched = 13;
  sess.calls = 14;
  sess.calls_without_media = 15;
  sess.index_records_lost = 16;
  CoverageInterval cov;
  cov.session = session;
  cov.start_ns = kT0;
  cov.end_ns = kT0 + 60 * kSec + 999'999'000;
  cov.packets = 61000;
  cov.bytes = 12'000'000'000ULL;
  cov.kernel_drops = 1;
  cov.interface_drops = 2;
  cov.rtp_unmatched = 3;
  cov.sip_messages = 4;
  cov.calls_started = 5;
  cov.calls_without_media = 6;
  cov.malformed = 7;

  TempDir dir;
  auto res = write({full, bare, silent, sess, cov}, writer_config(dir.path() + "/journal"));
  ASSERT_TRUE(res.complete);
  EXPECT_EQ(res.inserted, 3u);
  EXPECT_EQ(res.already_present, 0u);
  EXPECT_EQ(journal_segments(dir.path() + "/journal"), 0u);

  const std::string call_query =
      "SELECT call_uuid::text AS call_uuid, sensor, session_uuid::text AS session_uuid, sip_call_id, caller, "
      "callee, " +
      utc("start_time") + ", " + utc("answer_time") + ", " + utc("end_time") +
      ", direction, array_to_json(codecs)::text AS codecs, duration_s::text AS duration_s, answered, "
      "joined_mid_call, final_status, end_reason, stream_count, audio_path, audio_bytes, audio_sha256, "
      "sample_rate, " +
      utc("audio_start") + ", audio_error, " + utc("expires_at") +
      ", indexed_at IS NOT NULL AS indexed FROM callvault.calls WHERE call_uuid = ";

  auto c = row(sql(call_query + "'" + full.uuid + "'"));
  EXPECT_EQ(c["call_uuid"], full.uuid);
  EXPECT_EQ(c["sensor"], "town-office-1");
  EXPECT_EQ(c["session_uuid"], session);
  EXPECT_EQ(c["sip_call_id"], full.sip_call_id);
  EXPECT_EQ(c["caller"], "+48 22 555 01 00");
  EXPECT_EQ(c["callee"], "4822555123");
  EXPECT_EQ(c["start_time"], "2023-11-14 22:13:20.123456");
  EXPECT_EQ(c["answer_time"], "2023-11-14 22:13:22.623456");
  EXPECT_EQ(c["end_time"], "2023-11-14 22:14:22.000001");
  EXPECT_EQ(c["direction"], "incoming");
  EXPECT_EQ(nlohmann::json::parse(c["codecs"]).get<std::vector<std::string>>(), full.codecs);
  EXPECT_EQ(c["duration_s"], "59.376");
  EXPECT_EQ(c["answered"], "t");
  EXPECT_EQ(c["joined_mid_call"], "t");
  EXPECT_EQ(c["final_status"], "200");
  EXPECT_EQ(c["end_reason"], "bye");
  EXPECT_EQ(c["stream_count"], "2");
  EXPECT_EQ(c["audio_path"], full.audio_path);
  EXPECT_EQ(c["audio_bytes"], "950060");
  EXPECT_EQ(c["audio_sha256"], full.audio_sha256);
  EXPECT_EQ(c["sample_rate"], "16000");
  EXPECT_EQ(c["audio_start"], "2023-11-14 22:13:22.640000");
  EXPECT_EQ(c["audio_error"], kNull);
  EXPECT_EQ(c["expires_at"], "2023-12-14 22:13:20.123456");  // 1 month, UTC (the defaults)
  EXPECT_EQ(c["indexed"], "t");

  c = row(sql(call_query + "'" + bare.uuid + "'"));
  EXPECT_EQ(c["session_uuid"], kNull);
  EXPECT_EQ(c["answer_time"], kNull);
  EXPECT_EQ(c["start_time"], "2023-11-14 22:21:40.000000");
  EXPECT_EQ(c["end_time"], "2023-11-14 22:21:41.000000");
  EXPECT_EQ(c["codecs"], "[]");
  EXPECT_EQ(c["answered"], "f");
  EXPECT_EQ(c["joined_mid_call"], "f");
  EXPECT_EQ(c["final_status"], "486");
  EXPECT_EQ(c["end_reason"], "rejected");
  EXPECT_EQ(c["direction"], "outgoing");
  EXPECT_EQ(c["stream_count"], "0");
  EXPECT_EQ(c["audio_path"], kNull);
  EXPECT_EQ(c["audio_bytes"], kNull);
  EXPECT_EQ(c["audio_sha256"], kNull);
  EXPECT_EQ(c["sample_rate"], kNull);
  EXPECT_EQ(c["audio_start"], kNull);
  EXPECT_EQ(c["audio_error"], "cannot write: No space left on device");

  c = row(sql(call_query + "'" + silent.uuid + "'"));
  EXPECT_EQ(c["audio_path"], kNull);
  EXPECT_EQ(c["audio_error"], kNull);
  EXPECT_EQ(c["direction"], "unknown");
  EXPECT_EQ(c["final_status"], "0");

  auto streams = sql(
      "SELECT ordinal, ssrc, host(src_ip) AS src_ip, masklen(src_ip) AS src_mask, src_port, host(dst_ip) AS "
      "dst_ip, masklen(dst_ip) AS dst_mask, dst_port, codec, array_to_json(payload_types)::text AS pts, "
      "packets, lost, duplicates, late, channel, decoded, " +
      utc("first_packet") + ", offset_samples FROM callvault.streams WHERE call_uuid = '" + full.uuid +
      "' ORDER BY ordinal");
  ASSERT_EQ(streams.size(), 2u);
  auto st = row(streams, 0);
  EXPECT_EQ(st["ordinal"], "0");
  EXPECT_EQ(st["ssrc"], "3735928559");
  EXPECT_EQ(st["src_ip"], "10.0.0.1");
  EXPECT_EQ(st["src_mask"], "32");
  EXPECT_EQ(st["src_port"], "16000");
  EXPECT_EQ(st["dst_ip"], "2001:db8::5");
  EXPECT_EQ(st["dst_mask"], "128");
  EXPECT_EQ(st["dst_port"], "65535");
  EXPECT_EQ(st["codec"], "PCMA");
  EXPECT_EQ(st["pts"], "[8,101]");
  EXPECT_EQ(st["packets"], "2969");
  EXPECT_EQ(st["lost"], "3");
  EXPECT_EQ(st["duplicates"], "1");
  EXPECT_EQ(st["late"], "2");
  EXPECT_EQ(st["channel"], "caller");
  EXPECT_EQ(st["decoded"], "t");
  EXPECT_EQ(st["first_packet"], "2023-11-14 22:13:22.640000");
  EXPECT_EQ(st["offset_samples"], "0");
  st = row(streams, 1);
  EXPECT_EQ(st["ordinal"], "1");
  EXPECT_EQ(st["ssrc"], "1");
  EXPECT_EQ(st["src_ip"], "192.168.1.20");
  EXPECT_EQ(st["src_port"], "1");
  EXPECT_EQ(st["dst_ip"], "10.0.0.1");
  EXPECT_EQ(st["dst_port"], "16002");
  EXPECT_EQ(st["codec"], "G729");
  EXPECT_EQ(st["pts"], "[18]");
  EXPECT_EQ(st["packets"], "7");
  EXPECT_EQ(st["lost"], "0");
  EXPECT_EQ(st["channel"], "callee");
  EXPECT_EQ(st["decoded"], "f");
  EXPECT_EQ(st["first_packet"], "2023-11-14 22:13:23.000001");
  EXPECT_EQ(st["offset_samples"], "-1");

  auto dtmf = sql("SELECT ordinal, digit, " + utc("at") +
                  ", duration_ms, channel, source FROM callvault.dtmf_events WHERE call_uuid = '" +
                  full.uuid + "' ORDER BY ordinal");
  ASSERT_EQ(dtmf.size(), 2u);
  auto d = row(dtmf, 0);
  EXPECT_EQ(d["ordinal"], "0");
  EXPECT_EQ(d["digit"], "5");
  EXPECT_EQ(d["at"], "2023-11-14 22:13:30.500000");
  EXPECT_EQ(d["duration_ms"], "160");
  EXPECT_EQ(d["channel"], "caller");
  EXPECT_EQ(d["source"], "rfc4733");
  d = row(dtmf, 1);
  EXPECT_EQ(d["ordinal"], "1");
  EXPECT_EQ(d["digit"], "#");
  EXPECT_EQ(d["at"], "2023-11-14 22:13:31.000001");
  EXPECT_EQ(d["duration_ms"], "0");
  EXPECT_EQ(d["channel"], "callee");
  EXPECT_EQ(d["source"], "sip_info");
  EXPECT_EQ(value("SELECT count(*) FROM callvault.streams"), "2");
  EXPECT_EQ(value("SELECT count(*) FROM callvault.dtmf_events"), "2");

  auto cov_rows =
      sql("SELECT session_uuid::text AS session_uuid, " + utc("interval_start") + ", " + utc("interval_end") +
          ", packets, bytes, kernel_drops, interface_drops, rtp_unmatched, sip_messages, calls_started, "
          "calls_without_media, malformed FROM callvault.coverage_intervals");
  ASSERT_EQ(cov_rows.size(), 1u);
  auto v = row(cov_rows);
  EXPECT_EQ(v["session_uuid"], session);
  EXPECT_EQ(v["interval_start"], "2023-11-14 22:13:20.000000");
  EXPECT_EQ(v["interval_end"], "2023-11-14 22:14:20.999999");
  EXPECT_EQ(v["packets"], "61000");
  EXPECT_EQ(v["bytes"], "12000000000");
  EXPECT_EQ(v["kernel_drops"], "1");
  EXPECT_EQ(v["interface_drops"], "2");
  EXPECT_EQ(v["rtp_unmatched"], "3");
  EXPECT_EQ(v["sip_messages"], "4");
  EXPECT_EQ(v["calls_started"], "5");
  EXPECT_EQ(v["calls_without_media"], "6");
  EXPECT_EQ(v["malformed"], "7");

  auto ss = sql("SELECT session_uuid::text AS session_uuid, sensor, kind, source, " + utc("started_at") +
                ", " + utc("stopped_at") +
                ", stop_reason, packets, bytes, kernel_drops, interface_drops, rtp_unmatched, calls, "
                "calls_without_media, index_records_lost FROM callvault.capture_sessions");
  ASSERT_EQ(ss.size(), 1u);
  auto s = row(ss);
  EXPECT_EQ(s["session_uuid"], session);
  EXPECT_EQ(s["sensor"], "town-office-1");
  EXPECT_EQ(s["kind"], "live");
  EXPECT_EQ(s["source"], "eth1");
  EXPECT_EQ(s["started_at"], "2023-11-14 21:13:20.000007");
  EXPECT_EQ(s["stopped_at"], "2023-11-14 23:13:20.000008");
  EXPECT_EQ(s["stop_reason"], "signal");
  EXPECT_EQ(s["packets"], "5000000000");
  EXPECT_EQ(s["bytes"], "1234567890123");
  EXPECT_EQ(s["kernel_drops"], "11");
  EXPECT_EQ(s["interface_drops"], "12");
  EXPECT_EQ(s["rtp_unmatched"], "13");
  EXPECT_EQ(s["calls"], "14");
  EXPECT_EQ(s["calls_without_media"], "15");
  EXPECT_EQ(s["index_records_lost"], "16");
}

// ---------------------------------------------------------------------------
// Each call exactly once
// ---------------------------------------------------------------------------

TEST_F(IndexDb, SameBatchSubmittedTwiceInsertsEachCallOnce) {
  migrate_db();
  TempDir dir;
  const auto batch = simple_calls(1, 50);
  auto first = write(batch, writer_config(dir.path() + "/journal"));
  ASSERT_TRUE(first.complete);
  EXPECT_EQ(first.inserted, 50u);
  EXPECT_EQ(first.already_present, 0u);
  auto second = write(batch, writer_config(dir.path() + "/journal"));
  ASSERT_TRUE(second.complete);
  EXPECT_EQ(second.inserted, 0u);
  EXPECT_EQ(second.already_present, 50u);
  EXPECT_EQ(second.quarantined, 0u);
  auto counts = call_counts();
  ASSERT_EQ(counts.size(), 50u);
  for (int i = 1; i <= 50; ++i) EXPECT_EQ(counts[uuid(i)], 1) << uuid(i);
  EXPECT_EQ(value("SELECT count(*) FROM callvault.streams"), "50");
  EXPECT_EQ(journal_segments(dir.path() + "/journal"), 0u);
}

// A crash between the commit and the removal of the segment: the next run
// inserts the segment again, and only what is new arrives.
TEST_F(IndexDb, ReplayedJournalSegmentInsertsNothingTwice) {
  migrate_db();
  TempDir dir;
  const std::string journal = dir.path() + "/journal";
  auto first = write(simple_calls(1, 30), writer_config(journal));
  ASSERT_TRUE(first.complete);
  ASSERT_EQ(first.inserted, 30u);
  {
    // The segment as the writer had journaled it, plus 20 calls never inserted.
    std::string error;
    auto j = IndexJournal::open(journal, error);
    ASSERT_TRUE(j) << error;
    auto records = simple_calls(1, 30);
    auto more = simple_calls(31, 20);
    records.insert(records.end(), more.begin(), more.end());
    ASSERT_TRUE(j->append(records).ok);
    ASSERT_TRUE(j->append(simple_calls(40, 5)).ok);  // a second segment overlapping the first
  }
  auto replay = write({}, writer_config(journal));  // nothing new: only the journal
  ASSERT_TRUE(replay.complete);
  EXPECT_EQ(replay.inserted, 20u);
  EXPECT_EQ(replay.already_present, 35u);
  EXPECT_EQ(replay.quarantined, 0u);
  EXPECT_EQ(journal_segments(journal), 0u);
  auto counts = call_counts();
  ASSERT_EQ(counts.size(), 50u);
  for (int i = 1; i <= 50; ++i) EXPECT_EQ(counts[uuid(i)], 1) << uuid(i);
  EXPECT_EQ(value("SELECT count(*) FROM callvault.streams"), "50");
}

TEST_F(IndexDb, DuplicateUuidWithinOneBatchKeepsTheFirst) {
  migrate_db();
  TempDir dir;
  IndexedCall a = simple_call(1);
  IndexedCall a_again = a;
  a_again.caller = "999";
  a_again.streams.push_back(a.streams[0]);  // would break the streams key if inserted
  auto res = write({a, simple_call(2), a_again, simple_call(3)}, writer_config(dir.path() + "/journal"));
  ASSERT_TRUE(res.complete);
  EXPECT_EQ(res.inserted, 3u);
  EXPECT_EQ(res.already_present, 1u);
  EXPECT_EQ(res.quarantined, 0u);
  auto counts = call_counts();
  EXPECT_EQ(counts.size(), 3u);
  EXPECT_EQ(counts[uuid(1)], 1);
  EXPECT_EQ(value("SELECT caller FROM callvault.calls WHERE call_uuid = '" + uuid(1) + "'"), "100");
  EXPECT_EQ(value("SELECT count(*) FROM callvault.streams WHERE call_uuid = '" + uuid(1) + "'"), "1");
}

// SIP fields come off the wire. PostgreSQL text holds neither NUL nor invalid
// UTF-8: such bytes become U+FFFD, and the batch they are in is not lost.
TEST_F(IndexDb, InvalidUtf8AndNulBytesAreStoredAsReplacementCharacters) {
  migrate_db();
  IndexedCall bad = simple_call(1);
  bad.sip_call_id = std::string("abc\xff\xfe@host");
  bad.caller = std::string(
      "12\0"
      "34",
      5);
  bad.callee = std::string("\xc0\xafx");              // overlong '/'
  bad.sensor = "Za\xc5\xbc\xc3\xb3\xc5\x82\xc4\x87";  // valid: Zażółć
  bad.end_reason = "bye";
  bad.codecs = {std::string("PC\0MU", 5), "\xed\xa0\x80"};  // NUL, a UTF-16 surrogate
  bad.streams[0].codec = std::string("ab\xe2\x82");         // cut inside a character
  bad.dtmf = {{'\0', bad.start_ns, 100, "caller", "sip_info"}};
  bad.audio_error = std::string("disk \x80 error");
  bad.audio_path.clear();
  CaptureSessionRecord sess;
  sess.uuid = "5e550000-0000-4000-8000-0000000000b1";
  sess.sensor = std::string("s\xff");
  sess.kind = "replay";
  sess.source = std::string("file\0.pcap", 10);
  sess.started_ns = kT0;
  TempDir dir;
  auto res = write({simple_call(2), bad, simple_call(3), sess}, writer_config(dir.path() + "/journal"));
  ASSERT_TRUE(res.complete);
  EXPECT_EQ(res.inserted, 3u);
  EXPECT_EQ(res.quarantined, 0u);
  EXPECT_EQ(res.lost, 0u);
  EXPECT_EQ(call_counts().size(), 3u);
  auto c = row(sql(
      "SELECT sip_call_id, caller, callee, sensor, array_to_json(codecs)::text AS codecs, audio_error FROM "
      "callvault.calls WHERE call_uuid = '" +
      uuid(1) + "'"));
  EXPECT_EQ(c["sip_call_id"], "abc" + kFFFD + kFFFD + "@host");
  EXPECT_EQ(c["caller"], "12" + kFFFD + "34");
  EXPECT_EQ(c["callee"], kFFFD + kFFFD + "x");
  EXPECT_EQ(c["sensor"], "Za\xc5\xbc\xc3\xb3\xc5\x82\xc4\x87");
  EXPECT_EQ(nlohmann::json::parse(c["codecs"]).get<std::vector<std::string>>(),
            (std::vector<std::string>{"PC" + kFFFD + "MU", kFFFD + kFFFD + kFFFD}));
  EXPECT_EQ(c["audio_error"], "disk " + kFFFD + " error");
  EXPECT_EQ(value("SELECT codec FROM callvault.streams WHERE call_uuid = '" + uuid(1) + "'"),
            "ab" + kFFFD + kFFFD);
  EXPECT_EQ(value("SELECT digit FROM callvault.dtmf_events WHERE call_uuid = '" + uuid(1) + "'"), kFFFD);
  auto s = row(sql("SELECT sensor, source FROM callvault.capture_sessions"));
  EXPECT_EQ(s["sensor"], "s" + kFFFD);
  EXPECT_EQ(s["source"], "file" + kFFFD + ".pcap");
}

// ---------------------------------------------------------------------------
// Failed inserts: retried when retrying can help, set aside when it cannot
// ---------------------------------------------------------------------------

class IndexDbFailures : public IndexDb {
 protected:
  // As admin: the next INSERT into callvault.calls fails once with `sqlstate`.
  void fail_next_insert_once(const std::string& sqlstate) {
    sql("CREATE SEQUENCE public.cv_fail_seq;"
        "CREATE FUNCTION public.cv_fail_once() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$ "
        "BEGIN IF nextval('public.cv_fail_seq') = 1 THEN "
        "RAISE EXCEPTION 'simulated failure' USING ERRCODE = '" +
        sqlstate +
        "'; END IF; RETURN NULL; END $$;"
        "CREATE TRIGGER cv_fail_once BEFORE INSERT ON callvault.calls "
        "FOR EACH STATEMENT EXECUTE FUNCTION public.cv_fail_once()");
  }
};

// A serialization failure or deadlock (SQLSTATE class 40) is transient: the
// batch is inserted on the next attempt, not set aside.
TEST_F(IndexDbFailures, SerializationFailureIsRetriedNotSetAside) {
  migrate_db();
  fail_next_insert_once("40001");
  TempDir dir;
  LogCapture log;
  auto res = write(simple_calls(1, 5), writer_config(dir.path() + "/journal"), 20s);
  EXPECT_TRUE(res.complete) << log.text();
  EXPECT_EQ(res.inserted, 5u) << log.text();
  EXPECT_EQ(res.quarantined, 0u) << log.text();
  EXPECT_EQ(call_counts().size(), 5u);
  EXPECT_EQ(value("SELECT last_value FROM public.cv_fail_seq"), "2");  // failed once, then succeeded
}

// Without a journal (or when it cannot be written) a batch lives only in
// memory: a transient failure must not drop it.
TEST_F(IndexDbFailures, UnjournaledBatchSurvivesATransientFailure) {
  migrate_db();
  fail_next_insert_once("55P03");  // lock_not_available: transient
  auto cfg = writer_config("");
  LogCapture log;
  auto res = write(simple_calls(1, 5), cfg, 20s);
  EXPECT_TRUE(res.complete) << log.text();
  EXPECT_EQ(res.inserted, 5u) << log.text();
  EXPECT_EQ(res.lost, 0u);
  EXPECT_EQ(call_counts().size(), 5u);
}

// A batch the database refuses for its content is set aside in the journal
// (<seq>.jsonl.bad) and the batches after it go on.
TEST_F(IndexDbFailures, RefusedBatchIsSetAsideAndLaterBatchesGoOn) {
  migrate_db();
  sql("CREATE FUNCTION public.cv_poison() RETURNS trigger LANGUAGE plpgsql AS $$ "
      "BEGIN IF NEW.caller = 'poison' THEN RAISE EXCEPTION 'poisoned' USING ERRCODE = '23514'; END IF; "
      "RETURN NEW; END $$;"
      "CREATE TRIGGER cv_poison BEFORE INSERT ON callvault.calls "
      "FOR EACH ROW EXECUTE FUNCTION public.cv_poison()");
  TempDir dir;
  const std::string journal = dir.path() + "/journal";
  auto cfg = writer_config(journal);
  cfg.batch_max = 3;
  auto records = simple_calls(1, 6);
  std::get<IndexedCall>(records[1]).caller = "poison";
  LogCapture log;
  auto res = write(records, cfg, 20s);
  EXPECT_TRUE(res.complete);
  EXPECT_EQ(res.quarantined, 1u);
  EXPECT_EQ(res.inserted, 3u);
  auto counts = call_counts();
  EXPECT_EQ(counts.size(), 3u);
  for (int i = 4; i <= 6; ++i) EXPECT_EQ(counts[uuid(i)], 1) << uuid(i);
  size_t bad = 0;
  for (const auto& e : fs::directory_iterator(journal)) bad += e.path().string().ends_with(".jsonl.bad");
  EXPECT_EQ(bad, 1u);
  EXPECT_NE(log.text().find("refused"), std::string::npos) << log.text();
}

// ---------------------------------------------------------------------------
// Sessions: the stop record wins, whatever the order
// ---------------------------------------------------------------------------

TEST_F(IndexDb, SessionStopRecordWinsOverStartInAnyOrder) {
  migrate_db();
  auto start_of = [](int n) {
    CaptureSessionRecord s;
    s.uuid = fmt::format("5e550000-0000-4000-8000-{:012d}", n);
    s.sensor = "town-office-1";
    s.kind = "live";
    s.source = "eth1";
    s.started_ns = kT0;
    s.packets = 10;
    return s;
  };
  auto stop_of = [](CaptureSessionRecord s) {
    s.stopped_ns = kT0 + 3600 * kSec;
    s.stop_reason = "signal";
    s.packets = 1000;
    s.calls = 42;
    return s;
  };
  TempDir dir;
  const std::string journal = dir.path() + "/journal";
  // 1: start, then stop (two runs). 2: stop, then start (two runs).
  // 3: start and stop in one batch. 4: stop and start in one batch.
  ASSERT_TRUE(write({start_of(1)}, writer_config(journal)).complete);
  ASSERT_TRUE(write({stop_of(start_of(1))}, writer_config(journal)).complete);
  ASSERT_TRUE(write({stop_of(start_of(2))}, writer_config(journal)).complete);
  ASSERT_TRUE(write({start_of(2)}, writer_config(journal)).complete);
  ASSERT_TRUE(
      write({start_of(3), stop_of(start_of(3)), stop_of(start_of(4)), start_of(4)}, writer_config(journal))
          .complete);
  auto r = sql("SELECT session_uuid::text, " + utc("stopped_at") +
               ", stop_reason, packets, calls FROM callvault.capture_sessions ORDER BY 1");
  ASSERT_EQ(r.size(), 4u);
  for (size_t i = 0; i < r.size(); ++i) {
    auto s = row(r, i);
    SCOPED_TRACE(s["session_uuid"]);
    EXPECT_EQ(s["stopped_at"], "2023-11-14 23:13:20.000000");
    EXPECT_EQ(s["stop_reason"], "signal");
    EXPECT_EQ(s["packets"], "1000");
    EXPECT_EQ(s["calls"], "42");
  }
  // A start record alone leaves the session open.
  ASSERT_TRUE(write({start_of(5)}, writer_config(journal)).complete);
  EXPECT_EQ(value("SELECT stopped_at IS NULL AND packets = 10 FROM callvault.capture_sessions WHERE "
                  "session_uuid = '5e550000-0000-4000-8000-000000000005'"),
            "t");
}

// ---------------------------------------------------------------------------
// Retention: start + 1 calendar month in the office's time zone
// ---------------------------------------------------------------------------

TEST_F(IndexDb, ExpiresAtIsOneCalendarMonthInTheConfiguredTimeZone) {
  migrate_db();
  struct Case {
    int64_t start;
    const char* expires;  // UTC
    const char* why;
  };
  const std::vector<Case> warsaw = {
      {utc_ns(2026, 3, 28, 23, 30), "2026-04-28 22:30:00.000000",
       "local 03-29 00:30 CET -> 04-29 00:30 CEST: across the spring DST change"},
      {utc_ns(2026, 1, 31, 10, 0), "2026-02-28 10:00:00.000000", "Jan 31 -> Feb 28"},
      {utc_ns(2026, 2, 28, 23, 30), "2026-03-31 22:30:00.000000",
       "UTC Feb 28 is local Mar 1: the local calendar counts (-> local Apr 1 00:30 CEST)"},
      {utc_ns(2026, 10, 24, 22, 30), "2026-11-24 23:30:00.000000",
       "local 10-25 00:30 CEST -> 11-25 00:30 CET: across the autumn DST change"},
      {utc_ns(2026, 3, 31, 10, 0), "2026-04-30 10:00:00.000000", "Mar 31 -> Apr 30"},
  };
  const std::vector<Case> utc_zone = {
      {utc_ns(2028, 1, 31, 12, 0), "2028-02-29 12:00:00.000000", "Jan 31 -> Feb 29 in a leap year"},
      {utc_ns(2026, 3, 28, 23, 30), "2026-04-28 23:30:00.000000", "UTC has no DST"},
  };
  TempDir dir;
  std::vector<IndexRecord> records;
  int n = 1;
  for (const auto& c : warsaw) {
    IndexedCall call = simple_call(n++);
    call.start_ns = c.start;
    records.emplace_back(call);
  }
  auto cfg = writer_config(dir.path() + "/journal");
  cfg.time_zone = "Europe/Warsaw";
  cfg.retention_period = "1 month";
  ASSERT_TRUE(write(records, cfg).complete);
  records.clear();
  for (const auto& c : utc_zone) {
    IndexedCall call = simple_call(n++);
    call.start_ns = c.start;
    records.emplace_back(call);
  }
  cfg.time_zone = "UTC";
  ASSERT_TRUE(write(records, cfg).complete);

  n = 1;
  for (const auto* cases : {&warsaw, &utc_zone}) {
    for (const auto& c : *cases) {
      EXPECT_EQ(value("SELECT " + utc("expires_at") + " FROM callvault.calls WHERE call_uuid = '" +
                      uuid(n++) + "'"),
                c.expires)
          << c.why;
    }
  }
}

// ---------------------------------------------------------------------------
// Schema versions and the migrator
// ---------------------------------------------------------------------------

TEST_F(IndexDb, SchemaProblemOfAnEmptyDatabaseNamesMigrate) {
  pqxx::connection c(conninfo());
  const std::string problem = schema_problem(c);
  EXPECT_NE(problem.find("callvault db migrate"), std::string::npos) << problem;
  EXPECT_NE(problem.find(db_), std::string::npos) << problem;

  // The writer does not insert into it: the records stay journaled, and it says why.
  LogCapture log;
  TempDir dir;
  auto res = write(simple_calls(1, 3), writer_config(dir.path() + "/journal"), 1500ms);
  EXPECT_FALSE(res.complete);
  EXPECT_FALSE(res.connected);
  EXPECT_EQ(res.inserted, 0u);
  EXPECT_GE(journal_segments(dir.path() + "/journal"), 1u);
  EXPECT_NE(log.text().find("callvault db migrate"), std::string::npos) << log.text();
}

TEST_F(IndexDb, SchemaProblemOfAnOlderVersionNamesMigrate) {
  migrate_db();
  const int latest = latest_schema_version();
  ASSERT_GE(latest, 2);
  sql(fmt::format("DELETE FROM callvault.schema_migrations WHERE version = {}", latest));
  pqxx::connection c(conninfo("callvault_writer"));
  const std::string problem = schema_problem(c);
  EXPECT_NE(problem.find("callvault db migrate"), std::string::npos) << problem;
  EXPECT_NE(problem.find(fmt::format("version {}", latest - 1)), std::string::npos) << problem;
  EXPECT_EQ(problem.find("upgrade callvault"), std::string::npos) << problem;
}

TEST_F(IndexDb, SchemaProblemOfANewerVersionSaysUpgradeCallvault) {
  migrate_db();
  {
    pqxx::connection c(conninfo("callvault_writer"));
    EXPECT_EQ(schema_problem(c), "");
  }
  sql("INSERT INTO callvault.schema_migrations (version, name, sha256) VALUES (999, '0999_future', 'x')");
  pqxx::connection c(conninfo("callvault_writer"));
  const std::string problem = schema_problem(c);
  EXPECT_NE(problem.find("upgrade callvault"), std::string::npos) << problem;
  EXPECT_NE(problem.find("999"), std::string::npos) << problem;
  EXPECT_EQ(problem.find("callvault db migrate"), std::string::npos) << problem;
}

TEST_F(IndexDb, MigrateIsIdempotent) {
  std::vector<std::string> shipped;
  for (const auto& m : shipped_migrations()) shipped.emplace_back(m.name);
  ASSERT_FALSE(shipped.empty());
  pqxx::connection c(conninfo());
  std::vector<std::string> applied;
  std::string error;
  ASSERT_TRUE(migrate(c, applied, error)) << error;
  EXPECT_EQ(applied, shipped);
  applied.clear();
  ASSERT_TRUE(migrate(c, applied, error)) << error;
  EXPECT_TRUE(applied.empty());
  EXPECT_EQ(schema_problem(c), "");
  EXPECT_EQ(value("SELECT count(*) FROM callvault.schema_migrations"), std::to_string(shipped.size()));

  // The command line: nothing left to apply.
  auto r = run({callvault_bin(), "--db", conninfo(), "db", "migrate"});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.find("applied"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(fmt::format("schema version {}", latest_schema_version())), std::string::npos)
      << r.output;
}

TEST_F(IndexDb, ConcurrentMigratesDoNotFail) {
  constexpr int kMigrators = 2;
  std::latch go(kMigrators);
  std::vector<std::vector<std::string>> applied(kMigrators);
  std::vector<std::string> errors(kMigrators);
  std::vector<int> ok(kMigrators, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kMigrators; ++i) {
    threads.emplace_back([&, i] {
      try {
        pqxx::connection c(conninfo());
        go.arrive_and_wait();
        ok[i] = migrate(c, applied[i], errors[i]);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  std::multiset<std::string> all;
  for (int i = 0; i < kMigrators; ++i) {
    EXPECT_TRUE(ok[i]) << "migrator " << i << ": " << errors[i];
    all.insert(applied[i].begin(), applied[i].end());
  }
  for (const auto& m : shipped_migrations())
    EXPECT_EQ(all.count(std::string(m.name)), 1u) << m.name << " applied by exactly one migrator";
  pqxx::connection c(conninfo());
  EXPECT_EQ(schema_problem(c), "");
}

TEST_F(IndexDb, ConcurrentMigrateCommandsDoNotFail) {
  // Two `callvault db migrate` processes at once on a fresh database.
  RunResult a, b;
  std::thread ta([&] { a = run({callvault_bin(), "--db", conninfo(), "db", "migrate"}); });
  std::thread tb([&] { b = run({callvault_bin(), "--db", conninfo(), "db", "migrate"}); });
  ta.join();
  tb.join();
  EXPECT_EQ(a.status, 0) << a.output;
  EXPECT_EQ(b.status, 0) << b.output;
  for (const auto& m : shipped_migrations()) {
    const std::string line = fmt::format("applied {}\n", m.name);
    const bool in_a = a.output.find(line) != std::string::npos,
               in_b = b.output.find(line) != std::string::npos;
    EXPECT_TRUE(in_a != in_b) << m.name << " applied by exactly one process:\n"
                              << a.output << "\n"
                              << b.output;
  }
  pqxx::connection c(conninfo());
  EXPECT_EQ(schema_problem(c), "");
}

// ---------------------------------------------------------------------------
// Roles
// ---------------------------------------------------------------------------

TEST_F(IndexDb, WriterRefusesASuperuserConnectionAndKeepsTheRecordsJournaled) {
  migrate_db();
  TempDir dir;
  const std::string journal = dir.path() + "/journal";
  {
    LogCapture log;
    auto res = write(simple_calls(1, 5), writer_config(journal, "callvault_admin"), 1500ms);
    EXPECT_FALSE(res.complete);
    EXPECT_FALSE(res.connected);
    EXPECT_EQ(res.inserted, 0u);
    EXPECT_EQ(res.lost, 0u);
    EXPECT_NE(log.text().find("superuser"), std::string::npos) << log.text();
  }
  EXPECT_EQ(value("SELECT count(*) FROM callvault.calls"), "0");
  EXPECT_GE(journal_segments(journal), 1u);
  // Nothing was lost: the writer role inserts what waited.
  auto res = write({}, writer_config(journal));
  ASSERT_TRUE(res.complete);
  EXPECT_EQ(res.inserted, 5u);
  EXPECT_EQ(journal_segments(journal), 0u);
}

TEST_F(IndexDb, WriterRoleInsertsAndSelectsButCannotDeleteUpdateOrReadAuditViews) {
  migrate_db();
  CaptureSessionRecord sess;
  sess.uuid = "5e550000-0000-4000-8000-000000000099";
  sess.sensor = "test";
  sess.kind = "replay";
  sess.source = "x.pcap";
  sess.started_ns = kT0;
  CoverageInterval cov;
  cov.session = sess.uuid;
  cov.start_ns = kT0;
  cov.end_ns = kT0 + 60 * kSec;
  IndexedCall call = simple_call(1);
  call.dtmf = {{'1', kT0, 100, "caller", "rfc4733"}};
  TempDir dir;
  ASSERT_TRUE(write({call, sess, cov}, writer_config(dir.path() + "/journal")).complete);

  const std::string writer = conninfo("callvault_writer");
  const std::string denied = "42501";  // insufficient_privilege
  EXPECT_EQ(sqlstate_of(writer, "SELECT count(*) FROM callvault.calls"), "");
  EXPECT_EQ(sqlstate_of(writer, "SELECT count(*) FROM callvault.streams"), "");
  EXPECT_EQ(sqlstate_of(writer, "SELECT count(*) FROM callvault.schema_migrations"), "");
  for (const char* table : {"calls", "streams", "dtmf_events", "coverage_intervals", "capture_sessions"}) {
    SCOPED_TRACE(table);
    EXPECT_EQ(sqlstate_of(writer, fmt::format("DELETE FROM callvault.{}", table)), denied);
    EXPECT_EQ(sqlstate_of(writer, fmt::format("TRUNCATE callvault.{}", table)), denied);
    EXPECT_EQ(sqlstate_of(writer, fmt::format("DROP TABLE callvault.{}", table)), denied);
  }
  for (const char* update :
       {"UPDATE callvault.calls SET caller = 'x'", "UPDATE callvault.calls SET expires_at = now()",
        "UPDATE callvault.streams SET codec = 'x'", "UPDATE callvault.dtmf_events SET digit = 'x'",
        "UPDATE callvault.coverage_intervals SET packets = 0",
        "UPDATE callvault.schema_migrations SET version = 1000", "DELETE FROM callvault.schema_migrations"}) {
    EXPECT_EQ(sqlstate_of(writer, update), denied) << update;
  }
  EXPECT_EQ(sqlstate_of(writer, "SELECT count(*) FROM audit.calls"), denied);
  EXPECT_EQ(sqlstate_of(writer, "CREATE TABLE callvault.mine (x int)"), denied);
  EXPECT_EQ(sqlstate_of(writer, "CREATE TABLE public.mine (x int)"), denied);
  EXPECT_EQ(value("SELECT count(*) FROM callvault.calls"), "1");
  EXPECT_EQ(value("SELECT count(*) FROM callvault.dtmf_events"), "1");
  EXPECT_EQ(value("SELECT count(*) FROM callvault.coverage_intervals"), "1");
}

TEST_F(IndexDb, AuditorCannotReadSchemaCallvault) {
  migrate_db();
  TempDir dir;
  ASSERT_TRUE(write(simple_calls(1, 2), writer_config(dir.path() + "/journal")).complete);
  const std::string auditor = conninfo("callvault_auditor");
  const std::string denied = "42501";
  for (const char* table :
       {"calls", "streams", "dtmf_events", "coverage_intervals", "capture_sessions", "schema_migrations"}) {
    EXPECT_EQ(sqlstate_of(auditor, fmt::format("SELECT 1 FROM callvault.{} LIMIT 1", table)), denied)
        << table;
  }
  EXPECT_EQ(sqlstate_of(auditor, "INSERT INTO callvault.calls (call_uuid) VALUES (gen_random_uuid())"),
            denied);
  // What the auditor reads instead.
  pqxx::connection c(auditor);
  pqxx::nontransaction tx(c);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM audit.calls")[0][0].as<int>(), 2);
}

}  // namespace
}  // namespace cv
