#include "capture/sip/sip_dtmf.h"

#include "capture/sip/text.h"

namespace cv {
namespace {

using namespace sip_text;

char dtmf_char(char c) {
  const char u = (c >= 'a' && c <= 'd') ? static_cast<char>(c - 'a' + 'A') : c;
  return (is_digit(u) || u == '*' || u == '#' || (u >= 'A' && u <= 'D')) ? u : 0;
}

}  // namespace

char parse_sip_info_dtmf(std::string_view content_type, std::string_view body, uint32_t& duration_ms) {
  duration_ms = 0;
  if (iequals(content_type, "application/dtmf")) {
    body = trim(body);
    return body.size() == 1 ? dtmf_char(body[0]) : 0;
  }
  if (!iequals(content_type, "application/dtmf-relay")) return 0;
  char digit = 0;
  while (!body.empty()) {
    std::string_view line = trim(split_first(body, '\n'));
    std::string_view key = trim(split_first(line, '='));
    std::string_view value = trim(line);
    if (iequals(key, "Signal")) {
      if (value == "10") {
        digit = '*';
      } else if (value == "11") {
        digit = '#';
      } else if (value.size() == 1 && dtmf_char(value[0])) {
        digit = dtmf_char(value[0]);
      }
    } else if (iequals(key, "Duration")) {
      uint64_t d = 0;
      if (parse_uint(value, 3'600'000, d)) duration_ms = static_cast<uint32_t>(d);
    }
  }
  return digit;
}

}  // namespace cv
