#include "capture/sip/sdp.h"

#include "capture/sip/text.h"

namespace cv {
namespace {

using namespace sip_text;

constexpr size_t npos = std::string_view::npos;

// nullptr when the value parsed (or is a kind callvault ignores), else the error.
using LineError = const char*;

LineError parse_origin(std::string_view value, SdpSession& out) {
  std::string_view rest = value;
  std::string_view username = next_word(rest);
  std::string_view session_id = next_word(rest);
  std::string_view version = next_word(rest);
  uint64_t id = 0;
  uint64_t ver = 0;
  // Only the version matters (re-offers); an o= line that does not parse
  // leaves it at 0 rather than rejecting media that may well be usable.
  if (username.empty() || !parse_uint(session_id, UINT64_MAX, id) || !parse_uint(version, UINT64_MAX, ver))
    return nullptr;
  out.origin_username = username;
  out.origin_session_id = id;
  out.origin_version = ver;
  return nullptr;
}

// c=<nettype> <addrtype> <address>[/ttl][/count]
LineError parse_connection(std::string_view value, IpAddress& out) {
  std::string_view rest = value;
  std::string_view nettype = next_word(rest);
  std::string_view addrtype = next_word(rest);
  std::string_view address = next_word(rest);
  if (address.empty() || !trim(rest).empty()) return "malformed c= line";
  if (!iequals(nettype, "IN")) return nullptr;  // not an Internet address: nothing to match RTP against
  address = address.substr(0, address.find('/'));
  uint8_t family = 0;
  if (iequals(addrtype, "IP4"))
    family = 4;
  else if (iequals(addrtype, "IP6"))
    family = 6;
  else
    return "c= address type is not IP4 or IP6";
  auto ip = IpAddress::parse(address);
  if (!ip) return "c= address is not an IP literal";
  if (ip->family != family) return "c= address does not match its address type";
  if (!out.is_set()) out = *ip;
  return nullptr;
}

MediaKind media_kind(std::string_view media) {
  if (iequals(media, "audio")) return MediaKind::kAudio;
  if (iequals(media, "video")) return MediaKind::kVideo;
  return MediaKind::kOther;
}

// m=<media> <port>[/<count>] <proto> <fmt> ...
LineError parse_media(std::string_view value, SdpMedia& m, uint32_t& truncated) {
  std::string_view rest = value;
  std::string_view media = next_word(rest);
  std::string_view port_text = next_word(rest);
  std::string_view proto = next_word(rest);
  if (proto.empty()) return "malformed m= line";
  std::string_view count_text = port_text;
  std::string_view port_only = split_first(count_text, '/');
  uint64_t port = 0;
  uint64_t count = 1;
  if (!parse_uint(port_only, UINT16_MAX, port)) return "bad m= port";
  if (port_text.find('/') != npos && (!parse_uint(count_text, UINT16_MAX, count) || count == 0))
    return "bad m= port count";
  m.kind = media_kind(media);
  m.media = media;
  m.port = static_cast<uint16_t>(port);
  m.port_count = static_cast<uint16_t>(count);
  m.proto = proto;
  const bool rtp = m.is_rtp();
  for (std::string_view fmt = next_word(rest); !fmt.empty(); fmt = next_word(rest)) {
    uint64_t pt = 0;
    if (!parse_uint(fmt, 127, pt)) {
      if (rtp) return "m= format is not an RTP payload type";
      continue;  // "t38", "*", ...: formats of transports callvault does not decode
    }
    if (m.format_count == SdpMedia::kMaxFormats) {
      ++truncated;
      continue;
    }
    m.formats[m.format_count++] = static_cast<uint8_t>(pt);
  }
  return nullptr;
}

// a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>]
LineError parse_rtpmap(std::string_view value, SdpMedia& m, uint32_t& truncated) {
  std::string_view rest = value;
  std::string_view pt_text = next_word(rest);
  std::string_view encoding = next_word(rest);
  if (!trim(rest).empty()) return "malformed a=rtpmap";
  uint64_t pt = 0;
  if (!parse_uint(pt_text, 127, pt)) return "bad a=rtpmap payload type";
  std::string_view params = encoding;
  std::string_view name = split_first(params, '/');
  std::string_view clock_text = split_first(params, '/');
  uint64_t clock = 0;
  uint64_t channels = 1;
  if (name.empty()) return "a=rtpmap without encoding name";
  if (!parse_uint(clock_text, UINT32_MAX, clock) || clock == 0) return "bad a=rtpmap clock rate";
  if (encoding.find('/') != encoding.rfind('/') &&
      (!parse_uint(params, UINT8_MAX, channels) || channels == 0))
    return "bad a=rtpmap channels";

  auto payload_type = static_cast<uint8_t>(pt);
  if (m.telephone_event_pt < 0 && iequals(name, "telephone-event")) m.telephone_event_pt = payload_type;
  if (m.rtpmap(payload_type)) return nullptr;  // the first mapping of a payload type wins
  if (m.rtpmap_count == SdpMedia::kMaxRtpMaps) {
    ++truncated;
    return nullptr;
  }
  m.rtpmaps[m.rtpmap_count++] =
      SdpRtpMap{payload_type, name, static_cast<uint32_t>(clock), static_cast<uint8_t>(channels)};
  return nullptr;
}

// Leading decimal digits of `s` (a=ptime:20.0 and a=rtcp:9 IN IP4 ... both
// start with the number callvault wants). False when there are none.
bool leading_uint(std::string_view s, uint64_t max, uint64_t& out) {
  size_t n = 0;
  while (n < s.size() && is_digit(s[n])) ++n;
  return parse_uint(s.substr(0, n), max, out);
}

bool parse_direction(std::string_view name, MediaDirection& out) {
  if (iequals(name, "sendrecv"))
    out = MediaDirection::kSendRecv;
  else if (iequals(name, "sendonly"))
    out = MediaDirection::kSendOnly;
  else if (iequals(name, "recvonly"))
    out = MediaDirection::kRecvOnly;
  else if (iequals(name, "inactive"))
    out = MediaDirection::kInactive;
  else
    return false;
  return true;
}

// a=<name>[:<value>] at session level (media == nullptr) or in a media section.
LineError parse_attribute(std::string_view value, SdpSession& session, SdpMedia* media) {
  std::string_view attr_value = value;
  std::string_view name = trim(split_first(attr_value, ':'));
  attr_value = trim(attr_value);
  MediaDirection dir{};
  if (parse_direction(name, dir)) {
    if (media) {
      media->direction = dir;
      media->direction_set = true;
    } else {
      session.direction = dir;
    }
    return nullptr;
  }
  // The rest are media-level attributes; at session level they are misplaced
  // and there is no section to attach them to.
  if (!media) return nullptr;
  if (iequals(name, "rtpmap")) return parse_rtpmap(attr_value, *media, session.truncated);
  uint64_t n = 0;
  if (iequals(name, "ptime")) {
    if (leading_uint(attr_value, UINT16_MAX, n)) media->ptime_ms = static_cast<uint16_t>(n);
  } else if (iequals(name, "rtcp")) {
    if (leading_uint(attr_value, UINT16_MAX, n)) media->rtcp_port = static_cast<uint16_t>(n);
  }
  return nullptr;
}

}  // namespace

const SdpRtpMap* SdpMedia::rtpmap(uint8_t pt) const {
  for (size_t i = 0; i < rtpmap_count; ++i)
    if (rtpmaps[i].payload_type == pt) return &rtpmaps[i];
  return nullptr;
}

bool SdpMedia::is_rtp() const { return icontains(proto, "RTP/"); }

SdpParseResult parse_sdp(std::string_view text, SdpSession& out) {
  out = SdpSession{};
  // m= sections beyond capacity are parsed into this one and discarded, so
  // their lines are still checked and never leak into the session level.
  SdpMedia overflow;
  SdpMedia* media = nullptr;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t lf = text.find('\n', pos);
    size_t end = lf == npos ? text.size() : lf;
    std::string_view line = trim(text.substr(pos, end - pos));
    pos = lf == npos ? text.size() : lf + 1;
    ++line_no;
    if (line.size() < 2 || line[1] != '=') continue;  // blank or not "<type>=": nothing callvault uses
    std::string_view value = line.substr(2);
    LineError error = nullptr;
    switch (line[0]) {
      case 'o':
        if (out.origin_username.empty()) error = parse_origin(value, out);
        break;
      case 'c':
        error = parse_connection(value, media ? media->connection : out.connection);
        break;
      case 'm':
        if (out.media_count < SdpSession::kMaxMedia) {
          media = &out.media[out.media_count++];
        } else {
          ++out.truncated;
          overflow = SdpMedia{};
          media = &overflow;
        }
        error = parse_media(value, *media, out.truncated);
        break;
      case 'a':
        error = parse_attribute(value, out, media);
        break;
      default:
        break;
    }
    if (error) return SdpParseResult{SdpParseStatus::kInvalid, error, line_no};
  }
  // RFC 4566 6: a session-level direction is the default for every section.
  for (size_t i = 0; i < out.media_count; ++i)
    if (!out.media[i].direction_set) out.media[i].direction = out.direction;
  return SdpParseResult{SdpParseStatus::kOk, "", 0};
}

}  // namespace cv
