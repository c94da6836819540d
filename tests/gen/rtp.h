// RTP streams as a sender produces them, plus the impairments a network adds.
//
// A stream is one SSRC from one sender. The builder appends packets in the
// order the sender made them (generation order: sequence numbers increase by
// one per packet), then impairments rewrite what reaches the capture point:
// drops, reordering, duplicates. wire() gives the captured packets with
// capture times in capture order.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string_view>
#include <vector>

#include "tests/gen/audio.h"
#include "tests/gen/codecs.h"
#include "tests/gen/net.h"

namespace cv::gen {

enum class Codec : uint8_t { kPcmu, kPcma, kG722 };
std::string_view codec_name(Codec c);  // as callvault reports it: PCMU, PCMA, G722
inline int audio_rate(Codec c) { return c == Codec::kG722 ? 16000 : 8000; }
constexpr int kRtpClock = 8000;  // all three codecs (G.722's RTP clock is 8000 too)

enum class Channel : uint8_t { kCaller, kCallee };
inline std::string_view channel_name(Channel c) { return c == Channel::kCaller ? "caller" : "callee"; }

struct RtpPacket {
  enum class Kind : uint8_t { kAudio, kComfortNoise, kEvent };
  int64_t t_us = 0;
  Ep src, dst;
  uint32_t ssrc = 0;
  uint16_t seq = 0;
  uint64_t ext_seq = 0;  // wrap-free sequence number (first packet's seq + index)
  uint32_t ts = 0;
  uint8_t pt = 0;
  bool marker = false;
  Kind kind = Kind::kAudio;
  bool duplicate = false;  // a second copy of a packet already sent
  std::vector<uint8_t> payload;
};

// Appends the 12-byte RTP header and payload to `out`.
void serialize_rtp(const RtpPacket& p, std::vector<uint8_t>& out);

class RtpStream {
 public:
  struct Params {
    Codec codec = Codec::kPcmu;
    uint8_t pt = 0;
    uint8_t event_pt = 101;
    uint32_t ssrc = 0;
    uint16_t seq = 1000;
    uint32_t ts = 160000;
    Ep src, dst;
    int64_t t_us = 0;   // nominal capture time of the first packet
    int jitter_us = 0;  // each packet is delayed by 0..jitter_us (keep below 19 ms)
    uint64_t seed = 1;  // for jitter
    Channel channel = Channel::kCaller;
  };

  explicit RtpStream(Params p);

  // `packets` packets of 20 ms of `signal`, continuing where the previous
  // call left off in the signal (wrapping around at its end).
  void audio(const Signal& signal, int packets);
  // One comfort-noise packet (PT 13), then `gap_ms` without packets; the
  // next packet carries the marker bit.
  void comfort_noise(int gap_ms);
  // `gap_ms` without packets (silence suppression, hold); time and RTP
  // timestamp move on; the next packet carries the marker bit.
  void pause(int gap_ms);
  // An RFC 4733 event: one packet per 20 ms with the same RTP timestamp and
  // growing duration, then three end packets. Audio stops meanwhile.
  void dtmf(char digit, int duration_ms);
  // Later packets are sent from/to these addresses.
  void move(const Ep& src, const Ep& dst);

  // Impairments, by generation index (0 = first packet made).
  void drop(size_t index);
  void drop_random(double probability, uint64_t seed, size_t keep_head, size_t keep_tail);
  void drop_burst(size_t from, size_t count);
  // The packet at `index` arrives after the `distance` packets that follow it.
  void delay(size_t index, size_t distance);
  void duplicate(size_t index, int copies);

  [[nodiscard]] size_t generated() const { return gen_.size(); }
  [[nodiscard]] int64_t now_us() const { return nominal_us_; }  // nominal time of the next packet
  [[nodiscard]] const Params& params() const { return p_; }
  [[nodiscard]] uint16_t next_seq() const { return static_cast<uint16_t>(p_.seq + gen_.size()); }
  [[nodiscard]] uint32_t next_ts() const { return ts_; }

  // The captured packets in capture order, capture times non-decreasing.
  [[nodiscard]] std::vector<RtpPacket> wire() const;

 private:
  RtpPacket& add(RtpPacket::Kind kind, uint8_t pt, uint32_t ts);

  Params p_;
  std::vector<RtpPacket> gen_;
  std::vector<bool> dropped_;
  std::vector<std::pair<size_t, size_t>> delays_;
  std::vector<std::pair<size_t, int>> dups_;
  int64_t nominal_us_;
  uint32_t ts_;
  bool marker_ = true;  // the first packet of a stream carries the marker
  size_t signal_pos_ = 0;
  Ep src_, dst_;
  std::mt19937_64 rng_;
  std::unique_ptr<G722Encoder> g722_;
};

}  // namespace cv::gen
