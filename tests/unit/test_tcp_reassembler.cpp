// TCP stream reassembly: order, retransmissions, wrap-around, pickup, gaps,
// close, every limit and idle expiry; then SIP over TCP through the tracker.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "capture/call/call_tracker.h"
#include "capture/sip/sip_message.h"
#include "capture/tcp/tcp_reassembler.h"

namespace cv {
namespace {

constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kAck = 0x10, kPsh = 0x08;

Endpoint ep(const char* ip, uint16_t port) { return Endpoint{*IpAddress::parse(ip), port}; }
const Endpoint kClient = ep("10.0.0.1", 40000);
const Endpoint kServer = ep("10.0.0.2", 5060);

// Every byte offered, and what the consumer took: either all of it (raw) or
// whole SIP messages framed with the stream parser.
class Collector : public TcpStreamConsumer {
 public:
  explicit Collector(bool sip) : sip_(sip) {}
  TcpConsumed on_stream_data(const TcpDelivery& d, AnomalyCounters&) override {
    ++calls;
    const std::string_view text = as_text(d.data);
    if (!d.synchronized) ++unsynchronized_deliveries;
    if (!sip_) {
      stream[d.src == kClient ? 0 : 1] += std::string(text);
      return {text.size(), true};
    }
    size_t pos = 0;
    bool synced = d.synchronized;
    while (pos < text.size()) {
      std::string_view rest = text.substr(pos);
      if (!synced) {
        // The next line that starts like SIP.
        size_t line = 0;
        bool found = false;
        for (;;) {
          if (looks_like_sip(rest.substr(line))) {
            found = true;
            break;
          }
          const size_t eol = rest.find('\n', line);
          if (eol == std::string_view::npos) break;
          line = eol + 1;
        }
        if (!found) return {pos + line, false};
        pos += line;
        synced = true;
        continue;
      }
      SipMessage msg;
      std::string scratch;
      auto r = parse_sip_message(rest, SipFraming::kStream, msg, scratch);
      if (r.status == SipParseStatus::kIncomplete) {
        pos += r.skipped;
        break;
      }
      if (r.status == SipParseStatus::kInvalid) {
        ++invalid;
        const size_t eol = rest.find('\n', r.skipped);
        pos += eol == std::string_view::npos ? rest.size() : eol + 1;
        synced = false;
        continue;
      }
      messages.push_back(std::string(msg.call_id) + "|" + std::string(msg.body));
      frames.push_back(d.frame);
      pos += r.consumed;
    }
    return {pos, synced};
  }

  std::string stream[2];              // raw mode: bytes per direction (client, server)
  std::vector<std::string> messages;  // "call-id|body"
  std::vector<uint64_t> frames;
  int calls = 0;
  int invalid = 0;
  int unsynchronized_deliveries = 0;

 private:
  bool sip_;
};

std::string sip_message(const std::string& call_id, const std::string& body = "") {
  std::string m = "INVITE sip:2001@pbx SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK" + call_id +
                  "\r\nFrom: <sip:1001@pbx>;tag=a\r\nTo: <sip:2001@pbx>\r\nCall-ID: " + call_id +
                  "\r\nCSeq: 1 INVITE\r\n";
  if (!body.empty()) m += "Content-Type: application/sdp\r\n";
  return m + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Feeds segments; keeps each payload alive for the call only, as a capture would.
struct Feeder {
  explicit Feeder(TcpStreamReassembler& reassembler) : r(reassembler) {}
  TcpStreamReassembler& r;
  AnomalyCounters anomalies;
  uint64_t frame = 0;
  int64_t now_ns = 1'000 * kNsPerSec;

  bool send(const Endpoint& src, const Endpoint& dst, uint32_t seq, const std::string& data,
            uint8_t flags = kAck | kPsh, uint32_t ack = 0, bool may_create = true) {
    DecodedPacket p;
    p.ts = Timestamp{now_ns};
    p.frame = ++frame;
    p.src = src;
    p.dst = dst;
    p.transport = Transport::kTcp;
    p.tcp.seq = seq;
    p.tcp.ack = ack;
    p.tcp.flags = flags;
    std::vector<std::byte> copy(data.size());
    if (!data.empty()) std::memcpy(copy.data(), data.data(), data.size());
    p.payload = Bytes(copy);
    return r.on_segment(p, may_create, anomalies);
  }
};

// Cuts [0, text.size()) into pieces at the given offsets.
std::vector<std::pair<size_t, std::string>> cut(const std::string& text, std::vector<size_t> at) {
  std::vector<std::pair<size_t, std::string>> out;
  at.push_back(text.size());
  size_t prev = 0;
  for (size_t a : at) {
    out.emplace_back(prev, text.substr(prev, a - prev));
    prev = a;
  }
  return out;
}

TEST(TcpReassembler, InOrderSegmentsThatCompleteMessagesAreNeverCopied) {
  Collector c(true);
  TcpStreamReassembler r(TcpLimits{}, c);
  Feeder f(r);
  const uint32_t isn = 1000;
  ASSERT_TRUE(f.send(kClient, kServer, isn, "", kSyn));
  uint32_t seq = isn + 1;
  for (const char* id : {"a", "b", "c"}) {
    const std::string m = sip_message(id, "v=0\r\n");
    f.send(kClient, kServer, seq, m);
    seq += m.size();
  }
  EXPECT_EQ(c.messages, (std::vector<std::string>{"a|v=0\r\n", "b|v=0\r\n", "c|v=0\r\n"}));
  EXPECT_EQ(r.stats().copied_bytes, 0u);
  EXPECT_EQ(r.stats().bytes_held, 0u);
  EXPECT_EQ(f.anomalies.total, 0u);
}

TEST(TcpReassembler, ReversedSegmentsComeOutInOrder) {
  Collector c(false);
  TcpStreamReassembler r(TcpLimits{}, c);
  Feeder f(r);
  std::string text;
  for (int i = 0; i < 200; ++i) text += static_cast<char>('A' + i % 26);
  f.send(kClient, kServer, 99, "", kSyn);
  auto pieces = cut(text, {10, 50, 51, 120, 199});
  std::reverse(pieces.begin(), pieces.end());
  for (const auto& [off, piece] : pieces) f.send(kClient, kServer, 100 + static_cast<uint32_t>(off), piece);
  EXPECT_EQ(c.stream[0], text);
  EXPECT_EQ(r.stats().out_of_order, 5u);
  EXPECT_EQ(r.stats().bytes_held, 0u);
}

TEST(TcpReassembler, EveryPermutationOfFiveSegmentsGivesTheSameMessages) {
  const std::string text = sip_message("p1", "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\n") + sip_message("p2");
  const auto pieces = cut(text, {7, 60, 61, text.size() / 2 + 3});
  std::vector<size_t> order(pieces.size());
  std::iota(order.begin(), order.end(), 0);
  int runs = 0;
  do {
    Collector c(true);
    TcpStreamReassembler r(TcpLimits{}, c);
    Feeder f(r);
    f.send(kClient, kServer, 4999, "", kSyn);
    for (size_t i : order)
      f.send(kClient, kServer, 5000 + static_cast<uint32_t>(pieces[i].first), pieces[i].second);
    ASSERT_EQ(c.messages, (std::vector<std::string>{"p1|v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\n", "p2|"}))
        << "order " << ::testing::PrintToString(order);
    ASSERT_EQ(r.stats().bytes_held, 0u);
    ++runs;
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(runs, 120);
}

TEST(TcpReassembler, DuplicatesAndOverlappingRetransmissionsAreTrimmed) {
  std::string text;
  for (int i = 0; i < 3000; ++i) text += static_cast<char>('a' + (i * 7) % 26);
  std::mt19937 rng(42);
  for (int trial = 0; trial < 200; ++trial) {
    Collector c(false);
    TcpStreamReassembler r(TcpLimits{}, c);
    Feeder f(r);
    const uint32_t isn = static_cast<uint32_t>(rng());
    f.send(kClient, kServer, isn, "", kSyn);
    // Random overlapping ranges covering the text, sent in random order,
    // some twice.
    std::vector<std::pair<size_t, size_t>> ranges;
    for (size_t at = 0; at < text.size();) {
      const size_t len = 1 + rng() % 400;
      const size_t back = std::min<size_t>(at, rng() % 50);
      ranges.emplace_back(at - back, std::min(text.size(), at + len) - (at - back));
      at += len;
    }
    const size_t n = ranges.size();
    for (size_t i = 0; i < n / 3; ++i) ranges.push_back(ranges[rng() % n]);
    std::shuffle(ranges.begin(), ranges.end(), rng);
    for (const auto& [off, len] : ranges)
      f.send(kClient, kServer, isn + 1 + static_cast<uint32_t>(off), text.substr(off, len));
    ASSERT_EQ(c.stream[0], text) << "trial " << trial;
    ASSERT_EQ(r.stats().bytes_held, 0u);
    ASSERT_GT(r.stats().retransmitted + r.stats().overlaps_trimmed, 0u);
  }
}

TEST(TcpReassembler, SeveralMessagesInOneSegmentAndKeepAlives) {
  Collector c(true);
  TcpStreamReassembler r(TcpLimits{}, c);
  Feeder f(r);
  f.send(kClient, kServer, 0, "", kSyn);
  const std::string seg = sip_message("m1") + "\r\n\r\n" + sip_message("m2", "v=0\r\n") + sip_message("m3");
  f.send(kClient, kServer, 1, seg);
  EXPECT_EQ(c.messages, (std::vector<std::string>{"m1|", "m2|v=0\r\n", "m3|"}));
  EXPECT_EQ(r.stats().copied_bytes, 0u);
}

TEST(TcpReassembler, OneMessageOverOneByteSegments) {
  Collector c(true);
  TcpStreamReassembler r(TcpLimits{}, c);
  Feeder f(r);
  const std::string m = sip_message("bytes", "v=0\r\ns=-\r\n");
  f.send(kClient, kServer, 7, "", kSyn);
  for (size_t i = 0; i < m.size(); ++i) {
    f.send(kClient, kServer, 8 + static_cast<uint32_t>(i), m.substr(i, 1));
    if (i + 1 < m.size()) {
      ASSERT_TRUE(c.messages.empty()) << i;
    }
  }
  ASSERT_EQ(c.messages, std::vector<std::string>{"bytes|v=0\r\ns=-\r\n"});
  EXPECT_EQ(c.frames.back(), m.size() + 1);  // completed by the last byte's frame
  EXPECT_EQ(r.stats().bytes_held, 0u);
}

TEST(TcpReassembler, ContentLengthBodySplitWaitsForTheWholeBody) {
  const std::string body =
      "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n";
  const std::string m = sip_message("body", body);
  const size_t body_at = m.size() - body.size();
  for (size_t split : {body_at - 2, body_at, body_at + 1, body_at + 20, m.size() - 1}) {
    Collector c(true);
    TcpStreamReassembler r(TcpLimits{}, c);
    Feeder f(r);
    f.send(kClient, kServer, 0, "", kSyn);
    f.send(kClient, kServer, 1, m.substr(0, split));
    EXPECT_TRUE(c.messages.empty()) << split;
    EXPECT_EQ(r.stats().bytes_held, split);
    f.send(kClient, kServer, 1 + static_cast<uint32_t>(split), m.substr(split) + sip_message("next"));
    EXPECT_EQ(c.messages, (std::vector<std::string>{"body|" + body, "next|"})) << split;
    EXPECT_EQ(r.stats().bytes_held, 0u);
  }
}

TEST(TcpReassembler, SequenceNumbersWrapAround) {
  const std::string m = sip_message("wrap", "v=0\r\n") + sip_message("after");
  for (uint32_t isn : {0xFFFFFF00u, 0xFFFFFFFFu, 0xFFFFFFFEu - 40}) {
    Collector c(true);
    TcpStreamReassembler r(TcpLimits{}, c);
    Feeder f(r);
    f.send(kClient, kServer, isn, "", kSyn);
    auto pieces = cut(m, {30, 120, 200});
    std::swap(pieces[1], pieces[2]);  // out of order across the wrap, too
    for (const auto& [off, piece] : pieces)
      f.send(kClient, kServer, isn + 1 + static_cast<uint32_t>(off), piece);
    EXPECT_EQ(c.messages, (std::vector<std::string>{"wrap|v=0\r\n", "after|"})) << isn;
    // A retransmission from before the wrap is recognised as old.
    f.send(kClient, kServer, isn + 1, m.substr(0, 50));
    EXPECT_EQ(c.messages.size(), 2u);
    EXPECT_EQ(r.stats().gaps, 0u);
  }
}

TEST(TcpReassembler, MidStreamPickupResynchronisesOnAStartLine) {
  Collector c(true);
  TcpStreamReassembler r(TcpLimits{}, c);
  Feeder f(r);
  const std::string earlier = sip_message("lost-start", "v=0\r\ns=-\r\n");
  // Capture starts inside a message: its tail, then two whole ones.
  const std::string tail = earlier.substr(40);
  f.send(kClient, kServer, 777, tail + sip_message("first"));
  f.send(kClient, kServer, 777 + static_cast<uint32_t>(tail.size() + sip_message("first").size()),
         sip_message("second"));
  EXPECT_EQ(c.messages, (std::vector<std::string>{"first|", "second|"}));
  EXPECT_EQ(r.stats().mid_stream_pickups, 1u);
  EXPECT_EQ(c.unsynchronized_deliveries, 1);
  EXPECT_EQ(c.invalid, 0);
  // A segment that does not start like SIP on an untracked connection is
  // not followed when the caller says so.
  EXPECT_FALSE(f.send(ep("10.0.0.9", 1234), ep("10.0.0.8", 80), 1, "GET / HTTP/1.1\r\n", kAck, 0, false));
  EXPECT_EQ(r.stats().connections_held, 1u);
}

TEST(TcpReassembler, AGapAcknowledgedByThePeerIsSkippedAndCounted) {
  Collector c(true);
  TcpStreamReassembler r(TcpLimits{}, c);
  Feeder f(r);
  const std::string a = sip_message("a"), b = sip_message("b-lost"), c1 = sip_message("c"),
                    d = sip_message("d");
  const uint32_t s0 = 1;
  f.send(kClient, kServer, 0, "", kSyn);
  f.send(kServer, kClient, 5000, "", kSyn | kAck, 1);
  f.send(kClient, kServer, s0, a + b.substr(0, 30));  // b's start, then b's rest is lost
  const uint32_t s_c = s0 + static_cast<uint32_t>(a.size() + b.size());
  f.send(kClient, kServer, s_c, c1);
  f.send(kClient, kServer, s_c + static_cast<uint32_t>(c1.size()), d);
  EXPECT_EQ(c.messages, std::vector<std::string>{"a|"});
  // The server acknowledges everything: the rest of b never reached the capture.
  f.send(kServer, kClient, 5001, "", kAck, s_c + static_cast<uint32_t>(c1.size() + d.size()));
  EXPECT_EQ(c.messages, (std::vector<std::string>{"a|", "c|", "d|"}));
  EXPECT_EQ(r.stats().gaps, 1u);
  EXPECT_EQ(r.stats().gap_bytes, b.size() - 30);
  EXPECT_EQ(f.anomalies.get(Anomaly::kTcpGap), 1u);
  EXPECT_EQ(r.stats().bytes_held, 0u);
  // An acknowledgement of what was seen skips nothing.
  f.send(kServer, kClient, 5001, "", kAck, s_c + static_cast<uint32_t>(c1.size() + d.size()));
  EXPECT_EQ(r.stats().gaps, 1u);
}

TEST(TcpReassembler, HeldDataAfterAHoleIsDeliveredAtFinish) {
  Collector c(true);
  TcpStreamReassembler r(TcpLimits{}, c);
  Feeder f(r);
  f.send(kClient, kServer, 0, "", kSyn);
  f.send(kClient, kServer, 101, sip_message("after-hole"));
  EXPECT_TRUE(c.messages.empty());
  r.finish();
  EXPECT_EQ(c.messages, std::vector<std::string>{"after-hole|"});
  EXPECT_EQ(r.stats().gaps, 1u);
  EXPECT_EQ(r.background_anomalies().get(Anomaly::kTcpGap), 1u);
  EXPECT_EQ(r.stats().connections_held, 0u);
}

TEST(TcpReassembler, FinBothWaysClosesAndRstDropsTheConnection) {
  Collector c(true);
  TcpStreamReassembler r(TcpLimits{}, c);
  Feeder f(r);
  const std::string m = sip_message("fin");
  f.send(kClient, kServer, 0, "", kSyn);
  f.send(kServer, kClient, 900, "", kSyn | kAck, 1);
  f.send(kClient, kServer, 1, m.substr(0, 20) + "", kAck);
  f.send(kClient, kServer, 1 + static_cast<uint32_t>(m.size()), "", kFin | kAck);  // FIN before the rest
  EXPECT_EQ(r.stats().connections_held, 1u);
  f.send(kClient, kServer, 21, m.substr(20));
  EXPECT_EQ(c.messages, std::vector<std::string>{"fin|"});
  // Data after the FIN is not believed.
  f.send(kClient, kServer, 1 + static_cast<uint32_t>(m.size()), sip_message("after-fin"));
  EXPECT_EQ(c.messages.size(), 1u);
  f.send(kServer, kClient, 901, "", kFin | kAck);
  EXPECT_EQ(r.stats().connections_held, 0u);
  EXPECT_EQ(r.stats().connections_closed, 1u);
  // A pure ACK after the close creates nothing.
  EXPECT_FALSE(f.send(kClient, kServer, 2 + static_cast<uint32_t>(m.size()), "", kAck));

  // RST: held bytes are given up, the connection is forgotten; what follows
  // is a mid-stream pickup.
  f.send(kClient, kServer, 5000, "", kSyn);
  f.send(kClient, kServer, 5001, sip_message("partial").substr(0, 30));
  EXPECT_GT(r.stats().bytes_held, 0u);
  f.send(kServer, kClient, 0, "", kRst);
  EXPECT_EQ(r.stats().connections_held, 0u);
  EXPECT_EQ(r.stats().bytes_held, 0u);
  f.send(kClient, kServer, 9000, sip_message("new"));
  EXPECT_EQ(c.messages.back(), "new|");
  EXPECT_EQ(r.stats().mid_stream_pickups, 1u);
}

TEST(TcpReassembler, ANewSynOnTheSameAddressesStartsOver) {
  Collector c(true);
  TcpStreamReassembler r(TcpLimits{}, c);
  Feeder f(r);
  f.send(kClient, kServer, 100, "", kSyn);
  f.send(kClient, kServer, 101, sip_message("old").substr(0, 25));
  f.send(kClient, kServer, 100, "", kSyn);  // retransmitted SYN: nothing changes
  EXPECT_EQ(r.stats().bytes_held, 25u);
  f.send(kClient, kServer, 70000, "", kSyn);  // the port is reused by a new connection
  EXPECT_EQ(r.stats().bytes_held, 0u);
  f.send(kClient, kServer, 70001, sip_message("new"));
  EXPECT_EQ(c.messages, std::vector<std::string>{"new|"});
  EXPECT_EQ(r.stats().connections, 1u);
}

TEST(TcpReassembler, TooManyHeldSegmentsSkipTheOldestHole) {
  Collector c(true);
  TcpLimits limits;
  limits.max_connection_segments = 4;
  TcpStreamReassembler r(limits, c);
  Feeder f(r);
  f.send(kClient, kServer, 0, "", kSyn);
  // A hole of 10 bytes, then whole messages, each its own segment.
  uint32_t seq = 11;
  for (int i = 0; i < 5; ++i) {
    const std::string m = sip_message("m" + std::to_string(i));
    f.send(kClient, kServer, seq, m);
    seq += m.size();
  }
  EXPECT_EQ(f.anomalies.get(Anomaly::kTcpSegmentOverflow), 1u);
  EXPECT_EQ(r.stats().gaps, 1u);
  EXPECT_EQ(c.messages.size(), 5u);
  EXPECT_EQ(r.stats().bytes_held, 0u);
}

TEST(TcpReassembler, AConnectionOverItsByteLimitDropsItsOldestData) {
  Collector c(true);
  TcpLimits limits;
  limits.max_connection_bytes = 2000;
  TcpStreamReassembler r(limits, c);
  Feeder f(r);
  f.send(kClient, kServer, 0, "", kSyn);
  // A message announcing a body that will not fit the limit.
  const std::string big = sip_message("big", std::string(5000, 'x'));
  uint32_t seq = 1;
  for (size_t at = 0; at < big.size(); at += 1000) {
    f.send(kClient, kServer, seq, big.substr(at, 1000));
    seq += static_cast<uint32_t>(std::min<size_t>(1000, big.size() - at));
  }
  EXPECT_GE(f.anomalies.get(Anomaly::kTcpConnectionOverflow), 1u);
  EXPECT_LE(r.stats().bytes_held, 2000u);
  EXPECT_GT(r.stats().bytes_dropped, 0u);
  // The stream carries on at the next message.
  f.send(kClient, kServer, seq, sip_message("small"));
  EXPECT_EQ(c.messages, std::vector<std::string>{"small|"});
}

TEST(TcpReassembler, TheConnectionTableEvictsTheLeastRecentlyActive) {
  Collector c(true);
  TcpLimits limits;
  limits.max_connections = 3;
  TcpStreamReassembler r(limits, c);
  Feeder f(r);
  for (uint16_t port = 1; port <= 3; ++port) f.send(ep("10.0.0.1", port), kServer, 0, "", kSyn);
  f.send(ep("10.0.0.1", 1), kServer, 1, "INV");  // connection 1 becomes the most recent
  f.send(ep("10.0.0.1", 4), kServer, 0, "", kSyn);
  EXPECT_EQ(f.anomalies.get(Anomaly::kTcpTableFull), 1u);
  EXPECT_EQ(r.stats().connections_held, 3u);
  EXPECT_EQ(r.stats().connections_evicted, 1u);
  // Connection 2 was evicted: its next data is a pickup; connection 1 kept its bytes.
  f.send(ep("10.0.0.1", 2), kServer, 1, sip_message("two"));
  EXPECT_EQ(r.stats().mid_stream_pickups, 1u);
  f.send(ep("10.0.0.1", 1), kServer, 4, sip_message("one").substr(3));
  EXPECT_EQ(c.messages, (std::vector<std::string>{"two|", "one|"}));
}

TEST(TcpReassembler, TotalMemoryEvictsTheLeastRecentlyActive) {
  Collector c(true);
  TcpLimits limits;
  limits.max_bytes = 1000;
  limits.max_connection_bytes = 600;
  TcpStreamReassembler r(limits, c);
  Feeder f(r);
  const std::string partial = sip_message("p", std::string(2000, 'y')).substr(0, 400);
  for (uint16_t port = 1; port <= 3; ++port) {
    f.send(ep("10.0.0.1", port), kServer, 0, "", kSyn);
    f.send(ep("10.0.0.1", port), kServer, 1, partial);
  }
  EXPECT_EQ(f.anomalies.get(Anomaly::kTcpMemoryFull), 1u);
  EXPECT_EQ(r.stats().connections_held, 2u);
  EXPECT_EQ(r.stats().bytes_held, 800u);
  EXPECT_EQ(r.stats().bytes_dropped, 400u);
}

TEST(TcpReassembler, IdleConnectionsExpireByPacketTime) {
  Collector c(true);
  TcpLimits limits;
  limits.idle_timeout_ns = 60 * kNsPerSec;
  TcpStreamReassembler r(limits, c);
  Feeder f(r);
  f.send(kClient, kServer, 0, "", kSyn);
  f.send(kClient, kServer, 51, sip_message("held"));  // after a hole
  f.now_ns += 30 * kNsPerSec;
  f.send(ep("10.0.0.3", 9), kServer, 0, "", kSyn);
  r.expire(Timestamp{f.now_ns + 29 * kNsPerSec});
  EXPECT_EQ(r.stats().connections_held, 2u);
  r.expire(Timestamp{f.now_ns + 30 * kNsPerSec});
  EXPECT_EQ(r.stats().connections_held, 1u);
  EXPECT_EQ(r.stats().connections_expired, 1u);
  EXPECT_EQ(c.messages, std::vector<std::string>{"held|"});  // delivered before it was forgotten
  r.expire(Timestamp{f.now_ns + 60 * kNsPerSec});
  EXPECT_EQ(r.stats().connections_held, 0u);
  EXPECT_EQ(r.stats().bytes_held, 0u);
}

// ---- SIP over TCP through the call tracker --------------------------------

struct Events : CallEventSink {
  std::vector<CallInfo> ended;
  std::vector<std::string> started;
  int media = 0;
  void on_call_started(const CallInfo& c) override { started.push_back(c.call_id); }
  void on_media(const MediaPacket&) override { ++media; }
  void on_call_ended(const CallInfo& c) override { ended.push_back(c); }
};

std::string invite_with_sdp(const std::string& call_id) {
  const std::string body =
      "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n";
  return "INVITE sip:2001@pbx;transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK1\r\n"
         "From: <sip:1001@pbx>;tag=caller\r\nTo: <sip:2001@pbx>\r\nCall-ID: " +
         call_id + "\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string ok_with_sdp(const std::string& call_id) {
  const std::string body =
      "v=0\r\no=- 2 2 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 5000 RTP/AVP 8\r\n";
  return "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:1001@pbx>;tag=caller\r\n"
         "To: <sip:2001@pbx>;tag=callee\r\nCall-ID: " +
         call_id + "\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

struct TrackerFeeder {
  explicit TrackerFeeder(CallTracker& tracker) : t(tracker) {}
  CallTracker& t;
  AnomalyCounters anomalies;
  uint64_t frame = 0;
  void tcp(const Endpoint& src, const Endpoint& dst, uint32_t seq, const std::string& data,
           uint8_t flags = kAck | kPsh) {
    DecodedPacket p;
    p.ts = Timestamp{1'000 * kNsPerSec + static_cast<int64_t>(frame) * kNsPerMs};
    p.frame = ++frame;
    p.src = src;
    p.dst = dst;
    p.transport = Transport::kTcp;
    p.tcp.seq = seq;
    p.tcp.flags = flags;
    p.payload = as_bytes(data);
    t.on_packet(p, anomalies);
  }
  void rtp(const Endpoint& src, const Endpoint& dst, uint16_t seq) {
    uint8_t b[12 + 160] = {
        0x80, 8,   static_cast<uint8_t>(seq >> 8), static_cast<uint8_t>(seq), 0, 0, 0, 0, 0x11, 0x22,
        0x33, 0x44};
    DecodedPacket p;
    p.ts = Timestamp{1'000 * kNsPerSec + static_cast<int64_t>(frame) * kNsPerMs};
    p.frame = ++frame;
    p.src = src;
    p.dst = dst;
    p.transport = Transport::kUdp;
    p.payload = Bytes(reinterpret_cast<const std::byte*>(b), sizeof b);
    t.on_packet(p, anomalies);
  }
};

TEST(SipOverTcp, ASegmentedReorderedCallIsTrackedLikeUdp) {
  Events events;
  CallTracker tracker(CallTrackerConfig{}, events);
  TrackerFeeder f(tracker);
  const std::string invite = invite_with_sdp("tcp-call"), ok = ok_with_sdp("tcp-call");
  f.tcp(kClient, kServer, 0, "", kSyn);
  f.tcp(kServer, kClient, 500, "", kSyn | kAck);
  // INVITE in three segments, the last two swapped and one retransmitted.
  f.tcp(kClient, kServer, 1, invite.substr(0, 100));
  f.tcp(kClient, kServer, 1 + 250, invite.substr(250));
  f.tcp(kClient, kServer, 1 + 100, invite.substr(100, 150));
  f.tcp(kClient, kServer, 1 + 100, invite.substr(100, 150));
  ASSERT_EQ(events.started, std::vector<std::string>{"tcp-call"});
  // 200 OK with BYE-less RTP both ways.
  f.tcp(kServer, kClient, 501, ok + "\r\n\r\n");
  f.rtp(ep("10.0.0.1", 4000), ep("10.0.0.2", 5000), 1);
  f.rtp(ep("10.0.0.2", 5000), ep("10.0.0.1", 4000), 1);
  EXPECT_EQ(events.media, 2);
  EXPECT_EQ(tracker.stats().sip_over_tcp, 2u);
  EXPECT_EQ(tracker.stats().rtp_unmatched, 0u);
  EXPECT_EQ(f.anomalies.total, 0u);
  tracker.finish();
  ASSERT_EQ(events.ended.size(), 1u);
  EXPECT_EQ(events.ended[0].final_status, 200);
  EXPECT_EQ(events.ended[0].caller_signalling, kClient);
}

TEST(SipOverTcp, AnyPortIsFollowedOnlyWhenTheDataStartsLikeSip) {
  Events events;
  CallTracker tracker(CallTrackerConfig{}, events);
  TrackerFeeder f(tracker);
  const Endpoint a = ep("10.1.0.1", 33000), b = ep("10.1.0.2", 6060);
  f.tcp(a, b, 0, "", kSyn);  // not a SIP port: no state yet
  EXPECT_EQ(tracker.tcp_stats().connections, 0u);
  f.tcp(a, b, 1, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(tracker.tcp_stats().connections, 0u);
  const std::string invite = invite_with_sdp("port-6060");
  f.tcp(b, a, 1, invite.substr(0, 80));  // another direction of another flow starting like SIP
  f.tcp(b, a, 81, invite.substr(80));
  EXPECT_EQ(events.started, std::vector<std::string>{"port-6060"});
  // Malformed framing on a stream is counted and the stream carries on.
  f.tcp(b, a, 1 + static_cast<uint32_t>(invite.size()),
        "OPTIONS sip:x SIP/2.0\r\nContent-Length: 12x\r\n\r\n" + invite_with_sdp("second"));
  EXPECT_EQ(f.anomalies.get(Anomaly::kSipMalformed), 1u);
  EXPECT_EQ(events.started.size(), 2u);
}

}  // namespace
}  // namespace cv
