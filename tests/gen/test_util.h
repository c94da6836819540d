// Helpers shared by the generator's tests: temporary directories, running
// programs, reading WAV files, comparing audio, and reading tshark's output.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace cv::gen::test {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on
// destruction unless CVGEN_KEEP is set in the environment.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct RunResult {
  int status = -1;  // exit status; -1: could not run
  std::string out, err;
  long max_rss_kb = 0;  // peak resident memory of the child
};
// Runs argv (no shell) and collects stdout and stderr.
RunResult run(const std::vector<std::string>& argv);
bool have_program(const std::string& name);

struct Wav {
  int rate = 0, channels = 0, bits = 0;
  std::vector<int16_t> left, right;
};
// Parses a RIFF/WAVE PCM file; throws std::runtime_error when it is not one.
Wav read_wav(const std::string& path);

// Normalised cross-correlation of a and b (zero-padded to equal length),
// the best over lags -max_lag..max_lag; `lag` receives that lag.
double correlation(const std::vector<int16_t>& a, const std::vector<int16_t>& b, int max_lag,
                   int* lag = nullptr);

nlohmann::json read_json(const std::string& path);
// Milliseconds since the epoch of "YYYY-MM-DDTHH:MM:SS.mmmZ".
int64_t parse_iso_ms(const std::string& s);

// One line of `tshark -q -z rtp,streams`.
struct TsharkStream {
  std::string src, dst, ssrc, payload;
  int64_t packets = 0, lost = 0;
};
std::vector<TsharkStream> parse_tshark_rtp_streams(const std::string& text);

}  // namespace cv::gen::test
