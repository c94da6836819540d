// SDP parser: connection levels, media sections, rtpmap, direction
// inheritance, hold forms, malformed lines, capacity, and the SDP of real
// messages extracted from the shared captures (tests/unit/data/sip).
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "capture/sip/sdp.h"
#include "capture/sip/sip_message.h"

namespace cv {
namespace {

std::string crlf(std::string_view lf_text) {
  std::string out;
  for (char c : lf_text) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

IpAddress ip(std::string_view text) {
  auto a = IpAddress::parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(IpAddress{});
}

// Owns the text so the session's views stay valid; not movable (see
// test_sip_message.cpp).
struct Parsed {
  explicit Parsed(std::string_view input) : text(input) { result = parse_sdp(text, sdp); }
  Parsed(const Parsed&) = delete;
  Parsed& operator=(const Parsed&) = delete;

  std::string text;
  SdpSession sdp;
  SdpParseResult result;
};

Parsed parse(std::string_view text) { return Parsed(text); }

std::vector<int> formats(const SdpMedia& m) {
  return {m.formats.begin(), m.formats.begin() + m.format_count};
}

TEST(Sdp, SessionAndMediaLevelConnections) {
  auto p = parse(crlf(R"(v=0
o=alice 2890844526 2890844527 IN IP4 host.atlanta.example.com
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 49170 RTP/AVP 0
m=audio 49180 RTP/AVP 8
c=IN IP4 198.51.100.7
)"));
  ASSERT_EQ(p.result.status, SdpParseStatus::kOk) << p.result.error;
  EXPECT_EQ(p.sdp.origin_username, "alice");
  EXPECT_EQ(p.sdp.origin_session_id, 2890844526u);
  EXPECT_EQ(p.sdp.origin_version, 2890844527u);
  EXPECT_EQ(p.sdp.connection, ip("192.0.2.1"));
  ASSERT_EQ(p.sdp.media_count, 2u);
  EXPECT_FALSE(p.sdp.media[0].connection.is_set());
  EXPECT_EQ(p.sdp.media[0].effective_connection(p.sdp.connection), ip("192.0.2.1"));
  EXPECT_EQ(p.sdp.media[1].connection, ip("198.51.100.7"));
  EXPECT_EQ(p.sdp.media[1].effective_connection(p.sdp.connection), ip("198.51.100.7"));
  EXPECT_EQ(p.sdp.truncated, 0u);
}

TEST(Sdp, Ipv6AndSuffixedAddresses) {
  auto p = parse(crlf(R"(v=0
c=IN IP6 2001:db8::1
m=audio 5000 RTP/AVP 0
c=IN IP4 224.2.1.1/127/3
m=video 5002 RTP/AVP 96
c=IN IP6 ff15::101/3
m=audio 5004 RTP/AVP 0
c=in ip4 10.0.0.1/127
)"));
  ASSERT_EQ(p.result.status, SdpParseStatus::kOk) << p.result.error;
  EXPECT_EQ(p.sdp.connection, ip("2001:db8::1"));
  EXPECT_EQ(p.sdp.connection.family, 6);
  EXPECT_EQ(p.sdp.media[0].connection, ip("224.2.1.1"));
  EXPECT_EQ(p.sdp.media[1].connection, ip("ff15::101"));
  EXPECT_EQ(p.sdp.media[2].connection, ip("10.0.0.1"));
}

TEST(Sdp, FirstConnectionOfALevelWins) {
  auto p = parse("v=0\nc=IN IP4 10.0.0.1\nc=IN IP4 10.0.0.2\nm=audio 1 RTP/AVP 0\n");
  ASSERT_EQ(p.result.status, SdpParseStatus::kOk);
  EXPECT_EQ(p.sdp.connection, ip("10.0.0.1"));
}

TEST(Sdp, NonInternetNetworkTypeIsIgnored) {
  auto p = parse("v=0\nc=TN RFC2543 +1-201-555-0123\nm=audio 1 RTP/AVP 0\n");
  ASSERT_EQ(p.result.status, SdpParseStatus::kOk) << p.result.error;
  EXPECT_FALSE(p.sdp.connection.is_set());
}

TEST(Sdp, MultipleMediaKindsAndTransports) {
  auto p = parse(crlf(R"(v=0
c=IN IP4 192.0.2.1
m=audio 49170 RTP/AVP 0 8 101
m=video 51372 RTP/AVPF 99 34
m=image 16756 udptl t38
m=application 9 TCP/BFCP *
m=audio 6000 UDP/TLS/RTP/SAVPF 111
m=message 7394 TCP/MSRP *
)"));
  ASSERT_EQ(p.result.status, SdpParseStatus::kOk) << p.result.error;
  ASSERT_EQ(p.sdp.media_count, 6u);
  const auto& audio = p.sdp.media[0];
  EXPECT_EQ(audio.kind, MediaKind::kAudio);
  EXPECT_EQ(audio.media, "audio");
  EXPECT_EQ(audio.port, 49170);
  EXPECT_EQ(audio.port_count, 1);
  EXPECT_EQ(audio.proto, "RTP/AVP");
  EXPECT_TRUE(audio.is_rtp());
  EXPECT_EQ(formats(audio), (std::vector<int>{0, 8, 101}));

  const auto& video = p.sdp.media[1];
  EXPECT_EQ(video.kind, MediaKind::kVideo);
  EXPECT_EQ(formats(video), (std::vector<int>{99, 34}));

  const auto& image = p.sdp.media[2];
  EXPECT_EQ(image.kind, MediaKind::kOther);
  EXPECT_EQ(image.media, "image");
  EXPECT_EQ(image.port, 16756);
  EXPECT_EQ(image.proto, "udptl");
  EXPECT_FALSE(image.is_rtp());
  EXPECT_EQ(image.format_count, 0u);

  EXPECT_EQ(p.sdp.media[3].format_count, 0u);
  EXPECT_TRUE(p.sdp.media[4].is_rtp());
  EXPECT_EQ(formats(p.sdp.media[4]), (std::vector<int>{111}));
  EXPECT_FALSE(p.sdp.media[5].is_rtp());
}

TEST(Sdp, PortZeroAndPortCount) {
  auto p = parse("v=0\nm=audio 0 RTP/AVP 0\nm=video 49170/2 RTP/AVP 31\nm=audio 65535 RTP/AVP\n");
  ASSERT_EQ(p.result.status, SdpParseStatus::kOk) << p.result.error;
  EXPECT_EQ(p.sdp.media[0].port, 0);
  EXPECT_EQ(p.sdp.media[1].port, 49170);
  EXPECT_EQ(p.sdp.media[1].port_count, 2);
  EXPECT_EQ(p.sdp.media[2].port, 65535);
  EXPECT_EQ(p.sdp.media[2].format_count, 0u);
}

TEST(Sdp, RtpmapsWithChannelsAndTelephoneEvent) {
  auto p = parse(crlf(R"(v=0
m=audio 5000 RTP/AVP 111 0 9 101 96 10
a=rtpmap:111 opus/48000/2
a=rtpmap:0 PCMU/8000
a=rtpmap:9 G722/8000/1
a=rtpmap:101 telephone-event/8000
a=rtpmap:96 Telephone-Event/48000
a=rtpmap:10 L16/44100/2
a=fmtp:101 0-16
m=audio 5002 RTP/AVP 0
)"));
  ASSERT_EQ(p.result.status, SdpParseStatus::kOk) << p.result.error;
  const auto& m = p.sdp.media[0];
  ASSERT_EQ(m.rtpmap_count, 6u);
  const SdpRtpMap* opus = m.rtpmap(111);
  ASSERT_NE(opus, nullptr);
  EXPECT_EQ(opus->encoding, "opus");
  EXPECT_EQ(opus->clock_rate, 48000u);
  EXPECT_EQ(opus->channels, 2);
  EXPECT_EQ(m.rtpmap(0)->channels, 1);
  EXPECT_EQ(m.rtpmap(9)->encoding, "G722");
  EXPECT_EQ(m.rtpmap(9)->clock_rate, 8000u);
  EXPECT_EQ(m.rtpmap(10)->channels, 2);
  EXPECT_EQ(m.rtpmap(8), nullptr);
  EXPECT_EQ(m.telephone_event_pt, 101);  // the first one listed
  EXPECT_EQ(p.sdp.media[1].telephone_event_pt, -1);
  EXPECT_EQ(p.sdp.media[1].rtpmap_count, 0u);
}

TEST(Sdp, FirstRtpmapOfAPayloadTypeWinsAndSessionLevelIsIgnored) {
  auto p =
      parse("v=0\na=rtpmap:0 SESSION/8000\nm=audio 5000 RTP/AVP 0\na=rtpmap:0 PCMU/8000\na=rtpmap:0 X/1\n");
  ASSERT_EQ(p.result.status, SdpParseStatus::kOk) << p.result.error;
  ASSERT_EQ(p.sdp.media[0].rtpmap_count, 1u);
  EXPECT_EQ(p.sdp.media[0].rtpmap(0)->encoding, "PCMU");
}

TEST(Sdp, DirectionInheritance) {
  auto p = parse(crlf(R"(v=0
a=sendonly
m=audio 5000 RTP/AVP 0
m=audio 5002 RTP/AVP 0
a=recvonly
m=video 5004 RTP/AVP 96
a=sendrecv
m=audio 5006 RTP/AVP 0
a=inactive
)"));
  ASSERT_EQ(p.result.status, SdpParseStatus::kOk) << p.result.error;
  EXPECT_EQ(p.sdp.direction, MediaDirection::kSendOnly);
  EXPECT_EQ(p.sdp.media[0].direction, MediaDirection::kSendOnly);
  EXPECT_FALSE(p.sdp.media[0].direction_set);
  EXPECT_EQ(p.sdp.media[1].direction, MediaDirection::kRecvOnly);
  EXPECT_TRUE(p.sdp.media[1].direction_set);
  EXPECT_EQ(p.sdp.media[2].direction, MediaDirection::kSendRecv);
  EXPECT_TRUE(p.sdp.media[2].direction_set);
  EXPECT_EQ(p.sdp.media[3].direction, MediaDirection::kInactive);

  auto none = parse("v=0\nm=audio 5000 RTP/AVP 0\n");
  EXPECT_EQ(none.sdp.direction, MediaDirection::kSendRecv);
  EXPECT_EQ(none.sdp.media[0].direction, MediaDirection::kSendRecv);
}

TEST(Sdp, HoldForms) {
  // RFC 2543 hold: c=0.0.0.0; RFC 3264 hold: sendonly / inactive.
  auto old_style = parse("v=0\nc=IN IP4 0.0.0.0\nm=audio 5000 RTP/AVP 0\n");
  ASSERT_EQ(old_style.result.status, SdpParseStatus::kOk);
  EXPECT_TRUE(old_style.sdp.connection.is_unspecified());
  auto v6 = parse("v=0\nm=audio 5000 RTP/AVP 0\nc=IN IP6 ::\n");
  EXPECT_TRUE(v6.sdp.media[0].connection.is_unspecified());
  auto inactive = parse("v=0\nc=IN IP4 10.0.0.1\nm=audio 5000 RTP/AVP 0\na=inactive\n");
  EXPECT_EQ(inactive.sdp.media[0].direction, MediaDirection::kInactive);
  EXPECT_FALSE(inactive.sdp.connection.is_unspecified());
}

TEST(Sdp, PtimeAndRtcp) {
  auto p = parse(crlf(R"(v=0
a=ptime:40
m=audio 5000 RTP/AVP 0
a=ptime:20
a=rtcp:53020 IN IP4 126.16.64.4
m=audio 5002 RTP/AVP 0
a=ptime:30.0
a=rtcp:5003
m=audio 5004 RTP/AVP 0
a=ptime:abc
a=rtcp:
a=ptime:99999
)"));
  ASSERT_EQ(p.result.status, SdpParseStatus::kOk) << p.result.error;
  EXPECT_EQ(p.sdp.media[0].ptime_ms, 20);
  EXPECT_EQ(p.sdp.media[0].rtcp_port, 53020);
  EXPECT_EQ(p.sdp.media[1].ptime_ms, 30);
  EXPECT_EQ(p.sdp.media[1].rtcp_port, 5003);
  EXPECT_EQ(p.sdp.media[2].ptime_ms, 0);
  EXPECT_EQ(p.sdp.media[2].rtcp_port, 0);
}

TEST(Sdp, OriginForms) {
  auto dash = parse("v=0\no=- 42 42 IN IP4 10.0.2.20\n");
  EXPECT_EQ(dash.sdp.origin_username, "-");
  EXPECT_EQ(dash.sdp.origin_version, 42u);
  auto big = parse("v=0\no=u 18446744073709551615 3 IN IP4 h\n");
  EXPECT_EQ(big.sdp.origin_session_id, 18446744073709551615u);
  EXPECT_EQ(big.sdp.origin_version, 3u);
  // A malformed o= is no reason to lose the media.
  auto bad = parse("v=0\no=u x y IN IP4 h\nm=audio 5000 RTP/AVP 0\n");
  ASSERT_EQ(bad.result.status, SdpParseStatus::kOk);
  EXPECT_EQ(bad.sdp.origin_version, 0u);
  EXPECT_EQ(bad.sdp.media_count, 1u);
  auto overflow = parse("v=0\no=u 1 18446744073709551616 IN IP4 h\n");
  EXPECT_EQ(overflow.result.status, SdpParseStatus::kOk);
  EXPECT_EQ(overflow.sdp.origin_version, 0u);
}

TEST(Sdp, LineEndingsWhitespaceAndBlankLines) {
  const std::string canonical =
      "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 5000 RTP/AVP 0 8\r\na=rtpmap:8 PCMA/8000\r\n";
  const std::string variants[] = {
      canonical,
      "v=0\nc=IN IP4 10.0.0.1\nm=audio 5000 RTP/AVP 0 8\na=rtpmap:8 PCMA/8000\n",
      "v=0\nc=IN IP4 10.0.0.1\nm=audio 5000 RTP/AVP 0 8\na=rtpmap:8 PCMA/8000",
      "v=0  \r\nc=IN IP4 10.0.0.1 \t\r\n\r\n\nm=audio 5000 RTP/AVP 0 8   \r\n  \r\na=rtpmap:8 PCMA/8000 "
      "\r\n\r\n",
      "\r\nv=0\nc=IN IP4 10.0.0.1\r\nm=audio  5000   RTP/AVP\t0 8\na=rtpmap:8  PCMA/8000",
  };
  for (const auto& text : variants) {
    auto p = parse(text);
    ASSERT_EQ(p.result.status, SdpParseStatus::kOk) << text;
    EXPECT_EQ(p.sdp.connection, ip("10.0.0.1")) << text;
    ASSERT_EQ(p.sdp.media_count, 1u) << text;
    EXPECT_EQ(p.sdp.media[0].port, 5000) << text;
    EXPECT_EQ(formats(p.sdp.media[0]), (std::vector<int>{0, 8})) << text;
    ASSERT_EQ(p.sdp.media[0].rtpmap_count, 1u) << text;
    EXPECT_EQ(p.sdp.media[0].rtpmap(8)->encoding, "PCMA") << text;
  }
}

TEST(Sdp, EmptyAndUnknownLines) {
  auto empty = parse("");
  EXPECT_EQ(empty.result.status, SdpParseStatus::kOk);
  EXPECT_EQ(empty.sdp.media_count, 0u);
  auto unknown = parse("v=0\nx=whatever\nnot a line\n=\nb=AS:64\nk=prompt\nm=audio 1 RTP/AVP 0\n");
  EXPECT_EQ(unknown.result.status, SdpParseStatus::kOk);
  EXPECT_EQ(unknown.sdp.media_count, 1u);
}

TEST(Sdp, MalformedLinesAreInvalidWithLineNumber) {
  struct Case {
    const char* text;
    size_t line;
  };
  const Case cases[] = {
      // From fuzz-2006-06-26-2594.pcap: a corrupted address.
      {"v=0\no=- 1 1 IN IP4 h\nc=IN IP4 192&168%s\nm=audio 1 RTP/AVP 0\n", 3},
      {"v=0\nc=IN IP4\n", 2},
      {"v=0\nc=IN IP4 10.0.0.1 extra\n", 2},
      {"v=0\nc=IN IP4 2001:db8::1\n", 2},           // address type mismatch
      {"v=0\nc=IN IP6 10.0.0.1\n", 2},              // address type mismatch
      {"v=0\nc=IN IPX 10.0.0.1\n", 2},              // unknown address type
      {"v=0\n\n\nc=IN IP4 host.example.com\n", 4},  // host name: nothing to match RTP against
      {"v=0\nm=audio\n", 2},
      {"v=0\nm=audio 5000\n", 2},
      {"v=0\nm=audio 99999 RTP/AVP 0\n", 2},
      {"v=0\nm=audio -1 RTP/AVP 0\n", 2},
      {"v=0\nm=audio 5000/0 RTP/AVP 0\n", 2},
      {"v=0\nm=audio 5000/x RTP/AVP 0\n", 2},
      {"v=0\nm=audio 5000 RTP/AVP 0 PCMU\n", 2},  // non-numeric format on RTP
      {"v=0\nm=audio 5000 RTP/AVP 128\n", 2},     // not a 7-bit payload type
      {"v=0\nm=audio 5000 RTP/AVP 0\na=rtpmap:0 pcmu/8\xef\xbf\xbd"
       "00\n",
       3},  // fuzz-2006 corruption
      {"v=0\nm=audio 5000 RTP/AVP 0\na=rtpmap:0 PCMU\n", 3},
      {"v=0\nm=audio 5000 RTP/AVP 0\na=rtpmap:0 PCMU/0\n", 3},
      {"v=0\nm=audio 5000 RTP/AVP 0\na=rtpmap:0 /8000\n", 3},
      {"v=0\nm=audio 5000 RTP/AVP 0\na=rtpmap:128 X/8000\n", 3},
      {"v=0\nm=audio 5000 RTP/AVP 0\na=rtpmap:x X/8000\n", 3},
      {"v=0\nm=audio 5000 RTP/AVP 0\na=rtpmap:0\n", 3},
      {"v=0\nm=audio 5000 RTP/AVP 0\na=rtpmap:0 X/8000/0\n", 3},
      {"v=0\nm=audio 5000 RTP/AVP 0\na=rtpmap:0 X/8000/256\n", 3},
      {"v=0\nm=audio 5000 RTP/AVP 0\na=rtpmap:0 X/8000/2/1\n", 3},
      {"v=0\nm=audio 5000 RTP/AVP 0\na=rtpmap:0 X/8000 extra\n", 3},
  };
  for (const auto& c : cases) {
    auto p = parse(c.text);
    EXPECT_EQ(p.result.status, SdpParseStatus::kInvalid) << c.text;
    EXPECT_EQ(p.result.line, c.line) << c.text;
    EXPECT_NE(std::string_view(p.result.error), "") << c.text;
  }
}

TEST(Sdp, CapacityOverflowIsCountedAndParsingContinues) {
  std::string text = "v=0\nc=IN IP4 10.0.0.1\n";
  for (int i = 0; i < 10; ++i) {
    text += "m=audio " + std::to_string(5000 + 2 * i) + " RTP/AVP 0\n";
    text += "c=IN IP4 10.0.1." + std::to_string(i) + "\n";
    text += "a=sendonly\n";
  }
  auto many_media = parse(text);
  ASSERT_EQ(many_media.result.status, SdpParseStatus::kOk) << many_media.result.error;
  EXPECT_EQ(many_media.sdp.media_count, SdpSession::kMaxMedia);
  EXPECT_EQ(many_media.sdp.truncated, 2u);
  // Lines of dropped sections never leak into the session level.
  EXPECT_EQ(many_media.sdp.connection, ip("10.0.0.1"));
  EXPECT_EQ(many_media.sdp.direction, MediaDirection::kSendRecv);
  EXPECT_EQ(many_media.sdp.media[7].port, 5014);

  // Dropped sections are still checked.
  auto bad_dropped = parse(text + "m=audio 1 RTP/AVP x\n");
  EXPECT_EQ(bad_dropped.result.status, SdpParseStatus::kInvalid);
  EXPECT_EQ(bad_dropped.result.line, 33u);

  std::string fmts = "v=0\nm=audio 5000 RTP/AVP";
  for (int pt = 0; pt < 40; ++pt) fmts += " " + std::to_string(pt);
  fmts += "\n";
  for (int pt = 0; pt < 20; ++pt)
    fmts += "a=rtpmap:" + std::to_string(96 + pt) + " X" + std::to_string(pt) + "/8000\n";
  fmts += "a=rtpmap:127 telephone-event/8000\n";
  auto many_formats = parse(fmts);
  ASSERT_EQ(many_formats.result.status, SdpParseStatus::kOk) << many_formats.result.error;
  const auto& m = many_formats.sdp.media[0];
  EXPECT_EQ(m.format_count, SdpMedia::kMaxFormats);
  EXPECT_EQ(m.rtpmap_count, SdpMedia::kMaxRtpMaps);
  EXPECT_EQ(many_formats.sdp.truncated, (40u - 32u) + (21u - 16u));
  // telephone-event is still found when its rtpmap did not fit.
  EXPECT_EQ(m.telephone_event_pt, 127);
}

TEST(Sdp, BinaryGarbageNeverCrashes) {
  uint64_t state = 0x2545F4914F6CDD1DULL;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  static constexpr char kAlphabet[] = "vocmat=\n\r :/0123456789INP46.audio RTP/AVP rtpmap sendonly\x00\xff";
  const std::string_view alphabet(kAlphabet, sizeof kAlphabet - 1);
  for (int round = 0; round < 5000; ++round) {
    std::string text(next() % 400, '\0');
    for (char& c : text)
      c = round % 2 ? static_cast<char>(next() & 0xff) : alphabet[next() % alphabet.size()];
    auto p = parse(text);
    if (p.result.status == SdpParseStatus::kOk) {
      EXPECT_LE(p.sdp.media_count, SdpSession::kMaxMedia);
      EXPECT_EQ(p.result.line, 0u);
    } else {
      EXPECT_GE(p.result.line, 1u);
    }
  }
}

// ------------------------------------------- real messages (tests/unit/data/sip)

std::string fixture(const std::string& name) {
  std::string path = std::string(CV_SOURCE_DIR) + "/tests/unit/data/sip/" + name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The SDP body of a captured SIP message, copied out so it outlives the parse.
std::string sdp_of(const std::string& name, SipFraming framing = SipFraming::kDatagram) {
  std::string data = fixture(name);
  SipMessage msg;
  std::string scratch;
  auto r = parse_sip_message(data, framing, msg, scratch);
  EXPECT_EQ(r.status, SipParseStatus::kComplete) << name;
  return std::string(find_sdp_body(msg));
}

TEST(SdpCaptures, G711OfferAndAnswer) {
  // sip-rtp-g711.pcap frames 1 and 4
  auto offer = parse(sdp_of("g711_invite.sip"));
  ASSERT_EQ(offer.result.status, SdpParseStatus::kOk) << offer.result.error;
  EXPECT_EQ(offer.sdp.origin_version, 42u);
  EXPECT_EQ(offer.sdp.connection, ip("10.0.2.20"));
  ASSERT_EQ(offer.sdp.media_count, 1u);
  EXPECT_EQ(offer.sdp.media[0].port, 6000);
  EXPECT_EQ(formats(offer.sdp.media[0]), (std::vector<int>{0}));
  EXPECT_EQ(offer.sdp.media[0].rtpmap(0)->encoding, "PCMU");
  EXPECT_EQ(offer.sdp.media[0].direction, MediaDirection::kRecvOnly);

  auto answer = parse(sdp_of("g711_200ok.sip"));
  ASSERT_EQ(answer.result.status, SdpParseStatus::kOk) << answer.result.error;
  EXPECT_EQ(answer.sdp.origin_username, "FreeSWITCH");
  EXPECT_EQ(answer.sdp.origin_version, 1480144038u);
  EXPECT_EQ(answer.sdp.connection, ip("10.0.2.15"));
  const auto& m = answer.sdp.media[0];
  EXPECT_EQ(m.port, 27942);
  EXPECT_EQ(formats(m), (std::vector<int>{0, 101}));
  EXPECT_EQ(m.telephone_event_pt, 101);
  EXPECT_EQ(m.ptime_ms, 20);
  EXPECT_EQ(m.direction, MediaDirection::kSendOnly);
}

TEST(SdpCaptures, Ipv6Offer) {
  // sip_ipv6.pcap frame 1
  auto p = parse(sdp_of("ipv6_invite.sip"));
  ASSERT_EQ(p.result.status, SdpParseStatus::kOk) << p.result.error;
  EXPECT_EQ(p.sdp.origin_version, 32u);
  EXPECT_EQ(p.sdp.connection, ip("fe80::21a:a0ff:fe07:32e0"));
  EXPECT_EQ(p.sdp.media[0].port, 5008);
  const SdpRtpMap* pcmu = p.sdp.media[0].rtpmap(0);
  ASSERT_NE(pcmu, nullptr);
  EXPECT_EQ(pcmu->encoding, "pcmu");
  EXPECT_EQ(pcmu->clock_rate, 8000u);
  EXPECT_EQ(pcmu->channels, 1);
}

TEST(SdpCaptures, AudioAndVideo) {
  // rohc-bug1265304_source.pcap frames 7 and 11
  auto offer = parse(sdp_of("video_invite.sip"));
  ASSERT_EQ(offer.result.status, SdpParseStatus::kOk) << offer.result.error;
  EXPECT_EQ(offer.sdp.origin_version, 8000u);
  EXPECT_EQ(offer.sdp.connection, ip("100.10.100.30"));
  ASSERT_EQ(offer.sdp.media_count, 2u);
  EXPECT_EQ(offer.sdp.media[0].kind, MediaKind::kAudio);
  EXPECT_EQ(offer.sdp.media[0].port, 5004);
  EXPECT_EQ(formats(offer.sdp.media[0]), (std::vector<int>{0, 8, 4, 18, 3, 2}));
  EXPECT_EQ(offer.sdp.media[0].rtpmap(2)->encoding, "G726-32");
  EXPECT_EQ(offer.sdp.media[0].ptime_ms, 20);
  EXPECT_EQ(offer.sdp.media[1].kind, MediaKind::kVideo);
  EXPECT_EQ(offer.sdp.media[1].port, 5006);
  EXPECT_EQ(formats(offer.sdp.media[1]), (std::vector<int>{99, 34}));
  EXPECT_EQ(offer.sdp.media[1].rtpmap(99)->encoding, "H264");
  EXPECT_EQ(offer.sdp.media[1].rtpmap(99)->clock_rate, 90000u);
  EXPECT_EQ(offer.sdp.media[1].rtpmap(34)->encoding, "H263");

  auto answer = parse(sdp_of("video_200ok.sip"));
  ASSERT_EQ(answer.result.status, SdpParseStatus::kOk) << answer.result.error;
  EXPECT_EQ(answer.sdp.connection, ip("100.10.10.30"));
  EXPECT_EQ(formats(answer.sdp.media[0]), (std::vector<int>{0}));
  EXPECT_EQ(formats(answer.sdp.media[1]), (std::vector<int>{99}));
  EXPECT_EQ(answer.sdp.media[1].direction, MediaDirection::kSendRecv);
}

TEST(SdpCaptures, T38Image) {
  // FAX-Call-t38-CA-TDM-SIP-FB-1.pcap frame 3100
  auto p = parse(sdp_of("t38_reinvite.sip"));
  ASSERT_EQ(p.result.status, SdpParseStatus::kOk) << p.result.error;
  EXPECT_EQ(p.sdp.origin_version, 1228500780u);
  EXPECT_EQ(p.sdp.connection, ip("10.23.1.52"));
  ASSERT_EQ(p.sdp.media_count, 1u);
  EXPECT_EQ(p.sdp.media[0].media, "image");
  EXPECT_EQ(p.sdp.media[0].kind, MediaKind::kOther);
  EXPECT_EQ(p.sdp.media[0].port, 16756);
  EXPECT_EQ(p.sdp.media[0].proto, "udptl");
  EXPECT_EQ(p.sdp.media[0].format_count, 0u);
}

TEST(SdpCaptures, HoldWithUnspecifiedAddress) {
  // erspan_sip_ipv4_udp.pcapng frame 45
  auto p = parse(sdp_of("hold_invite.sip"));
  ASSERT_EQ(p.result.status, SdpParseStatus::kOk) << p.result.error;
  EXPECT_EQ(p.sdp.origin_version, 8001u);
  EXPECT_TRUE(p.sdp.connection.is_unspecified());
  const auto& m = p.sdp.media[0];
  EXPECT_EQ(m.port, 10012);
  EXPECT_EQ(formats(m), (std::vector<int>{8, 0, 18, 4, 101}));
  EXPECT_EQ(m.telephone_event_pt, 101);
  EXPECT_EQ(m.direction, MediaDirection::kSendOnly);
  EXPECT_EQ(m.ptime_ms, 20);
}

TEST(SdpCaptures, VolteIpv6Amr) {
  // gtp-iphone.pcap frame 47
  auto p = parse(sdp_of("volte_200ok_tcp.sip", SipFraming::kStream));
  ASSERT_EQ(p.result.status, SdpParseStatus::kOk) << p.result.error;
  EXPECT_EQ(p.sdp.origin_version, 1415985490u);
  EXPECT_EQ(p.sdp.connection, ip("fd01::183"));
  EXPECT_EQ(p.sdp.media[0].port, 19956);
  EXPECT_EQ(formats(p.sdp.media[0]), (std::vector<int>{102, 100}));
  EXPECT_EQ(p.sdp.media[0].rtpmap(102)->encoding, "AMR");
  EXPECT_EQ(p.sdp.media[0].telephone_event_pt, 100);
}

TEST(SdpCaptures, CompactFormBodyCutByContentLength) {
  // sip_compact_form.pcap: l: 272 cuts the SDP inside the z= line, before m=.
  auto p = parse(sdp_of("compact_form_invite.sip"));
  ASSERT_EQ(p.result.status, SdpParseStatus::kOk) << p.result.error;
  EXPECT_EQ(p.sdp.origin_username, "SIPPS");
  EXPECT_EQ(p.sdp.origin_session_id, 105015165u);
  EXPECT_EQ(p.sdp.origin_version, 105015162u);
  EXPECT_EQ(p.sdp.connection, ip("192.168.1.2"));
  EXPECT_EQ(p.sdp.media_count, 0u);
}

TEST(SdpCaptures, ProtosBaseline) {
  // c07-sip-r2.cap frame 3
  auto p = parse(sdp_of("protos_c07_valid.sip"));
  ASSERT_EQ(p.result.status, SdpParseStatus::kOk) << p.result.error;
  EXPECT_EQ(p.sdp.connection, ip("127.0.0.1"));
  EXPECT_EQ(p.sdp.media[0].port, 9876);
  EXPECT_EQ(p.sdp.media[0].rtpmap(0)->encoding, "PCMU");
}

}  // namespace
}  // namespace cv
