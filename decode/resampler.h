// Mono 16-bit rate conversion through libswresample, used to lift the G.711
// parts of a call that also carries G.722 to 16 kHz.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace cv {

class Resampler {
 public:
  // Throws std::runtime_error if libswresample cannot be set up.
  Resampler(int in_rate, int out_rate);
  ~Resampler();
  Resampler(Resampler&&) noexcept;
  Resampler& operator=(Resampler&&) noexcept;

  // Converts `n` input samples; appends the output to `out`. Output lags the
  // input by the filter delay; flush() drains it. Deterministic for the same
  // input sequence.
  void process(const int16_t* in, size_t n, std::vector<int16_t>& out);
  void flush(std::vector<int16_t>& out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cv
