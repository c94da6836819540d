// RTP (RFC 3550) fixed header validation and RTCP recognition (RFC 5761).
#pragma once

#include <cstdint>

#include "common/bytes.h"

namespace cv {

struct RtpHeader {
  bool marker = false;
  uint8_t payload_type = 0;
  uint16_t sequence = 0;
  uint32_t timestamp = 0;
  uint32_t ssrc = 0;
  uint8_t csrc_count = 0;
  bool has_extension = false;
  Bytes payload;  // after CSRCs and extension, with padding removed
};

enum class RtpParseStatus : uint8_t {
  kOk,
  kNotRtp,     // version is not 2, or too short to be RTP at all
  kRtcp,       // an RTCP packet multiplexed on the port (PT 72..76 with marker, RFC 5761 4)
  kMalformed,  // version 2 but CSRC list, extension or padding run past the packet
};

RtpParseStatus parse_rtp(Bytes data, RtpHeader& out);

}  // namespace cv
