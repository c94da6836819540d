// libFuzzer target: RTP header validation, then the payload through the
// decoders that take network bytes directly (G.722 and G.711).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "capture/rtp/rtp_header.h"
#include "decode/g711.h"
#include "decode/g722_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const cv::Bytes input(reinterpret_cast<const std::byte*>(data), size);
  cv::RtpHeader h;
  const cv::RtpParseStatus status = cv::parse_rtp(input, h);
  if (status != cv::RtpParseStatus::kOk) return 0;

  // The payload must lie inside the input, after the fixed header.
  const auto* begin = reinterpret_cast<const std::byte*>(data);
  if (h.payload.size() > size - 12) __builtin_trap();
  if (!h.payload.empty() &&
      (h.payload.data() < begin + 12 || h.payload.data() + h.payload.size() > begin + size)) {
    __builtin_trap();
  }

  std::vector<int16_t> pcm(h.payload.size() * 2 + 1);
  cv::expand_ulaw(h.payload, pcm.data());
  cv::expand_alaw(h.payload, pcm.data());

  // A fresh decoder per input keeps runs reproducible.
  cv::G722Decoder g722;
  const int n = g722.decode(h.payload, pcm.data(), pcm.size());
  if (n != static_cast<int>(h.payload.size() * 2)) __builtin_trap();
  // Too little room is refused, not overrun.
  if (!h.payload.empty() && g722.decode(h.payload, pcm.data(), h.payload.size() * 2 - 1) != -1)
    __builtin_trap();
  return 0;
}
