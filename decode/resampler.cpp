#include "decode/resampler.h"

#include <algorithm>
#include <climits>
#include <stdexcept>

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/samplefmt.h>
#include <libswresample/swresample.h>
}

namespace cv {

namespace {

struct SwrDeleter {
  void operator()(SwrContext* s) const { swr_free(&s); }
};
using SwrPtr = std::unique_ptr<SwrContext, SwrDeleter>;

// libswresample counts samples in int; longer inputs go in slices.
constexpr size_t kMaxSlice = size_t{1} << 20;

}  // namespace

struct Resampler::Impl {
  SwrPtr swr;
  int in_rate = 0;
  int out_rate = 0;
  uint64_t consumed = 0;  // input samples of the current stream
  uint64_t produced = 0;  // output samples of the current stream

  // Output samples the stream must have once flushed: the output instants
  // k / out_rate that fall before n / in_rate.
  [[nodiscard]] uint64_t expected_total() const {
    const auto in = static_cast<uint64_t>(in_rate);
    return (consumed * static_cast<uint64_t>(out_rate) + in - 1) / in;
  }

  // Runs swr_convert and appends up to `room` converted samples to `out`,
  // never beyond the stream's exact total. Null `in` drains.
  void convert(const int16_t* in, int n, std::vector<int16_t>& out) {
    const int room = swr_get_out_samples(swr.get(), n);
    if (room <= 0) return;
    const size_t old = out.size();
    out.resize(old + static_cast<size_t>(room));
    auto* dst = reinterpret_cast<uint8_t*>(out.data() + old);
    const auto* src = reinterpret_cast<const uint8_t*>(in);
    const int got = swr_convert(swr.get(), &dst, room, in != nullptr ? &src : nullptr, n);
    // A conversion error loses this slice's output; flush() still brings the
    // stream to its exact length.
    const uint64_t limit = expected_total() > produced ? expected_total() - produced : 0;
    const auto keep =
        static_cast<size_t>(std::min<uint64_t>(got > 0 ? static_cast<uint64_t>(got) : 0, limit));
    out.resize(old + keep);
    produced += keep;
  }
};

Resampler::Resampler(int in_rate, int out_rate) : impl_(std::make_unique<Impl>()) {
  if (in_rate <= 0 || out_rate <= 0) throw std::runtime_error("resampler rates must be positive");
  impl_->in_rate = in_rate;
  impl_->out_rate = out_rate;
  SwrContext* raw = nullptr;
  // Not const: FFmpeg 5.1's swr_alloc_set_opts2 takes non-const layouts (6.0 fixed that).
  AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
  if (swr_alloc_set_opts2(&raw, &mono, AV_SAMPLE_FMT_S16, out_rate, &mono, AV_SAMPLE_FMT_S16, in_rate, 0,
                          nullptr) < 0) {
    throw std::runtime_error("cannot allocate libswresample context");
  }
  impl_->swr.reset(raw);
  if (swr_init(impl_->swr.get()) < 0) throw std::runtime_error("cannot initialise libswresample");
}

Resampler::~Resampler() = default;
Resampler::Resampler(Resampler&&) noexcept = default;
Resampler& Resampler::operator=(Resampler&&) noexcept = default;

void Resampler::process(const int16_t* in, size_t n, std::vector<int16_t>& out) {
  if (!impl_) return;
  while (n > 0) {
    const size_t slice = std::min(n, kMaxSlice);
    impl_->consumed += slice;
    impl_->convert(in, static_cast<int>(slice), out);
    in += slice;
    n -= slice;
  }
}

void Resampler::flush(std::vector<int16_t>& out) {
  if (!impl_) return;
  Impl& r = *impl_;
  // Drain until libswresample has nothing left (it may take more than one call).
  while (r.produced < r.expected_total()) {
    const uint64_t before = r.produced;
    r.convert(nullptr, 0, out);
    if (r.produced == before) break;
  }
  if (r.produced < r.expected_total()) {
    out.resize(out.size() + static_cast<size_t>(r.expected_total() - r.produced), 0);
  }
  // Discard whatever rounding left inside the filter and start a new stream.
  // swr_init on an initialised context resets its state.
  swr_init(r.swr.get());
  r.consumed = 0;
  r.produced = 0;
}

}  // namespace cv
