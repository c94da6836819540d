// G.722 decoding through libavcodec (AV_CODEC_ID_ADPCM_G722), one decoder per
// RTP stream because G.722 is stateful (ADPCM predictors carry over packets).
// RAII over AVCodecContext/AVPacket/AVFrame; input copied into a padded
// buffer owned by the decoder (AV_INPUT_BUFFER_PADDING_SIZE) and reused, so
// callvault allocates nothing per packet after the first (libavcodec's own
// frame buffers come from its pools).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/bytes.h"

namespace cv {

class G722Decoder {
 public:
  static constexpr int kSampleRate = 16000;

  // Throws std::runtime_error at construction if libavcodec lacks G.722
  // (configuration problem, not packet input).
  G722Decoder();
  ~G722Decoder();
  G722Decoder(G722Decoder&&) noexcept;
  G722Decoder& operator=(G722Decoder&&) noexcept;

  // Decodes one RTP payload to 16 kHz mono samples, written to out[0..max).
  // Returns the number of samples written (2 per payload byte, 0 for an empty
  // payload), or -1 when the codec rejected the payload or `max` cannot hold
  // 2 * payload.size() samples (then nothing is decoded and the predictor
  // state is unchanged). A moved-from decoder returns -1. Never throws.
  int decode(Bytes payload, int16_t* out, size_t max) noexcept;
  // Forget predictor state (SSRC change / stream reset): the next payload
  // decodes exactly as it would on a new decoder. Allocates a new codec
  // context, because FFmpeg's G.722 decoder ignores avcodec_flush_buffers().
  // Never throws.
  void reset() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cv
