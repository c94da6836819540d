// The index journal: JSON form of every record (exact round trip, any bytes),
// segment files, numbering across restarts, recovery from a crash, corrupt
// segments, and a full or read-only disk.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "storage/index/index_journal.h"
#include "storage/index/index_record_json.h"

namespace cv {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int64_t kMinI64 = std::numeric_limits<int64_t>::min();
constexpr int64_t kMaxI64 = std::numeric_limits<int64_t>::max();
constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

// Bytes as SIP puts them on the wire: not UTF-8 (a lone continuation byte, an
// overlong '/', a UTF-16 surrogate, 0xFF), a NUL, quotes and a newline.
const std::string kWireBytes =
    std::string("\x80x\xC0\xAF\xED\xA0\x80\xFF", 8) + std::string(1, '\0') + "\"\\\n";

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "cv-journal-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data()) ? pattern : "";
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<std::string> file_names(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

IndexedCall full_call(uint64_t n = 0) {
  IndexedCall c;
  c.uuid = "0a1b2c3d-0000-5000-8000-" + std::to_string(100000000000 + n);
  c.sensor = "sensor-é-1";
  c.session = "5e551011-0000-5000-8000-000000000001";
  c.sip_call_id = "call-" + kWireBytes;
  c.start_ns = kMinI64;
  c.answer_ns = kMaxI64;
  c.end_ns = -1;
  c.caller =
      "\xFE"
      "alice";
  c.callee = "+4930 123 456 ☎";
  c.direction = "incoming";
  c.codecs = {"PCMU", std::string("\xC3", 1), ""};
  c.duration_s = 0.1 + 0.2;  // not exactly representable in decimal
  c.answered = true;
  c.joined_mid_call = true;
  c.final_status = std::numeric_limits<int>::min();
  c.end_reason = "bye";
  c.audio_path = "2024/01/02/x.wav";
  c.audio_bytes = kMaxU64;
  c.audio_sha256 = std::string(64, 'f');
  c.sample_rate = std::numeric_limits<uint32_t>::max();
  c.audio_start_ns = kMaxI64 - 1;
  c.audio_error = "No space left on device";

  IndexedStream s;
  s.ssrc = 0xFFFFFFFF;
  s.src_ip = "2001:db8::1";
  s.src_port = 65535;
  s.dst_ip = "192.0.2.1";
  s.dst_port = 1;
  s.codec = "G722";
  s.payload_types = {0, 9, 101, 127, 255};
  s.packets = kMaxU64;
  s.lost = 1;
  s.duplicates = 2;
  s.late = 3;
  s.channel = "callee";
  s.decoded = true;
  s.first_packet_ns = kMinI64;
  s.offset_samples = kMaxI64;
  c.streams = {s, IndexedStream{}};

  IndexedDtmf d;
  d.digit = '#';
  d.at_ns = kMaxI64;
  d.duration_ms = std::numeric_limits<uint32_t>::max();
  d.channel = "caller";
  d.source = "sip_info";
  IndexedDtmf raw_digit;
  raw_digit.digit = static_cast<char>(0xB7);  // a byte that is not UTF-8 on its own
  c.dtmf = {d, raw_digit, IndexedDtmf{}};
  return c;
}

CaptureSessionRecord full_session() {
  CaptureSessionRecord s;
  s.uuid = "5e551011-0000-5000-8000-000000000001";
  s.sensor = kWireBytes;
  s.kind = "live";
  s.source = "eth1";
  s.started_ns = kMinI64;
  s.stopped_ns = kMaxI64;
  s.packets = kMaxU64;
  s.bytes = kMaxU64 - 1;
  s.kernel_drops = 3;
  s.interface_drops = 4;
  s.rtp_unmatched = 5;
  s.calls = 6;
  s.calls_without_media = 7;
  s.index_records_lost = 8;
  s.stop_reason = "error: " + kWireBytes;
  return s;
}

CoverageInterval full_coverage() {
  CoverageInterval c;
  c.session = kWireBytes;
  c.start_ns = kMinI64;
  c.end_ns = kMaxI64;
  c.packets = kMaxU64;
  c.bytes = 1;
  c.kernel_drops = 2;
  c.interface_drops = 3;
  c.rtp_unmatched = 4;
  c.sip_messages = 5;
  c.calls_started = 6;
  c.calls_without_media = 7;
  c.malformed = 8;
  return c;
}

#define EXPECT_FIELD(a, b, field) EXPECT_EQ((a).field, (b).field) << #field

void expect_same(const IndexedStream& a, const IndexedStream& b) {
  EXPECT_FIELD(a, b, ssrc);
  EXPECT_FIELD(a, b, src_ip);
  EXPECT_FIELD(a, b, src_port);
  EXPECT_FIELD(a, b, dst_ip);
  EXPECT_FIELD(a, b, dst_port);
  EXPECT_FIELD(a, b, codec);
  EXPECT_FIELD(a, b, payload_types);
  EXPECT_FIELD(a, b, packets);
  EXPECT_FIELD(a, b, lost);
  EXPECT_FIELD(a, b, duplicates);
  EXPECT_FIELD(a, b, late);
  EXPECT_FIELD(a, b, channel);
  EXPECT_FIELD(a, b, decoded);
  EXPECT_FIELD(a, b, first_packet_ns);
  EXPECT_FIELD(a, b, offset_samples);
}

void expect_same(const IndexedDtmf& a, const IndexedDtmf& b) {
  EXPECT_FIELD(a, b, digit);
  EXPECT_FIELD(a, b, at_ns);
  EXPECT_FIELD(a, b, duration_ms);
  EXPECT_FIELD(a, b, channel);
  EXPECT_FIELD(a, b, source);
}

void expect_same_double(double a, double b) {
  if (std::isnan(a)) {
    EXPECT_TRUE(std::isnan(b)) << b;
    return;
  }
  EXPECT_EQ(a, b);
  EXPECT_EQ(std::signbit(a), std::signbit(b));
}

void expect_same(const IndexedCall& a, const IndexedCall& b) {
  EXPECT_FIELD(a, b, uuid);
  EXPECT_FIELD(a, b, sensor);
  EXPECT_FIELD(a, b, session);
  EXPECT_FIELD(a, b, sip_call_id);
  EXPECT_FIELD(a, b, start_ns);
  EXPECT_FIELD(a, b, answer_ns);
  EXPECT_FIELD(a, b, end_ns);
  EXPECT_FIELD(a, b, caller);
  EXPECT_FIELD(a, b, callee);
  EXPECT_FIELD(a, b, direction);
  EXPECT_FIELD(a, b, codecs);
  expect_same_double(a.duration_s, b.duration_s);
  EXPECT_FIELD(a, b, answered);
  EXPECT_FIELD(a, b, joined_mid_call);
  EXPECT_FIELD(a, b, final_status);
  EXPECT_FIELD(a, b, end_reason);
  EXPECT_FIELD(a, b, audio_path);
  EXPECT_FIELD(a, b, audio_bytes);
  EXPECT_FIELD(a, b, audio_sha256);
  EXPECT_FIELD(a, b, sample_rate);
  EXPECT_FIELD(a, b, audio_start_ns);
  EXPECT_FIELD(a, b, audio_error);
  ASSERT_EQ(a.streams.size(), b.streams.size());
  for (size_t i = 0; i < a.streams.size(); ++i) expect_same(a.streams[i], b.streams[i]);
  ASSERT_EQ(a.dtmf.size(), b.dtmf.size());
  for (size_t i = 0; i < a.dtmf.size(); ++i) expect_same(a.dtmf[i], b.dtmf[i]);
}

void expect_same(const CaptureSessionRecord& a, const CaptureSessionRecord& b) {
  EXPECT_FIELD(a, b, uuid);
  EXPECT_FIELD(a, b, sensor);
  EXPECT_FIELD(a, b, kind);
  EXPECT_FIELD(a, b, source);
  EXPECT_FIELD(a, b, started_ns);
  EXPECT_FIELD(a, b, stopped_ns);
  EXPECT_FIELD(a, b, packets);
  EXPECT_FIELD(a, b, bytes);
  EXPECT_FIELD(a, b, kernel_drops);
  EXPECT_FIELD(a, b, interface_drops);
  EXPECT_FIELD(a, b, rtp_unmatched);
  EXPECT_FIELD(a, b, calls);
  EXPECT_FIELD(a, b, calls_without_media);
  EXPECT_FIELD(a, b, index_records_lost);
  EXPECT_FIELD(a, b, stop_reason);
}

void expect_same(const CoverageInterval& a, const CoverageInterval& b) {
  EXPECT_FIELD(a, b, session);
  EXPECT_FIELD(a, b, start_ns);
  EXPECT_FIELD(a, b, end_ns);
  EXPECT_FIELD(a, b, packets);
  EXPECT_FIELD(a, b, bytes);
  EXPECT_FIELD(a, b, kernel_drops);
  EXPECT_FIELD(a, b, interface_drops);
  EXPECT_FIELD(a, b, rtp_unmatched);
  EXPECT_FIELD(a, b, sip_messages);
  EXPECT_FIELD(a, b, calls_started);
  EXPECT_FIELD(a, b, calls_without_media);
  EXPECT_FIELD(a, b, malformed);
}

void expect_same(const IndexRecord& a, const IndexRecord& b) {
  ASSERT_EQ(a.index(), b.index());
  std::visit([&](const auto& x) { expect_same(x, std::get<std::decay_t<decltype(x)>>(b)); }, a);
}

// Through text, as the journal does it: to_json, dump, parse, from_json.
IndexRecord round_trip(const IndexRecord& record) {
  const std::string line = to_json(record).dump();
  EXPECT_EQ(line.find('\n'), std::string::npos) << "one record must be one line";
  std::string error;
  auto back = index_record_from_json(json::parse(line), error);
  EXPECT_TRUE(back.has_value()) << error << "\n" << line;
  return back.value_or(IndexRecord{});
}

TEST(IndexRecordJson, CallRoundTripsEveryField) {
  const IndexRecord call = full_call();
  expect_same(call, round_trip(call));
  EXPECT_EQ(to_json(call)["type"], "call");
  EXPECT_EQ(to_json(call)["v"], 1);
}

TEST(IndexRecordJson, SessionRoundTripsEveryField) {
  const IndexRecord session = full_session();
  expect_same(session, round_trip(session));
  EXPECT_EQ(to_json(session)["type"], "session");
}

TEST(IndexRecordJson, CoverageRoundTripsEveryField) {
  const IndexRecord coverage = full_coverage();
  expect_same(coverage, round_trip(coverage));
  EXPECT_EQ(to_json(coverage)["type"], "coverage");
}

TEST(IndexRecordJson, DefaultRecordsRoundTrip) {
  for (const IndexRecord& r :
       {IndexRecord{IndexedCall{}}, IndexRecord{CaptureSessionRecord{}}, IndexRecord{CoverageInterval{}}})
    expect_same(r, round_trip(r));
}

TEST(IndexRecordJson, SpecialDoublesRoundTrip) {
  for (double d : {0.0, -0.0, 1e308, -1e-308, std::numeric_limits<double>::denorm_min(),
                   std::numeric_limits<double>::max(), std::numeric_limits<double>::infinity(),
                   -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    IndexedCall c;
    c.duration_s = d;
    expect_same_double(d, std::get<IndexedCall>(round_trip(c)).duration_s);
  }
}

TEST(IndexRecordJson, ReadableStringsStayPlainOthersAreBase64) {
  IndexedCall c;
  c.caller = "Zoë <sip:+4930@example.com>";
  c.callee = std::string("\xFF\x00", 2);
  const json j = to_json(c);
  EXPECT_EQ(j["caller"], c.caller);
  EXPECT_EQ(j["callee"], json({{"b64", "/wA="}}));
  // Strict UTF-8 only, as nlohmann's dump demands.
  for (const char* plain : {"\xE2\x82\xAC", "\xF4\x8F\xBF\xBF", "\xED\x9F\xBF", "\xEE\x80\x80"}) {
    c.caller = plain;
    EXPECT_TRUE(to_json(c)["caller"].is_string()) << testing::PrintToString(c.caller);
  }
  for (const char* wrapped :
       {"\xED\xA0\x80", "\xED\xBF\xBF", "\xC0\xAF", "\xC1\xBF", "\xE0\x9F\xBF", "\xF0\x8F\xBF\xBF",
        "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xE2\x82", "\x80"}) {
    c.caller = wrapped;
    EXPECT_FALSE(to_json(c)["caller"].is_string()) << testing::PrintToString(c.caller);
    expect_same(IndexRecord(c), round_trip(c));
  }
}

// Every string, whatever its bytes, dumps without throwing and comes back
// byte for byte; our UTF-8 check agrees with nlohmann's on what it accepts.
TEST(IndexRecordJson, AnyBytesRoundTrip) {
  // Every multi-byte lead with every second byte (where the ranges of UTF-8
  // differ), cut short or followed by continuation bytes or not; and random
  // strings.
  std::vector<std::string> samples;
  for (unsigned a = 0x00; a < 0x100; ++a)
    for (unsigned b = 0; b < 256; ++b) {
      if (a < 0xC0 && b != 0x41 && b != 0x80) continue;  // ASCII or a stray continuation first
      const std::string start = {static_cast<char>(a), static_cast<char>(b)};
      for (const char* tail : {"", "\x80", "\x80\x80", "\x80\x41"}) samples.push_back(start + tail);
    }
  std::mt19937_64 rng(42);
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 40, '\0');
    for (auto& ch : s) ch = static_cast<char>(rng());
    samples.push_back(s);
  }
  // Many strings per record (as its codecs) keep this fast under sanitizers.
  size_t plain = 0;
  for (size_t first = 0; first < samples.size(); first += 1000) {
    IndexedCall c;
    c.codecs.assign(samples.begin() + first, samples.begin() + std::min(first + 1000, samples.size()));
    const json j = to_json(c);
    std::string line;
    ASSERT_NO_THROW(line = j.dump());
    for (size_t i = 0; i < c.codecs.size(); ++i) {
      // A string nlohmann can dump must not be wrapped: it stays readable.
      // (Dropping and replacing invalid bytes give the same text only when
      // there are none; cheaper than catching the strict dump's exception.)
      const json as_is(c.codecs[i]);
      const bool dumpable = as_is.dump(-1, ' ', false, json::error_handler_t::ignore) ==
                            as_is.dump(-1, ' ', false, json::error_handler_t::replace);
      EXPECT_EQ(j["codecs"][i].is_string(), dumpable) << testing::PrintToString(c.codecs[i]);
      plain += dumpable;
    }
    std::string error;
    const auto back = index_record_from_json(json::parse(line), error);
    ASSERT_TRUE(back) << error;
    ASSERT_EQ(std::get<IndexedCall>(*back).codecs, c.codecs);
  }
  EXPECT_GT(plain, 1000u);
}

// The journal writes its lines directly, not through to_json(): they must
// hold exactly what to_json() says, and read back the same.
TEST(IndexRecordJson, DirectLineEqualsToJson) {
  std::vector<IndexRecord> records = {full_call(1),  full_session(),         full_coverage(),
                                      IndexedCall{}, CaptureSessionRecord{}, CoverageInterval{}};
  for (double d :
       {0.0, -0.0, 1.0, 100.0, 125.5, 0.1, 1e21, 1e308, -1e-308, std::numeric_limits<double>::denorm_min(),
        std::numeric_limits<double>::max(), std::numeric_limits<double>::infinity(),
        -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    IndexedCall c;
    c.duration_s = d;
    records.emplace_back(c);
  }
  IndexedCall wire;
  wire.caller = kWireBytes;
  wire.callee = "Zo\xC3\xAB \"<sip:+4930@example.com>\"";
  wire.sip_call_id = std::string("a\x01\x1F\x7F\b\f\r\t/") + std::string(1, '\0');
  wire.end_reason = "\xF4\x8F\xBF\xBF";
  std::mt19937_64 rng(7);
  for (int i = 0; i < 300; ++i) {
    std::string s(rng() % 12, '\0');
    for (auto& ch : s) ch = static_cast<char>(rng());
    wire.codecs.push_back(s);
  }
  records.emplace_back(wire);
  for (const IndexRecord& r : records) {
    std::string line = "x";
    append_json_line(line, r);
    ASSERT_EQ(line.substr(0, 1), "x") << "appends";
    line.erase(0, 1);
    ASSERT_EQ(line.find('\n'), line.size() - 1) << "one line, newline-terminated: " << line;
    const json parsed = json::parse(line);
    EXPECT_EQ(parsed, to_json(r)) << line;
    std::string error;
    const auto back = index_record_from_json(parsed, error);
    ASSERT_TRUE(back) << error;
    expect_same(r, *back);
  }
}

std::string from_json_error(json j) {
  std::string error;
  EXPECT_FALSE(index_record_from_json(j, error).has_value()) << j.dump();
  return error;
}

TEST(IndexRecordJson, ErrorsNameTheField) {
  const json call = to_json(full_call());
  json j = call;
  j.erase("sip_call_id");
  EXPECT_EQ(from_json_error(j), "sip_call_id: missing");
  j = call;
  j["answered"] = 1;
  EXPECT_EQ(from_json_error(j), "answered: expected true or false");
  j = call;
  j["start_ns"] = "0";
  EXPECT_EQ(from_json_error(j), "start_ns: expected an integer in -9223372036854775808..9223372036854775807");
  j = call;
  j["start_ns"] = 1.5;
  EXPECT_NE(from_json_error(j).find("start_ns: "), std::string::npos);
  j = call;
  j["audio_bytes"] = -1;
  EXPECT_EQ(from_json_error(j), "audio_bytes: expected an integer in 0..18446744073709551615");
  j = call;
  j["streams"][1]["ssrc"] = 4294967296ull;
  EXPECT_EQ(from_json_error(j), "streams[1].ssrc: expected an integer in 0..4294967295");
  j = call;
  j["streams"][0]["payload_types"][2] = 256;
  EXPECT_EQ(from_json_error(j), "streams[0].payload_types[2]: expected an integer in 0..255");
  j = call;
  j["dtmf"][0].erase("channel");
  EXPECT_EQ(from_json_error(j), "dtmf[0].channel: missing");
  j = call;
  j["dtmf"][1]["digit"] = "12";
  EXPECT_EQ(from_json_error(j), "dtmf[1].digit: expected a one-character string");
  j = call;
  j["codecs"] = "PCMU";
  EXPECT_EQ(from_json_error(j), "codecs: expected an array");
  j = call;
  j["caller"] = {{"b64", "not base64!"}};
  EXPECT_EQ(from_json_error(j), "caller: expected a string or {\"b64\": base64}");
  j = call;
  j["duration_s"] = "fast";
  EXPECT_NE(from_json_error(j).find("duration_s: "), std::string::npos);

  j = to_json(full_session());
  j["kernel_drops"] = nullptr;
  EXPECT_NE(from_json_error(j).find("kernel_drops: "), std::string::npos);
  j = to_json(full_coverage());
  j.erase("malformed");
  EXPECT_EQ(from_json_error(j), "malformed: missing");
}

TEST(IndexRecordJson, TypeAndVersionAreChecked) {
  json j = to_json(full_coverage());
  j["v"] = 2;
  EXPECT_NE(from_json_error(j).find("v: unsupported version 2"), std::string::npos);
  j.erase("v");
  EXPECT_EQ(from_json_error(j), "v: missing");
  j = to_json(full_coverage());
  j["type"] = "meeting";
  EXPECT_EQ(from_json_error(j), "type: unknown record type \"meeting\"");
  j.erase("type");
  EXPECT_EQ(from_json_error(j), "type: missing");
  EXPECT_EQ(from_json_error(json::array()), "expected a JSON object");
  // Members this version does not know are ignored (added by a later one).
  j = to_json(full_coverage());
  j["future_field"] = 1;
  std::string error;
  EXPECT_TRUE(index_record_from_json(j, error).has_value()) << error;
}

std::unique_ptr<IndexJournal> open_journal(const std::string& dir) {
  std::string error;
  auto journal = IndexJournal::open(dir, error);
  EXPECT_TRUE(journal) << error;
  return journal;
}

std::vector<IndexRecord> some_records(uint64_t first_call, size_t calls) {
  std::vector<IndexRecord> records;
  for (size_t i = 0; i < calls; ++i) records.push_back(full_call(first_call + i));
  records.push_back(full_session());
  records.push_back(full_coverage());
  return records;
}

TEST(IndexJournal, AppendThenReadBackEverything) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/a/b/journal";
  auto journal = open_journal(dir);
  ASSERT_TRUE(journal);
  // Created with its parents, readable only by us: it holds phone numbers.
  EXPECT_EQ(fs::status(dir).permissions(), fs::perms::owner_all);
  EXPECT_EQ(fs::status(tmp.path() + "/a").permissions(), fs::perms::owner_all);

  const auto records = some_records(0, 3);
  const auto result = journal->append(records);
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(result.segment, 1u);
  EXPECT_EQ(file_names(dir), std::vector<std::string>{"00000000000000000001.jsonl"});
  EXPECT_EQ(journal->pending(), std::vector<uint64_t>{1});
  EXPECT_EQ(journal->pending_segments(), 1u);
  EXPECT_EQ(journal->pending_bytes(), fs::file_size(journal->segment_path(1)));
  EXPECT_EQ(fs::status(journal->segment_path(1)).permissions(),
            fs::perms::owner_read | fs::perms::owner_write);

  std::vector<IndexRecord> back;
  std::string error;
  ASSERT_TRUE(journal->read(1, back, error)) << error;
  ASSERT_EQ(back.size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) expect_same(records[i], back[i]);
}

TEST(IndexJournal, NumberingContinuesAfterReopen) {
  TempDir tmp;
  {
    auto journal = open_journal(tmp.path());
    for (uint64_t expected = 1; expected <= 3; ++expected)
      EXPECT_EQ(journal->append(some_records(expected, 1)).segment, expected);
  }
  auto journal = open_journal(tmp.path());
  EXPECT_EQ(journal->pending(), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(journal->pending_bytes(), fs::file_size(journal->segment_path(1)) +
                                          fs::file_size(journal->segment_path(2)) +
                                          fs::file_size(journal->segment_path(3)));
  std::string error;
  ASSERT_TRUE(journal->remove(3, error)) << error;
  // Even the highest segment, once removed, is not reused in this run...
  EXPECT_EQ(journal->append(some_records(9, 1)).segment, 4u);
  ASSERT_TRUE(journal->remove(4, error)) << error;
  ASSERT_TRUE(journal->quarantine(2, error)) << error;
  journal.reset();
  // ...and a quarantined number is not reused after a restart.
  journal = open_journal(tmp.path());
  EXPECT_EQ(journal->pending(), std::vector<uint64_t>{1});
  EXPECT_EQ(journal->append(some_records(9, 1)).segment, 3u);
}

TEST(IndexJournal, PendingRecordsAreCountedAcrossReopenAndRemoval) {
  TempDir tmp;
  {
    auto journal = open_journal(tmp.path());
    ASSERT_TRUE(journal->append(some_records(0, 3)).ok);  // 3 calls + session + coverage
    EXPECT_EQ(journal->pending_records(), 5u);
    ASSERT_TRUE(journal->append(some_records(3, 1)).ok);
    EXPECT_EQ(journal->pending_records(), 8u);
  }
  // An earlier run's segments are counted by their lines when the journal opens.
  auto journal = open_journal(tmp.path());
  EXPECT_EQ(journal->pending_records(), 8u);
  std::string error;
  ASSERT_TRUE(journal->remove(1, error)) << error;
  EXPECT_EQ(journal->pending_records(), 3u);
  ASSERT_TRUE(journal->quarantine(2, error)) << error;
  EXPECT_EQ(journal->pending_records(), 0u);
  EXPECT_EQ(journal->pending_bytes(), 0u);
}

TEST(IndexJournal, OnlyOneJournalPerDirectory) {
  TempDir tmp;
  auto first = open_journal(tmp.path());
  std::string error;
  EXPECT_FALSE(IndexJournal::open(tmp.path(), error));
  EXPECT_NE(error.find("another callvault"), std::string::npos) << error;
  first.reset();
  EXPECT_TRUE(IndexJournal::open(tmp.path(), error)) << error;
}

TEST(IndexJournal, LeftoverTmpRemovedOnOpen) {
  TempDir tmp;
  {
    auto journal = open_journal(tmp.path());
    ASSERT_TRUE(journal->append(some_records(0, 1)).ok);
  }
  // A crash in the middle of append 7, and a file that is not ours.
  std::ofstream(tmp.path() + "/00000000000000000007.jsonl.tmp") << "{\"type\":\"ca";
  std::ofstream(tmp.path() + "/notes.tmp") << "keep me";
  auto journal = open_journal(tmp.path());
  EXPECT_EQ(file_names(tmp.path()), (std::vector<std::string>{"00000000000000000001.jsonl", "notes.tmp"}));
  EXPECT_EQ(journal->pending(), std::vector<uint64_t>{1});
  EXPECT_EQ(journal->append(some_records(0, 1)).segment, 8u);
}

TEST(IndexJournal, SegmentsAreListedOldestFirst) {
  TempDir tmp;
  // Written out of order, with gaps and numbers of different lengths.
  for (const char* name : {"00000000000000001000.jsonl", "00000000000000000002.jsonl",
                           "00000000000000000010.jsonl", "00000000000000000009.jsonl", "2.jsonl", "x.jsonl"})
    std::ofstream(tmp.path() + "/" + name) << to_json(full_coverage()).dump() << "\n";
  auto journal = open_journal(tmp.path());
  EXPECT_EQ(journal->pending(), (std::vector<uint64_t>{2, 9, 10, 1000}));
  EXPECT_EQ(journal->append(some_records(0, 1)).segment, 1001u);
  std::vector<IndexRecord> back;
  std::string error;
  EXPECT_TRUE(journal->read(9, back, error)) << error;
  EXPECT_EQ(back.size(), 1u);
}

TEST(IndexJournal, CorruptLineIsAnErrorNamingFileAndLine) {
  TempDir tmp;
  const std::string good = to_json(full_coverage()).dump();
  {
    std::ofstream out(tmp.path() + "/00000000000000000001.jsonl");
    out << good << "\n" << good << "\n" << good.substr(0, 20) << "\n" << good << "\n";
    std::ofstream(tmp.path() + "/00000000000000000002.jsonl") << good << "\n{\"type\":\"call\",\"v\":1}\n";
    std::ofstream(tmp.path() + "/00000000000000000003.jsonl") << good << "\n" << good;  // cut short
    std::ofstream(tmp.path() + "/00000000000000000004.jsonl") << "";
  }
  auto journal = open_journal(tmp.path());
  std::vector<IndexRecord> back;
  std::string error;
  const std::string first = journal->segment_path(1);
  EXPECT_FALSE(journal->read(1, back, error));
  EXPECT_EQ(error, "journal " + first + ": line 3: not valid JSON (at byte 21)");
  EXPECT_TRUE(back.empty());
  EXPECT_FALSE(journal->read(2, back, error));
  EXPECT_EQ(error, "journal " + journal->segment_path(2) + ": line 2: uuid: missing");
  EXPECT_FALSE(journal->read(3, back, error));
  EXPECT_EQ(error, "journal " + journal->segment_path(3) + ": line 2: incomplete (no newline at the end)");
  EXPECT_FALSE(journal->read(4, back, error));
  EXPECT_NE(error.find("empty segment"), std::string::npos) << error;
  EXPECT_FALSE(journal->read(99, back, error));
  EXPECT_NE(error.find("No such file or directory"), std::string::npos) << error;

  ASSERT_TRUE(journal->quarantine(1, error)) << error;
  EXPECT_EQ(journal->pending(), (std::vector<uint64_t>{2, 3, 4}));
  EXPECT_TRUE(fs::exists(first + ".bad"));
  EXPECT_FALSE(fs::exists(first));
  EXPECT_FALSE(journal->quarantine(1, error));
  EXPECT_NE(error.find(first), std::string::npos) << error;
}

TEST(IndexJournal, RemoveDeletesTheSegment) {
  TempDir tmp;
  auto journal = open_journal(tmp.path());
  ASSERT_TRUE(journal->append(some_records(0, 2)).ok);
  ASSERT_TRUE(journal->append(some_records(2, 2)).ok);
  const uint64_t second_bytes = fs::file_size(journal->segment_path(2));
  std::string error;
  ASSERT_TRUE(journal->remove(1, error)) << error;
  EXPECT_EQ(file_names(tmp.path()), std::vector<std::string>{"00000000000000000002.jsonl"});
  EXPECT_EQ(journal->pending(), std::vector<uint64_t>{2});
  EXPECT_EQ(journal->pending_bytes(), second_bytes);
  EXPECT_TRUE(journal->remove(1, error)) << "removing twice is harmless: " << error;
  ASSERT_TRUE(journal->remove(2, error)) << error;
  EXPECT_EQ(journal->pending_segments(), 0u);
  EXPECT_EQ(journal->pending_bytes(), 0u);
  EXPECT_TRUE(file_names(tmp.path()).empty());
}

TEST(IndexJournal, BadDirectoryOrEmptyAppendIsAnError) {
  TempDir tmp;
  std::ofstream(tmp.path() + "/file") << "x";
  std::string error;
  EXPECT_FALSE(IndexJournal::open(tmp.path() + "/file", error));
  EXPECT_NE(error.find(tmp.path() + "/file"), std::string::npos) << error;
  EXPECT_FALSE(IndexJournal::open(tmp.path() + "/file/journal", error));
  EXPECT_NE(error.find("Not a directory"), std::string::npos) << error;
  EXPECT_FALSE(IndexJournal::open("", error));

  auto journal = open_journal(tmp.path() + "/j");
  const auto result = journal->append({});
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.error.find("nothing to append"), std::string::npos);
  EXPECT_TRUE(file_names(tmp.path() + "/j").empty());
}

// A small tmpfs mounted for one test and unmounted however it ends.
class SmallTmpfs {
 public:
  SmallTmpfs(const std::string& path, const char* options) : path_(path) {
    fs::create_directories(path);
    mounted_ = ::mount("tmpfs", path.c_str(), "tmpfs", 0, options) == 0;
  }
  ~SmallTmpfs() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;
  [[nodiscard]] bool mounted() const { return mounted_; }
  bool remount_read_only() {
    return ::mount("tmpfs", path_.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, nullptr) == 0;
  }

 private:
  std::string path_;
  bool mounted_ = false;
};

bool ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

TEST(IndexJournal, FullDiskLosesNothingAcknowledged) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/small";
  SmallTmpfs disk(dir, "size=64k");
  if (!disk.mounted()) {
    if (ci()) FAIL() << "cannot mount a tmpfs (root needed)";
    GTEST_SKIP() << "needs root to mount a small tmpfs";
  }
  auto journal = open_journal(dir);
  ASSERT_TRUE(journal);
  std::vector<std::vector<IndexRecord>> written;
  std::string failure;
  for (uint64_t batch = 0; batch < 1000 && failure.empty(); ++batch) {
    auto records = some_records(batch * 5, 5);
    const auto result = journal->append(records);
    if (result.ok) {
      EXPECT_EQ(result.segment, written.size() + 1);
      written.push_back(std::move(records));
    } else {
      failure = result.error;
    }
  }
  ASSERT_FALSE(failure.empty()) << "the disk never filled";
  ASSERT_GE(written.size(), 2u) << failure;
  const std::string failed_tmp = fmt::format("{}/{:020}.jsonl.tmp", dir, written.size() + 1);
  EXPECT_NE(failure.find("journal " + failed_tmp + ": write: No space left on device: "), std::string::npos)
      << failure;
  EXPECT_NE(failure.find("5 calls, 1 capture session, 1 coverage interval could not be journaled"),
            std::string::npos)
      << failure;

  // Nothing half-written is left, and every acknowledged segment is whole.
  for (const auto& name : file_names(dir)) EXPECT_TRUE(name.ends_with(".jsonl")) << name;
  ASSERT_EQ(journal->pending_segments(), written.size());
  for (uint64_t segment = 1; segment <= written.size(); ++segment) {
    std::vector<IndexRecord> back;
    std::string error;
    ASSERT_TRUE(journal->read(segment, back, error)) << error;
    ASSERT_EQ(back.size(), written[segment - 1].size());
    for (size_t i = 0; i < back.size(); ++i) expect_same(written[segment - 1][i], back[i]);
  }

  // Once the writer has inserted and removed a segment, there is room again.
  std::string error;
  ASSERT_TRUE(journal->remove(1, error)) << error;
  ASSERT_TRUE(journal->remove(2, error)) << error;
  const auto again = journal->append(some_records(0, 1));
  EXPECT_TRUE(again.ok) << again.error;
  EXPECT_EQ(again.segment, written.size() + 2) << "the failed number is not reused";

  // A read-only disk (EROFS) fails the same way, naming the file.
  journal.reset();
  ASSERT_TRUE(disk.remount_read_only());
  journal = open_journal(dir);
  ASSERT_TRUE(journal);
  const auto read_only = journal->append(some_records(0, 2));
  EXPECT_FALSE(read_only.ok);
  EXPECT_NE(read_only.error.find("Read-only file system"), std::string::npos) << read_only.error;
  EXPECT_NE(read_only.error.find(".jsonl.tmp: create"), std::string::npos) << read_only.error;
  EXPECT_NE(read_only.error.find("2 calls"), std::string::npos) << read_only.error;
}

}  // namespace
}  // namespace cv
