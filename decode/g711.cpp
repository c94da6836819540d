#include "decode/g711.h"

#include <array>
#include <cstddef>

namespace cv {

namespace {

// ITU-T G.711 expansion. Both laws split the magnitude into 8 segments
// (chords) of 16 steps; the code carries sign, 3-bit segment and 4-bit step.
// The decoded value is the middle of the step's quantisation interval.

// mu-law (G.711 table 2a): codes are sent inverted. With segment s and step
// q, the magnitude on the 14-bit scale is ((2q + 33) << s) - 33, which is the
// 16-bit value ((q << 3) + 0x84 << s) - 0x84 divided by 4 (0x84 = 4 * 33 is
// the bias that makes every segment start at a power of two).
constexpr int16_t ulaw_formula(uint8_t code) {
  const unsigned c = ~code & 0xFFu;
  const unsigned segment = (c >> 4) & 0x7u;
  const unsigned step = c & 0x0Fu;
  const int magnitude = static_cast<int>((((step << 3) + 0x84u) << segment) - 0x84u);
  return static_cast<int16_t>((c & 0x80u) ? -magnitude : magnitude);
}

// A-law (G.711 table 1a): even bits are inverted on the line (XOR 0x55) and a
// set sign bit means positive. On the 13-bit scale segment 0 has steps of 2
// starting at 1 (value 2q + 1), segment s >= 1 has steps of 2^s starting at
// 2^(s+4) (value (2q + 33) << (s - 1)); the 16-bit value is that times 8.
constexpr int16_t alaw_formula(uint8_t code) {
  const unsigned c = code ^ 0x55u;
  const unsigned segment = (c >> 4) & 0x7u;
  const unsigned step = c & 0x0Fu;
  const unsigned magnitude13 = segment == 0 ? 2 * step + 1 : (2 * step + 33) << (segment - 1);
  const int magnitude = static_cast<int>(magnitude13 << 3);
  return static_cast<int16_t>((c & 0x80u) ? magnitude : -magnitude);
}

template <int16_t (*Formula)(uint8_t)>
constexpr std::array<int16_t, 256> make_table() {
  std::array<int16_t, 256> t{};
  for (size_t i = 0; i < t.size(); ++i) t[i] = Formula(static_cast<uint8_t>(i));
  return t;
}

constexpr auto kUlaw = make_table<ulaw_formula>();
constexpr auto kAlaw = make_table<alaw_formula>();

// Spot checks of the formulas against values quoted in the standard's tables.
static_assert(kUlaw[0xFF] == 0 && kUlaw[0x00] == -32124 && kUlaw[0x80] == 32124);
static_assert(kAlaw[0xD5] == 8 && kAlaw[0x55] == -8 && kAlaw[0xAA] == 32256);

}  // namespace

int16_t ulaw_to_linear(uint8_t code) { return kUlaw[code]; }
int16_t alaw_to_linear(uint8_t code) { return kAlaw[code]; }

void expand_ulaw(Bytes in, int16_t* out) {
  for (std::byte b : in) *out++ = kUlaw[static_cast<uint8_t>(b)];
}

void expand_alaw(Bytes in, int16_t* out) {
  for (std::byte b : in) *out++ = kAlaw[static_cast<uint8_t>(b)];
}

}  // namespace cv
