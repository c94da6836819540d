// Codecs as data (cf. rtpengine lib/codeclib.c): what a payload type means,
// its RTP clock rate, the rate of the audio it decodes to, and whether
// callvault can decode it.
#pragma once

#include <cstdint>
#include <string_view>

namespace cv {

enum class Codec : uint8_t {
  kUnknown,
  kPcmu,            // G.711 mu-law, PT 0
  kPcma,            // G.711 A-law, PT 8
  kG722,            // PT 9; RTP clock 8000 but 16 kHz audio (RFC 3551 4.5.2)
  kComfortNoise,    // PT 13 (RFC 3389): written as silence
  kTelephoneEvent,  // RFC 4733: digits, not audio
  kG729,
  kGsm,
  kG723,
  kG726,
  kIlbc,
  kSpeex,
  kOpus,
  kL16,
  kAmr,
  kAmrWb,
  kDvi4,
  kLpc,
};

struct CodecInfo {
  Codec codec;
  std::string_view name;    // as callvault reports it: "PCMU", "PCMA", "G722", ...
  uint32_t rtp_clock_rate;  // RTP timestamp units per second (the usual one where SDP may vary it)
  uint32_t audio_rate;      // samples per second of decoded audio (0: not audio)
  bool decodable;           // callvault turns it into samples
  bool is_audio;            // carries sound (false for telephone-event, CN counts as audio silence)
};

const CodecInfo& codec_info(Codec c);
// Static payload types of RFC 3551 table 4 (0..34); kUnknown for dynamic ones
// and for static ones callvault has no entry for (G728, QCELP, MPA, video).
Codec codec_from_static_payload_type(uint8_t pt);
// From an SDP rtpmap encoding name (case-insensitive) and clock rate. A clock
// rate of 0 means "not given". The decodable codecs are only recognised at
// their RFC 3551 clock rate of 8000: any other rate would decode at the wrong
// speed, so it is reported as kUnknown instead.
Codec codec_from_encoding(std::string_view encoding, uint32_t clock_rate);

}  // namespace cv
