// A generated capture and what callvault must make of it.
//
// Cases build a Scenario: SIP messages and RTP streams go into the capture as
// frames, and each call's streams are remembered so that the expected output
// of docs/RECORDING_FORMAT.md (JSON summary fields and the stereo samples)
// can be computed from exactly the packets that were captured.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/gen/net.h"
#include "tests/gen/rtp.h"
#include "tests/gen/sip.h"

namespace cv::gen {

// The expected recording of one call.
struct ExpectedAudio {
  int rate = 0;                                // 0: no audio (the JSON's "audio" is null)
  std::vector<int16_t> left, right;            // caller, callee; equal length
  bool left_exact = true, right_exact = true;  // false: compare by correlation
};

// How SIP messages travel when a scenario sends SIP over TCP: the dialog's
// two SIP addresses share one connection, opened (SYN, SYN-ACK, ACK) before
// its first message; every message is cut into segments of `segment_bytes`
// (0: one segment), each pair of segments is sent second first when
// `reorder`, and with `retransmit` the first 1.5 segments are sent again
// after the rest (a retransmission overlapping bytes already sent). The
// receiver acknowledges each message. All segments of a message lie within
// 100 us of its time.
struct TcpPlan {
  size_t segment_bytes = 0;
  bool reorder = false;
  bool retransmit = false;
};

class Scenario {
 public:
  explicit Scenario(std::string name, Link link = {});

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const Link& link() const { return link_; }

  // A SIP message of dialog `d` from the caller's or callee's SIP address.
  // fragment_bytes > 0 sends it as IP fragments of that size, in reverse
  // order when `reverse_fragments`.
  void sip(int64_t t_us, const SipDialog& d, bool from_caller, const std::string& msg,
           size_t fragment_bytes = 0, bool reverse_fragments = false);
  // From now on every sip() goes over TCP as `plan` says.
  void use_tcp(TcpPlan plan) { tcp_ = plan; }
  // Any UDP datagram (not part of a call's claims).
  void udp(int64_t t_us, const Ep& src, const Ep& dst, ByteSpan payload);
  // A raw frame (malformed traffic).
  void frame(Frame f);

  // Declares a call of dialog `d` that callvault must report.
  size_t add_call(const SipDialog& d, int64_t invite_us, std::string end_reason);
  void set_end_reason(size_t call, std::string end_reason) {
    calls_.at(call).end_reason = std::move(end_reason);
  }
  // Sends a stream's captured packets and binds the stream to call `call`.
  void add_stream(size_t call, const RtpStream& stream);
  // Sends a stream that belongs to no declared call.
  void add_unbound_stream(const RtpStream& stream);

  // Expected JSON for the whole case (see README.md) and the audio per call.
  [[nodiscard]] nlohmann::json expected(std::vector<ExpectedAudio>* audio) const;
  // Writes DIR/NAME.pcap, DIR/NAME.expected.json and one
  // DIR/NAME.<hash>.expected.wav per call with audio.
  void write(const std::string& dir) const;

  [[nodiscard]] size_t frame_count() const { return frames_.size(); }

 private:
  struct Stream {
    RtpStream::Params params;
    std::vector<RtpPacket> wire;
  };
  struct Call {
    std::string call_id, caller, callee, end_reason;
    int64_t invite_us = 0;
    std::vector<Stream> streams;
  };
  struct SipClaim {
    int64_t t_us;
    std::string call_id, method;
    int status;
  };

  struct TcpConnection {
    Ep client, server;
    uint32_t next[2] = {0, 0};  // next sequence number: client -> server, server -> client
  };

  nlohmann::json expect_call(const Call& c, ExpectedAudio& audio) const;
  void sip_over_tcp(int64_t t_us, const Ep& src, const Ep& dst, const std::string& msg);
  void tcp_segment(int64_t t_us, const Ep& src, const Ep& dst, uint32_t seq, uint32_t ack, uint8_t flags,
                   std::string_view payload);
  void emit_stream(const std::vector<RtpPacket>& wire);

  std::string name_;
  Link link_;
  uint32_t ip_id_ = 1;
  std::vector<Frame> frames_;
  std::vector<Call> calls_;
  std::vector<Stream> unbound_;
  std::vector<SipClaim> sip_claims_;
  std::optional<TcpPlan> tcp_;
  std::vector<TcpConnection> tcp_connections_;
};

// "2024-01-02T10:11:12.345Z" (milliseconds truncated).
std::string iso8601_ms(int64_t t_us);
// Microseconds since the epoch of a UTC calendar time.
int64_t utc_us(int year, int month, int day, int hour, int minute, int second);
// 16 hex digits naming a call's expected files: FNV-1a of Call-ID and INVITE time.
std::string call_file_hash(const std::string& call_id, int64_t invite_us);
// Stereo 16-bit PCM WAV.
void write_wav(const std::string& path, int rate, const std::vector<int16_t>& left,
               const std::vector<int16_t>& right);

}  // namespace cv::gen
