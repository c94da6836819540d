// libFuzzer target: the SIP parser under both framings, then the SDP found in
// whatever body it returns. Invariants are checked with __builtin_trap so a
// violation is a crash the fuzzer keeps.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "capture/sip/sdp.h"
#include "capture/sip/sip_message.h"

namespace {

bool within(std::string_view view, std::string_view a, std::string_view b) {
  auto in = [&view](std::string_view buf) {
    return view.data() >= buf.data() && view.data() + view.size() <= buf.data() + buf.size();
  };
  return view.empty() || in(a) || in(b);
}

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void check_message(const cv::SipMessage& m, std::string_view data, const std::string& scratch) {
  for (std::string_view v :
       {m.method, m.request_uri, m.reason, m.call_id, m.from.display_name, m.from.uri, m.from.user,
        m.from.tag, m.to.display_name, m.to.uri, m.to.user, m.to.tag, m.cseq_method, m.via_branch,
        m.contact_uri, m.content_type, m.content_type_params, m.body})
    check(within(v, data, scratch));
  check(within(m.body, data, {}));
  check(m.is_request ? m.status_code == 0 : (m.status_code >= 100 && m.status_code <= 699));

  std::string_view sdp_text = cv::find_sdp_body(m);
  check(within(sdp_text, m.body, {}));
  cv::SdpSession sdp;
  cv::SdpParseResult r = cv::parse_sdp(sdp_text, sdp);
  check(sdp.media_count <= cv::SdpSession::kMaxMedia);
  check(r.status == cv::SdpParseStatus::kOk ? r.line == 0 : r.line >= 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view data(reinterpret_cast<const char*>(bytes), size);
  cv::SipMessage msg;
  std::string scratch;

  cv::SipParseResult d = cv::parse_sip_message(data, cv::SipFraming::kDatagram, msg, scratch);
  check(d.status != cv::SipParseStatus::kIncomplete);
  if (d.status == cv::SipParseStatus::kComplete) {
    check(d.consumed == size && d.skipped <= size);
    check_message(msg, data, scratch);
  }
  (void)cv::looks_like_sip(data);

  // A stream: parse messages back to back as a TCP caller would.
  std::string_view rest = data;
  while (!rest.empty()) {
    cv::SipParseResult s = cv::parse_sip_message(rest, cv::SipFraming::kStream, msg, scratch);
    check(s.skipped <= rest.size());
    if (s.status != cv::SipParseStatus::kComplete) {
      if (s.status == cv::SipParseStatus::kIncomplete) check(s.needed >= 1);
      break;
    }
    check(s.consumed > 0 && s.consumed <= rest.size() && s.skipped < s.consumed);
    check_message(msg, rest, scratch);
    rest.remove_prefix(s.consumed);
  }
  return 0;
}
