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
  uint16_t extension_profile = 0;  // the 16 "defined by profile" bits (0xBEDE: RFC 8285 one-byte)
  Bytes extension;                 // extension data after its 4-byte header (length * 4 bytes)
  uint8_t padding = 0;             // bytes of padding removed, including the count byte itself
  Bytes payload;                   // after CSRCs and extension, with padding removed
};

enum class RtpParseStatus : uint8_t {
  kOk,
  kNotRtp,  // version is not 2, or too short to be RTP (12 bytes) or RTCP (4 bytes)
  // An RTCP packet multiplexed on the port (RFC 5761 4): the second byte is
  // 192..223, i.e. what would be marker set with RTP payload type 64..95, the
  // range RFC 5761 forbids for RTP so that RTCP types 200 (SR) .. 207 (XR) and
  // future ones are unambiguous. Only the common header is checked.
  kRtcp,
  // Version 2 but CSRC list, extension or padding run past the packet, or an
  // RTCP length field that claims more than the packet holds.
  kMalformed,
};

// Validates `data` as one RTP packet and fills `out` (only meaningful on kOk;
// the payload views `data`). Never throws.
RtpParseStatus parse_rtp(Bytes data, RtpHeader& out);

}  // namespace cv
