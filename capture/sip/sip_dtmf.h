// DTMF carried in SIP INFO bodies (the alternative to RFC 4733 events).
#pragma once

#include <cstdint>
#include <string_view>

namespace cv {

// The digit of an INFO body: "Signal=5" (application/dtmf-relay, with an
// optional "Duration=160" in ms; Signal 10 and 11 mean * and #) or "5"
// (application/dtmf). Returns 0 when the body holds no valid digit.
char parse_sip_info_dtmf(std::string_view content_type, std::string_view body, uint32_t& duration_ms);

}  // namespace cv
