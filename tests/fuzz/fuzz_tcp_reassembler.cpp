// libFuzzer target for TCP stream reassembly and SIP framing on streams: a
// sequence of segments with arbitrary sequence numbers, acknowledgements,
// flags and payloads between a few endpoints goes through a CallTracker
// (whose TcpStreamReassembler feeds the stream SIP parser) with small limits,
// so that holes, overlaps, wrap-around, pickups, evictions, expiry and
// resynchronisation all happen. After every segment the bounds are checked.
//
// Input: records of
//   [1 byte: connection (low 2 bits), direction (bit 2), time step (bits 3-7, x 10 s / 4)]
//   [1 byte: TCP flags] [4 bytes: seq, relative to the direction's last seq]
//   [4 bytes: ack] [2 bytes: length (mod 2048)] [payload]
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "capture/call/call_tracker.h"

namespace {

class NullSink final : public cv::CallEventSink {
 public:
  void on_call_started(const cv::CallInfo& c) override {
    if (c.call_id.empty()) __builtin_trap();
    ++open_;
  }
  void on_media(const cv::MediaPacket&) override {}
  void on_call_ended(const cv::CallInfo&) override {
    if (open_ == 0) __builtin_trap();
    --open_;
  }
  uint64_t open_ = 0;
};

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  NullSink sink;
  cv::CallTrackerConfig config;
  config.max_calls = 8;
  config.tcp.max_connections = 3;
  config.tcp.max_bytes = 16 * 1024;
  config.tcp.max_connection_bytes = 8 * 1024;
  config.tcp.max_connection_segments = 6;
  config.tcp.idle_timeout_ns = 60 * cv::kNsPerSec;
  cv::CallTracker tracker(config, sink);
  cv::AnomalyCounters anomalies;

  // Connection 3 uses a port that is not a SIP port, so following it depends
  // on its data starting like SIP.
  const cv::Endpoint clients[4] = {
      {*cv::IpAddress::parse("10.0.0.1"), 40000},
      {*cv::IpAddress::parse("10.0.0.2"), 40001},
      {*cv::IpAddress::parse("2001:db8::1"), 40002},
      {*cv::IpAddress::parse("10.0.0.4"), 40003},
  };
  const cv::Endpoint servers[4] = {
      {*cv::IpAddress::parse("10.0.1.1"), 5060},
      {*cv::IpAddress::parse("10.0.1.1"), 5060},
      {*cv::IpAddress::parse("2001:db8::2"), 5060},
      {*cv::IpAddress::parse("10.0.1.4"), 6060},
  };
  uint32_t last_seq[4][2] = {};
  int64_t now = 1'000'000 * cv::kNsPerSec;
  uint64_t frame = 0;
  std::vector<std::byte> payload;
  payload.reserve(2048);

  size_t pos = 0;
  while (size - pos >= 12) {
    const uint8_t* h = data + pos;
    pos += 12;
    const int conn = h[0] & 3;
    const int dir = (h[0] >> 2) & 1;
    now += int64_t{h[0] >> 3} * 10 * cv::kNsPerSec / 4;
    const size_t want = ((size_t{h[10]} << 8) | h[11]) % 2048;
    const size_t len = std::min(want, size - pos);
    payload.assign(reinterpret_cast<const std::byte*>(data + pos),
                   reinterpret_cast<const std::byte*>(data + pos + len));
    pos += len;

    cv::DecodedPacket p;
    p.ts = cv::Timestamp{now};
    p.frame = ++frame;
    p.src = dir ? servers[conn] : clients[conn];
    p.dst = dir ? clients[conn] : servers[conn];
    p.transport = cv::Transport::kTcp;
    p.tcp.flags = h[1];
    // Mostly near the previous segment, so the stream actually assembles.
    last_seq[conn][dir] += be32(h + 2);
    p.tcp.seq = last_seq[conn][dir];
    last_seq[conn][dir] += static_cast<uint32_t>(len);
    p.tcp.ack = be32(h + 6);
    p.payload = cv::Bytes(payload);
    tracker.on_packet(p, anomalies);
    tracker.advance_time(p.ts);

    const cv::TcpStats& s = tracker.tcp_stats();
    if (s.bytes_held > config.tcp.max_bytes) __builtin_trap();
    if (s.connections_held > config.tcp.max_connections) __builtin_trap();
    if (s.connections_held == 0 && s.bytes_held != 0) __builtin_trap();
  }
  tracker.finish();
  const cv::TcpStats& s = tracker.tcp_stats();
  if (s.connections_held != 0 || s.bytes_held != 0 || sink.open_ != 0) __builtin_trap();
  return 0;
}
