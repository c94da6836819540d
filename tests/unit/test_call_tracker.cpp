// Dialog state, SDP media binding and RTP correlation, on hand-built packets.
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "capture/call/call_tracker.h"
#include "capture/call/direction.h"
#include "capture/sip/sip_dtmf.h"

namespace cv {
namespace {

struct Recorded {
  std::vector<CallInfo> ended;
  std::vector<std::pair<uint64_t, Channel>> media;  // call handle, channel
  std::vector<std::string> started;
};

class Sink : public CallEventSink {
 public:
  explicit Sink(Recorded& r) : r_(r) {}
  void on_call_started(const CallInfo& c) override { r_.started.push_back(c.call_id); }
  void on_media(const MediaPacket& p) override { r_.media.emplace_back(p.call->handle, p.channel); }
  void on_call_ended(const CallInfo& c) override { r_.ended.push_back(c); }

 private:
  Recorded& r_;
};

Endpoint ep(const char* ip, uint16_t port) { return Endpoint{*IpAddress::parse(ip), port}; }

std::string sdp(const char* ip, uint16_t port, const char* extra = "") {
  std::string body = std::string("v=0\r\no=- 1 1 IN IP4 ") + ip + "\r\ns=-\r\nc=IN IP4 " + ip +
                     "\r\nt=0 0\r\nm=audio " + std::to_string(port) +
                     " RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n" +
                     extra;
  return body;
}

std::string request(const std::string& method, const std::string& call_id, const std::string& from_tag,
                    const std::string& to_tag, int cseq, const std::string& body = "",
                    const std::string& cseq_method = "") {
  std::string m = method + " sip:2001@pbx SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK" +
                  std::to_string(cseq) + method + "\r\nFrom: \"Alice\" <sip:1001@pbx>;tag=" + from_tag +
                  "\r\nTo: <sip:2001@pbx>" + (to_tag.empty() ? "" : ";tag=" + to_tag) +
                  "\r\nCall-ID: " + call_id + "\r\nCSeq: " + std::to_string(cseq) + " " +
                  (cseq_method.empty() ? method : cseq_method) + "\r\n";
  if (!body.empty()) m += "Content-Type: application/sdp\r\n";
  m += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return m;
}

std::string response(int code, const std::string& call_id, const std::string& from_tag,
                     const std::string& to_tag, int cseq, const std::string& method,
                     const std::string& body = "") {
  std::string m = "SIP/2.0 " + std::to_string(code) + " X\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n" +
                  "From: <sip:1001@pbx>;tag=" + from_tag + "\r\nTo: <sip:2001@pbx>" +
                  (to_tag.empty() ? "" : ";tag=" + to_tag) + "\r\nCall-ID: " + call_id +
                  "\r\nCSeq: " + std::to_string(cseq) + " " + method + "\r\n";
  if (!body.empty()) m += "Content-Type: application/sdp\r\n";
  m += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return m;
}

class TrackerTest : public ::testing::Test {
 protected:
  TrackerTest() : sink(rec), tracker(config(), sink) {}
  static CallTrackerConfig config() {
    CallTrackerConfig c;
    c.dialog_timeout_ns = 60 * kNsPerSec;
    c.linger_ns = 2 * kNsPerSec;
    return c;
  }
  void sip(double t, const std::string& text, Endpoint src = ep("10.0.0.1", 5060),
           Endpoint dst = ep("10.0.0.2", 5060)) {
    buffers.push_back(text);
    send(t, src, dst, as_bytes(buffers.back()));
  }
  void rtp(double t, Endpoint src, Endpoint dst, uint16_t seq = 1, uint32_t ssrc = 0x1234) {
    auto& b = buffers.emplace_back(12 + 160, '\xff');
    b[0] = '\x80';
    b[1] = 0;
    b[2] = static_cast<char>(seq >> 8);
    b[3] = static_cast<char>(seq);
    b[8] = static_cast<char>(ssrc >> 24);
    b[9] = static_cast<char>(ssrc >> 16);
    b[10] = static_cast<char>(ssrc >> 8);
    b[11] = static_cast<char>(ssrc);
    send(t, src, dst, as_bytes(b));
  }
  void send(double t, Endpoint src, Endpoint dst, Bytes payload) {
    DecodedPacket p;
    p.ts = Timestamp{static_cast<int64_t>(t * kNsPerSec)};
    p.src = src;
    p.dst = dst;
    p.payload = payload;
    tracker.on_packet(p, anomalies);
    tracker.advance_time(p.ts);
  }

  Recorded rec;
  Sink sink;
  CallTracker tracker;
  AnomalyCounters anomalies;
  std::deque<std::string> buffers;
};

TEST_F(TrackerTest, BasicCallBindsBothDirections) {
  sip(0, request("INVITE", "c1", "ft", "", 1, sdp("10.0.0.1", 4000)));
  sip(0.1, response(200, "c1", "ft", "tt", 1, "INVITE", sdp("10.0.0.2", 5000)), ep("10.0.0.2", 5060),
      ep("10.0.0.1", 5060));
  rtp(0.2, ep("10.0.0.1", 4000), ep("10.0.0.2", 5000));
  rtp(0.2, ep("10.0.0.2", 5000), ep("10.0.0.1", 4000));
  rtp(0.3, ep("10.9.9.9", 1), ep("10.9.9.8", 2));  // nobody's
  sip(1, request("BYE", "c1", "ft", "tt", 2));
  tracker.finish();
  ASSERT_EQ(rec.ended.size(), 1u);
  EXPECT_EQ(rec.ended[0].end_reason, EndReason::kBye);
  EXPECT_EQ(rec.ended[0].caller, "1001");
  EXPECT_EQ(rec.ended[0].callee, "2001");
  EXPECT_EQ(rec.ended[0].end_time.ns, 1 * kNsPerSec);
  ASSERT_EQ(rec.media.size(), 2u);
  EXPECT_EQ(rec.media[0].second, Channel::kCaller);
  EXPECT_EQ(rec.media[1].second, Channel::kCallee);
  EXPECT_EQ(tracker.stats().rtp_unmatched, 1u);
}

TEST_F(TrackerTest, NatSourceIsLearnedFromSymmetricRtp) {
  sip(0, request("INVITE", "c1", "ft", "", 1, sdp("10.0.0.1", 4000)));
  // The callee's SDP names a private address that is never seen on the wire.
  sip(0.1, response(200, "c1", "ft", "tt", 1, "INVITE", sdp("192.168.1.10", 7000)));
  rtp(0.2, ep("203.0.113.5", 61000), ep("10.0.0.1", 4000));  // callee's voice via NAT
  rtp(0.2, ep("10.0.0.7", 9999),
      ep("203.0.113.5", 61000));  // caller side (via a relay port) to the learned address
  tracker.finish();
  ASSERT_EQ(rec.media.size(), 2u);
  EXPECT_EQ(rec.media[0].second, Channel::kCallee);
  EXPECT_EQ(rec.media[1].second, Channel::kCaller);
  // Both real sources were learned: the NAT address and the caller's relay port.
  EXPECT_EQ(tracker.stats().media_addresses_learned, 2u);
}

TEST_F(TrackerTest, AuthenticationRetryIsTheSameCall) {
  sip(0, request("INVITE", "c1", "ft", "", 1, sdp("10.0.0.1", 4000)));
  sip(0.05, response(407, "c1", "ft", "x", 1, "INVITE"));
  sip(0.1, request("INVITE", "c1", "ft", "", 2, sdp("10.0.0.1", 4000)));
  sip(0.2, response(200, "c1", "ft", "tt", 2, "INVITE", sdp("10.0.0.2", 5000)));
  sip(5, request("BYE", "c1", "ft", "tt", 3));
  tracker.finish();
  ASSERT_EQ(rec.ended.size(), 1u);
  EXPECT_EQ(rec.ended[0].end_reason, EndReason::kBye);
  EXPECT_EQ(rec.ended[0].final_status, 200);
}

TEST_F(TrackerTest, CancelAndRejection) {
  sip(0, request("INVITE", "c1", "ft", "", 1, sdp("10.0.0.1", 4000)));
  sip(0.1, response(180, "c1", "ft", "tt", 1, "INVITE"));
  sip(1, request("CANCEL", "c1", "ft", "", 1));
  sip(1.1, response(487, "c1", "ft", "tt", 1, "INVITE"));
  sip(2, request("INVITE", "c2", "gt", "", 1, sdp("10.0.0.1", 4002)));
  sip(2.1, response(486, "c2", "gt", "t2", 1, "INVITE"));
  tracker.finish();
  ASSERT_EQ(rec.ended.size(), 2u);
  EXPECT_EQ(rec.ended[0].end_reason, EndReason::kCancel);
  EXPECT_EQ(rec.ended[1].end_reason, EndReason::kRejected);
  EXPECT_EQ(rec.ended[1].final_status, 486);
}

TEST_F(TrackerTest, CallIdReuseStartsANewCall) {
  sip(0, request("INVITE", "same", "ft", "", 1, sdp("10.0.0.1", 4000)));
  sip(0.1, response(200, "same", "ft", "tt", 1, "INVITE", sdp("10.0.0.2", 5000)));
  sip(1, request("BYE", "same", "ft", "tt", 2));
  sip(600, request("INVITE", "same", "ft2", "", 1, sdp("10.0.0.1", 4000)));
  sip(600.1, response(200, "same", "ft2", "tt2", 1, "INVITE", sdp("10.0.0.2", 5000)));
  rtp(601, ep("10.0.0.1", 4000), ep("10.0.0.2", 5000));
  tracker.finish();
  ASSERT_EQ(rec.ended.size(), 2u);
  EXPECT_NE(rec.ended[0].handle, rec.ended[1].handle);
  EXPECT_EQ(rec.ended[0].end_reason, EndReason::kBye);
  EXPECT_EQ(rec.ended[1].end_reason, EndReason::kCaptureEnd);
  ASSERT_EQ(rec.media.size(), 1u);
  EXPECT_EQ(rec.media[0].first, rec.ended[1].handle);
}

TEST_F(TrackerTest, PortReusedByALaterCallGoesToTheLaterCall) {
  sip(0, request("INVITE", "a", "fa", "", 1, sdp("10.0.0.1", 4000)));
  sip(0.1, response(200, "a", "fa", "ta", 1, "INVITE", sdp("10.0.0.2", 5000)));
  // Call "a" never sends BYE (lost); call "b" takes the same ports.
  sip(10, request("INVITE", "b", "fb", "", 1, sdp("10.0.0.1", 4000)));
  sip(10.1, response(200, "b", "fb", "tb", 1, "INVITE", sdp("10.0.0.2", 5000)));
  rtp(11, ep("10.0.0.1", 4000), ep("10.0.0.2", 5000));
  tracker.finish();
  ASSERT_EQ(rec.media.size(), 1u);
  ASSERT_EQ(rec.ended.size(), 2u);
  EXPECT_EQ(rec.media[0].first, rec.ended[1].handle);
  EXPECT_EQ(rec.ended[1].call_id, "b");
}

TEST_F(TrackerTest, ReinviteMovesMediaAndCalleeInitiatedReinviteIsCallee) {
  sip(0, request("INVITE", "c1", "ft", "", 1, sdp("10.0.0.1", 4000)));
  sip(0.1, response(200, "c1", "ft", "tt", 1, "INVITE", sdp("10.0.0.2", 5000)));
  // The callee sends a re-INVITE (its From tag is the callee's) moving to 6000.
  std::string reinvite = request("INVITE", "c1", "tt", "ft", 1, sdp("10.0.0.2", 6000));
  sip(5, reinvite, ep("10.0.0.2", 5060), ep("10.0.0.1", 5060));
  rtp(6, ep("10.0.0.1", 4000), ep("10.0.0.2", 6000));
  tracker.finish();
  ASSERT_EQ(rec.media.size(), 1u);
  EXPECT_EQ(rec.media[0].second, Channel::kCaller);
}

TEST_F(TrackerTest, HoldWithZeroAddressKeepsExistingBinding) {
  sip(0, request("INVITE", "c1", "ft", "", 1, sdp("10.0.0.1", 4000)));
  sip(0.1, response(200, "c1", "ft", "tt", 1, "INVITE", sdp("10.0.0.2", 5000)));
  sip(5, request("INVITE", "c1", "ft", "tt", 2, sdp("0.0.0.0", 4000, "a=sendonly\r\n")));
  rtp(6, ep("10.0.0.2", 5000), ep("10.0.0.1", 4000));
  tracker.finish();
  ASSERT_EQ(rec.media.size(), 1u);
  EXPECT_EQ(rec.media[0].second, Channel::kCallee);
}

TEST_F(TrackerTest, CallInProgressIsJoinedAtItsReinvite) {
  // No INVITE captured: the capture starts mid-call.
  rtp(0.5, ep("10.0.0.1", 4000), ep("10.0.0.2", 5000));  // nobody knows it yet
  sip(1, request("INVITE", "old", "ft", "tt", 7, sdp("10.0.0.1", 4000)));
  sip(1.1, response(200, "old", "ft", "tt", 7, "INVITE", sdp("10.0.0.2", 5000)), ep("10.0.0.2", 5060),
      ep("10.0.0.1", 5060));
  rtp(1.5, ep("10.0.0.1", 4000), ep("10.0.0.2", 5000));
  rtp(1.5, ep("10.0.0.2", 5000), ep("10.0.0.1", 4000));
  sip(3, request("BYE", "old", "tt", "ft", 1), ep("10.0.0.2", 5060), ep("10.0.0.1", 5060));
  tracker.finish();
  ASSERT_EQ(rec.ended.size(), 1u);
  EXPECT_TRUE(rec.ended[0].joined_mid_call);
  EXPECT_EQ(rec.ended[0].end_reason, EndReason::kBye);
  EXPECT_EQ(rec.ended[0].invite_time.ns, 1 * kNsPerSec);
  ASSERT_EQ(rec.media.size(), 2u);
  EXPECT_EQ(rec.media[0].second, Channel::kCaller);
  EXPECT_EQ(rec.media[1].second, Channel::kCallee);
  EXPECT_EQ(tracker.stats().rtp_unmatched, 1u);
  EXPECT_EQ(tracker.stats().calls_joined_mid_call, 1u);
}

TEST_F(TrackerTest, B2buaLegsSharingACallIdAreSeparateDialogs) {
  // Leg A: phone -> B2BUA; leg B: B2BUA -> carrier, same Call-ID, new From tag.
  sip(0, request("INVITE", "shared", "legA", "", 1, sdp("10.0.0.1", 4000)));
  sip(0.01, request("INVITE", "shared", "legB", "", 1, sdp("10.0.0.5", 6000)), ep("10.0.0.5", 5060),
      ep("10.0.0.9", 5060));
  sip(0.5, response(200, "shared", "legB", "tB", 1, "INVITE", sdp("10.0.0.9", 7000)), ep("10.0.0.9", 5060),
      ep("10.0.0.5", 5060));
  sip(0.51, response(200, "shared", "legA", "tA", 1, "INVITE", sdp("10.0.0.5", 6002)), ep("10.0.0.5", 5060),
      ep("10.0.0.1", 5060));
  rtp(1, ep("10.0.0.1", 4000), ep("10.0.0.5", 6002));
  rtp(1, ep("10.0.0.5", 6000), ep("10.0.0.9", 7000));
  sip(5, request("BYE", "shared", "legA", "tA", 2));
  sip(5.01, request("BYE", "shared", "legB", "tB", 2), ep("10.0.0.5", 5060), ep("10.0.0.9", 5060));
  tracker.finish();
  ASSERT_EQ(rec.ended.size(), 2u);
  EXPECT_NE(rec.ended[0].handle, rec.ended[1].handle);
  for (const auto& c : rec.ended) {
    EXPECT_EQ(c.end_reason, EndReason::kBye);
    EXPECT_EQ(c.final_status, 200);
  }
  ASSERT_EQ(rec.media.size(), 2u);
  EXPECT_NE(rec.media[0].first, rec.media[1].first);  // one stream on each leg
}

TEST_F(TrackerTest, KeepalivesAreNotMalformed) {
  sip(0, "\r\n\r\n");
  sip(1, "     ");
  tracker.finish();
  EXPECT_EQ(anomalies.total, 0u);
  EXPECT_EQ(tracker.stats().sip_keepalives, 2u);
}

TEST_F(TrackerTest, IdleCallTimesOut) {
  sip(0, request("INVITE", "c1", "ft", "", 1, sdp("10.0.0.1", 4000)));
  sip(0.1, response(200, "c1", "ft", "tt", 1, "INVITE", sdp("10.0.0.2", 5000)));
  rtp(0.5, ep("10.0.0.1", 4000), ep("10.0.0.2", 5000));
  rtp(100, ep("10.9.9.9", 1), ep("10.9.9.8", 2));  // time passes
  ASSERT_EQ(rec.ended.size(), 1u);
  EXPECT_EQ(rec.ended[0].end_reason, EndReason::kTimeout);
  EXPECT_EQ(rec.ended[0].end_time.ns, kNsPerSec / 2);
}

TEST_F(TrackerTest, SipInfoDtmfIsRecorded) {
  sip(0, request("INVITE", "c1", "ft", "", 1, sdp("10.0.0.1", 4000)));
  sip(0.1, response(200, "c1", "ft", "tt", 1, "INVITE", sdp("10.0.0.2", 5000)));
  std::string info =
      "INFO sip:2001@pbx SIP/2.0\r\nVia: SIP/2.0/UDP x;branch=z9hG4bKi\r\nFrom: <sip:1001@pbx>;tag=ft\r\n"
      "To: <sip:2001@pbx>;tag=tt\r\nCall-ID: c1\r\nCSeq: 3 INFO\r\n"
      "Content-Type: application/dtmf-relay\r\nContent-Length: 26\r\n\r\nSignal=5\r\nDuration=160\r\n";
  sip(1, info);
  tracker.finish();
  ASSERT_EQ(rec.ended.size(), 1u);
  ASSERT_EQ(rec.ended[0].sip_dtmf.size(), 1u);
  EXPECT_EQ(rec.ended[0].sip_dtmf[0].digit, '5');
  EXPECT_EQ(rec.ended[0].sip_dtmf[0].duration_ms, 160u);
}

TEST_F(TrackerTest, MalformedSipIsCountedNotFatal) {
  sip(0, "INVITE garbage\r\n\r\n");
  sip(0.1, "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n");
  tracker.finish();
  EXPECT_GE(anomalies.get(Anomaly::kSipMalformed) + anomalies.get(Anomaly::kSipMissingHeader), 2u);
  EXPECT_TRUE(rec.ended.empty());
}

TEST_F(TrackerTest, TableFullEvictsOldestCall) {
  CallTrackerConfig c = config();
  c.max_calls = 2;
  Recorded r2;
  Sink s2(r2);
  CallTracker small(c, s2);
  for (int i = 0; i < 3; ++i) {
    std::string m = request("INVITE", "call" + std::to_string(i), "f", "", 1, sdp("10.0.0.1", 4000 + 2 * i));
    DecodedPacket p;
    p.ts = Timestamp{i * kNsPerSec};
    p.src = ep("10.0.0.1", 5060);
    p.dst = ep("10.0.0.2", 5060);
    p.payload = as_bytes(m);
    small.on_packet(p, anomalies);
  }
  ASSERT_EQ(r2.ended.size(), 1u);
  EXPECT_EQ(r2.ended[0].call_id, "call0");
  EXPECT_EQ(r2.ended[0].end_reason, EndReason::kEvicted);
  EXPECT_EQ(small.stats().calls_evicted, 1u);
}

TEST(DirectionClassifier, ClassifiesByOfficeNumbers) {
  DirectionClassifier d;
  std::string error;
  ASSERT_TRUE(d.add_pattern("100-199", error));
  ASSERT_TRUE(d.add_pattern("+48 22 555*", error));
  EXPECT_EQ(d.classify("101", "150"), CallDirection::kInternal);
  EXPECT_EQ(d.classify("101", "0600123456"), CallDirection::kOutgoing);
  EXPECT_EQ(d.classify("+48600123456", "48225551234"), CallDirection::kIncoming);
  EXPECT_EQ(d.classify("99", "1000"), CallDirection::kUnknown);
  EXPECT_FALSE(d.add_pattern("10-1000", error));
  EXPECT_NE(error.find("10-1000"), std::string::npos);
  EXPECT_FALSE(d.add_pattern("abc", error));
}

TEST(SipInfoDtmf, ParsesBothBodyKinds) {
  uint32_t d = 0;
  EXPECT_EQ(parse_sip_info_dtmf("application/dtmf-relay", "Signal= #\r\nDuration= 250\r\n", d), '#');
  EXPECT_EQ(d, 250u);
  EXPECT_EQ(parse_sip_info_dtmf("application/dtmf", "7", d), '7');
  EXPECT_EQ(parse_sip_info_dtmf("text/plain", "Signal=5", d), 0);
  EXPECT_EQ(parse_sip_info_dtmf("application/dtmf-relay", "Signal=X", d), 0);
}

}  // namespace
}  // namespace cv
