// Bad input and bad surroundings: callvault must say clearly what is wrong,
// keep going where it can, and never lose what it already recorded.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/gen/bench.h"
#include "tests/gen/cases.h"
#include "tests/gen/test_util.h"

namespace cv::gen {
namespace {

namespace fs = std::filesystem;
using test::run;
using test::TempDir;

std::vector<nlohmann::json> json_lines(const std::string& out) {
  std::vector<nlohmann::json> v;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) v.push_back(nlohmann::json::parse(line));
  return v;
}

std::string make_case(const TempDir& dir, const char* name) {
  find_case(name)->build().write(dir.path());
  return dir.path() + "/" + name + ".pcap";
}

TEST(ReplayErrors, MissingFileIsNamedAndFails) {
  TempDir dir;
  auto r = run({CALLVAULT_BIN, "replay", "--no-db", "--out", dir.path(), dir.path() + "/nope.pcap"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("nope.pcap"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("cannot read"), std::string::npos) << r.err;
}

TEST(ReplayErrors, NotACaptureIsNamedAndFails) {
  TempDir dir;
  const std::string text = dir.path() + "/notes.txt";
  std::ofstream(text) << "these are meeting notes, not packets\n";
  auto r = run({CALLVAULT_BIN, "replay", "--no-db", "--out", dir.path(), text});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("notes.txt"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("pcap"), std::string::npos) << r.err;
}

TEST(ReplayErrors, UsableFilesAreRecordedBesideAnUnusableOne) {
  TempDir dir;
  const std::string good = make_case(dir, "basic_pcmu");
  auto r = run({CALLVAULT_BIN, "replay", "--no-db", "--json", "--out", dir.path() + "/rec",
                dir.path() + "/missing.pcap", good});
  EXPECT_EQ(r.status, 1) << r.err;
  auto calls = json_lines(r.out);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_TRUE(calls[0]["audio"].is_string());
}

TEST(ReplayErrors, TruncatedCaptureKeepsEverythingBeforeTheCut) {
  TempDir dir;
  const std::string pcap = make_case(dir, "basic_pcmu");
  // Cut the file in the middle of a record.
  const auto size = fs::file_size(pcap);
  fs::resize_file(pcap, size * 2 / 3 + 7);
  auto r = run({CALLVAULT_BIN, "replay", "--no-db", "--json", "--out", dir.path() + "/rec", pcap});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("capture_truncated"), std::string::npos) << r.err;
  auto calls = json_lines(r.out);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0]["end_reason"], "capture_end");
  ASSERT_TRUE(calls[0]["audio"].is_string());
  auto wav = test::read_wav(dir.path() + "/rec/" + calls[0]["audio"].get<std::string>());
  EXPECT_GT(wav.left.size(), 8000u);  // seconds of audio before the cut survive
}

TEST(ReplayErrors, MalformedStormIsCountedAndRateLimited) {
  TempDir dir;
  const std::string pcap = make_case(dir, "malformed_storm");
  auto r = run({CALLVAULT_BIN, "replay", "--no-db", "--out", dir.path() + "/rec", pcap});
  EXPECT_EQ(r.status, 0);
  // Warnings name frames, but at most 10 per kind.
  EXPECT_NE(r.err.find(": frame "), std::string::npos);
  size_t warnings = 0;
  for (size_t at = 0; (at = r.err.find(": frame ", at)) != std::string::npos; ++at) ++warnings;
  EXPECT_LT(warnings, 200u) << "warnings are not rate-limited";
  EXPECT_NE(r.err.find("malformed or unexpected input"), std::string::npos);
}

// A disk that fills up mid-call: the part written is kept as a valid WAV,
// the error is reported with the call, and the other calls are unaffected.
TEST(ReplayErrors, FullDiskKeepsWhatWasWrittenAndSaysSo) {
  TempDir dir;
  const std::string pcap = make_case(dir, "many_calls");
  const std::string small = dir.path() + "/small";
  fs::create_directories(small);
  if (::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=256k") != 0) {
    if (std::getenv("CI") && std::string(std::getenv("CI")) == "true")
      FAIL() << "cannot mount a tmpfs (root needed)";
    GTEST_SKIP() << "needs root to mount a small tmpfs";
  }
  auto r = run({CALLVAULT_BIN, "replay", "--no-db", "--json", "--out", small, pcap});
  auto calls = json_lines(r.out);
  std::vector<std::string> kept;
  size_t with_error = 0;
  for (const auto& c : calls) {
    if (c.contains("audio_error")) {
      ++with_error;
      EXPECT_NE(c["audio_error"].get<std::string>().find("No space left"), std::string::npos) << c.dump();
    }
    if (c["audio"].is_string()) kept.push_back(small + "/" + c["audio"].get<std::string>());
  }
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(calls.size(), 200u);
  EXPECT_GT(with_error, 0u) << "the disk never filled: make the tmpfs smaller";
  EXPECT_NE(r.err.find("output_error"), std::string::npos) << r.err;
  for (const auto& path : kept) {
    auto wav = test::read_wav(path);  // throws if the file is not a valid WAV
    EXPECT_EQ(wav.channels, 2);
  }
  ::umount(small.c_str());
}

// A four-hour call is written as it goes: the recorder's memory does not grow
// with the call's length, and the file holds all of it.
TEST(ReplayLimits, FourHourCallKeepsMemoryBounded) {
  TempDir dir;
  BenchOptions opt;
  opt.calls = 1;
  opt.concurrent = 1;
  opt.seconds = 4 * 3600;
  opt.out = dir.path() + "/long.pcap";
  write_bench(opt);
  auto r = run({CALLVAULT_BIN, "replay", "--no-db", "--json", "--out", dir.path() + "/rec", opt.out});
  ASSERT_EQ(r.status, 0) << r.err;
  auto calls = json_lines(r.out);
  ASSERT_EQ(calls.size(), 1u);
  ASSERT_TRUE(calls[0]["audio"].is_string());
  EXPECT_NEAR(calls[0]["duration_s"].get<double>(), 4 * 3600.0, 1.0);
  const auto wav_bytes = fs::file_size(dir.path() + "/rec/" + calls[0]["audio"].get<std::string>());
  // 8 kHz stereo 16-bit, every sample of the call's length (the callee's
  // stream starts a few ms after the caller's, so a little over four hours).
  const auto frames = static_cast<uint64_t>(std::llround(calls[0]["duration_s"].get<double>() * 8000));
  EXPECT_EQ(wav_bytes, 44u + frames * 4);
  EXPECT_GE(frames, 4ull * 3600 * 8000);
  // The whole process (binary, libraries, libavcodec) stays far below the
  // 460 MB the audio would take if it were held in memory.
  EXPECT_LT(r.max_rss_kb, 64 * 1024) << "peak RSS " << r.max_rss_kb << " KiB";
  RecordProperty("peak_rss_kib", std::to_string(r.max_rss_kb));
}

}  // namespace
}  // namespace cv::gen
