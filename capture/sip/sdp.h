// SDP (RFC 4566 / RFC 8866) parsing for the offer/answer model (RFC 3264).
//
// One small function per line type, as in Suricata's rust/src/sdp/parser.rs.
// Only what recording needs is kept: connection addresses (session and media
// level), each m= section's port, transport and payload types, rtpmap,
// telephone-event, ptime and direction. Fixed-capacity arrays keep parsing
// allocation-free; what does not fit is counted in `truncated`.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "common/endpoint.h"

namespace cv {

enum class MediaDirection : uint8_t { kSendRecv, kSendOnly, kRecvOnly, kInactive };

enum class MediaKind : uint8_t { kAudio, kVideo, kOther };

struct SdpRtpMap {
  uint8_t payload_type = 0;
  std::string_view encoding;  // as written, e.g. "PCMU", "G722", "telephone-event"
  uint32_t clock_rate = 0;
  uint8_t channels = 1;
};

struct SdpMedia {
  static constexpr size_t kMaxFormats = 32;
  static constexpr size_t kMaxRtpMaps = 16;

  MediaKind kind = MediaKind::kOther;
  std::string_view media;  // "audio", "video", "image", ...
  uint16_t port = 0;       // 0 = rejected / disabled stream
  uint16_t port_count = 1;
  std::string_view proto;                      // "RTP/AVP", "RTP/SAVP", "udptl", ...
  std::array<uint8_t, kMaxFormats> formats{};  // payload types in preference order
  uint8_t format_count = 0;
  std::array<SdpRtpMap, kMaxRtpMaps> rtpmaps{};
  uint8_t rtpmap_count = 0;
  IpAddress connection;                                  // media-level c=, unset when absent
  MediaDirection direction = MediaDirection::kSendRecv;  // after inheriting the session level
  bool direction_set = false;                            // a media-level direction attribute was present
  uint16_t ptime_ms = 0;                                 // 0 when absent
  int16_t telephone_event_pt = -1;                       // payload type of telephone-event, -1 when absent
  uint16_t rtcp_port = 0;                                // a=rtcp:, 0 when absent

  // The rtpmap for a payload type, or nullptr (static types have none).
  [[nodiscard]] const SdpRtpMap* rtpmap(uint8_t pt) const;
  // An RTP transport (RTP/AVP, RTP/SAVPF, UDP/TLS/RTP/SAVPF, ...), so
  // `formats` are payload types; false for udptl (T.38), TCP/MSRP, ...
  [[nodiscard]] bool is_rtp() const;
  // Effective connection address: media level, else session level.
  [[nodiscard]] IpAddress effective_connection(const IpAddress& session_level) const {
    return connection.is_set() ? connection : session_level;
  }
};

struct SdpSession {
  static constexpr size_t kMaxMedia = 8;

  std::string_view origin_username;
  uint64_t origin_session_id = 0;
  uint64_t origin_version = 0;
  IpAddress connection;  // session-level c=
  MediaDirection direction = MediaDirection::kSendRecv;
  std::array<SdpMedia, kMaxMedia> media{};
  uint8_t media_count = 0;
  uint32_t truncated = 0;  // m= sections, formats or rtpmaps dropped for capacity
};

enum class SdpParseStatus : uint8_t { kOk, kInvalid };

struct SdpParseResult {
  SdpParseStatus status = SdpParseStatus::kInvalid;
  const char* error = "";  // static text naming the problem
  size_t line = 0;         // 1-based line number of the problem
};

// Lines end in CRLF or LF; blank lines, surrounding whitespace and a missing
// final line end are tolerated. Unknown lines and attributes are skipped; a
// line callvault relies on (c=, m=, a=rtpmap) that is malformed makes the
// whole description invalid, since recording the wrong address would be
// worse. That includes a c= address that is a host name rather than an IP
// literal (legal, but unusable for matching RTP) and, on RTP transports, an
// m= format that is not a payload type 0-127. c= with a network type other
// than IN is ignored. Malformed o=, a=ptime and a=rtcp values are ignored
// (left at their defaults): nothing is recorded at the wrong place for them.
// The first c= of a level and the first rtpmap of a payload type win.
SdpParseResult parse_sdp(std::string_view text, SdpSession& out);

}  // namespace cv
