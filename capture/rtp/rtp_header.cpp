#include "capture/rtp/rtp_header.h"

namespace cv {

namespace {

constexpr size_t kRtpFixedHeader = 12;
constexpr size_t kRtcpCommonHeader = 4;
constexpr uint8_t kRtcpFirstType = 192;  // RFC 5761 4: 192..223 cannot be RTP
constexpr uint8_t kRtcpLastType = 223;

// RTCP seen on an RTP port: check the first packet of the compound against the
// datagram, so that noise that merely starts with 0x80 and a byte in 192..223
// is not mistaken for valid RTCP.
RtpParseStatus check_rtcp(Bytes data) {
  ByteReader r(data);
  uint8_t first = 0, type = 0;
  uint16_t length_words = 0;
  if (!r.u8(first) || !r.u8(type) || !r.be16(length_words)) return RtpParseStatus::kNotRtp;
  // The RTCP length counts 32-bit words minus one, header included.
  const size_t claimed = (size_t{length_words} + 1) * 4;
  return claimed <= data.size() ? RtpParseStatus::kRtcp : RtpParseStatus::kMalformed;
}

}  // namespace

RtpParseStatus parse_rtp(Bytes data, RtpHeader& out) {
  out = RtpHeader{};
  ByteReader r(data);
  uint8_t b0 = 0, b1 = 0;
  if (data.size() < kRtcpCommonHeader || !r.u8(b0) || !r.u8(b1)) return RtpParseStatus::kNotRtp;
  if ((b0 >> 6) != 2) return RtpParseStatus::kNotRtp;
  if (b1 >= kRtcpFirstType && b1 <= kRtcpLastType) return check_rtcp(data);
  if (data.size() < kRtpFixedHeader) return RtpParseStatus::kNotRtp;

  const bool has_padding = (b0 & 0x20) != 0;
  out.has_extension = (b0 & 0x10) != 0;
  out.csrc_count = b0 & 0x0F;
  out.marker = (b1 & 0x80) != 0;
  out.payload_type = b1 & 0x7F;
  if (!r.be16(out.sequence) || !r.be32(out.timestamp) || !r.be32(out.ssrc)) return RtpParseStatus::kNotRtp;

  if (!r.skip(size_t{out.csrc_count} * 4)) return RtpParseStatus::kMalformed;
  if (out.has_extension) {
    uint16_t words = 0;
    if (!r.be16(out.extension_profile) || !r.be16(words)) return RtpParseStatus::kMalformed;
    if (!r.take(size_t{words} * 4, out.extension)) return RtpParseStatus::kMalformed;
  }

  Bytes body = r.rest();
  if (has_padding) {
    // The last byte counts the padding including itself (RFC 3550 5.1), so it
    // must be at least 1 and may not reach back into the headers.
    if (body.empty()) return RtpParseStatus::kMalformed;
    const auto pad = static_cast<uint8_t>(body.back());
    if (pad == 0 || pad > body.size()) return RtpParseStatus::kMalformed;
    out.padding = pad;
    body = body.first(body.size() - pad);
  }
  out.payload = body;
  return RtpParseStatus::kOk;
}

}  // namespace cv
