#include "decode/g722_decoder.h"

#include <climits>
#include <cstring>
#include <new>
#include <stdexcept>
#include <vector>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libavutil/frame.h>
#include <libavutil/samplefmt.h>
}

namespace cv {

namespace {

struct CodecContextDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;

// With one channel, planar and interleaved s16 have the same memory layout.
bool is_mono_s16(int format, const AVChannelLayout& layout) {
  return (format == AV_SAMPLE_FMT_S16 || format == AV_SAMPLE_FMT_S16P) && layout.nb_channels == 1;
}

// Opens a fresh G.722 decoding context; `why` says what failed when it
// returns null.
CodecContextPtr open_g722(const char*& why) {
  const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_ADPCM_G722);
  if (codec == nullptr) {
    why = "libavcodec has no G.722 decoder";
    return nullptr;
  }
  CodecContextPtr ctx(avcodec_alloc_context3(codec));
  if (!ctx) {
    why = "cannot allocate a G.722 decoder context";
    return nullptr;
  }
  // The decoder does not derive the rate from the bitstream; frames carry
  // whatever the context says, and G.722 is 16 kHz audio.
  ctx->sample_rate = G722Decoder::kSampleRate;
  const AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
  if (av_channel_layout_copy(&ctx->ch_layout, &mono) < 0 || avcodec_open2(ctx.get(), codec, nullptr) < 0) {
    why = "cannot open the G.722 decoder";
    return nullptr;
  }
  if (!is_mono_s16(ctx->sample_fmt, ctx->ch_layout) || ctx->sample_rate != G722Decoder::kSampleRate) {
    why = "libavcodec's G.722 decoder does not produce 16 kHz mono s16";
    return nullptr;
  }
  return ctx;
}

}  // namespace

struct G722Decoder::Impl {
  CodecContextPtr ctx;
  PacketPtr packet;
  FramePtr frame;
  std::vector<uint8_t> input;  // payload + AV_INPUT_BUFFER_PADDING_SIZE zero bytes
};

G722Decoder::G722Decoder() : impl_(std::make_unique<Impl>()) {
  const char* why = nullptr;
  impl_->ctx = open_g722(why);
  if (!impl_->ctx) throw std::runtime_error(why);
  impl_->packet.reset(av_packet_alloc());
  impl_->frame.reset(av_frame_alloc());
  if (!impl_->packet || !impl_->frame) throw std::runtime_error("cannot allocate libavcodec packet/frame");
}

G722Decoder::~G722Decoder() = default;
G722Decoder::G722Decoder(G722Decoder&&) noexcept = default;
G722Decoder& G722Decoder::operator=(G722Decoder&&) noexcept = default;

int G722Decoder::decode(Bytes payload, int16_t* out, size_t max) noexcept {
  if (!impl_) return -1;
  if (payload.empty()) return 0;  // an empty packet would mean "drain" to send_packet
  if (payload.size() > INT_MAX / 2 || payload.size() * 2 > max) return -1;
  Impl& d = *impl_;

  try {
    d.input.resize(payload.size() + AV_INPUT_BUFFER_PADDING_SIZE);
  } catch (const std::bad_alloc&) {
    return -1;
  }
  std::memcpy(d.input.data(), payload.data(), payload.size());
  // Bitstream readers may read past the end; the padding must be zero.
  std::memset(d.input.data() + payload.size(), 0, AV_INPUT_BUFFER_PADDING_SIZE);

  AVPacket* pkt = d.packet.get();
  pkt->data = d.input.data();
  pkt->size = static_cast<int>(payload.size());
  const int sent = avcodec_send_packet(d.ctx.get(), pkt);
  // The packet is not reference counted: libavcodec copied what it keeps.
  pkt->data = nullptr;
  pkt->size = 0;
  if (sent < 0) return -1;

  size_t written = 0;
  bool failed = false;
  for (;;) {
    const int got = avcodec_receive_frame(d.ctx.get(), d.frame.get());
    if (got == AVERROR(EAGAIN) || got == AVERROR_EOF) break;
    if (got < 0) return -1;
    const AVFrame& f = *d.frame;
    const auto n = static_cast<size_t>(f.nb_samples);
    if (!is_mono_s16(f.format, f.ch_layout) || f.nb_samples < 0 || n > max - written) {
      failed = true;  // keep draining so the next packet starts clean
    } else {
      std::memcpy(out + written, f.data[0], n * sizeof(int16_t));
      written += n;
    }
    av_frame_unref(d.frame.get());
  }
  return failed ? -1 : static_cast<int>(written);
}

void G722Decoder::reset() noexcept {
  if (!impl_) return;
  // FFmpeg's G.722 decoder has no flush callback: avcodec_flush_buffers()
  // would leave the band predictors and QMF history as they were (the tests
  // show it). A fresh context is the only way to the initial state.
  const char* why = nullptr;
  if (CodecContextPtr fresh = open_g722(why)) {
    impl_->ctx = std::move(fresh);
  } else {
    // Out of memory: keep decoding with the old state rather than not at all.
    avcodec_flush_buffers(impl_->ctx.get());
  }
}

}  // namespace cv
