// G.722 decoding through libavcodec (AV_CODEC_ID_ADPCM_G722), one decoder per
// RTP stream because G.722 is stateful (ADPCM predictors carry over packets).
// RAII over AVCodecContext/AVPacket/AVFrame; input copied into a padded
// buffer owned by the decoder (AV_INPUT_BUFFER_PADDING_SIZE), no allocation
// per packet after the first.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/bytes.h"

namespace cv {

class G722Decoder {
 public:
  // Throws std::runtime_error at construction if libavcodec lacks G.722
  // (configuration problem, not packet input).
  G722Decoder();
  ~G722Decoder();
  G722Decoder(G722Decoder&&) noexcept;
  G722Decoder& operator=(G722Decoder&&) noexcept;

  // Decodes one RTP payload to 16 kHz samples, appended to out[0..max).
  // Returns the number of samples written (2 per payload byte), or -1 when
  // the codec rejected the payload. Never throws.
  int decode(Bytes payload, int16_t* out, size_t max);
  // Forget predictor state (SSRC change / stream reset).
  void reset();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cv
