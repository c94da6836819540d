// Where a call's stereo audio goes. Implemented by storage (WAV files); the
// decode stage only knows this interface, so dependencies point one way.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "capture/call/call_events.h"

namespace cv {

struct FinishedAudio {
  bool ok = false;
  std::string relative_path;  // relative to the output directory
  std::string sha256;         // hex digest of the finished file
  uint64_t bytes = 0;
  std::string error;  // why the file could not be written (ok == false)
};

class AudioSink {
 public:
  virtual ~AudioSink() = default;
  // Appends interleaved stereo frames (left = caller, right = callee).
  // Returns false after a write error; error() names it. The sink keeps
  // accepting calls after a failure so that the caller's logic stays simple.
  virtual bool write(const int16_t* interleaved, size_t frames) = 0;
  // The call turned out to need 16 kHz (G.722 after G.711): convert what was
  // written so far from `from_rate` to `to_rate`.
  virtual bool change_rate(uint32_t from_rate, uint32_t to_rate) = 0;
  // Completes the file (header, fsync, atomic rename) and hashes it.
  virtual FinishedAudio finish() = 0;
  // Removes the partial file (nothing worth keeping).
  virtual void abandon() = 0;
};

class AudioSinkFactory {
 public:
  virtual ~AudioSinkFactory() = default;
  // Opens a sink for the call; nullptr with `error` set when that fails.
  virtual std::unique_ptr<AudioSink> open(const CallInfo& call, uint32_t sample_rate, std::string& error) = 0;
};

}  // namespace cv
