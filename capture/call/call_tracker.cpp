#include "capture/call/call_tracker.h"

#include <algorithm>
#include <cstring>

#include "capture/rtp/rtp_header.h"
#include "capture/sip/sdp.h"
#include "capture/sip/sip_dtmf.h"
#include "capture/sip/sip_message.h"

namespace cv {

const char* end_reason_name(EndReason r) {
  switch (r) {
    case EndReason::kNone:
      return "none";
    case EndReason::kBye:
      return "bye";
    case EndReason::kCancel:
      return "cancel";
    case EndReason::kRejected:
      return "rejected";
    case EndReason::kTimeout:
      return "timeout";
    case EndReason::kCaptureEnd:
      return "capture_end";
    case EndReason::kEvicted:
      return "evicted";
  }
  return "none";
}

namespace {
// Per-call bounds on what network input can make a call hold.
constexpr size_t kMaxMediaAddressesPerCall = 64;
constexpr size_t kMaxDtmfPerCall = 4096;
}  // namespace

enum class DialogState : uint8_t {
  kInviting,    // INVITE sent, no final answer yet
  kConfirmed,   // 2xx seen
  kTerminated,  // BYE, CANCEL or rejection seen: lingering for trailing media
};

struct CallTracker::Call {
  CallInfo info;
  DialogState state = DialogState::kInviting;
  uint32_t invite_cseq = 0;
  Timestamp linger_until;
  std::vector<Endpoint> media;  // addresses bound to this call in media_
};

CallTracker::CallTracker(CallTrackerConfig config, CallEventSink& sink)
    : config_(std::move(config)), sink_(sink), tcp_(config_.tcp, *this) {}

CallTracker::~CallTracker() = default;

bool CallTracker::is_sip_port(uint16_t port) const {
  return std::find(config_.sip_ports.begin(), config_.sip_ports.end(), port) != config_.sip_ports.end();
}

void CallTracker::on_packet(const DecodedPacket& packet, AnomalyCounters& anomalies) {
  // Activity is stamped no earlier than the pipeline's clock: a packet with
  // a broken, far-past timestamp must not make a live call look idle.
  activity_ = std::max(packet.ts, now_);
  if (packet.transport == Transport::kTcp) {
    ++stats_.tcp_packets;
    // Only connections worth following get state: a SIP port, or (any port)
    // data that starts like SIP. Segments of connections already followed
    // are taken whatever they carry.
    const bool may_create =
        is_sip_port(packet.src.port) || is_sip_port(packet.dst.port) ||
        (config_.sip_on_any_port && !packet.payload.empty() && looks_like_sip(as_text(packet.payload)));
    tcp_.on_segment(packet, may_create, anomalies);
    return;
  }
  ++stats_.udp_packets;
  if (packet.payload.empty()) return;
  // RTP starts with version bits 10, SIP with a letter: the first byte routes
  // most packets without a table lookup.
  const auto first = static_cast<uint8_t>(packet.payload[0]);
  if ((first & 0xC0) == 0x80) {
    on_udp_media(packet, anomalies);
    return;
  }
  if (is_sip_port(packet.src.port) || is_sip_port(packet.dst.port) ||
      (config_.sip_on_any_port && looks_like_sip(as_text(packet.payload)))) {
    on_sip(packet, anomalies);
  }
}

void CallTracker::on_udp_media(const DecodedPacket& packet, AnomalyCounters& anomalies) {
  RtpHeader rtp;
  switch (parse_rtp(packet.payload, rtp)) {
    case RtpParseStatus::kOk:
      break;
    case RtpParseStatus::kRtcp:
      ++stats_.rtcp_packets;
      return;
    case RtpParseStatus::kNotRtp:
      return;
    case RtpParseStatus::kMalformed: {
      // Only count malformed RTP on addresses a call named; elsewhere it is
      // just some other UDP protocol.
      if (media_.contains(packet.dst) || media_.contains(packet.src)) anomalies.add(Anomaly::kRtpMalformed);
      return;
    }
  }
  // The destination names the receiver: a packet to the callee's address is
  // the caller's voice. Failing that, symmetric RTP lets the source name the
  // sender.
  Channel channel;
  Call* call = nullptr;
  if (MediaBinding* to = media_.find(packet.dst)) {
    if (!to->audio) {
      ++stats_.rtp_non_audio;
      return;
    }
    call = to->call;
    channel = other(to->owner);
    // NAT: the sender's real address differs from what its SDP said; learn
    // it so packets sent back to it are bound too.
    if (!(to->last_source == packet.src)) {
      to->last_source = packet.src;
      // Bounded per call too, so that packets sprayed at one call's port from
      // many sources cannot take the whole table from the other calls.
      if (!media_.contains(packet.src) && call->media.size() < kMaxMediaAddressesPerCall) {
        bind_media(*call, packet.src, channel);  // may grow the table: `to` is not used after this
        ++stats_.media_addresses_learned;
      }
    }
  } else if (MediaBinding* from = media_.find(packet.src)) {
    if (!from->audio) {
      ++stats_.rtp_non_audio;
      return;
    }
    call = from->call;
    channel = from->owner;
  } else {
    ++stats_.rtp_unmatched;
    return;
  }
  ++stats_.rtp_matched;
  call->info.last_activity = activity_;
  MediaPacket mp;
  mp.call = &call->info;
  mp.channel = channel;
  mp.ts = packet.ts;
  mp.frame = packet.frame;
  mp.src = packet.src;
  mp.dst = packet.dst;
  mp.rtp = rtp;
  sink_.on_media(mp);
}

void CallTracker::on_sip(const DecodedPacket& packet, AnomalyCounters& anomalies) {
  // NAT keep-alives (RFC 5626 CRLF pings, or a few spaces or zero bytes)
  // share the SIP port; they are not malformed SIP.
  const std::string_view text = as_text(packet.payload);
  if (text.size() <= 16 &&
      text.find_first_not_of(std::string_view(" \r\n\t\0", 5)) == std::string_view::npos) {
    ++stats_.sip_keepalives;
    return;
  }
  SipMessage msg;
  auto result = parse_sip_message(as_text(packet.payload), SipFraming::kDatagram, msg, scratch_);
  if (result.status != SipParseStatus::kComplete) {
    anomalies.add(Anomaly::kSipMalformed);
    return;
  }
  on_sip_message(msg, packet, anomalies);
}

namespace {
// A start line is looked for within this many bytes of an unfinished line;
// a longer one is junk and is passed over.
constexpr size_t kMaxResyncLine = 1024;

// Where the next line that starts like a SIP message begins in `text`, or
// npos with `keep` = the offset of an unfinished last line that still could.
size_t find_sip_start(std::string_view text, size_t& keep) {
  size_t line = 0;
  for (;;) {
    const size_t eol = text.find('\n', line);
    if (eol == std::string_view::npos) {
      const std::string_view last = text.substr(line);
      if (looks_like_sip(last)) return line;
      keep = last.size() > kMaxResyncLine ? text.size() : line;
      return std::string_view::npos;
    }
    if (looks_like_sip(text.substr(line, eol + 1 - line))) return line;
    line = eol + 1;
  }
}
}  // namespace

TcpConsumed CallTracker::on_stream_data(const TcpDelivery& delivery, AnomalyCounters& anomalies) {
  const std::string_view text = as_text(delivery.data);
  DecodedPacket context;
  context.ts = delivery.ts;
  context.frame = delivery.frame;
  context.src = delivery.src;
  context.dst = delivery.dst;
  context.transport = Transport::kTcp;
  size_t pos = 0;
  bool synchronized = delivery.synchronized;
  while (pos < text.size()) {
    const std::string_view rest = text.substr(pos);
    if (!synchronized) {
      // After a gap or a mid-stream pickup: the next SIP start line.
      size_t keep = 0;
      const size_t start = find_sip_start(rest, keep);
      if (start == std::string_view::npos) {
        stats_.sip_stream_skipped_bytes += keep;
        return TcpConsumed{pos + keep, false};
      }
      stats_.sip_stream_skipped_bytes += start;
      ++stats_.sip_stream_resyncs;
      pos += start;
      synchronized = true;
      continue;
    }
    SipMessage msg;
    const SipParseResult r = parse_sip_message(rest, SipFraming::kStream, msg, scratch_);
    if (r.status == SipParseStatus::kIncomplete) {
      pos += r.skipped;  // keep-alives need no buffering
      break;
    }
    if (r.status == SipParseStatus::kInvalid) {
      // Broken framing (bad Content-Length, endless header): drop this line
      // and look for the next message start.
      anomalies.add(Anomaly::kSipMalformed);
      const size_t eol = rest.find('\n', r.skipped);
      const size_t skip = eol == std::string_view::npos ? rest.size() : eol + 1;
      stats_.sip_stream_skipped_bytes += skip;
      pos += skip;
      synchronized = false;
      continue;
    }
    pos += r.consumed;
    ++stats_.sip_over_tcp;
    on_sip_message(msg, context, anomalies);
  }
  return TcpConsumed{pos, synchronized};
}

void CallTracker::on_sip_message(const SipMessage& msg, const DecodedPacket& packet,
                                 AnomalyCounters& anomalies) {
  ++stats_.sip_messages;
  if (msg.warnings & (kSipWarnContentLengthShort | kSipWarnContentLengthLong))
    anomalies.add(Anomaly::kSipBadContentLength);
  if (msg.call_id.empty() || msg.cseq_method.empty() || msg.from.uri.empty() || msg.to.uri.empty()) {
    anomalies.add(Anomaly::kSipMissingHeader);
    return;
  }
  if (msg.is_request) {
    ++stats_.sip_requests;
    handle_request(msg, packet, anomalies);
  } else {
    ++stats_.sip_responses;
    handle_response(msg, packet, anomalies);
  }
}

Channel CallTracker::sender_of_request(const Call& call, const SipMessage& msg,
                                       const DecodedPacket& packet) const {
  if (!msg.from.tag.empty() && !call.info.caller_tag.empty())
    return msg.from.tag == call.info.caller_tag ? Channel::kCaller : Channel::kCallee;
  return packet.src == call.info.callee_signalling ? Channel::kCallee : Channel::kCaller;
}

void CallTracker::handle_request(const SipMessage& msg, const DecodedPacket& packet,
                                 AnomalyCounters& anomalies) {
  const bool is_invite = msg.method == "INVITE";
  Call* call = find_dialog(msg);

  if (is_invite && msg.to.tag.empty()) {
    // An initial INVITE: a new call, unless it retransmits or retries (after
    // 401/407 or a redirect: same From tag) the attempt already known. A
    // different From tag under a known Call-ID is another dialog: a later
    // call reusing the Call-ID, or the other leg of a B2BUA.
    Call* same = call && call->info.caller_tag == msg.from.tag ? call : nullptr;
    bool same_attempt =
        same && (same->state != DialogState::kTerminated ||
                 (same->info.end_reason == EndReason::kRejected && msg.cseq >= same->invite_cseq));
    if (!same_attempt) {
      if (same) finish_call(same);  // the caller reused its Call-ID and tag: the old call is over
      call = start_call(msg, packet);
      if (!call) return;
    } else if (call->state == DialogState::kTerminated) {
      call->state = DialogState::kInviting;  // retried after a redirect
      call->info.end_reason = EndReason::kNone;
      call->info.final_status = 0;
    }
    call->invite_cseq = std::max(call->invite_cseq, msg.cseq);
  }
  if (!call && (is_invite || msg.method == "UPDATE") && !msg.to.tag.empty() && !find_sdp_body(msg).empty()) {
    // A re-INVITE or UPDATE of a call whose start was not captured (callvault
    // started, or restarted, while it was in progress): join it here, so its
    // media from now on is recorded rather than counted as unmatched (R1).
    // Who called whom is unknown; the sender of this request stands as caller.
    call = start_call(msg, packet);
    if (!call) return;
    call->state = DialogState::kConfirmed;
    call->info.joined_mid_call = true;
    call->info.callee_tag = std::string(msg.to.tag);
    ++stats_.calls_joined_mid_call;
  }
  if (!call) {
    ++stats_.sip_without_call;
    return;
  }
  call->info.last_activity = activity_;
  const Channel sender =
      is_invite && msg.to.tag.empty() ? Channel::kCaller : sender_of_request(*call, msg, packet);

  if (is_invite || msg.method == "UPDATE" || msg.method == "ACK" || msg.method == "PRACK") {
    apply_sdp(*call, sender, msg, anomalies);
  } else if (msg.method == "BYE") {
    terminate(*call, EndReason::kBye, packet.ts);
  } else if (msg.method == "CANCEL") {
    if (call->state == DialogState::kInviting) terminate(*call, EndReason::kCancel, packet.ts);
  } else if (msg.method == "INFO") {
    uint32_t duration = 0;
    char digit = parse_sip_info_dtmf(msg.content_type, msg.body, duration);
    if (digit && call->info.sip_dtmf.size() < kMaxDtmfPerCall)
      call->info.sip_dtmf.push_back(SipDtmf{packet.ts, digit, duration, sender});
  }
}

void CallTracker::handle_response(const SipMessage& msg, const DecodedPacket& packet,
                                  AnomalyCounters& anomalies) {
  Call* found = find_dialog(msg);
  if (!found) {
    ++stats_.sip_without_call;
    return;
  }
  Call& call = *found;
  call.info.last_activity = activity_;
  // A response is sent by the party the request was sent to.
  const bool request_from_caller =
      msg.from.tag.empty() || call.info.caller_tag.empty() || msg.from.tag == call.info.caller_tag;
  const Channel sender = request_from_caller ? Channel::kCallee : Channel::kCaller;

  if (msg.cseq_method == "INVITE" || msg.cseq_method == "UPDATE" || msg.cseq_method == "PRACK") {
    if (msg.status_code >= 100 && msg.status_code < 300) apply_sdp(call, sender, msg, anomalies);
  }
  if (msg.cseq_method != "INVITE" || !request_from_caller || msg.cseq != call.invite_cseq) return;
  // Responses to the initial INVITE drive the dialog state.
  if (msg.status_code >= 200 && msg.status_code < 300) {
    if (call.state == DialogState::kInviting) {
      call.state = DialogState::kConfirmed;
      call.info.answer_time = packet.ts;
      call.info.final_status = msg.status_code;
    }
    if (call.info.callee_tag.empty()) call.info.callee_tag = std::string(msg.to.tag);
  } else if (msg.status_code >= 300 && call.state == DialogState::kInviting) {
    call.info.final_status = msg.status_code;
    // 401/407 ask for credentials: a caller that retries (same Call-ID and
    // From tag, higher CSeq) reopens this call while it lingers; an attempt
    // nobody retries (a B2BUA leg that changes its tag) stays rejected.
    terminate(call, call.info.end_reason == EndReason::kCancel ? EndReason::kCancel : EndReason::kRejected,
              packet.ts);
  }
}

CallTracker::Call* CallTracker::find_dialog(const SipMessage& msg) const {
  auto it = by_call_id_.find(std::string(msg.call_id));
  if (it == by_call_id_.end()) return nullptr;
  const std::vector<Call*>& legs = it->second;
  if (legs.size() == 1) return legs.front();
  // Either tag of the message names one party of exactly one leg.
  for (const std::string_view tag : {msg.from.tag, msg.to.tag}) {
    if (tag.empty()) continue;
    for (Call* c : legs)
      if (c->info.caller_tag == tag || c->info.callee_tag == tag) return c;
  }
  return legs.back();
}

CallTracker::Call* CallTracker::start_call(const SipMessage& msg, const DecodedPacket& packet) {
  if (calls_.size() >= config_.max_calls) evict_oldest();
  auto call = std::make_unique<Call>();
  Call* c = call.get();
  c->info.handle = next_handle_++;
  c->info.call_id = std::string(msg.call_id);
  c->info.caller = std::string(msg.from.user);
  c->info.callee = std::string(msg.to.user);
  c->info.caller_tag = std::string(msg.from.tag);
  c->info.caller_signalling = packet.src;
  c->info.callee_signalling = packet.dst;
  c->info.invite_time = packet.ts;
  c->info.last_activity = activity_;
  c->invite_cseq = msg.cseq;
  by_call_id_[c->info.call_id].push_back(c);
  creation_order_.push_back(c->info.handle);
  calls_.emplace(c->info.handle, std::move(call));
  ++stats_.calls_started;
  sink_.on_call_started(c->info);
  return c;
}

void CallTracker::apply_sdp(Call& call, Channel sender, const SipMessage& msg, AnomalyCounters& anomalies) {
  std::string_view body = find_sdp_body(msg);
  if (body.empty()) return;
  SdpSession sdp;
  if (parse_sdp(body, sdp).status != SdpParseStatus::kOk) {
    anomalies.add(Anomaly::kSdpMalformed);
    return;
  }
  ++stats_.sdp_bodies;
  ++call.info.sdp_count;
  for (size_t m = 0; m < sdp.media_count; ++m) {
    const SdpMedia& media = sdp.media[m];
    if (media.kind != MediaKind::kAudio) {
      // R2: audio only. The address is still noted so that its packets are
      // counted as ignored media, not as RTP no call explains.
      IpAddress addr = media.effective_connection(sdp.connection);
      if (media.port != 0 && addr.is_set() && !addr.is_unspecified())
        bind_media(call, Endpoint{addr, media.port}, sender, false);
      continue;
    }
    for (size_t r = 0; r < media.rtpmap_count; ++r) {
      const SdpRtpMap& map = media.rtpmaps[r];
      PayloadFormat f;
      f.payload_type = map.payload_type;
      size_t n = std::min(map.encoding.size(), f.encoding.size() - 1);
      std::memcpy(f.encoding.data(), map.encoding.data(), n);
      f.clock_rate = map.clock_rate;
      auto it = std::find_if(call.info.formats.begin(), call.info.formats.end(),
                             [&](const PayloadFormat& x) { return x.payload_type == f.payload_type; });
      if (it != call.info.formats.end()) {
        *it = f;
      } else if (call.info.formats.size() < 32) {
        call.info.formats.push_back(f);
      }
    }
    if (media.port == 0) continue;  // rejected stream
    IpAddress addr = media.effective_connection(sdp.connection);
    // Hold (RFC 3264 8.4) may say 0.0.0.0: no new address, keep the old ones.
    if (!addr.is_set() || addr.is_unspecified()) continue;
    bind_media(call, Endpoint{addr, media.port}, sender);
  }
}

void CallTracker::bind_media(Call& call, const Endpoint& ep, Channel owner, bool audio) {
  if (MediaBinding* b = media_.find(ep)) {
    if (b->call == &call) {
      b->owner = owner;
      b->audio = audio;
      return;
    }
    // A newer call names an address an older one used (port reuse): from now
    // on its packets belong to the newer call.
    Call* old = b->call;
    old->media.erase(std::remove(old->media.begin(), old->media.end(), ep), old->media.end());
    *b = MediaBinding{&call, owner, audio};
    ++stats_.media_address_takeovers;
  } else {
    if (media_.size() >= config_.max_media_addresses) {
      ++stats_.media_table_full;
      return;
    }
    media_.insert(ep, MediaBinding{&call, owner, audio});
  }
  call.media.push_back(ep);
  if (audio) ++call.info.media_addresses;
}

void CallTracker::terminate(Call& call, EndReason reason, Timestamp at) {
  if (call.state == DialogState::kTerminated) return;
  call.state = DialogState::kTerminated;
  call.info.end_reason = reason;
  call.info.end_time = at;
  call.linger_until = Timestamp{at.ns + config_.linger_ns};
}

void CallTracker::finish_call(Call* call) {
  if (call->info.end_reason == EndReason::kNone) {
    call->info.end_reason = EndReason::kCaptureEnd;
    call->info.end_time = call->info.last_activity;
  }
  for (const Endpoint& ep : call->media) {
    if (const MediaBinding* b = media_.find(ep); b && b->call == call) media_.erase(ep);
  }
  if (auto idx = by_call_id_.find(call->info.call_id); idx != by_call_id_.end()) {
    auto& legs = idx->second;
    legs.erase(std::remove(legs.begin(), legs.end(), call), legs.end());
    if (legs.empty()) by_call_id_.erase(idx);
  }
  ++stats_.calls_ended;
  sink_.on_call_ended(call->info);
  calls_.erase(call->info.handle);  // destroys *call
}

void CallTracker::evict_oldest() {
  while (!creation_order_.empty()) {
    uint64_t h = creation_order_.front();
    creation_order_.pop_front();
    auto it = calls_.find(h);
    if (it == calls_.end()) continue;
    Call* call = it->second.get();
    if (call->info.end_reason == EndReason::kNone) {
      call->info.end_reason = EndReason::kEvicted;
      call->info.end_time = call->info.last_activity;
    }
    ++stats_.calls_evicted;
    finish_call(call);
    return;
  }
}

void CallTracker::advance_time(Timestamp now) {
  now_ = std::max(now_, now);
  tcp_.expire(now_);  // one comparison unless a connection is due
  if (now_.ns - last_sweep_.ns < kNsPerSec) return;
  last_sweep_ = now_;
  std::vector<Call*> done;
  for (auto& [handle, call] : calls_) {
    if (call->state == DialogState::kTerminated) {
      if (now_ >= call->linger_until) done.push_back(call.get());
    } else if (now_.ns - call->info.last_activity.ns > config_.dialog_timeout_ns) {
      call->info.end_reason = EndReason::kTimeout;
      call->info.end_time = call->info.last_activity;
      done.push_back(call.get());
    }
  }
  // Finish in a deterministic order (the map's iteration order is not).
  std::sort(done.begin(), done.end(),
            [](const Call* a, const Call* b) { return a->info.handle < b->info.handle; });
  for (Call* c : done) finish_call(c);
  // Drop handles of finished calls from the front of the eviction queue.
  while (!creation_order_.empty() && !calls_.count(creation_order_.front())) creation_order_.pop_front();
}

void CallTracker::finish() {
  tcp_.finish();  // messages complete after a hole still count
  std::vector<Call*> all;
  all.reserve(calls_.size());
  for (auto& [handle, call] : calls_) all.push_back(call.get());
  std::sort(all.begin(), all.end(),
            [](const Call* a, const Call* b) { return a->info.handle < b->info.handle; });
  for (Call* c : all) finish_call(c);
  creation_order_.clear();
}

}  // namespace cv
