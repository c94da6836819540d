// Stereo WAV files written incrementally and finished atomically.
//
// Audio goes to a hidden temporary name beside the final one, through a small
// buffer (memory per call stays bounded however long the call), and is only
// renamed to its final name after the header is completed and the data
// fsynced, so a crash or power cut never leaves a half-written file under a
// recording's name.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/file_io.h"  // UniqueFd, write_all, fsync_dir, make_directories
#include "decode/audio_sink.h"

namespace cv {

// A recording being written: <root>/<relative> appears only when complete;
// until then the bytes go to the hidden ".<name>.tmp" beside it, so that a
// reader (or retention) never sees half a file.
struct HiddenTempFile {
  std::string final_path;
  std::string temp_path;
  UniqueFd fd;
};
// Creates the file's directory (`dir_mode`) and the temporary file
// (`file_mode`, opened read-write and truncated, never through a symlink).
// False and `error` naming the path and the reason.
bool create_hidden_temp(const std::string& root, const std::string& relative_path, unsigned dir_mode,
                        unsigned file_mode, HiddenTempFile& out, std::string& error);

class WavFileSink final : public AudioSink {
 public:
  // Creates the dated directory and the temporary file. nullptr and `error`
  // naming the path and the reason when that fails.
  static std::unique_ptr<WavFileSink> create(const std::string& root, const std::string& relative_path,
                                             uint32_t sample_rate, std::string& error);
  ~WavFileSink() override;

  bool write(const int16_t* interleaved, size_t frames) override;
  bool change_rate(uint32_t from_rate, uint32_t to_rate) override;
  FinishedAudio finish() override;
  void abandon() override;

  [[nodiscard]] const std::string& error() const { return error_; }

 private:
  WavFileSink() = default;
  bool flush_buffer();
  bool fail(const std::string& what, int err);

  UniqueFd fd_;
  std::string root_;
  std::string relative_;
  std::string final_path_;
  std::string temp_path_;
  uint32_t rate_ = 8000;
  uint64_t data_bytes_ = 0;  // audio bytes on disk (excluding the buffer)
  std::vector<int16_t> buffer_;
  bool failed_ = false;
  bool done_ = false;
  std::string error_;
};

class WavSinkFactory final : public AudioSinkFactory {
 public:
  WavSinkFactory(std::string root, std::string sensor) : root_(std::move(root)), sensor_(std::move(sensor)) {}
  std::unique_ptr<AudioSink> open(const CallInfo& call, uint32_t sample_rate, std::string& error) override;

 private:
  std::string root_;
  std::string sensor_;
};

// The 44-byte canonical header of a 16-bit PCM stereo WAV file.
std::array<uint8_t, 44> wav_header(uint32_t sample_rate, uint64_t data_bytes);

}  // namespace cv
