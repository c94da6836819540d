// SIP dialogs, SDP offer/answer and the binding of RTP flows to calls.
//
// The tracker is the capture stage's last step: it turns decoded UDP and TCP
// packets into CallEventSink events. SIP over TCP is put back in order by a
// TcpStreamReassembler the tracker owns; each complete message framed from a
// stream takes the same path as a UDP datagram. Signalling builds calls (keyed by Call-ID and
// tags); every SDP names where one party receives media, and those addresses
// go into a bounded media table that binds RTP packets to a call and a
// channel. All time is packet time.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "capture/call/call_events.h"
#include "capture/packet/packet.h"
#include "capture/tcp/tcp_reassembler.h"
#include "common/anomaly.h"
#include "common/flat_map.h"

namespace cv {

struct SipMessage;
struct SdpSession;

struct CallTrackerConfig {
  std::vector<uint16_t> sip_ports{5060};
  // Also treat UDP payloads on other ports as SIP when they start like SIP.
  bool sip_on_any_port = true;
  // A call with no SIP or RTP for this long ends with reason "timeout".
  int64_t dialog_timeout_ns = 300 * kNsPerSec;
  // After BYE, CANCEL or a rejection, media is still accepted for this long
  // (trailing packets) before the call is finished.
  int64_t linger_ns = 2 * kNsPerSec;
  size_t max_calls = 100'000;
  size_t max_media_addresses = 400'000;
  // SIP over TCP: connections on a SIP port, or whose data starts like SIP
  // (with sip_on_any_port), are reassembled within these bounds.
  TcpLimits tcp;
};

struct CallTrackerStats {
  uint64_t udp_packets = 0;
  uint64_t tcp_packets = 0;
  uint64_t sip_messages = 0;
  uint64_t sip_requests = 0;
  uint64_t sip_responses = 0;
  uint64_t sip_keepalives = 0;            // CRLF / blank keep-alive datagrams on a SIP port
  uint64_t sip_without_call = 0;          // in-dialog messages for a call never seen starting
  uint64_t sip_over_tcp = 0;              // SIP messages framed from TCP streams (also in sip_messages)
  uint64_t sip_stream_resyncs = 0;        // a TCP stream found a message start again after a gap or pickup
  uint64_t sip_stream_skipped_bytes = 0;  // bytes passed over while looking for a message start
  uint64_t sdp_bodies = 0;
  uint64_t calls_started = 0;
  uint64_t calls_ended = 0;
  uint64_t calls_evicted = 0;
  uint64_t calls_joined_mid_call = 0;  // first seen in a re-INVITE/UPDATE (start not captured)
  uint64_t rtp_matched = 0;
  uint64_t rtp_unmatched = 0;  // valid RTP that no call's SDP named
  uint64_t rtcp_packets = 0;
  uint64_t rtp_non_audio = 0;            // RTP of video or other media named in SDP, ignored (R2)
  uint64_t media_addresses_learned = 0;  // NAT: real sources learned from symmetric RTP
  uint64_t media_address_takeovers = 0;  // an address moved to a newer call
  uint64_t media_table_full = 0;
};

class CallTracker : private TcpStreamConsumer {
 public:
  CallTracker(CallTrackerConfig config, CallEventSink& sink);
  ~CallTracker();
  CallTracker(const CallTracker&) = delete;
  CallTracker& operator=(const CallTracker&) = delete;

  // Processes one decoded packet; malformed content is counted in `anomalies`.
  void on_packet(const DecodedPacket& packet, AnomalyCounters& anomalies);
  // Expires calls idle past the timeout and finishes lingering ones. Cheap to
  // call per packet: the table is swept at most once per second of packet time.
  // `now` comes from a PacketClock, which never goes back and ignores
  // unconfirmed leaps, so broken timestamps cannot expire live calls.
  void advance_time(Timestamp now);
  // End of input: every call still known is finished (capture_end for open ones).
  void finish();

  [[nodiscard]] const CallTrackerStats& stats() const { return stats_; }
  [[nodiscard]] size_t active_calls() const { return calls_.size(); }
  [[nodiscard]] const TcpStats& tcp_stats() const { return tcp_.stats(); }
  // Anomalies of TCP streams expired or finished outside any packet.
  [[nodiscard]] const AnomalyCounters& tcp_background_anomalies() const {
    return tcp_.background_anomalies();
  }

 private:
  struct Call;
  struct MediaBinding {
    Call* call = nullptr;
    Channel owner = Channel::kCaller;  // the party that receives (and, with symmetric RTP, sends) here
    bool audio = true;                 // false: video or other media the SDP named, ignored by design (R2)
    Endpoint last_source{};            // the source whose binding was last checked: skips a lookup per packet
  };

  void on_sip(const DecodedPacket& packet, AnomalyCounters& anomalies);
  // A parsed message, from a datagram or a stream: dialogs, SDP, media.
  void on_sip_message(const SipMessage& msg, const DecodedPacket& packet, AnomalyCounters& anomalies);
  // Frames SIP messages from a reassembled TCP stream (TcpStreamConsumer).
  TcpConsumed on_stream_data(const TcpDelivery& delivery, AnomalyCounters& anomalies) override;
  void on_udp_media(const DecodedPacket& packet, AnomalyCounters& anomalies);
  void handle_request(const SipMessage& msg, const DecodedPacket& packet, AnomalyCounters& anomalies);
  void handle_response(const SipMessage& msg, const DecodedPacket& packet, AnomalyCounters& anomalies);
  Call* start_call(const SipMessage& msg, const DecodedPacket& packet);
  Call* find_dialog(const SipMessage& msg) const;
  void apply_sdp(Call& call, Channel sender, const SipMessage& msg, AnomalyCounters& anomalies);
  void bind_media(Call& call, const Endpoint& ep, Channel owner, bool audio = true);
  void terminate(Call& call, EndReason reason, Timestamp at);
  void finish_call(Call* call);
  void evict_oldest();
  Channel sender_of_request(const Call& call, const SipMessage& msg, const DecodedPacket& packet) const;
  bool is_sip_port(uint16_t port) const;

  CallTrackerConfig config_;
  CallEventSink& sink_;
  CallTrackerStats stats_;
  uint64_t next_handle_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Call>> calls_;
  // Calls per Call-ID, oldest first: usually one, but a B2BUA that keeps the
  // Call-ID on both of its legs shows two dialogs told apart by their tags.
  std::unordered_map<std::string, std::vector<Call*>> by_call_id_;
  FlatMap<Endpoint, MediaBinding, EndpointHash> media_;  // looked up per RTP packet
  std::deque<uint64_t> creation_order_;  // eviction order (oldest first); stale handles skipped
  Timestamp last_sweep_;
  Timestamp now_;        // the clock advance_time() was given
  Timestamp activity_;   // activity stamp of the packet being processed
  std::string scratch_;  // unfolded SIP headers
  TcpStreamReassembler tcp_;
};

}  // namespace cv
