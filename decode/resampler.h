// Mono 16-bit rate conversion through libswresample, used to lift the G.711
// parts of a call that also carries G.722 to 16 kHz.
//
// Timing contract: output sample k stands for input time k / out_rate, so
// resampled audio lines up with audio that was never resampled. libswresample
// already starts aligned (it mirrors the first input samples into the filter
// history instead of padding zeros, so there is no leading filter delay to
// drop; the tests check this with a tone's phase and an impulse). What it does
// hold back is the filter's look-ahead, released by flush(). After flush() the
// total output for n input samples is exactly ceil(n * out_rate / in_rate): the
// number of output instants inside the input's duration (n * 2 for 8000 ->
// 16000), trimmed or zero-padded if libswresample's own rounding differs.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace cv {

class Resampler {
 public:
  // Throws std::runtime_error if libswresample cannot be set up or a rate is
  // not positive.
  Resampler(int in_rate, int out_rate);
  ~Resampler();
  Resampler(Resampler&&) noexcept;
  Resampler& operator=(Resampler&&) noexcept;

  // Converts `n` input samples; appends the output to `out`. Output lags the
  // input by the filter's look-ahead; flush() drains it. Deterministic for the
  // same input sequence.
  void process(const int16_t* in, size_t n, std::vector<int16_t>& out);
  // Appends the held-back tail so the stream's total is exact (see above), and
  // starts a new stream: the next process() begins again at time 0.
  void flush(std::vector<int16_t>& out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cv
