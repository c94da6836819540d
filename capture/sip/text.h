// Small ASCII helpers shared by the SIP and SDP parsers (internal to cv_sip).
//
// Everything works on string_views into the packet: no locale, no allocation,
// no reads past the view. RFC 3261 grammar predicates live here so both
// parsers agree on what a token is.
#pragma once

#include <cstdint>
#include <string_view>

namespace cv::sip_text {

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_wsp(char c) { return c == ' ' || c == '\t'; }
// Whitespace that may trail a line: SP, HT and the CR of a CRLF ending.
constexpr bool is_trailing_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

constexpr char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// RFC 3261 25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
constexpr bool is_token_char(char c) {
  if (is_alpha(c) || is_digit(c)) return true;
  switch (c) {
    case '-':
    case '.':
    case '!':
    case '%':
    case '*':
    case '_':
    case '+':
    case '`':
    case '\'':
    case '~':
      return true;
    default:
      return false;
  }
}

constexpr bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_token_char(c)) return false;
  return true;
}

constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (to_lower(a[i]) != to_lower(b[i])) return false;
  return true;
}

constexpr bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

constexpr bool icontains(std::string_view s, std::string_view needle) {
  if (needle.size() > s.size()) return false;
  for (size_t i = 0; i + needle.size() <= s.size(); ++i)
    if (iequals(s.substr(i, needle.size()), needle)) return true;
  return false;
}

constexpr std::string_view trim_left(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && (is_wsp(s[i]) || s[i] == '\r' || s[i] == '\n')) ++i;
  return s.substr(i);
}

constexpr std::string_view trim_right(std::string_view s) {
  size_t n = s.size();
  while (n > 0 && (is_trailing_space(s[n - 1]) || s[n - 1] == '\n')) --n;
  return s.substr(0, n);
}

constexpr std::string_view trim(std::string_view s) { return trim_right(trim_left(s)); }

// Parses a non-empty run of decimal digits that is the whole of `s` into a
// value not above `max`. Rejects signs, spaces and overflow; leading zeros
// are allowed however many (a PROTOS-style "CSeq: 000...0001" is 1).
constexpr bool parse_uint(std::string_view s, uint64_t max, uint64_t& out) {
  if (s.empty()) return false;
  while (s.size() > 1 && s[0] == '0') s.remove_prefix(1);
  if (s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return false;
    auto d = static_cast<uint64_t>(c - '0');
    if (v > (max - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

// Splits `s` at the first `sep`: returns the part before and leaves the part
// after in `s` (empty when `sep` is absent).
constexpr std::string_view split_first(std::string_view& s, char sep) {
  size_t p = s.find(sep);
  std::string_view head = s.substr(0, p);
  s = p == std::string_view::npos ? std::string_view{} : s.substr(p + 1);
  return head;
}

// Next whitespace-separated word of `s`, consumed from `s`.
constexpr std::string_view next_word(std::string_view& s) {
  size_t i = 0;
  while (i < s.size() && is_wsp(s[i])) ++i;
  size_t j = i;
  while (j < s.size() && !is_wsp(s[j])) ++j;
  std::string_view w = s.substr(i, j - i);
  s = s.substr(j);
  return w;
}

}  // namespace cv::sip_text
