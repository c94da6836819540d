#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "decode/codec.h"
#include "decode/g711.h"
#include "decode/g722_decoder.h"
#include "decode/resampler.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
}

namespace cv {
namespace {

// ---------------------------------------------------------------- codec table

TEST(CodecTable, StaticPayloadTypes) {
  EXPECT_EQ(codec_from_static_payload_type(0), Codec::kPcmu);
  EXPECT_EQ(codec_from_static_payload_type(3), Codec::kGsm);
  EXPECT_EQ(codec_from_static_payload_type(4), Codec::kG723);
  for (uint8_t pt : {5, 6, 16, 17}) EXPECT_EQ(codec_from_static_payload_type(pt), Codec::kDvi4) << int{pt};
  EXPECT_EQ(codec_from_static_payload_type(7), Codec::kLpc);
  EXPECT_EQ(codec_from_static_payload_type(8), Codec::kPcma);
  EXPECT_EQ(codec_from_static_payload_type(9), Codec::kG722);
  EXPECT_EQ(codec_from_static_payload_type(10), Codec::kL16);
  EXPECT_EQ(codec_from_static_payload_type(11), Codec::kL16);
  EXPECT_EQ(codec_from_static_payload_type(13), Codec::kComfortNoise);
  EXPECT_EQ(codec_from_static_payload_type(18), Codec::kG729);
  for (uint8_t pt : {1, 2, 12, 14, 15, 19, 20, 26, 34, 35, 96, 101, 127}) {
    EXPECT_EQ(codec_from_static_payload_type(pt), Codec::kUnknown) << int{pt};
  }
}

TEST(CodecTable, EncodingNamesAreCaseInsensitive) {
  EXPECT_EQ(codec_from_encoding("PCMU", 8000), Codec::kPcmu);
  EXPECT_EQ(codec_from_encoding("pcmu", 8000), Codec::kPcmu);
  EXPECT_EQ(codec_from_encoding("PcMa", 8000), Codec::kPcma);
  EXPECT_EQ(codec_from_encoding("g722", 8000), Codec::kG722);
  EXPECT_EQ(codec_from_encoding("telephone-event", 8000), Codec::kTelephoneEvent);
  EXPECT_EQ(codec_from_encoding("TELEPHONE-EVENT", 48000), Codec::kTelephoneEvent);
  EXPECT_EQ(codec_from_encoding("G726-32", 8000), Codec::kG726);
  EXPECT_EQ(codec_from_encoding("g726-16", 8000), Codec::kG726);
  EXPECT_EQ(codec_from_encoding("AAL2-G726-40", 8000), Codec::kG726);
  EXPECT_EQ(codec_from_encoding("iLBC", 8000), Codec::kIlbc);
  EXPECT_EQ(codec_from_encoding("SPEEX", 16000), Codec::kSpeex);
  EXPECT_EQ(codec_from_encoding("opus", 48000), Codec::kOpus);
  EXPECT_EQ(codec_from_encoding("AMR", 8000), Codec::kAmr);
  EXPECT_EQ(codec_from_encoding("AMR-WB", 16000), Codec::kAmrWb);
  EXPECT_EQ(codec_from_encoding("L16", 16000), Codec::kL16);
  EXPECT_EQ(codec_from_encoding("CN", 8000), Codec::kComfortNoise);
  EXPECT_EQ(codec_from_encoding("CN", 16000), Codec::kComfortNoise);
  EXPECT_EQ(codec_from_encoding("G729", 8000), Codec::kG729);
  EXPECT_EQ(codec_from_encoding("GSM", 8000), Codec::kGsm);
}

TEST(CodecTable, UnknownNames) {
  EXPECT_EQ(codec_from_encoding("", 8000), Codec::kUnknown);
  EXPECT_EQ(codec_from_encoding("PCM", 8000), Codec::kUnknown);
  EXPECT_EQ(codec_from_encoding("PCMUX", 8000), Codec::kUnknown);
  EXPECT_EQ(codec_from_encoding("G726", 8000), Codec::kUnknown);  // needs the bit rate
  EXPECT_EQ(codec_from_encoding("H264", 90000), Codec::kUnknown);
  EXPECT_EQ(codec_from_encoding("AMR-WB+", 16000), Codec::kUnknown);
}

TEST(CodecTable, DecodableCodecsOnlyAtTheirClockRate) {
  EXPECT_EQ(codec_from_encoding("PCMU", 0), Codec::kPcmu);  // rate not given
  EXPECT_EQ(codec_from_encoding("PCMU", 16000), Codec::kUnknown);
  EXPECT_EQ(codec_from_encoding("PCMA", 48000), Codec::kUnknown);
  // RFC 3551 4.5.2: G.722 is signalled with 8000 even though it is 16 kHz audio.
  EXPECT_EQ(codec_from_encoding("G722", 16000), Codec::kUnknown);
}

TEST(CodecTable, InfoForEveryCodec) {
  for (int i = 0; i <= static_cast<int>(Codec::kLpc); ++i) {
    const auto c = static_cast<Codec>(i);
    const CodecInfo& info = codec_info(c);
    EXPECT_EQ(info.codec, c);
    EXPECT_FALSE(info.name.empty());
    const bool decodable = c == Codec::kPcmu || c == Codec::kPcma || c == Codec::kG722;
    EXPECT_EQ(info.decodable, decodable) << info.name;
    if (info.decodable) {
      EXPECT_TRUE(info.is_audio) << info.name;
    }
    EXPECT_EQ(info.audio_rate != 0, info.is_audio) << info.name;
    // Every name maps back to its codec (at the codec's own clock rate).
    if (c != Codec::kUnknown && c != Codec::kG726) {
      EXPECT_EQ(codec_from_encoding(info.name, info.rtp_clock_rate), c) << info.name;
    }
  }
}

TEST(CodecTable, SpecialCases) {
  const CodecInfo& g722 = codec_info(Codec::kG722);
  EXPECT_EQ(g722.name, "G722");
  EXPECT_EQ(g722.rtp_clock_rate, 8000u);
  EXPECT_EQ(g722.audio_rate, 16000u);
  const CodecInfo& cn = codec_info(Codec::kComfortNoise);
  EXPECT_TRUE(cn.is_audio);
  EXPECT_FALSE(cn.decodable);
  const CodecInfo& dtmf = codec_info(Codec::kTelephoneEvent);
  EXPECT_FALSE(dtmf.is_audio);
  EXPECT_FALSE(dtmf.decodable);
  EXPECT_EQ(dtmf.audio_rate, 0u);
  EXPECT_EQ(codec_info(Codec::kPcmu).name, "PCMU");
  EXPECT_EQ(codec_info(Codec::kPcma).name, "PCMA");
  EXPECT_EQ(codec_info(Codec::kUnknown).decodable, false);
  EXPECT_EQ(codec_info(static_cast<Codec>(200)).codec, Codec::kUnknown);  // out of range: no UB
}

// ---------------------------------------------------------------- G.711

// Reference tables produced by an independent implementation, CPython's
// audioop (Debian 12's python3.11; audioop was removed in 3.13), with:
//   struct.unpack('<256h', audioop.ulaw2lin(bytes(range(256)), 2))
//   struct.unpack('<256h', audioop.alaw2lin(bytes(range(256)), 2))
// Generated once and pasted here; the code under test computes its tables
// from the G.711 segment formulas instead.
constexpr std::array<int16_t, 256> kAudioopUlaw = {
    -32124, -31100, -30076, -29052, -28028, -27004, -25980, -24956, -23932, -22908, -21884, -20860, -19836,
    -18812, -17788, -16764, -15996, -15484, -14972, -14460, -13948, -13436, -12924, -12412, -11900, -11388,
    -10876, -10364, -9852,  -9340,  -8828,  -8316,  -7932,  -7676,  -7420,  -7164,  -6908,  -6652,  -6396,
    -6140,  -5884,  -5628,  -5372,  -5116,  -4860,  -4604,  -4348,  -4092,  -3900,  -3772,  -3644,  -3516,
    -3388,  -3260,  -3132,  -3004,  -2876,  -2748,  -2620,  -2492,  -2364,  -2236,  -2108,  -1980,  -1884,
    -1820,  -1756,  -1692,  -1628,  -1564,  -1500,  -1436,  -1372,  -1308,  -1244,  -1180,  -1116,  -1052,
    -988,   -924,   -876,   -844,   -812,   -780,   -748,   -716,   -684,   -652,   -620,   -588,   -556,
    -524,   -492,   -460,   -428,   -396,   -372,   -356,   -340,   -324,   -308,   -292,   -276,   -260,
    -244,   -228,   -212,   -196,   -180,   -164,   -148,   -132,   -120,   -112,   -104,   -96,    -88,
    -80,    -72,    -64,    -56,    -48,    -40,    -32,    -24,    -16,    -8,     0,      32124,  31100,
    30076,  29052,  28028,  27004,  25980,  24956,  23932,  22908,  21884,  20860,  19836,  18812,  17788,
    16764,  15996,  15484,  14972,  14460,  13948,  13436,  12924,  12412,  11900,  11388,  10876,  10364,
    9852,   9340,   8828,   8316,   7932,   7676,   7420,   7164,   6908,   6652,   6396,   6140,   5884,
    5628,   5372,   5116,   4860,   4604,   4348,   4092,   3900,   3772,   3644,   3516,   3388,   3260,
    3132,   3004,   2876,   2748,   2620,   2492,   2364,   2236,   2108,   1980,   1884,   1820,   1756,
    1692,   1628,   1564,   1500,   1436,   1372,   1308,   1244,   1180,   1116,   1052,   988,    924,
    876,    844,    812,    780,    748,    716,    684,    652,    620,    588,    556,    524,    492,
    460,    428,    396,    372,    356,    340,    324,    308,    292,    276,    260,    244,    228,
    212,    196,    180,    164,    148,    132,    120,    112,    104,    96,     88,     80,     72,
    64,     56,     48,     40,     32,     24,     16,     8,      0,
};
constexpr std::array<int16_t, 256> kAudioopAlaw = {
    -5504,  -5248,  -6016,  -5760,  -4480,  -4224,  -4992,  -4736,  -7552,  -7296,  -8064,  -7808,  -6528,
    -6272,  -7040,  -6784,  -2752,  -2624,  -3008,  -2880,  -2240,  -2112,  -2496,  -2368,  -3776,  -3648,
    -4032,  -3904,  -3264,  -3136,  -3520,  -3392,  -22016, -20992, -24064, -23040, -17920, -16896, -19968,
    -18944, -30208, -29184, -32256, -31232, -26112, -25088, -28160, -27136, -11008, -10496, -12032, -11520,
    -8960,  -8448,  -9984,  -9472,  -15104, -14592, -16128, -15616, -13056, -12544, -14080, -13568, -344,
    -328,   -376,   -360,   -280,   -264,   -312,   -296,   -472,   -456,   -504,   -488,   -408,   -392,
    -440,   -424,   -88,    -72,    -120,   -104,   -24,    -8,     -56,    -40,    -216,   -200,   -248,
    -232,   -152,   -136,   -184,   -168,   -1376,  -1312,  -1504,  -1440,  -1120,  -1056,  -1248,  -1184,
    -1888,  -1824,  -2016,  -1952,  -1632,  -1568,  -1760,  -1696,  -688,   -656,   -752,   -720,   -560,
    -528,   -624,   -592,   -944,   -912,   -1008,  -976,   -816,   -784,   -880,   -848,   5504,   5248,
    6016,   5760,   4480,   4224,   4992,   4736,   7552,   7296,   8064,   7808,   6528,   6272,   7040,
    6784,   2752,   2624,   3008,   2880,   2240,   2112,   2496,   2368,   3776,   3648,   4032,   3904,
    3264,   3136,   3520,   3392,   22016,  20992,  24064,  23040,  17920,  16896,  19968,  18944,  30208,
    29184,  32256,  31232,  26112,  25088,  28160,  27136,  11008,  10496,  12032,  11520,  8960,   8448,
    9984,   9472,   15104,  14592,  16128,  15616,  13056,  12544,  14080,  13568,  344,    328,    376,
    360,    280,    264,    312,    296,    472,    456,    504,    488,    408,    392,    440,    424,
    88,     72,     120,    104,    24,     8,      56,     40,     216,    200,    248,    232,    152,
    136,    184,    168,    1376,   1312,   1504,   1440,   1120,   1056,   1248,   1184,   1888,   1824,
    2016,   1952,   1632,   1568,   1760,   1696,   688,    656,    752,    720,    560,    528,    624,
    592,    944,    912,    1008,   976,    816,    784,    880,    848,
};

TEST(G711, UlawMatchesAudioop) {
  for (int code = 0; code < 256; ++code) {
    EXPECT_EQ(ulaw_to_linear(static_cast<uint8_t>(code)), kAudioopUlaw[code]) << "code " << code;
  }
}

TEST(G711, AlawMatchesAudioop) {
  for (int code = 0; code < 256; ++code) {
    EXPECT_EQ(alaw_to_linear(static_cast<uint8_t>(code)), kAudioopAlaw[code]) << "code " << code;
  }
}

TEST(G711, WellKnownValues) {
  EXPECT_EQ(ulaw_to_linear(0xFF), 0);  // mu-law silence
  EXPECT_EQ(ulaw_to_linear(0x7F), 0);  // negative zero
  EXPECT_EQ(ulaw_to_linear(0x00), -32124);
  EXPECT_EQ(ulaw_to_linear(0x80), 32124);
  EXPECT_EQ(alaw_to_linear(0xD5), 8);  // A-law "silence" is the smallest step
  EXPECT_EQ(alaw_to_linear(0x55), -8);
  EXPECT_EQ(alaw_to_linear(0xAA), 32256);
  EXPECT_EQ(alaw_to_linear(0x2A), -32256);
}

TEST(G711, TablesAreOddSymmetric) {
  for (int code = 0; code < 128; ++code) {
    EXPECT_EQ(ulaw_to_linear(static_cast<uint8_t>(code)), -ulaw_to_linear(static_cast<uint8_t>(code | 0x80)));
    EXPECT_EQ(alaw_to_linear(static_cast<uint8_t>(code)), -alaw_to_linear(static_cast<uint8_t>(code | 0x80)));
  }
}

TEST(G711, ExpandUsesTheTables) {
  std::vector<std::byte> in;
  for (int i = 0; i < 256; ++i) in.push_back(std::byte(i));
  std::vector<int16_t> out(in.size() + 1, 12345);
  expand_ulaw(Bytes(in.data(), in.size()), out.data());
  for (int i = 0; i < 256; ++i) EXPECT_EQ(out[i], kAudioopUlaw[i]);
  EXPECT_EQ(out[256], 12345);  // wrote exactly in.size() samples
  expand_alaw(Bytes(in.data(), in.size()), out.data());
  for (int i = 0; i < 256; ++i) EXPECT_EQ(out[i], kAudioopAlaw[i]);
  expand_ulaw(Bytes(), out.data());  // nothing to do, nothing written
  EXPECT_EQ(out[0], kAudioopAlaw[0]);
}

// ---------------------------------------------------------------- signal helpers

std::vector<int16_t> tone(double hz, int rate, size_t n, double amplitude, double phase = 0.0) {
  std::vector<int16_t> v(n);
  for (size_t i = 0; i < n; ++i) {
    v[i] = static_cast<int16_t>(
        std::lround(amplitude * std::sin(2 * std::numbers::pi * hz * static_cast<double>(i) / rate + phase)));
  }
  return v;
}

// Power of one frequency (Goertzel), normalised per sample.
double power_at(const int16_t* x, size_t n, double hz, int rate) {
  const double w = 2 * std::numbers::pi * hz / rate;
  const double k = 2 * std::cos(w);
  double s1 = 0, s2 = 0;
  for (size_t i = 0; i < n; ++i) {
    const double s0 = x[i] + k * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (s1 * s1 + s2 * s2 - k * s1 * s2) / (static_cast<double>(n) * static_cast<double>(n));
}

double rms(const int16_t* x, size_t n) {
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  return std::sqrt(sum / static_cast<double>(n));
}

// ---------------------------------------------------------------- G.722

struct CodecContextFree {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameFree {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketFree {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};

// Encodes 16 kHz samples with libavcodec's own G.722 encoder into 20 ms
// packets (320 samples -> 160 bytes), as a phone would send them.
std::vector<std::vector<std::byte>> g722_encode(const std::vector<int16_t>& pcm) {
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_ADPCM_G722);
  if (codec == nullptr) return {};
  std::unique_ptr<AVCodecContext, CodecContextFree> ctx(avcodec_alloc_context3(codec));
  ctx->sample_rate = 16000;
  ctx->sample_fmt = AV_SAMPLE_FMT_S16;
  ctx->frame_size = 320;
  const AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
  EXPECT_EQ(av_channel_layout_copy(&ctx->ch_layout, &mono), 0);
  EXPECT_EQ(avcodec_open2(ctx.get(), codec, nullptr), 0);
  std::unique_ptr<AVFrame, FrameFree> frame(av_frame_alloc());
  std::unique_ptr<AVPacket, PacketFree> pkt(av_packet_alloc());

  std::vector<std::vector<std::byte>> packets;
  auto drain = [&] {
    while (avcodec_receive_packet(ctx.get(), pkt.get()) == 0) {
      const auto* d = reinterpret_cast<const std::byte*>(pkt->data);
      packets.emplace_back(d, d + pkt->size);
      av_packet_unref(pkt.get());
    }
  };
  for (size_t off = 0; off + 320 <= pcm.size(); off += 320) {
    frame->nb_samples = 320;
    frame->format = AV_SAMPLE_FMT_S16;
    frame->sample_rate = 16000;
    EXPECT_EQ(av_channel_layout_copy(&frame->ch_layout, &mono), 0);
    EXPECT_EQ(av_frame_get_buffer(frame.get(), 0), 0);
    std::memcpy(frame->data[0], pcm.data() + off, 320 * sizeof(int16_t));
    EXPECT_EQ(avcodec_send_frame(ctx.get(), frame.get()), 0);
    av_frame_unref(frame.get());
    drain();
  }
  avcodec_send_frame(ctx.get(), nullptr);
  drain();
  return packets;
}

std::vector<int16_t> decode_all(G722Decoder& d, const std::vector<std::vector<std::byte>>& packets) {
  std::vector<int16_t> out;
  std::vector<int16_t> buf;
  for (const auto& p : packets) {
    buf.assign(p.size() * 2, 0);
    const int n = d.decode(Bytes(p.data(), p.size()), buf.data(), buf.size());
    EXPECT_EQ(n, static_cast<int>(p.size() * 2));
    if (n > 0) out.insert(out.end(), buf.begin(), buf.begin() + n);
  }
  return out;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "cv_g722_XXXXXX";
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    if (!path_.empty()) std::system(("rm -rf '" + path_ + "'").c_str());
  }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(G722, DecodesATonePacketByPacketLikeTheFfmpegCli) {
  const std::vector<int16_t> pcm = tone(1000, 16000, 16000, 8000);  // 1 s
  const auto packets = g722_encode(pcm);
  ASSERT_EQ(packets.size(), 50u);
  for (const auto& p : packets) ASSERT_EQ(p.size(), 160u);

  G722Decoder decoder;
  const std::vector<int16_t> ours = decode_all(decoder, packets);
  ASSERT_EQ(ours.size(), pcm.size());

  // The tone survives: 1 kHz dominates, at roughly the input's level (the
  // first 20 ms are skipped while the ADPCM predictors adapt).
  const int16_t* steady = ours.data() + 320;
  const size_t n = ours.size() - 320;
  const double p1000 = power_at(steady, n, 1000, 16000);
  for (double other : {250.0, 500.0, 2000.0, 3000.0, 5000.0}) {
    EXPECT_GT(p1000, 1000 * power_at(steady, n, other, 16000)) << other << " Hz";
  }
  EXPECT_NEAR(rms(steady, n), 8000 / std::numbers::sqrt2, 8000 / std::numbers::sqrt2 * 0.1);

  // The independent decoding: the ffmpeg program, through its raw g722 demuxer.
  if (std::system("ffmpeg -version > /dev/null 2>&1") != 0) GTEST_SKIP() << "no ffmpeg program";
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string in = dir.path() + "/in.g722";
  const std::string out = dir.path() + "/out.raw";
  {
    std::ofstream f(in, std::ios::binary);
    for (const auto& p : packets)
      f.write(reinterpret_cast<const char*>(p.data()), static_cast<std::streamsize>(p.size()));
  }
  const std::string cmd =
      "ffmpeg -nostdin -loglevel error -y -f g722 -i '" + in + "' -f s16le -ac 1 -ar 16000 '" + out + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream f(out, std::ios::binary);
  const std::vector<char> raw((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ASSERT_EQ(raw.size(), ours.size() * 2);
  std::vector<int16_t> theirs(ours.size());
  std::memcpy(theirs.data(), raw.data(), raw.size());  // s16le on a little-endian host
  size_t mismatches = 0;
  for (size_t i = 0; i < ours.size(); ++i) mismatches += ours[i] != theirs[i];
  EXPECT_EQ(mismatches, 0u);
}

TEST(G722, EmptyPayloadDecodesToNothing) {
  G722Decoder d;
  int16_t out[4] = {};
  EXPECT_EQ(d.decode(Bytes(), out, 4), 0);
}

TEST(G722, OutputTooSmallIsRejectedWithoutDecoding) {
  const auto packets = g722_encode(tone(1000, 16000, 640, 8000));
  ASSERT_EQ(packets.size(), 2u);
  G722Decoder a, b;
  std::vector<int16_t> buf(320);
  const Bytes first(packets[0].data(), packets[0].size());
  EXPECT_EQ(a.decode(first, buf.data(), 319), -1);
  // The refusal left the state alone: a decodes like the untouched b.
  std::vector<int16_t> fa(320), fb(320);
  EXPECT_EQ(a.decode(first, fa.data(), fa.size()), 320);
  EXPECT_EQ(b.decode(first, fb.data(), fb.size()), 320);
  EXPECT_EQ(fa, fb);
}

TEST(G722, ResetForgetsThePredictorState) {
  const auto packets = g722_encode(tone(1000, 16000, 3200, 8000));
  ASSERT_GE(packets.size(), 3u);
  const Bytes last(packets.back().data(), packets.back().size());
  std::vector<int16_t> fresh(320), after_reset(320), continued(320);

  G722Decoder clean;
  ASSERT_EQ(clean.decode(last, fresh.data(), fresh.size()), 320);

  G722Decoder used;
  decode_all(used, {packets[0], packets[1]});
  G722Decoder copy_of_used;
  decode_all(copy_of_used, {packets[0], packets[1]});
  ASSERT_EQ(copy_of_used.decode(last, continued.data(), continued.size()), 320);
  EXPECT_NE(continued, fresh) << "state carries over packets, so this test can see a reset";

  used.reset();
  ASSERT_EQ(used.decode(last, after_reset.data(), after_reset.size()), 320);
  EXPECT_EQ(after_reset, fresh);
}

TEST(G722, AnyBytesDecode) {
  // Every byte is a valid G.722 codeword: garbage decodes to noise, not errors.
  std::mt19937 rng(1);
  G722Decoder d;
  std::vector<std::byte> payload(1500);
  std::vector<int16_t> out(3000);
  for (int i = 0; i < 20; ++i) {
    for (auto& b : payload) b = std::byte(rng());
    const size_t len = 1 + rng() % payload.size();
    EXPECT_EQ(d.decode(Bytes(payload.data(), len), out.data(), out.size()), static_cast<int>(len * 2));
  }
}

TEST(G722, MovedFromDecoderRefuses) {
  G722Decoder a;
  G722Decoder b(std::move(a));
  std::array<std::byte, 4> p{};
  int16_t out[8];
  EXPECT_EQ(b.decode(Bytes(p.data(), p.size()), out, 8), 8);
  EXPECT_EQ(a.decode(Bytes(p.data(), p.size()), out, 8), -1);  // NOLINT(bugprone-use-after-move)
  a.reset();                                                   // harmless
  a = std::move(b);
  EXPECT_EQ(a.decode(Bytes(p.data(), p.size()), out, 8), 8);
}

// ---------------------------------------------------------------- resampler

std::vector<int16_t> resample_in_chunks(Resampler& r, const std::vector<int16_t>& in, std::mt19937& rng) {
  std::vector<int16_t> out;
  size_t off = 0;
  while (off < in.size()) {
    const size_t n = std::min(in.size() - off, size_t{1} + rng() % 400);
    r.process(in.data() + off, n, out);
    off += n;
  }
  r.flush(out);
  return out;
}

TEST(Resampler, LengthIsExactAfterFlush) {
  std::mt19937 rng(3);
  for (size_t n : {size_t{1}, size_t{7}, size_t{160}, size_t{161}, size_t{8000}, size_t{12345}}) {
    Resampler r(8000, 16000);
    const auto out = resample_in_chunks(r, tone(400, 8000, n, 10000), rng);
    EXPECT_EQ(out.size(), 2 * n) << n;
  }
}

TEST(Resampler, LengthIsTheNumberOfOutputInstantsForOddRatios) {
  std::mt19937 rng(4);
  struct Case {
    int in_rate, out_rate;
    size_t n, expected;
  };
  for (const Case c : {Case{16000, 8000, 1001, 501}, Case{8000, 11025, 1000, 1379},
                       Case{8000, 48000, 333, 1998}, Case{44100, 16000, 441, 160}}) {
    Resampler r(c.in_rate, c.out_rate);
    EXPECT_EQ(resample_in_chunks(r, tone(300, c.in_rate, c.n, 5000), rng).size(), c.expected)
        << c.in_rate << " -> " << c.out_rate;
  }
}

TEST(Resampler, ToneKeepsItsPhase) {
  // 400 Hz at 8 kHz lifted to 16 kHz must line up with the same tone generated
  // at 16 kHz: no leading filter delay.
  const auto in = tone(400, 8000, 8000, 10000);
  const auto reference = tone(400, 16000, 16000, 10000);
  Resampler r(8000, 16000);
  std::mt19937 rng(5);
  const auto out = resample_in_chunks(r, in, rng);
  ASSERT_EQ(out.size(), reference.size());
  // Cross-correlation over the middle (away from the edges) for lags -20..20.
  int best_lag = 0;
  double best = -1e300;
  for (int lag = -20; lag <= 20; ++lag) {
    double c = 0;
    for (size_t i = 1000; i < out.size() - 1000; ++i) {
      c += static_cast<double>(out[i]) * reference[static_cast<size_t>(static_cast<int>(i) + lag)];
    }
    if (c > best) {
      best = c;
      best_lag = lag;
    }
  }
  EXPECT_LE(std::abs(best_lag), 1);
  // And sample by sample it is the same tone, apart from the filter's ripple.
  double err = 0;
  for (size_t i = 0; i < out.size(); ++i) err += std::pow(out[i] - reference[i], 2);
  EXPECT_LT(std::sqrt(err / out.size()), 0.03 * 10000 / std::numbers::sqrt2);
}

TEST(Resampler, ImpulseStaysInPlace) {
  std::vector<int16_t> in(800, 0);
  in[100] = 20000;
  Resampler r(8000, 16000);
  std::vector<int16_t> out;
  r.process(in.data(), in.size(), out);
  r.flush(out);
  ASSERT_EQ(out.size(), 1600u);
  size_t peak = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (std::abs(out[i]) > std::abs(out[peak])) peak = i;
  }
  EXPECT_EQ(peak, 200u);
}

TEST(Resampler, OutputLagsUntilFlush) {
  const auto in = tone(400, 8000, 1600, 10000);
  Resampler r(8000, 16000);
  std::vector<int16_t> out;
  r.process(in.data(), in.size(), out);
  EXPECT_LT(out.size(), 3200u);  // the filter's look-ahead is held back
  EXPECT_GT(out.size(), 3000u);
  const size_t before_flush = out.size();
  r.flush(out);
  EXPECT_EQ(out.size(), 3200u);
  // The tail is drained from the filter, not padded with silence.
  EXPECT_GT(rms(out.data() + before_flush, out.size() - before_flush), 0.8 * 10000 / std::numbers::sqrt2);
  std::vector<int16_t> more;
  r.flush(more);  // nothing left
  EXPECT_TRUE(more.empty());
}

TEST(Resampler, FlushStartsANewStreamAtTimeZero) {
  const auto a = tone(400, 8000, 800, 10000);
  const auto b = tone(700, 8000, 900, 7000, 1.0);
  Resampler reused(8000, 16000);
  std::vector<int16_t> first, second;
  reused.process(a.data(), a.size(), first);
  reused.flush(first);
  reused.process(b.data(), b.size(), second);
  reused.flush(second);

  Resampler fresh(8000, 16000);
  std::vector<int16_t> expected;
  fresh.process(b.data(), b.size(), expected);
  fresh.flush(expected);
  EXPECT_EQ(second, expected);
}

TEST(Resampler, DeterministicAndIndependentOfChunking) {
  const auto in = tone(400, 8000, 5000, 12000);
  std::mt19937 rng1(10), rng2(11);
  Resampler r1(8000, 16000), r2(8000, 16000);
  std::vector<int16_t> whole;
  r1.process(in.data(), in.size(), whole);
  r1.flush(whole);
  EXPECT_EQ(resample_in_chunks(r2, in, rng2), whole);
  Resampler r3(8000, 16000);
  EXPECT_EQ(resample_in_chunks(r3, in, rng1), whole);
}

TEST(Resampler, RejectsBadRates) {
  EXPECT_THROW(Resampler(0, 16000), std::runtime_error);
  EXPECT_THROW(Resampler(8000, -1), std::runtime_error);
}

}  // namespace
}  // namespace cv
