// Well-formed UTF-8 (Unicode table 3-7): no overlong forms, no UTF-16
// surrogates, nothing above U+10FFFF. SIP fields come off the wire as bytes;
// JSON (nlohmann's dump) and PostgreSQL text accept only this.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace cv {

// The length of the well-formed sequence that starts at s[i], 0 if none does.
inline size_t utf8_sequence_length(std::string_view s, size_t i) {
  const auto lead = static_cast<uint8_t>(s[i]);
  if (lead < 0x80) return 1;
  size_t length = 0;
  uint8_t second_min = 0x80, second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead == 0xE0) {
    length = 3, second_min = 0xA0;  // overlong below U+0800
  } else if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) {
    length = 3;
  } else if (lead == 0xED) {
    length = 3, second_max = 0x9F;  // surrogates U+D800..U+DFFF
  } else if (lead == 0xF0) {
    length = 4, second_min = 0x90;  // overlong below U+10000
  } else if (lead >= 0xF1 && lead <= 0xF3) {
    length = 4;
  } else if (lead == 0xF4) {
    length = 4, second_max = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() - i < length) return 0;
  const auto second = static_cast<uint8_t>(s[i + 1]);
  if (second < second_min || second > second_max) return 0;
  for (size_t k = 2; k < length; ++k)
    if ((static_cast<uint8_t>(s[i + k]) & 0xC0) != 0x80) return 0;
  return length;
}

inline bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0, n = 0; i < s.size(); i += n)
    if ((n = utf8_sequence_length(s, i)) == 0) return false;
  return true;
}

}  // namespace cv
