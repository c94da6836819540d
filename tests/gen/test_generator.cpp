// Checks of the capture generator itself: its G.711 reference, the
// determinism of its output, and — for every case — that an independent
// reader (tshark) sees exactly the SIP messages and RTP flows it claims.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "tests/gen/bench.h"
#include "tests/gen/cases.h"
#include "tests/gen/codecs.h"
#include "tests/gen/test_util.h"

namespace cv::gen {
namespace {

using test::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(G711Reference, KnownValues) {
  EXPECT_EQ(ulaw_to_linear(0xFF), 0);
  EXPECT_EQ(ulaw_to_linear(0x80), 32124);
  EXPECT_EQ(ulaw_to_linear(0x00), -32124);
  EXPECT_EQ(ulaw_to_linear(0xFE), 8);    // segment 0, first step
  EXPECT_EQ(ulaw_to_linear(0xEF), 132);  // segment 1, first step
  EXPECT_EQ(alaw_to_linear(0xD5), 8);
  EXPECT_EQ(alaw_to_linear(0x55), -8);
  EXPECT_EQ(alaw_to_linear(0xAA), 32256);
  EXPECT_EQ(alaw_to_linear(0x2A), -32256);
  EXPECT_EQ(linear_to_ulaw(0), 0xFF);
  EXPECT_EQ(linear_to_alaw(0), 0xD5);
  EXPECT_EQ(linear_to_ulaw(32767), 0x80);
  EXPECT_EQ(linear_to_ulaw(-32768), 0x00);
  EXPECT_EQ(linear_to_ulaw(-31611), 0x00);  // a decision boundary (checked against Python audioop)
  EXPECT_EQ(linear_to_ulaw(-29563), 0x02);
  EXPECT_EQ(linear_to_alaw(32767), 0xAA);
  EXPECT_EQ(linear_to_alaw(-32768), 0x2A);
}

TEST(G711Reference, EncodeOfDecodeIsIdentity) {
  for (int c = 0; c < 256; ++c) {
    const auto code = static_cast<uint8_t>(c);
    if (code != 0x7F) {  // 0x7F is -0, encoded back as +0 (0xFF)
      EXPECT_EQ(linear_to_ulaw(ulaw_to_linear(code)), code) << c;
    }
    EXPECT_EQ(linear_to_alaw(alaw_to_linear(code)), code) << c;
  }
}

TEST(G711Reference, QuantisationErrorIsSmall) {
  for (int s = -32768; s <= 32767; s += 7) {
    const auto x = static_cast<int16_t>(s);
    const int eu = std::abs(ulaw_to_linear(linear_to_ulaw(x)) - s);
    const int ea = std::abs(alaw_to_linear(linear_to_alaw(x)) - s);
    EXPECT_LE(eu, std::max(12, std::abs(s) / 12)) << s;
    EXPECT_LE(ea, std::max(16, std::abs(s) / 12)) << s;
  }
}

TEST(G722Reference, RoundTripKeepsTheTone) {
  const Signal s = tone(1000.0, 16000, 1.0);
  G722Encoder enc;
  G722Decoder dec;
  std::vector<uint8_t> bytes;
  std::vector<int16_t> out;
  for (size_t i = 0; i + 320 <= s->size(); i += 320) {
    bytes.clear();
    enc.encode20ms({s->data() + i, 320}, bytes);
    ASSERT_EQ(bytes.size(), 160u);
    dec.decode(bytes, out);
  }
  ASSERT_EQ(out.size(), s->size());
  int lag = 0;
  EXPECT_GT(test::correlation(*s, out, 40, &lag), 0.99);
}

TEST(Generator, SameBytesEveryTime) {
  TempDir a, b;
  for (const char* name : {"basic_pcmu", "g722", "malformed_storm"}) {
    find_case(name)->build().write(a.path());
    find_case(name)->build().write(b.path());
  }
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(a.path())) {
    const auto other = std::filesystem::path(b.path()) / e.path().filename();
    EXPECT_EQ(slurp(e.path().string()), slurp(other.string())) << e.path();
    ++files;
  }
  EXPECT_GE(files, 9u);
}

TEST(Generator, ExpectedWavMatchesTheJson) {
  TempDir dir;
  find_case("dtmf_rfc4733")->build().write(dir.path());
  const auto j = test::read_json(dir.path() + "/dtmf_rfc4733.expected.json");
  ASSERT_EQ(j["calls"].size(), 1u);
  const auto& call = j["calls"][0];
  const test::Wav w = test::read_wav(dir.path() + "/" + call["expected_wav"].get<std::string>());
  EXPECT_EQ(w.rate, 8000);
  EXPECT_EQ(w.channels, 2);
  EXPECT_EQ(w.left.size(), call["samples"].get<size_t>());
  std::string digits;
  for (const auto& d : call["dtmf"]) digits += d["digit"].get<std::string>();
  EXPECT_EQ(digits, "1#9");
  EXPECT_EQ(call["dtmf"][1]["duration_ms"], 160);
  // The caller's 400 Hz tone is on the left, the callee's 1000 Hz on the right.
  const Signal caller = tone(400.0, 8000, 1.0);
  std::vector<int16_t> left(w.left.begin(), w.left.begin() + 4000),
      ref(caller->begin(), caller->begin() + 4000);
  EXPECT_GT(test::correlation(left, ref, 40), 0.98);
}

class TsharkAgrees : public ::testing::TestWithParam<std::string> {};

TEST_P(TsharkAgrees, SipMessagesAndRtpFlows) {
  if (!test::have_program("tshark")) GTEST_SKIP() << "tshark not installed";
  TempDir dir;
  const CaseInfo* info = find_case(GetParam());
  ASSERT_NE(info, nullptr);
  info->build().write(dir.path());
  const std::string pcap = dir.path() + "/" + GetParam() + ".pcap";
  const auto j = test::read_json(dir.path() + "/" + GetParam() + ".expected.json");

  // RTP flows: tshark finds them through the SDP of the SIP dialogs.
  // SIP over TCP (sip_over_tcp): tshark reassembles out-of-order segments
  // only when asked, and dissects port 6060 as SIP only when told to; its
  // RTP streams come from the SDP it dissects.
  const std::vector<std::string> sip_over_tcp = {"-o", "tcp.reassemble_out_of_order:TRUE", "-d",
                                                 "tcp.port==6060,sip"};
  std::vector<std::string> rtp_cmd = {"tshark", "-n", "-r", pcap};
  rtp_cmd.insert(rtp_cmd.end(), sip_over_tcp.begin(), sip_over_tcp.end());
  rtp_cmd.insert(rtp_cmd.end(), {"-q", "-z", "rtp,streams"});
  const test::RunResult rtp = test::run(rtp_cmd);
  ASSERT_EQ(rtp.status, 0) << rtp.err;
  std::map<std::tuple<std::string, std::string, std::string>, test::TsharkStream> seen;
  for (const auto& s : test::parse_tshark_rtp_streams(rtp.out)) seen[{s.src, s.dst, s.ssrc}] = s;
  const auto& flows = j["wire"]["rtp_flows"];
  for (const auto& f : flows) {
    const auto key = std::make_tuple(f["src"].get<std::string>(), f["dst"].get<std::string>(),
                                     f["ssrc"].get<std::string>());
    auto it = seen.find(key);
    ASSERT_NE(it, seen.end()) << "tshark did not see flow " << f.dump() << "\n" << rtp.out;
    EXPECT_EQ(it->second.packets, f["packets"].get<int64_t>()) << f.dump();
    // tshark: lost = expected - received, duplicates included in received.
    EXPECT_EQ(it->second.lost, f["expected"].get<int64_t>() - f["packets"].get<int64_t>()) << f.dump();
  }
  // Only the storm adds RTP-looking traffic of its own.
  if (GetParam() != "malformed_storm") {
    EXPECT_EQ(seen.size(), flows.size()) << rtp.out;
  }

  // SIP: every message with a Call-ID, in capture order per Call-ID.
  std::vector<std::string> sip_cmd = {"tshark", "-n", "-r", pcap};
  sip_cmd.insert(sip_cmd.end(), sip_over_tcp.begin(), sip_over_tcp.end());
  sip_cmd.insert(sip_cmd.end(), {"-Y", "sip", "-T", "fields", "-e", "sip.Call-ID", "-e", "sip.Method", "-e",
                                 "sip.Status-Code"});
  const test::RunResult sip = test::run(sip_cmd);
  ASSERT_EQ(sip.status, 0) << sip.err;
  std::map<std::string, std::vector<std::string>> got, want;
  std::stringstream ss(sip.out);
  std::string line;
  while (std::getline(ss, line)) {
    const size_t t1 = line.find('\t');
    if (t1 == std::string::npos || t1 == 0) continue;  // malformed SIP without Call-ID
    const size_t t2 = line.find('\t', t1 + 1);
    got[line.substr(0, t1)].push_back(line.substr(t1 + 1, t2 - t1 - 1) + "/" + line.substr(t2 + 1));
  }
  for (const auto& m : j["wire"]["sip"]) {
    const int status = m["status"].get<int>();
    want[m["call_id"].get<std::string>()].push_back(m["method"].get<std::string>() + "/" +
                                                    (status != 0 ? std::to_string(status) : ""));
  }
  EXPECT_EQ(got, want);
}

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (const auto& c : all_cases()) names.push_back(c.name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Cases, TsharkAgrees, ::testing::ValuesIn(case_names()),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

TEST(Bench, StreamsManyCallsThatTsharkSees) {
  if (!test::have_program("tshark")) GTEST_SKIP() << "tshark not installed";
  TempDir dir;
  BenchOptions o;
  o.calls = 60;
  o.concurrent = 20;
  o.seconds = 2.0;
  o.out = dir.path() + "/bench.pcap";
  const BenchStats s = write_bench(o);
  EXPECT_EQ(s.rtp_packets, 60u * 2 * 100);
  EXPECT_EQ(s.sip_messages, 60u * 5);

  // Timestamps never go backwards.
  const std::string bytes = slurp(o.out);
  ASSERT_GT(bytes.size(), 24u);
  size_t at = 24;
  uint64_t last = 0, records = 0;
  while (at + 16 <= bytes.size()) {
    uint32_t rec[4];
    std::memcpy(rec, bytes.data() + at, sizeof rec);
    const uint64_t t = uint64_t{rec[0]} * 1000000 + rec[1];
    EXPECT_GE(t, last);
    last = t;
    at += 16 + rec[2];
    ++records;
  }
  EXPECT_EQ(at, bytes.size());
  EXPECT_EQ(records, s.frames);

  const test::RunResult rtp = test::run({"tshark", "-n", "-r", o.out, "-q", "-z", "rtp,streams"});
  ASSERT_EQ(rtp.status, 0) << rtp.err;
  const auto streams = test::parse_tshark_rtp_streams(rtp.out);
  EXPECT_EQ(streams.size(), 120u);
  for (const auto& st : streams) {
    EXPECT_EQ(st.packets, 100);
    EXPECT_EQ(st.lost, 0);
  }
  const test::RunResult calls = test::run({"tshark", "-n", "-r", o.out, "-q", "-z", "sip,stat"});
  ASSERT_EQ(calls.status, 0);
  EXPECT_NE(calls.out.find("INVITE          :    60 Packets"), std::string::npos) << calls.out;
  EXPECT_NE(calls.out.find("Number of SIP messages: 300"), std::string::npos) << calls.out;
}

}  // namespace
}  // namespace cv::gen
