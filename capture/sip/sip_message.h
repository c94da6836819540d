// SIP message parsing (RFC 3261) on non-owning views.
//
// The parser is a function over bytes with a three-way result (complete,
// incomplete + bytes needed, invalid), as in Suricata's rust/src/sip, so SIP
// over TCP can feed it a reassembled stream and UDP a datagram. Header names
// are matched case-insensitively and compact forms (RFC 3261 section 7.3.3)
// are expanded; header names are matched only at the start of a line, so
// "To:" never matches "Reply-To:".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/bytes.h"

namespace cv {

enum class SipParseStatus : uint8_t {
  kComplete,    // `out` is filled; `consumed` bytes form the message
  kIncomplete,  // a valid prefix; `needed` more bytes at least (TCP)
  kInvalid,     // not SIP, or broken beyond use
};

// What the header's parse found wrong while still producing a usable message.
enum SipWarning : uint32_t {
  kSipWarnNone = 0,
  kSipWarnContentLengthShort = 1u << 0,  // fewer body bytes than Content-Length (UDP): body truncated to what is there
  kSipWarnContentLengthLong = 1u << 1,   // more bytes than Content-Length (UDP): extra ignored
  kSipWarnNoContentLength = 1u << 2,     // no Content-Length on UDP: body is the rest of the datagram
  kSipWarnJunkBeforeStart = 1u << 3,     // leading CR/LF or junk skipped before the start line
};

// A name-addr / addr-spec header (From, To): the pieces callvault needs.
struct SipAddress {
  std::string_view display_name;  // without quotes, may be empty
  std::string_view uri;           // e.g. sip:+48123@host;user=phone
  std::string_view user;          // user part of the URI (before '@'), may be empty
  std::string_view tag;           // ;tag= parameter, may be empty
};

struct SipMessage {
  bool is_request = false;
  // Request line
  std::string_view method;       // "INVITE", ...
  std::string_view request_uri;
  // Status line
  int status_code = 0;           // 100..699
  std::string_view reason;
  // Headers callvault uses (first occurrence for single-valued ones)
  std::string_view call_id;
  SipAddress from;
  SipAddress to;
  uint32_t cseq = 0;
  std::string_view cseq_method;
  std::string_view via_branch;   // branch of the top Via
  std::string_view contact_uri;
  std::string_view content_type;  // media type without parameters, e.g. "application/sdp"
  std::string_view content_type_params;  // the rest after ';' (boundary=... for multipart)
  int64_t content_length = -1;    // -1 when the header is absent
  // Message body: the bytes after the blank line, bounded by Content-Length.
  // For multipart bodies this is the whole multipart payload; use
  // find_sdp_body() to pick the SDP part.
  std::string_view body;
  uint32_t warnings = kSipWarnNone;
};

struct SipParseResult {
  SipParseStatus status = SipParseStatus::kInvalid;
  size_t consumed = 0;  // bytes of this message (kComplete)
  size_t needed = 0;    // at least this many more bytes (kIncomplete)
  const char* error = "";  // static text naming the problem (kInvalid)
};

// Where the message comes from decides how Content-Length is treated: on a
// stream transport it delimits messages (RFC 3261 18.3); on UDP the datagram
// does, and a wrong Content-Length is a warning, not a failure.
enum class SipFraming : uint8_t { kDatagram, kStream };

// Folded header lines (RFC 3261 7.3.1, obsolete but seen) are unfolded into
// `scratch`, which must outlive `out`; it is cleared first and only used when
// folding is present. Views in `out` point into `data` or `scratch`.
SipParseResult parse_sip_message(std::string_view data, SipFraming framing, SipMessage& out, std::string& scratch);

// Quick test used to route UDP payloads: does this look like the start of a
// SIP request or response? (Method token followed by a space and "sip:"/"sips:"/"tel:",
// or "SIP/2.0 ".) Tolerates leading CR/LF.
bool looks_like_sip(std::string_view data);

// The SDP part of a body: the body itself for application/sdp, the matching
// part of a multipart/mixed or multipart/alternative body, or empty.
std::string_view find_sdp_body(const SipMessage& msg);

}  // namespace cv
