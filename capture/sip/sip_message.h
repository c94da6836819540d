// SIP message parsing (RFC 3261) on non-owning views.
//
// The parser is a function over bytes with a three-way result (complete,
// incomplete + bytes needed, invalid), as in Suricata's rust/src/sip, so SIP
// over TCP can feed it a reassembled stream and UDP a datagram. Header names
// are matched case-insensitively and compact forms (RFC 3261 section 7.3.3)
// are expanded; header names are matched only at the start of a line, so
// "To:" never matches "Reply-To:".
//
// Decisions the callers rely on:
//  - A message without Call-ID, CSeq, From or To still parses (kComplete)
//    with those fields left empty: a REGISTER or OPTIONS probe without them is
//    seen in the wild and is no reason to lose the rest. The caller checks
//    has_dialog_headers() (or call_id.empty()) and counts kSipMissingHeader.
//    A CSeq that does not parse as "number method" is treated as absent.
//  - CR, LF, SP and HT before the start line are skipped silently (RFC 3261
//    7.5: keep-alives). Anything else before it is junk: the parser moves to
//    the next line that is a valid start line and sets kSipWarnJunkBeforeStart.
//  - Display names are returned as written between the quotes: escapes such
//    as \" stay in the view, since views cannot unescape.
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

// What the parse found wrong while still producing a usable message. The
// Content-Length warnings are for datagrams only: on a stream the length
// frames the message, so a bad one makes it kInvalid instead.
enum SipWarning : uint32_t {
  kSipWarnNone = 0,
  // Fewer body bytes than Content-Length: the body is what is there.
  kSipWarnContentLengthShort = 1u << 0,
  // More bytes than Content-Length: the extra bytes are ignored.
  kSipWarnContentLengthLong = 1u << 1,
  // No Content-Length but bytes after the header section: they are the body.
  kSipWarnNoContentLength = 1u << 2,
  // Junk other than CR/LF/SP/HT was skipped before the start line.
  kSipWarnJunkBeforeStart = 1u << 3,
  // Content-Length not a number (the body is the rest), or repeated with
  // another value (the first valid one is used).
  kSipWarnContentLengthInvalid = 1u << 4,
  // A header line without "name:" (or a continuation with nothing before it) was skipped.
  kSipWarnMalformedHeaderLine = 1u << 5,
};

// A header section longer than this is invalid: bounds what a stream caller
// has to buffer before the parser gives up on a connection.
constexpr size_t kSipMaxHeaderBytes = 64 * 1024;
// On a stream a larger Content-Length is invalid rather than incomplete, so a
// bogus length cannot make the caller buffer without bound.
constexpr int64_t kSipMaxStreamBodyBytes = 1024 * 1024;

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
  std::string_view method;  // "INVITE", ...
  std::string_view request_uri;
  // Status line
  int status_code = 0;  // 100..699
  std::string_view reason;
  // Headers callvault uses (first occurrence for single-valued ones)
  std::string_view call_id;
  SipAddress from;
  SipAddress to;
  uint32_t cseq = 0;
  std::string_view cseq_method;
  std::string_view via_branch;  // branch of the top Via
  std::string_view contact_uri;
  std::string_view content_type;         // media type without parameters, e.g. "application/sdp"
  std::string_view content_type_params;  // the rest after ';' (boundary=... for multipart)
  int64_t content_length = -1;           // -1 when the header is absent or not a number
  // Message body: the bytes after the blank line, bounded by Content-Length.
  // For multipart bodies this is the whole multipart payload; use
  // find_sdp_body() to pick the SDP part.
  std::string_view body;
  uint32_t warnings = kSipWarnNone;

  // Call-ID, From, To and CSeq all present: the message can be tied to a dialog.
  [[nodiscard]] bool has_dialog_headers() const {
    return !call_id.empty() && !from.uri.empty() && !to.uri.empty() && !cseq_method.empty();
  }
  // Case-insensitive comparison of the media type, e.g. "application/sdp".
  [[nodiscard]] bool content_type_is(std::string_view media_type) const;
};

struct SipParseResult {
  SipParseStatus status = SipParseStatus::kInvalid;
  // Bytes of this message (kComplete), counted from the start of `data` so
  // skipped leading bytes are included: the next message starts at
  // data.substr(consumed). On a datagram, the whole datagram.
  size_t consumed = 0;
  size_t needed = 0;  // at least this many more bytes (kIncomplete)
  // Leading bytes (keep-alive CRLFs, junk) before the start line; a stream
  // caller may drop them even on kIncomplete, so pings never pile up.
  size_t skipped = 0;
  const char* error = "";  // static text naming the problem (kInvalid)
};

// Where the message comes from decides how Content-Length is treated: on a
// stream transport it delimits messages (RFC 3261 18.3); on UDP the datagram
// does, and a wrong Content-Length is a warning, not a failure.
enum class SipFraming : uint8_t { kDatagram, kStream };

// Folded header lines (RFC 3261 7.3.1, obsolete but seen) are unfolded into
// `scratch`, which must outlive `out`; it is cleared first and only used when
// folding is present (then reserved once, so no view into it moves). Views
// in `out` point into `data` or `scratch`. On a stream, kInvalid means the
// connection cannot be resynchronised from this buffer: drop it.
SipParseResult parse_sip_message(std::string_view data, SipFraming framing, SipMessage& out,
                                 std::string& scratch);

// Quick test used to route UDP payloads: does this look like the start of a
// SIP request or response? (A method token of at most 32 characters followed
// by a space and "sip:"/"sips:"/"tel:", or "SIP/2.0 ".) Tolerates leading CR/LF.
bool looks_like_sip(std::string_view data);

// Parses a name-addr or addr-spec header value (From, To, Contact, P-Asserted-
// Identity): display name, URI, user part and tag. False when it has no URI.
bool parse_sip_address(std::string_view value, SipAddress& out);

// The user part of a sip:/sips: URI (before '@', without password) or the
// number of a tel: URI; empty for other schemes or a URI without a user.
std::string_view sip_uri_user(std::string_view uri);

// The SDP part of a body: the body itself for application/sdp, the matching
// part of a multipart/mixed or multipart/alternative body (nested multiparts
// followed a few levels deep), or empty. A body without Content-Type that
// starts with "v=0" is taken as SDP, as some user agents omit the header.
std::string_view find_sdp_body(const SipMessage& msg);

}  // namespace cv
