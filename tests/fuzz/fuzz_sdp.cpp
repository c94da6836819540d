// libFuzzer target: the SDP parser on arbitrary text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "capture/sip/sdp.h"

namespace {
void check(bool ok) {
  if (!ok) __builtin_trap();
}
bool within(std::string_view view, std::string_view buf) {
  return view.empty() || (view.data() >= buf.data() && view.data() + view.size() <= buf.data() + buf.size());
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(bytes), size);
  cv::SdpSession sdp;
  cv::SdpParseResult r = cv::parse_sdp(text, sdp);
  check(r.status == cv::SdpParseStatus::kOk ? r.line == 0 : (r.line >= 1 && r.error[0] != '\0'));
  check(sdp.media_count <= cv::SdpSession::kMaxMedia);
  check(within(sdp.origin_username, text));
  for (size_t i = 0; i < sdp.media_count; ++i) {
    const cv::SdpMedia& m = sdp.media[i];
    check(m.format_count <= cv::SdpMedia::kMaxFormats && m.rtpmap_count <= cv::SdpMedia::kMaxRtpMaps);
    check(within(m.media, text) && within(m.proto, text));
    for (size_t f = 0; f < m.format_count; ++f) check(m.formats[f] <= 127);
    for (size_t k = 0; k < m.rtpmap_count; ++k) {
      check(within(m.rtpmaps[k].encoding, text) && !m.rtpmaps[k].encoding.empty());
      check(m.rtpmaps[k].payload_type <= 127 && m.rtpmaps[k].clock_rate > 0 && m.rtpmaps[k].channels > 0);
      check(m.rtpmap(m.rtpmaps[k].payload_type) != nullptr);
    }
    check(m.telephone_event_pt >= -1 && m.telephone_event_pt <= 127);
    if (m.connection.is_set()) check(m.connection.family == 4 || m.connection.family == 6);
  }
  return 0;
}
