#include "capture/sip/sip_message.h"

#include <algorithm>

#include "capture/sip/text.h"

namespace cv {
namespace {

using namespace sip_text;

constexpr size_t npos = std::string_view::npos;

// The view from `pos` to the end, empty (not an exception) when pos is past it.
std::string_view tail(std::string_view s, size_t pos) {
  return pos < s.size() ? s.substr(pos) : std::string_view{};
}

// One line of the input: `text` without its CRLF or LF, `next` the offset of
// the following line. `complete` is false when no LF ends it yet.
struct Line {
  std::string_view text;
  size_t next = 0;
  bool complete = false;
};

Line line_at(std::string_view data, size_t pos) {
  size_t lf = data.find('\n', pos);
  if (lf == npos) return {tail(data, pos), data.size(), false};
  size_t end = lf;
  if (end > pos && data[end - 1] == '\r') --end;
  return {data.substr(pos, end - pos), lf + 1, true};
}

// Position of the first character of `chars` outside a quoted string (with
// backslash escapes) and outside <...>, or npos. Commas and semicolons inside
// a display name or a URI must not split values or parameters.
size_t find_unquoted(std::string_view s, std::string_view chars) {
  bool quoted = false;
  bool in_angle = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quoted) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        quoted = false;
    } else if (in_angle) {
      if (c == '>') in_angle = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == '<') {
      in_angle = true;
    } else if (chars.find(c) != npos) {
      return i;
    }
  }
  return npos;
}

// The first value of a comma-separated header (Via, Contact).
std::string_view first_value(std::string_view value) {
  return trim(value.substr(0, find_unquoted(value, ",")));
}

// A parameter value: the quoted string's contents, else the token up to the
// first whitespace (tags and branches are tokens; what follows is junk).
std::string_view param_value(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') return v.substr(1, v.size() - 2);
  size_t i = 0;
  while (i < v.size() && !is_wsp(v[i]) && v[i] != '\r' && v[i] != '\n') ++i;
  return v.substr(0, i);
}

// The value of parameter `name` in a ";"-separated list such as
// ";rport;branch=z9hG4bK1" or "boundary=x; charset=y". Empty when absent.
std::string_view find_param(std::string_view params, std::string_view name) {
  while (!params.empty()) {
    size_t end = find_unquoted(params, ";");
    std::string_view item = params.substr(0, end);
    params = end == npos ? std::string_view{} : params.substr(end + 1);
    std::string_view value = item;
    std::string_view pname = trim(split_first(value, '='));
    if (iequals(pname, name)) return param_value(trim(value));
  }
  return {};
}

// RFC 3986 scheme followed by ':', e.g. "sip:", "tel:", "urn:".
bool has_uri_scheme(std::string_view uri) {
  if (uri.empty() || !is_alpha(uri[0])) return false;
  for (size_t i = 1; i < uri.size(); ++i) {
    char c = uri[i];
    if (c == ':') return true;
    if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') return false;
  }
  return false;
}

// Visible ASCII only: a Request-URI has no spaces, controls or 8-bit bytes.
bool is_visible_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

const char* parse_request_line(std::string_view line, SipMessage& out) {
  std::string_view rest = line;
  std::string_view method = split_first(rest, ' ');
  if (!is_token(method)) return "request method is not a token";
  std::string_view uri = next_word(rest);
  std::string_view version = next_word(rest);
  if (uri.empty() || !is_visible_ascii(uri) || !has_uri_scheme(uri)) return "bad Request-URI";
  if (!iequals(version, "SIP/2.0")) return "request line without SIP/2.0";
  if (!trim(rest).empty()) return "extra text after SIP version";
  out.is_request = true;
  out.method = method;
  out.request_uri = uri;
  return nullptr;
}

const char* parse_status_line(std::string_view line, SipMessage& out) {
  std::string_view rest = line;
  std::string_view version = split_first(rest, ' ');
  if (!iequals(version, "SIP/2.0")) return "status line without SIP/2.0";
  rest = tail(rest, std::min(rest.find_first_not_of(' '), rest.size()));
  if (rest.size() < 3 || !is_digit(rest[0]) || !is_digit(rest[1]) || !is_digit(rest[2]))
    return "status code is not three digits";
  if (rest.size() > 3 && !is_wsp(rest[3])) return "status code is not three digits";
  int code = (rest[0] - '0') * 100 + (rest[1] - '0') * 10 + (rest[2] - '0');
  if (code < 100 || code > 699) return "status code outside 100-699";
  out.is_request = false;
  out.status_code = code;
  out.reason = trim(tail(rest, 3));
  return nullptr;
}

// nullptr when `line` is a valid request or status line (and `out` holds it).
const char* parse_start_line(std::string_view line, SipMessage& out) {
  line = trim_right(line);
  if (line.empty()) return "empty start line";
  if (istarts_with(line, "SIP/")) return parse_status_line(line, out);
  return parse_request_line(line, out);
}

enum class HeaderId : uint8_t {
  kOther,
  kCallId,
  kFrom,
  kTo,
  kVia,
  kContact,
  kContentType,
  kContentLength,
  kCSeq
};

// Full and compact (RFC 3261 7.3.3) names of the headers callvault reads.
// Other compact names (k, s, e, o, r, u, ...) are headers it ignores.
HeaderId classify_header(std::string_view name) {
  if (name.size() == 1) {
    switch (to_lower(name[0])) {
      case 'i':
        return HeaderId::kCallId;
      case 'f':
        return HeaderId::kFrom;
      case 't':
        return HeaderId::kTo;
      case 'v':
        return HeaderId::kVia;
      case 'm':
        return HeaderId::kContact;
      case 'c':
        return HeaderId::kContentType;
      case 'l':
        return HeaderId::kContentLength;
      default:
        return HeaderId::kOther;
    }
  }
  struct Named {
    std::string_view name;
    HeaderId id;
  };
  static constexpr Named kNames[] = {
      {"call-id", HeaderId::kCallId},
      {"from", HeaderId::kFrom},
      {"to", HeaderId::kTo},
      {"via", HeaderId::kVia},
      {"contact", HeaderId::kContact},
      {"content-type", HeaderId::kContentType},
      {"content-length", HeaderId::kContentLength},
      {"cseq", HeaderId::kCSeq},
  };
  for (const auto& n : kNames)
    if (iequals(name, n.name)) return n.id;
  return HeaderId::kOther;
}

bool parse_cseq(std::string_view value, SipMessage& out) {
  std::string_view rest = value;
  std::string_view number = next_word(rest);
  std::string_view method = next_word(rest);
  uint64_t n = 0;
  if (!parse_uint(number, UINT32_MAX, n) || !is_token(method) || !trim(rest).empty()) return false;
  out.cseq = static_cast<uint32_t>(n);
  out.cseq_method = method;
  return true;
}

std::string_view via_branch(std::string_view value) {
  std::string_view top = first_value(value);
  size_t semi = find_unquoted(top, ";");
  if (semi == npos) return {};
  return find_param(top.substr(semi + 1), "branch");
}

void parse_content_type(std::string_view value, SipMessage& out) {
  std::string_view params = trim(value);
  std::string_view type = trim(split_first(params, ';'));
  out.content_type = type;
  out.content_type_params = trim(params);
}

// The header section, found before any field is read so that folded values
// can be unfolded into a buffer reserved once (views into it stay valid).
struct HeaderSection {
  size_t fields_begin = 0;  // first header line
  size_t body_begin = 0;    // after the blank line
  bool complete = false;
  bool too_long = false;
  bool folded = false;
};

HeaderSection find_header_section(std::string_view data, size_t start_line, size_t fields_begin) {
  HeaderSection h;
  h.fields_begin = fields_begin;
  size_t p = fields_begin;
  while (true) {
    Line l = line_at(data, p);
    if (l.next - start_line > kSipMaxHeaderBytes) {
      h.too_long = true;
      return h;
    }
    if (!l.complete) return h;
    if (l.text.empty()) {
      h.body_begin = l.next;
      h.complete = true;
      return h;
    }
    if (is_wsp(l.text[0])) h.folded = true;
    p = l.next;
  }
}

// Joins a header's first-line value and its continuation lines with single
// spaces into `scratch`, whose capacity was reserved for the whole header
// section so earlier views into it are never invalidated.
std::string_view unfold(std::string_view first, std::string_view data, size_t cont_begin, size_t cont_end,
                        std::string& scratch) {
  size_t begin = scratch.size();
  scratch.append(trim(first));
  for (size_t p = cont_begin; p < cont_end;) {
    Line l = line_at(data, p);
    std::string_view piece = trim(l.text);
    if (!piece.empty()) {
      if (scratch.size() > begin) scratch.push_back(' ');
      scratch.append(piece);
    }
    p = l.next;
  }
  return std::string_view(scratch).substr(begin);
}

struct FieldState {
  uint32_t seen = 0;  // bit per HeaderId: first occurrence wins
  bool content_length_conflict = false;
  bool content_length_bad = false;
};

void apply_field(HeaderId id, std::string_view value, SipMessage& out, FieldState& st) {
  uint32_t bit = 1u << static_cast<unsigned>(id);
  bool first = (st.seen & bit) == 0;
  st.seen |= bit;
  switch (id) {
    case HeaderId::kCallId:
      if (first) out.call_id = trim(value);
      break;
    case HeaderId::kFrom:
      if (first) parse_sip_address(value, out.from);
      break;
    case HeaderId::kTo:
      if (first) parse_sip_address(value, out.to);
      break;
    case HeaderId::kVia:
      if (first) out.via_branch = via_branch(value);
      break;
    case HeaderId::kContact:
      if (first) {
        std::string_view contact = first_value(value);
        SipAddress addr;
        if (contact == "*")
          out.contact_uri = contact;
        else if (parse_sip_address(contact, addr))
          out.contact_uri = addr.uri;
      }
      break;
    case HeaderId::kContentType:
      if (first) parse_content_type(value, out);
      break;
    case HeaderId::kContentLength: {
      // The first valid value frames the message; any other value is noted.
      uint64_t n = 0;
      if (!parse_uint(trim(value), UINT32_MAX, n))
        st.content_length_bad = true;
      else if (out.content_length < 0)
        out.content_length = static_cast<int64_t>(n);
      else if (out.content_length != static_cast<int64_t>(n))
        st.content_length_conflict = true;
      break;
    }
    case HeaderId::kCSeq:
      if (first && !parse_cseq(value, out)) {
        out.cseq = 0;
        out.cseq_method = {};
      }
      break;
    case HeaderId::kOther:
      break;
  }
}

// Reads every header field between fields_begin and the blank line.
void parse_fields(std::string_view data, const HeaderSection& h, SipMessage& out, std::string& scratch,
                  FieldState& st) {
  size_t end = h.body_begin;
  size_t p = h.fields_begin;
  while (p < end) {
    Line l = line_at(data, p);
    if (l.text.empty()) break;
    size_t q = l.next;
    bool continued = false;
    while (q < end) {
      Line c = line_at(data, q);
      if (c.text.empty() || !is_wsp(c.text[0])) break;
      continued = true;
      q = c.next;
    }
    size_t colon = l.text.find(':');
    std::string_view name = colon == npos ? std::string_view{} : trim_right(l.text.substr(0, colon));
    if (is_wsp(l.text[0]) || !is_token(name)) {
      // A continuation with nothing to continue, or a line that is not "name:".
      out.warnings |= kSipWarnMalformedHeaderLine;
      p = q;
      continue;
    }
    HeaderId id = classify_header(name);
    if (id != HeaderId::kOther) {
      std::string_view first = l.text.substr(colon + 1);
      std::string_view value = continued ? unfold(first, data, l.next, q, scratch) : trim(first);
      apply_field(id, value, out, st);
    }
    p = q;
  }
}

// The fewest bytes that could end a header section after `data`: "\n" after
// a line end (a bare-LF blank line), else "\n\n".
size_t bytes_to_blank_line(std::string_view data) {
  if (!data.empty() && data.back() == '\n') return 1;
  if (data.size() >= 2 && data[data.size() - 1] == '\r' && data[data.size() - 2] == '\n') return 1;
  return 2;
}

SipParseResult invalid(const char* error, size_t skipped = 0) {
  SipParseResult r;
  r.status = SipParseStatus::kInvalid;
  r.error = error;
  r.skipped = skipped;
  return r;
}

SipParseResult incomplete(size_t needed, size_t skipped) {
  SipParseResult r;
  r.status = SipParseStatus::kIncomplete;
  r.needed = needed;
  r.skipped = skipped;
  return r;
}

// Where the start line begins, after keep-alives and junk. Fills the start
// line into `out`. On failure returns a result to hand back to the caller.
struct StartLine {
  bool ok = false;
  size_t begin = 0;
  size_t next = 0;  // first header line
  SipParseResult failure;
};

StartLine locate_start_line(std::string_view data, SipFraming framing, SipMessage& out) {
  StartLine s;
  size_t p = 0;
  while (p < data.size() && (data[p] == '\r' || data[p] == '\n' || is_wsp(data[p]))) ++p;
  if (p == data.size()) {
    s.failure = framing == SipFraming::kStream ? incomplete(1, p) : invalid("no SIP start line", p);
    return s;
  }
  const char* first_error = nullptr;
  for (size_t line_begin = p;;) {
    Line l = line_at(data, line_begin);
    if (!l.complete) {
      // A stream may still deliver the rest of this line; a datagram will not.
      if (framing == SipFraming::kStream && line_begin - p <= kSipMaxHeaderBytes &&
          data.size() - line_begin <= kSipMaxHeaderBytes) {
        s.failure = incomplete(bytes_to_blank_line(data), line_begin);
      } else {
        s.failure = invalid(first_error ? first_error : "no complete start line", line_begin);
      }
      return s;
    }
    const char* error = parse_start_line(l.text, out);
    if (!error) {
      if (line_begin != p) out.warnings |= kSipWarnJunkBeforeStart;
      s.ok = true;
      s.begin = line_begin;
      s.next = l.next;
      return s;
    }
    if (!first_error) first_error = error;
    line_begin = l.next;
    if (line_begin >= data.size()) {
      s.failure = framing == SipFraming::kStream && data.size() - p <= kSipMaxHeaderBytes
                      ? incomplete(1, line_begin)
                      : invalid(first_error, line_begin);
      return s;
    }
  }
}

}  // namespace

bool SipMessage::content_type_is(std::string_view media_type) const {
  return iequals(content_type, media_type);
}

std::string_view sip_uri_user(std::string_view uri) {
  std::string_view rest;
  if (istarts_with(uri, "sip:")) {
    rest = uri.substr(4);
  } else if (istarts_with(uri, "sips:")) {
    rest = uri.substr(5);
  } else if (istarts_with(uri, "tel:")) {
    std::string_view number = uri.substr(4);
    return trim(number.substr(0, number.find_first_of(";?")));
  } else {
    return {};
  }
  size_t at = rest.find('@');
  if (at == npos) return {};
  std::string_view userinfo = rest.substr(0, at);
  return userinfo.substr(0, userinfo.find(':'));
}

bool parse_sip_address(std::string_view value, SipAddress& out) {
  out = SipAddress{};
  std::string_view v = trim(value);
  std::string_view angle;  // from '<' on, when the URI is bracketed
  std::string_view params;
  if (!v.empty() && v[0] == '"') {
    size_t i = 1;
    bool closed = false;
    while (i < v.size()) {
      if (v[i] == '\\') {
        i += 2;
        continue;
      }
      if (v[i] == '"') {
        closed = true;
        break;
      }
      ++i;
    }
    if (!closed) return false;
    out.display_name = v.substr(1, i - 1);
    angle = trim_left(v.substr(i + 1));
    if (angle.empty() || angle[0] != '<') return false;
  } else if (size_t lt = v.find('<'); lt != npos) {
    out.display_name = trim(v.substr(0, lt));
    angle = v.substr(lt);
  } else {
    // addr-spec: parameters after the URI belong to the header (RFC 3261
    // 20.10), so ";tag=" is not part of the URI.
    size_t semi = v.find(';');
    out.uri = trim(v.substr(0, semi));
    params = semi == npos ? std::string_view{} : v.substr(semi + 1);
  }
  if (!angle.empty()) {
    size_t gt = angle.find('>');
    if (gt == npos) return false;
    out.uri = trim(angle.substr(1, gt - 1));
    params = angle.substr(gt + 1);
  }
  if (out.uri.empty()) return false;
  out.user = sip_uri_user(out.uri);
  out.tag = find_param(params, "tag");
  return true;
}

SipParseResult parse_sip_message(std::string_view data, SipFraming framing, SipMessage& out,
                                 std::string& scratch) {
  out = SipMessage{};
  scratch.clear();
  const bool stream = framing == SipFraming::kStream;

  StartLine start = locate_start_line(data, framing, out);
  if (!start.ok) return start.failure;

  HeaderSection h = find_header_section(data, start.begin, start.next);
  if (h.too_long) return invalid("header section too long", start.begin);
  if (!h.complete) {
    if (stream) return incomplete(bytes_to_blank_line(data), start.begin);
    return invalid("header section not terminated by a blank line", start.begin);
  }
  if (h.folded) scratch.reserve(h.body_begin - h.fields_begin);

  FieldState st;
  parse_fields(data, h, out, scratch, st);

  if (stream) {
    if (st.content_length_bad) return invalid("Content-Length is not a number", start.begin);
    if (st.content_length_conflict) return invalid("conflicting Content-Length headers", start.begin);
    // RFC 3261 18.3: on a stream a missing Content-Length means no body.
    int64_t length = out.content_length < 0 ? 0 : out.content_length;
    if (length > kSipMaxStreamBodyBytes) return invalid("Content-Length too large for a stream", start.begin);
    size_t total = h.body_begin + static_cast<size_t>(length);
    if (data.size() < total) return incomplete(total - data.size(), start.begin);
    out.body = data.substr(h.body_begin, static_cast<size_t>(length));
    SipParseResult r;
    r.status = SipParseStatus::kComplete;
    r.consumed = total;
    r.skipped = start.begin;
    return r;
  }

  // A datagram: its end bounds the message, Content-Length only trims it.
  std::string_view rest = tail(data, h.body_begin);
  if (st.content_length_bad || st.content_length_conflict) out.warnings |= kSipWarnContentLengthInvalid;
  if (out.content_length < 0) {
    if (!st.content_length_bad && !rest.empty()) out.warnings |= kSipWarnNoContentLength;
    out.body = rest;
  } else if (static_cast<uint64_t>(out.content_length) < rest.size()) {
    out.warnings |= kSipWarnContentLengthLong;
    out.body = rest.substr(0, static_cast<size_t>(out.content_length));
  } else {
    if (static_cast<uint64_t>(out.content_length) > rest.size()) out.warnings |= kSipWarnContentLengthShort;
    out.body = rest;
  }
  SipParseResult r;
  r.status = SipParseStatus::kComplete;
  r.consumed = data.size();
  r.skipped = start.begin;
  return r;
}

bool looks_like_sip(std::string_view data) {
  size_t p = 0;
  while (p < data.size() && (data[p] == '\r' || data[p] == '\n')) ++p;
  std::string_view s = tail(data, p);
  if (istarts_with(s, "SIP/2.0 ")) return true;
  // Method tokens this long are not worth routing a non-SIP port on.
  constexpr size_t kMaxMethod = 32;
  size_t n = 0;
  while (n < s.size() && n <= kMaxMethod && is_token_char(s[n])) ++n;
  if (n == 0 || n > kMaxMethod || n >= s.size() || s[n] != ' ') return false;
  std::string_view uri = s.substr(n + 1);
  return istarts_with(uri, "sip:") || istarts_with(uri, "sips:") || istarts_with(uri, "tel:");
}

namespace {

// Offset of the next "--boundary" at a line start at or after `from`, or npos.
size_t find_delimiter(std::string_view body, size_t from, std::string_view boundary) {
  while (from < body.size()) {
    size_t i = body.find("--", from);
    if (i == npos) return npos;
    if ((i == 0 || body[i - 1] == '\n') && tail(body, i + 2).substr(0, boundary.size()) == boundary) return i;
    from = i + 1;
  }
  return npos;
}

// Maximum multipart nesting followed (multipart/alternative inside
// multipart/mixed is the deepest seen in practice).
constexpr int kMaxMultipartDepth = 3;

std::string_view sdp_in_entity(std::string_view type, std::string_view params, std::string_view body,
                               int depth) {
  if (iequals(type, "application/sdp")) return body;
  if (!istarts_with(type, "multipart/") || depth >= kMaxMultipartDepth) return {};
  std::string_view boundary = find_param(params, "boundary");
  if (boundary.empty()) return {};

  size_t delim = find_delimiter(body, 0, boundary);
  while (delim != npos) {
    size_t after = delim + 2 + boundary.size();
    if (tail(body, after).substr(0, 2) == "--") return {};  // close delimiter
    size_t lf = body.find('\n', after);
    if (lf == npos) return {};
    size_t part_begin = lf + 1;
    size_t next = find_delimiter(body, part_begin, boundary);
    size_t part_end = next == npos ? body.size() : next;
    // The line break before a delimiter belongs to the delimiter (RFC 2046 5.1.1).
    if (next != npos && part_end > part_begin && body[part_end - 1] == '\n') --part_end;
    if (next != npos && part_end > part_begin && body[part_end - 1] == '\r') --part_end;
    std::string_view part = body.substr(part_begin, part_end - part_begin);

    std::string_view part_type;
    std::string_view part_params;
    std::string_view content;
    bool have_content = false;
    for (size_t p = 0; p < part.size();) {
      Line l = line_at(part, p);
      if (l.text.empty()) {
        content = tail(part, l.next);
        have_content = true;
        break;
      }
      size_t colon = l.text.find(':');
      if (colon != npos && iequals(trim(l.text.substr(0, colon)), "content-type")) {
        std::string_view v = trim(l.text.substr(colon + 1));
        part_type = trim(split_first(v, ';'));
        part_params = trim(v);
      }
      p = l.next;
    }
    if (have_content) {
      std::string_view sdp = sdp_in_entity(part_type, part_params, content, depth + 1);
      if (!sdp.empty()) return sdp;
    }
    delim = next;
  }
  return {};
}

}  // namespace

std::string_view find_sdp_body(const SipMessage& msg) {
  if (msg.body.empty()) return {};
  if (msg.content_type.empty()) return msg.body.starts_with("v=0") ? msg.body : std::string_view{};
  return sdp_in_entity(msg.content_type, msg.content_type_params, msg.body, 0);
}

}  // namespace cv
