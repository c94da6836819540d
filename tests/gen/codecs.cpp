#include "tests/gen/codecs.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
}

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace cv::gen {

// ---- G.711 (ITU-T G.711 tables 1a/2a, expressed as segment arithmetic) ----

uint8_t linear_to_ulaw(int16_t sample) {
  // On the 14-bit magnitude the standard quantises (as in the ITU/Sun reference).
  constexpr int kBias = 0x21;
  constexpr int kClip = 8159;
  int v = sample >> 2;
  int mask = 0xFF;
  if (v < 0) {
    v = -v;
    mask = 0x7F;
  }
  v = std::min(v, kClip) + kBias;
  int seg = 0;
  while (seg < 8 && v > (0x40 << seg) - 1) ++seg;
  if (seg >= 8) return static_cast<uint8_t>(0x7F ^ mask);
  return static_cast<uint8_t>(((seg << 4) | ((v >> (seg + 1)) & 0x0F)) ^ mask);
}

int16_t ulaw_to_linear(uint8_t code) {
  constexpr int kBias = 0x84;
  const int u = ~code & 0xFF;
  const int t = (((u & 0x0F) << 3) + kBias) << ((u & 0x70) >> 4);
  return static_cast<int16_t>((u & 0x80) != 0 ? kBias - t : t - kBias);
}

uint8_t linear_to_alaw(int16_t sample) {
  int v = sample >> 3;  // 13-bit magnitude domain
  int mask;
  if (v >= 0) {
    mask = 0xD5;
  } else {
    mask = 0x55;
    v = -v - 1;
  }
  int seg = 0;
  while (seg < 8 && v > (0x20 << seg) - 1) ++seg;
  if (seg >= 8) return static_cast<uint8_t>(0x7F ^ mask);
  int a = seg << 4;
  a |= seg < 2 ? (v >> 1) & 0x0F : (v >> seg) & 0x0F;
  return static_cast<uint8_t>(a ^ mask);
}

int16_t alaw_to_linear(uint8_t code) {
  const int a = code ^ 0x55;
  int t = (a & 0x0F) << 4;
  const int seg = (a & 0x70) >> 4;
  if (seg == 0) {
    t += 8;
  } else {
    t += 0x108;
    t <<= seg - 1;
  }
  return static_cast<int16_t>((a & 0x80) != 0 ? t : -t);
}

// ---- libavcodec plumbing ----

namespace {

struct CtxDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwrDeleter {
  void operator()(SwrContext* s) const { swr_free(&s); }
};
using CtxPtr = std::unique_ptr<AVCodecContext, CtxDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;

CtxPtr open_codec(bool encoder) {
  const AVCodec* codec =
      encoder ? avcodec_find_encoder(AV_CODEC_ID_ADPCM_G722) : avcodec_find_decoder(AV_CODEC_ID_ADPCM_G722);
  if (codec == nullptr) throw std::runtime_error("libavcodec has no G.722 codec");
  CtxPtr ctx(avcodec_alloc_context3(codec));
  if (!ctx) throw std::runtime_error("avcodec_alloc_context3 failed");
  ctx->sample_rate = 16000;
  av_channel_layout_default(&ctx->ch_layout, 1);
  if (encoder) {
    ctx->sample_fmt = AV_SAMPLE_FMT_S16;
    ctx->frame_size = 320;
  }
  if (avcodec_open2(ctx.get(), codec, nullptr) < 0) throw std::runtime_error("cannot open G.722 codec");
  return ctx;
}

}  // namespace

struct G722Encoder::Impl {
  CtxPtr ctx = open_codec(true);
  FramePtr frame{av_frame_alloc()};
  PacketPtr packet{av_packet_alloc()};
};

G722Encoder::G722Encoder() : impl_(std::make_unique<Impl>()) {
  AVFrame* f = impl_->frame.get();
  f->format = AV_SAMPLE_FMT_S16;
  f->nb_samples = 320;
  f->sample_rate = 16000;
  av_channel_layout_default(&f->ch_layout, 1);
  if (av_frame_get_buffer(f, 0) < 0) throw std::runtime_error("av_frame_get_buffer failed");
}
G722Encoder::~G722Encoder() = default;

void G722Encoder::encode20ms(std::span<const int16_t> samples, std::vector<uint8_t>& out) {
  if (samples.size() != 320) throw std::invalid_argument("G.722 frame must be 320 samples");
  AVFrame* f = impl_->frame.get();
  if (av_frame_make_writable(f) < 0) throw std::runtime_error("av_frame_make_writable failed");
  std::memcpy(f->data[0], samples.data(), samples.size() * sizeof(int16_t));
  if (avcodec_send_frame(impl_->ctx.get(), f) < 0) throw std::runtime_error("G.722 encode failed");
  size_t got = 0;
  while (avcodec_receive_packet(impl_->ctx.get(), impl_->packet.get()) == 0) {
    out.insert(out.end(), impl_->packet->data, impl_->packet->data + impl_->packet->size);
    got += static_cast<size_t>(impl_->packet->size);
    av_packet_unref(impl_->packet.get());
  }
  if (got != 160) throw std::runtime_error("G.722 encoder did not return 160 bytes for 20 ms");
}

struct G722Decoder::Impl {
  CtxPtr ctx = open_codec(false);
  FramePtr frame{av_frame_alloc()};
  PacketPtr packet{av_packet_alloc()};
  std::vector<uint8_t> padded;
};

G722Decoder::G722Decoder() : impl_(std::make_unique<Impl>()) {}
G722Decoder::~G722Decoder() = default;

void G722Decoder::decode(std::span<const uint8_t> payload, std::vector<int16_t>& out) {
  Impl& d = *impl_;
  d.padded.assign(payload.begin(), payload.end());
  d.padded.resize(payload.size() + AV_INPUT_BUFFER_PADDING_SIZE, 0);
  d.packet->data = d.padded.data();
  d.packet->size = static_cast<int>(payload.size());
  if (avcodec_send_packet(d.ctx.get(), d.packet.get()) < 0) throw std::runtime_error("G.722 decode failed");
  while (avcodec_receive_frame(d.ctx.get(), d.frame.get()) == 0) {
    const auto* s = reinterpret_cast<const int16_t*>(d.frame->data[0]);
    out.insert(out.end(), s, s + d.frame->nb_samples);
    av_frame_unref(d.frame.get());
  }
}

std::vector<int16_t> upsample_8k_to_16k(std::span<const int16_t> in) {
  AVChannelLayout mono;
  av_channel_layout_default(&mono, 1);
  SwrContext* raw = nullptr;
  if (swr_alloc_set_opts2(&raw, &mono, AV_SAMPLE_FMT_S16, 16000, &mono, AV_SAMPLE_FMT_S16, 8000, 0, nullptr) <
      0)
    throw std::runtime_error("swr_alloc_set_opts2 failed");
  std::unique_ptr<SwrContext, SwrDeleter> swr(raw);
  if (swr_init(swr.get()) < 0) throw std::runtime_error("swr_init failed");
  const size_t want = in.size() * 2;
  std::vector<int16_t> out(want + 256);
  size_t have = 0;
  auto run = [&](const int16_t* src, int n) {
    uint8_t* dst = reinterpret_cast<uint8_t*>(out.data() + have);
    const uint8_t* s = reinterpret_cast<const uint8_t*>(src);
    const int got = swr_convert(swr.get(), &dst, static_cast<int>(out.size() - have), src ? &s : nullptr, n);
    if (got < 0) throw std::runtime_error("swr_convert failed");
    have += static_cast<size_t>(got);
  };
  run(in.data(), static_cast<int>(in.size()));
  run(nullptr, 0);  // flush the filter tail
  // libswresample's default filter is centred: its output is already aligned
  // with its input (no leading delay samples), so only the length is fixed.
  out.resize(have);
  out.resize(want, 0);
  return out;
}

}  // namespace cv::gen
