// libFuzzer target for PacketDecoder: link, network and transport layers and
// IP reassembly.
//
// Input: byte 0 picks the link type (low 4 bits) and how far packet time moves
// on (high 4 bits, in 100 ms steps); the rest is the frame. One decoder lives
// across inputs, with small limits, so that fragments of different inputs
// meet, the table fills and evicts, and datagrams time out.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "capture/packet/packet_decoder.h"

namespace {

constexpr cv::LinkType kLinks[16] = {
    cv::LinkType::kEthernet, cv::LinkType::kEthernet,
    cv::LinkType::kEthernet, cv::LinkType::kEthernet,
    cv::LinkType::kLinuxSll, cv::LinkType::kLinuxSll2,
    cv::LinkType::kRaw,      cv::LinkType::kRawIp,
    cv::LinkType::kIpv4,     cv::LinkType::kIpv6,
    cv::LinkType::kNull,     cv::LinkType::kLoop,
    cv::LinkType::kNull,     cv::LinkType::kLoop,
    cv::LinkType::kRaw,      static_cast<cv::LinkType>(147),
};

cv::PacketDecoder& decoder() {
  static cv::PacketDecoder d(cv::FragmentLimits{
      .max_datagrams = 8, .max_bytes = 32 * 1024, .timeout_ns = 2 * cv::kNsPerSec, .max_pieces = 16});
  return d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static int64_t now_ns = 0;
  const auto input = std::as_bytes(std::span(data, size));
  const uint8_t selector = data[0];
  now_ns += int64_t{selector >> 4} * 100 * cv::kNsPerMs;
  const cv::Bytes frame = input.subspan(1);

  cv::DecodedPacket out;
  const cv::DecodeResult r = decoder().decode(kLinks[selector & 0x0F], cv::Timestamp{now_ns}, 1, frame, out);

  if (r.status == cv::DecodeStatus::kOk) {
    // Touch every payload byte so ASan checks the view is readable.
    volatile uint8_t sink = 0;
    for (std::byte b : out.payload) sink = sink ^ static_cast<uint8_t>(b);
    (void)sink;
    if (out.payload.size() > 65535) std::abort();
  }
  if (r.status == cv::DecodeStatus::kMalformed && r.anomaly == cv::Anomaly::kNone) std::abort();
  const cv::FragmentStats& s = decoder().fragment_stats();
  if (s.datagrams_held > 8 || s.bytes_held > 32 * 1024) std::abort();
  return 0;
}
