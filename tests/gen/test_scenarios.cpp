// Scenario tests: every generated case is replayed through
// `callvault replay --no-db --json --out DIR CASE.pcap` and its JSON lines and
// WAV files are held to the expectations the generator computed from
// docs/RECORDING_FORMAT.md.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "tests/gen/cases.h"
#include "tests/gen/test_util.h"

#ifndef CALLVAULT_BIN
#error "CALLVAULT_BIN must name the callvault executable"
#endif

namespace cv::gen {
namespace {

using nlohmann::json;
using test::TempDir;

struct Replay {
  test::RunResult run;
  std::vector<json> calls;  // JSON lines of stdout
};

Replay replay(const std::string& pcap, const std::string& out_dir) {
  Replay r;
  r.run = test::run({CALLVAULT_BIN, "replay", "--no-db", "--json", "--out", out_dir, pcap});
  std::stringstream ss(r.run.out);
  std::string line;
  while (std::getline(ss, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    r.calls.push_back(json::parse(line));
  }
  return r;
}

std::string str(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>()
                                               : "<missing " + std::string(key) + ">";
}

std::set<std::string> string_set(const json& j) {
  std::set<std::string> s;
  if (j.is_array()) {
    for (const auto& x : j) s.insert(x.is_string() ? x.get<std::string>() : x.dump());
  }
  return s;
}

// The actual call matching an expected one: same Call-ID, start within 1 ms.
const json* find_call(const std::vector<json>& actual, const json& want) {
  const int64_t start = test::parse_iso_ms(want["start"].get<std::string>());
  for (const json& a : actual) {
    if (str(a, "sip_call_id") != want["sip_call_id"].get<std::string>()) continue;
    if (std::llabs(test::parse_iso_ms(str(a, "start")) - start) <= 1) return &a;
  }
  return nullptr;
}

void check_streams(const json& want, const json& got) {
  ASSERT_TRUE(got.contains("streams") && got["streams"].is_array());
  EXPECT_EQ(got["streams"].size(), want["streams"].size()) << got["streams"].dump(1);
  for (const json& ws : want["streams"]) {
    const json* gs = nullptr;
    for (const json& s : got["streams"]) {
      // A stream is (SSRC, source, destination), as tshark counts them.
      if (str(s, "ssrc") == ws["ssrc"].get<std::string>() && str(s, "src") == ws["src"].get<std::string>() &&
          str(s, "dst") == ws["dst"].get<std::string>())
        gs = &s;
    }
    if (gs == nullptr) {
      ADD_FAILURE() << "stream missing: " << ws.dump();
      continue;
    }
    for (const char* key : {"channel", "codec", "payload_types", "packets", "lost", "duplicates", "decoded",
                            "offset_samples"}) {
      EXPECT_EQ((*gs)[key], ws[key]) << key << " of stream " << ws["ssrc"] << ": " << gs->dump();
    }
  }
}

void check_dtmf(const json& want, const json& got) {
  ASSERT_TRUE(got.contains("dtmf") && got["dtmf"].is_array()) << got.dump();
  ASSERT_EQ(got["dtmf"].size(), want["dtmf"].size()) << got["dtmf"].dump();
  for (size_t i = 0; i < want["dtmf"].size(); ++i) {
    const json& w = want["dtmf"][i];
    const json& g = got["dtmf"][i];
    EXPECT_EQ(g["digit"], w["digit"]);
    EXPECT_EQ(g["channel"], w["channel"]);
    EXPECT_EQ(g["source"], w["source"]);
    EXPECT_EQ(g["duration_ms"], w["duration_ms"]);
    EXPECT_LE(std::llabs(test::parse_iso_ms(str(g, "at")) - test::parse_iso_ms(w["at"].get<std::string>())),
              20)
        << g.dump();
  }
}

void check_samples(const char* channel, const std::vector<int16_t>& want, const std::vector<int16_t>& got,
                   const std::string& mode) {
  if (mode == "correlation") {
    int lag = 0;
    const double c = test::correlation(want, got, 2, &lag);
    EXPECT_GT(c, 0.99) << channel << " channel: correlation " << c << " at lag " << lag;
    EXPECT_LE(std::max(want.size(), got.size()) - std::min(want.size(), got.size()), 4u) << channel;
    return;
  }
  ASSERT_EQ(got.size(), want.size()) << channel << " channel length";
  size_t mismatches = 0, first = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i] != got[i] && mismatches++ == 0) first = i;
  }
  EXPECT_EQ(mismatches, 0u) << channel << " channel: " << mismatches << " samples differ, first at " << first
                            << " (want " << want[first] << ", got " << got[first] << ")";
}

void check_call(const std::string& case_dir, const std::string& out_dir, const json& want, const json& got) {
  SCOPED_TRACE("call " + want["sip_call_id"].get<std::string>() + " " + want["start"].get<std::string>());
  for (const char* key : {"caller", "callee", "end_reason"}) EXPECT_EQ(got[key], want[key]) << key;
  EXPECT_EQ(string_set(got["codecs"]), string_set(want["codecs"]));
  check_streams(want, got);
  check_dtmf(want, got);

  if (want["audio"].is_null()) {
    EXPECT_TRUE(got["audio"].is_null()) << got.dump();
    EXPECT_TRUE(got["sample_rate"].is_null()) << got.dump();
    EXPECT_TRUE(got["sha256"].is_null()) << got.dump();
    return;
  }
  ASSERT_TRUE(got["audio"].is_string()) << got.dump();
  EXPECT_EQ(got["sample_rate"], want["sample_rate"]);
  const std::string rel = got["audio"].get<std::string>();
  // DIR/YYYY/MM/DD/<uuid>.wav, dated by the call start (UTC).
  const std::string date = want["start"].get<std::string>().substr(0, 10);
  EXPECT_EQ(rel.substr(0, 11), date.substr(0, 4) + "/" + date.substr(5, 2) + "/" + date.substr(8, 2) + "/");
  EXPECT_EQ(rel.substr(11), str(got, "uuid") + ".wav");
  const test::Wav w = test::read_wav(out_dir + "/" + rel);
  const test::Wav e = test::read_wav(case_dir + "/" + want["expected_wav"].get<std::string>());
  EXPECT_EQ(w.channels, 2);
  EXPECT_EQ(w.rate, e.rate);
  check_samples("caller (left)", e.left, w.left, want["compare"]["caller"].get<std::string>());
  check_samples("callee (right)", e.right, w.right, want["compare"]["callee"].get<std::string>());
}

class Scenario : public ::testing::TestWithParam<std::string> {};

TEST_P(Scenario, ReplayMatchesExpectation) {
  TempDir dir;
  const CaseInfo* info = find_case(GetParam());
  ASSERT_NE(info, nullptr);
  info->build().write(dir.path());
  const json expected = test::read_json(dir.path() + "/" + GetParam() + ".expected.json");
  const std::string out_dir = dir.path() + "/recordings";
  const Replay r = replay(dir.path() + "/" + GetParam() + ".pcap", out_dir);
  ASSERT_EQ(r.run.status, 0) << r.run.err;

  ASSERT_EQ(r.calls.size(), expected["calls"].size()) << r.run.out;
  std::set<std::string> uuids;
  for (const json& c : r.calls) uuids.insert(str(c, "uuid"));
  EXPECT_EQ(uuids.size(), r.calls.size()) << "uuids must differ between calls";
  for (const json& want : expected["calls"]) {
    const json* got = find_call(r.calls, want);
    if (got == nullptr) {
      ADD_FAILURE() << "call not reported: " << want["sip_call_id"] << " " << want["start"] << "\n"
                    << r.run.out;
      continue;
    }
    check_call(dir.path(), out_dir, want, *got);
  }
}

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (const auto& c : all_cases()) names.push_back(c.name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Cases, Scenario, ::testing::ValuesIn(case_names()),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

std::map<std::string, std::string> files_under(const std::string& dir) {
  std::map<std::string, std::string> files;
  if (!std::filesystem::exists(dir)) return files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    files[std::filesystem::relative(e.path(), dir).string()] =
        std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return files;
}

TEST(Replay, TwiceGivesIdenticalFilesAndUuids) {
  TempDir dir;
  for (const char* name : {"callid_reuse", "g722_and_g711", "silence_suppression"}) {
    find_case(name)->build().write(dir.path());
    const std::string pcap = dir.path() + "/" + name + ".pcap";
    const Replay a = replay(pcap, dir.path() + "/a-" + name);
    const Replay b = replay(pcap, dir.path() + "/b-" + name);
    ASSERT_EQ(a.run.status, 0) << a.run.err;
    ASSERT_EQ(b.run.status, 0) << b.run.err;
    ASSERT_FALSE(a.calls.empty()) << name;
    ASSERT_EQ(a.calls.size(), b.calls.size()) << name;
    for (size_t i = 0; i < a.calls.size(); ++i) {
      EXPECT_EQ(a.calls[i]["uuid"], b.calls[i]["uuid"]) << name;
      EXPECT_EQ(a.calls[i]["sha256"], b.calls[i]["sha256"]) << name;
      EXPECT_EQ(a.calls[i]["audio"], b.calls[i]["audio"]) << name;
    }
    const auto fa = files_under(dir.path() + "/a-" + std::string(name));
    const auto fb = files_under(dir.path() + "/b-" + std::string(name));
    EXPECT_FALSE(fa.empty()) << name;
    EXPECT_TRUE(fa == fb) << name << ": recordings differ between two replays";
  }
}

// SIP over TCP (segmented, reordered, retransmitted, wrapping sequence
// numbers; a second call on a non-SIP port) gives the calls, streams and
// audio that the same signalling over UDP gives.
TEST(Replay, SipOverTcpGivesTheSameCallsAndAudioAsUdp) {
  TempDir dir;
  sip_over_tcp_calls(true).write(dir.path() + "/tcp");
  sip_over_tcp_calls(false).write(dir.path() + "/udp");
  const Replay tcp = replay(dir.path() + "/tcp/sip_over_tcp.pcap", dir.path() + "/out-tcp");
  const Replay udp = replay(dir.path() + "/udp/sip_over_tcp.pcap", dir.path() + "/out-udp");
  ASSERT_EQ(tcp.run.status, 0) << tcp.run.err;
  ASSERT_EQ(udp.run.status, 0) << udp.run.err;
  ASSERT_EQ(udp.calls.size(), 2u);
  ASSERT_EQ(tcp.calls.size(), udp.calls.size()) << tcp.run.err;
  for (const json& u : udp.calls) {
    const json* t = nullptr;
    for (const json& c : tcp.calls)
      if (c["sip_call_id"] == u["sip_call_id"]) t = &c;
    ASSERT_NE(t, nullptr) << "no TCP call " << u["sip_call_id"];
    for (const char* key : {"caller", "callee", "codecs", "streams", "end", "sha256"})
      EXPECT_EQ((*t)[key], u[key]) << key << " of " << u["sip_call_id"];
    EXPECT_LE(std::llabs(test::parse_iso_ms(str(*t, "start")) - test::parse_iso_ms(str(u, "start"))), 1);
    EXPECT_FALSE(u["sha256"].is_null());
  }
  // The reassembly really was exercised, and nothing was lost or malformed.
  EXPECT_NE(tcp.run.err.find("sip over tcp:          14 messages in 2 connections"), std::string::npos)
      << tcp.run.err;
  EXPECT_EQ(tcp.run.err.find(" 0 out of order"), std::string::npos) << tcp.run.err;
  EXPECT_EQ(tcp.run.err.find(" 0 retransmitted"), std::string::npos) << tcp.run.err;
  EXPECT_NE(tcp.run.err.find("0 gaps of 0 bytes"), std::string::npos) << tcp.run.err;
  EXPECT_NE(tcp.run.err.find("malformed or unexpected input:\n    none"), std::string::npos) << tcp.run.err;
}

}  // namespace
}  // namespace cv::gen
