// Reference codecs for the generator: G.711 encoding and expansion written
// from the ITU-T G.711 segment formulas (independent of decode/g711.cpp), and
// G.722 through libavcodec (the contract's reference decoder).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace cv::gen {

uint8_t linear_to_ulaw(int16_t sample);
uint8_t linear_to_alaw(int16_t sample);
int16_t ulaw_to_linear(uint8_t code);
int16_t alaw_to_linear(uint8_t code);

// G.722 at 64 kbit/s through libavcodec's adpcm_g722: 16 kHz samples in,
// one byte per two samples out. Stateful: one encoder per RTP stream.
class G722Encoder {
 public:
  G722Encoder();  // throws std::runtime_error when libavcodec lacks the codec
  ~G722Encoder();
  G722Encoder(const G722Encoder&) = delete;
  G722Encoder& operator=(const G722Encoder&) = delete;

  // Encodes exactly 320 samples (20 ms) into 160 bytes appended to `out`.
  void encode20ms(std::span<const int16_t> samples, std::vector<uint8_t>& out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class G722Decoder {
 public:
  G722Decoder();
  ~G722Decoder();
  G722Decoder(const G722Decoder&) = delete;
  G722Decoder& operator=(const G722Decoder&) = delete;

  // Decodes one payload, appending 2 samples per byte to `out`.
  void decode(std::span<const uint8_t> payload, std::vector<int16_t>& out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Rate conversion 8 kHz -> 16 kHz with libswresample's defaults, delay
// compensated: output sample 2*i corresponds to input sample i.
std::vector<int16_t> upsample_8k_to_16k(std::span<const int16_t> in);

}  // namespace cv::gen
