#include "decode/codec.h"

#include <array>
#include <cstddef>

namespace cv {

namespace {

// One entry per Codec, in enum order (checked below); kLpc is the last.
constexpr size_t kCodecCount = static_cast<size_t>(Codec::kLpc) + 1;

// clang-format off
constexpr std::array<CodecInfo, kCodecCount> kCodecs = {{
    // codec                   name               clock  audio  decodable is_audio
    {Codec::kUnknown,        "unknown",              0,     0, false, false},
    {Codec::kPcmu,           "PCMU",              8000,  8000, true,  true},
    {Codec::kPcma,           "PCMA",              8000,  8000, true,  true},
    // RFC 3551 4.5.2: the clock says 8000 for historical reasons, the audio is 16 kHz.
    {Codec::kG722,           "G722",              8000, 16000, true,  true},
    {Codec::kComfortNoise,   "CN",                8000,  8000, false, true},
    {Codec::kTelephoneEvent, "telephone-event",   8000,     0, false, false},
    {Codec::kG729,           "G729",              8000,  8000, false, true},
    {Codec::kGsm,            "GSM",               8000,  8000, false, true},
    {Codec::kG723,           "G723",              8000,  8000, false, true},
    {Codec::kG726,           "G726",              8000,  8000, false, true},
    {Codec::kIlbc,           "iLBC",              8000,  8000, false, true},
    {Codec::kSpeex,          "speex",             8000,  8000, false, true},
    {Codec::kOpus,           "opus",             48000, 48000, false, true},  // RFC 7587: always 48000
    {Codec::kL16,            "L16",              44100, 44100, false, true},  // PT 10/11
    {Codec::kAmr,            "AMR",               8000,  8000, false, true},
    {Codec::kAmrWb,          "AMR-WB",           16000, 16000, false, true},
    {Codec::kDvi4,           "DVI4",              8000,  8000, false, true},
    {Codec::kLpc,            "LPC",               8000,  8000, false, true},
}};
// clang-format on

constexpr bool table_matches_enum() {
  for (size_t i = 0; i < kCodecs.size(); ++i) {
    if (static_cast<size_t>(kCodecs[i].codec) != i) return false;
  }
  return true;
}
static_assert(table_matches_enum(), "kCodecs must list every Codec in enum order");

constexpr char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

constexpr bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

struct EncodingName {
  std::string_view name;
  Codec codec;
};

// rtpmap names from the IANA "RTP Payload Format media types" registry.
constexpr std::array<EncodingName, 19> kEncodings = {{
    {"PCMU", Codec::kPcmu},
    {"PCMA", Codec::kPcma},
    {"G722", Codec::kG722},
    {"CN", Codec::kComfortNoise},
    {"telephone-event", Codec::kTelephoneEvent},
    {"G729", Codec::kG729},
    {"G729A", Codec::kG729},  // seen in the wild; Annex A is bitstream compatible
    {"G729D", Codec::kG729},
    {"G729E", Codec::kG729},
    {"GSM", Codec::kGsm},
    {"G723", Codec::kG723},
    {"iLBC", Codec::kIlbc},
    {"speex", Codec::kSpeex},
    {"opus", Codec::kOpus},
    {"L16", Codec::kL16},
    {"AMR", Codec::kAmr},
    {"AMR-WB", Codec::kAmrWb},
    {"DVI4", Codec::kDvi4},
    {"LPC", Codec::kLpc},
}};

}  // namespace

const CodecInfo& codec_info(Codec c) {
  const auto i = static_cast<size_t>(c);
  return i < kCodecs.size() ? kCodecs[i] : kCodecs[0];
}

Codec codec_from_static_payload_type(uint8_t pt) {
  switch (pt) {
    case 0:
      return Codec::kPcmu;
    case 3:
      return Codec::kGsm;
    case 4:
      return Codec::kG723;
    case 5:   // DVI4/8000
    case 6:   // DVI4/16000
    case 16:  // DVI4/11025
    case 17:  // DVI4/22050
      return Codec::kDvi4;
    case 7:
      return Codec::kLpc;
    case 8:
      return Codec::kPcma;
    case 9:
      return Codec::kG722;
    case 10:  // L16/44100/2
    case 11:  // L16/44100/1
      return Codec::kL16;
    case 13:
      return Codec::kComfortNoise;
    case 18:
      return Codec::kG729;
    default:
      return Codec::kUnknown;  // 1, 2, 19 reserved; 12, 14, 15 unsupported; 25..34 video
  }
}

Codec codec_from_encoding(std::string_view encoding, uint32_t clock_rate) {
  Codec found = Codec::kUnknown;
  // G726-16/24/32/40 (RFC 3551 4.5.4) and the AAL2 byte order variants (RFC 3551 4.5.4, RFC 4856).
  if (istarts_with(encoding, "G726-") || istarts_with(encoding, "AAL2-G726-")) {
    found = Codec::kG726;
  } else {
    for (const auto& e : kEncodings) {
      if (iequals(encoding, e.name)) {
        found = e.codec;
        break;
      }
    }
  }
  if (codec_info(found).decodable && clock_rate != 0 && clock_rate != codec_info(found).rtp_clock_rate) {
    return Codec::kUnknown;
  }
  return found;
}

}  // namespace cv
