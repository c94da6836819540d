// What the capture stage tells the stages after it: calls and the RTP packets
// bound to them. These types are the boundary between capture (packets to
// events) and decode (events to audio); nothing after this point sees raw
// packets or SIP text.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "capture/rtp/rtp_header.h"
#include "common/endpoint.h"
#include "common/time.h"

namespace cv {

// Left channel is the caller (who sent the initial INVITE), right the callee.
enum class Channel : uint8_t { kCaller = 0, kCallee = 1 };
inline Channel other(Channel c) { return c == Channel::kCaller ? Channel::kCallee : Channel::kCaller; }
inline const char* channel_name(Channel c) { return c == Channel::kCaller ? "caller" : "callee"; }

enum class EndReason : uint8_t {
  kNone,
  kBye,         // a BYE was seen
  kCancel,      // the caller cancelled before an answer
  kRejected,    // a final 3xx-6xx answer to the INVITE
  kTimeout,     // no SIP or RTP for the dialog timeout
  kCaptureEnd,  // still open when the capture ended
  kEvicted,     // the call table was full and this was the oldest call
};
const char* end_reason_name(EndReason r);

// A payload type as an SDP rtpmap defined it for this call.
struct PayloadFormat {
  uint8_t payload_type = 0;
  std::array<char, 24> encoding{};  // NUL-terminated, as written in the SDP
  uint32_t clock_rate = 0;
};

// A DTMF digit signalled in SIP (INFO with application/dtmf-relay or dtmf).
struct SipDtmf {
  Timestamp at;
  char digit = 0;
  uint32_t duration_ms = 0;
  Channel channel = Channel::kCaller;
};

// Everything signalling tells about one call. Owned by the CallTracker; the
// sink gets a const reference valid for the duration of the callback.
struct CallInfo {
  uint64_t handle = 0;  // unique per call within one tracker
  std::string call_id;
  std::string caller;  // user part of From of the initial INVITE
  std::string callee;  // user part of To of the initial INVITE
  std::string caller_tag;
  std::string callee_tag;
  Endpoint caller_signalling;  // where the INVITE came from
  Endpoint callee_signalling;  // where the INVITE went to
  Timestamp invite_time;       // first INVITE
  Timestamp answer_time;       // 2xx to the INVITE (0 when unanswered)
  Timestamp end_time;
  Timestamp last_activity;  // last SIP or RTP packet of the call
  EndReason end_reason = EndReason::kNone;
  int final_status = 0;                // final response code to the initial INVITE
  std::vector<PayloadFormat> formats;  // dynamic payload types of the call
  std::vector<SipDtmf> sip_dtmf;
  uint32_t sdp_count = 0;        // SDP bodies seen (offers and answers)
  uint32_t media_addresses = 0;  // distinct media addresses bound
  // The call's start was not captured: it was first seen in a re-INVITE or
  // UPDATE, whose sender stands as caller and whose time as start.
  bool joined_mid_call = false;
  // Owned by the stage that consumes the events (the recorder keeps its
  // per-call state here), so that a media packet finds it without a lookup.
  // The tracker never reads it.
  mutable void* consumer_state = nullptr;

  [[nodiscard]] const PayloadFormat* format(uint8_t pt) const {
    for (const auto& f : formats)
      if (f.payload_type == pt) return &f;
    return nullptr;
  }
};

// An RTP packet bound to a call.
struct MediaPacket {
  const CallInfo* call = nullptr;
  Channel channel = Channel::kCaller;  // whose voice it carries
  Timestamp ts;
  uint64_t frame = 0;
  Endpoint src;
  Endpoint dst;
  RtpHeader rtp;  // payload valid during the callback only
};

class CallEventSink {
 public:
  virtual ~CallEventSink() = default;
  virtual void on_call_started(const CallInfo& call) = 0;
  virtual void on_media(const MediaPacket& packet) = 0;
  // Called once per call, after the call's last packet; the CallInfo is
  // destroyed after the call returns.
  virtual void on_call_ended(const CallInfo& call) = 0;
};

}  // namespace cv
