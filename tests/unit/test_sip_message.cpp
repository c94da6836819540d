// SIP message parser: start lines, header forms, framing, multipart SDP and
// real messages extracted from the shared captures (tests/unit/data/sip).
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "capture/sip/sdp.h"
#include "capture/sip/sip_message.h"

namespace cv {
namespace {

// Raw string literals have LF line ends; SIP on the wire has CRLF.
std::string crlf(std::string_view lf_text) {
  std::string out;
  for (char c : lf_text) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

std::string fixture(const std::string& name) {
  std::string path = std::string(CV_SOURCE_DIR) + "/tests/unit/data/sip/" + name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Owns a copy of the input so the message's views stay valid for the test.
// Neither copyable nor movable: a moved short string would move its bytes.
struct Parsed {
  Parsed(std::string_view input, SipFraming framing) : data(input) {
    result = parse_sip_message(data, framing, msg, scratch);
  }
  Parsed(const Parsed&) = delete;
  Parsed& operator=(const Parsed&) = delete;

  std::string data;
  SipMessage msg;
  SipParseResult result;
  std::string scratch;
};

Parsed parse(std::string_view data, SipFraming framing = SipFraming::kDatagram) {
  return Parsed(data, framing);
}

bool inside(std::string_view view, std::string_view buffer) {
  return view.empty() ||
         (view.data() >= buffer.data() && view.data() + view.size() <= buffer.data() + buffer.size());
}

const std::string kInvite = crlf(R"(INVITE sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds
Max-Forwards: 70
To: Bob <sip:bob@biloxi.example.com>
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.example.com
CSeq: 314159 INVITE
Contact: <sip:alice@pc33.atlanta.example.com>
Content-Type: application/sdp
Content-Length: 149

v=0
o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com
s=-
c=IN IP4 192.0.2.101
t=0 0
m=audio 49172 RTP/AVP 0
a=rtpmap:0 PCMU/8000
)");

// ---------------------------------------------------------------- start line

TEST(SipStartLine, RequestFields) {
  auto p = parse(kInvite);
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_TRUE(p.msg.is_request);
  EXPECT_EQ(p.msg.method, "INVITE");
  EXPECT_EQ(p.msg.request_uri, "sip:bob@biloxi.example.com");
  EXPECT_EQ(p.msg.status_code, 0);
  EXPECT_EQ(p.msg.warnings, kSipWarnNone);
  EXPECT_EQ(p.result.consumed, kInvite.size());
  EXPECT_EQ(p.msg.body.size(), 149u);
  EXPECT_TRUE(p.msg.body.starts_with("v=0"));
}

TEST(SipStartLine, StatusFields) {
  auto p = parse(crlf("SIP/2.0 183 Session Progress\nCall-ID: x\n\n"));
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_FALSE(p.msg.is_request);
  EXPECT_EQ(p.msg.status_code, 183);
  EXPECT_EQ(p.msg.reason, "Session Progress");
  EXPECT_TRUE(p.msg.method.empty());

  auto no_reason = parse(crlf("SIP/2.0 200\nCall-ID: x\n\n"));
  ASSERT_EQ(no_reason.result.status, SipParseStatus::kComplete) << no_reason.result.error;
  EXPECT_EQ(no_reason.msg.status_code, 200);
  EXPECT_TRUE(no_reason.msg.reason.empty());

  auto lower = parse(crlf("sip/2.0 699 Whatever\n\n"));
  ASSERT_EQ(lower.result.status, SipParseStatus::kComplete) << lower.result.error;
  EXPECT_EQ(lower.msg.status_code, 699);
}

TEST(SipStartLine, MethodsAreAnyToken) {
  for (std::string_view method : {"REGISTER", "OPTIONS", "UPDATE", "X-Custom.Method!%*_+`'~"}) {
    std::string msg = std::string(method) + " sip:a@b SIP/2.0\r\n\r\n";
    auto p = parse(msg);
    ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << method << ": " << p.result.error;
    EXPECT_EQ(p.msg.method, method);
  }
}

TEST(SipStartLine, InvalidStartLinesAreRejected) {
  const char* cases[] = {
      "INV@TE sip:a@b SIP/2.0\r\n\r\n",        // '@' is not a token character
      "INVITE sip:a@b\r\n\r\n",                // no version
      "INVITE sip:a@b SIP/3.0\r\n\r\n",        // wrong version
      "INVITE sip:a@b SIP/2.0 extra\r\n\r\n",  // trailing word
      "INVITE bob SIP/2.0\r\n\r\n",            // Request-URI without scheme
      "INVITE  SIP/2.0\r\n\r\n",               // no Request-URI
      " \r\n\r\n",                             // nothing
      "SIP/2.0 99 Too Low\r\n\r\n",            // two digits
      "SIP/2.0 700 Too High\r\n\r\n",          // above 699
      "SIP/2.0 099 Zero\r\n\r\n",              // below 100
      "SIP/2.0 2000 OK\r\n\r\n",               // four digits
      "SIP/2.0 2x0 OK\r\n\r\n",                // not digits
      "SIP/2.0\r\n\r\n",                       // no code
      "SIP/1.0 200 OK\r\n\r\n",                // wrong version
      "HTTP/1.1 200 OK\r\n\r\n",               // '/' is not a token character
      "GET / HTTP/1.1\r\n\r\n",                // HTTP request
      "INVITE sip:a\x01@b SIP/2.0\r\n\r\n",    // control character in URI
  };
  for (const char* c : cases) {
    auto p = parse(c);
    EXPECT_EQ(p.result.status, SipParseStatus::kInvalid) << c;
    EXPECT_NE(std::string_view(p.result.error), "") << c;
  }
}

TEST(SipStartLine, KeepAliveCrlfsAreSkippedWithoutWarning) {
  std::string data = "\r\n\r\n" + kInvite;
  auto p = parse(data);
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_EQ(p.result.skipped, 4u);
  EXPECT_EQ(p.msg.method, "INVITE");
  EXPECT_EQ(p.msg.warnings & kSipWarnJunkBeforeStart, 0u);
}

TEST(SipStartLine, JunkBeforeStartLineIsSkippedWithWarning) {
  std::string junk("\x00\x01\xff garbage\r\nmore junk\n", 23);
  std::string data = junk + kInvite;
  auto p = parse(data);
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_EQ(p.result.skipped, junk.size());
  EXPECT_NE(p.msg.warnings & kSipWarnJunkBeforeStart, 0u);
  EXPECT_EQ(p.msg.call_id, "a84b4c76e66710@pc33.atlanta.example.com");
  EXPECT_EQ(p.msg.body.size(), 149u);
}

TEST(SipStartLine, JunkWithoutAnyStartLineIsInvalid) {
  auto p = parse("garbage\r\nmore garbage\r\nSIP is great\r\n\r\n");
  EXPECT_EQ(p.result.status, SipParseStatus::kInvalid);
  auto empty = parse("");
  EXPECT_EQ(empty.result.status, SipParseStatus::kInvalid);
  auto blanks = parse("\r\n\r\n  \t");
  EXPECT_EQ(blanks.result.status, SipParseStatus::kInvalid);
}

// ------------------------------------------------------------------ headers

TEST(SipHeaders, NamesAreCaseInsensitive) {
  auto p = parse(crlf(R"(OPTIONS sip:a@b SIP/2.0
cALL-iD: abc
FROM: <sip:x@y>;TAG=t1
to: <sip:z@y>
cseq: 7 OPTIONS
VIA: SIP/2.0/UDP h;BRANCH=z9hG4bKb
CONTENT-LENGTH: 0

)"));
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_EQ(p.msg.call_id, "abc");
  EXPECT_EQ(p.msg.from.user, "x");
  EXPECT_EQ(p.msg.from.tag, "t1");
  EXPECT_EQ(p.msg.to.user, "z");
  EXPECT_EQ(p.msg.cseq, 7u);
  EXPECT_EQ(p.msg.cseq_method, "OPTIONS");
  EXPECT_EQ(p.msg.via_branch, "z9hG4bKb");
  EXPECT_EQ(p.msg.content_length, 0);
  EXPECT_TRUE(p.msg.has_dialog_headers());
}

TEST(SipHeaders, CompactForms) {
  auto p = parse(crlf(R"(INVITE sip:a@b SIP/2.0
v: SIP/2.0/UDP h:5060;branch=z9hG4bKcompact
f: "A" <sip:alice@a>;tag=ft
t: <sip:bob@b>;tag=tt
i: compact-id@h
CSeq: 2 INVITE
m: <sip:alice@10.0.0.1>
c: application/sdp
l: 4
k: timer
s: subject
e: gzip
o: presence

v=0
)"));
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_EQ(p.msg.via_branch, "z9hG4bKcompact");
  EXPECT_EQ(p.msg.from.user, "alice");
  EXPECT_EQ(p.msg.from.tag, "ft");
  EXPECT_EQ(p.msg.to.user, "bob");
  EXPECT_EQ(p.msg.to.tag, "tt");
  EXPECT_EQ(p.msg.call_id, "compact-id@h");
  EXPECT_EQ(p.msg.contact_uri, "sip:alice@10.0.0.1");
  EXPECT_EQ(p.msg.content_type, "application/sdp");
  EXPECT_EQ(p.msg.content_length, 4);
  EXPECT_EQ(p.msg.body, "v=0\r");
  EXPECT_NE(p.msg.warnings & kSipWarnContentLengthLong, 0u);  // the final LF is beyond l: 4
}

TEST(SipHeaders, ReplyToNeverMatchesTo) {
  // Headers that end in or contain a wanted name come first: a substring
  // search would take their values.
  auto p = parse(crlf(R"(INVITE sip:a@b SIP/2.0
Reply-To: "Evil" <sip:evil@x>;tag=evil
In-Reply-To: evil-call-id
X-Call-ID: evil-call-id-2
P-Asserted-From: <sip:evil@x>;tag=evil
Record-Route: <sip:proxy;lr>
X-Content-Length: 999
Max-To: 1
To: <sip:bob@b>
From: <sip:alice@a>;tag=good
Call-ID: good-id
CSeq: 1 INVITE
Content-Length: 0

)"));
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_EQ(p.msg.to.uri, "sip:bob@b");
  EXPECT_TRUE(p.msg.to.tag.empty());
  EXPECT_EQ(p.msg.from.tag, "good");
  EXPECT_EQ(p.msg.call_id, "good-id");
  EXPECT_EQ(p.msg.content_length, 0);
}

TEST(SipHeaders, HeaderWithoutToIsNotFilledFromReplyTo) {
  auto p = parse(crlf("BYE sip:a@b SIP/2.0\nReply-To: <sip:evil@x>\nCall-ID: c\n\n"));
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_TRUE(p.msg.to.uri.empty());
  EXPECT_FALSE(p.msg.has_dialog_headers());
}

TEST(SipHeaders, WhitespaceBeforeColonAndAroundValues) {
  auto p = parse(crlf("INVITE sip:a@b SIP/2.0\nTo  : <sip:bob@b>\nCall-ID\t:  spaced-id  \nl :0\n\n"));
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_EQ(p.msg.to.user, "bob");
  EXPECT_EQ(p.msg.call_id, "spaced-id");
  EXPECT_EQ(p.msg.content_length, 0);
}

TEST(SipHeaders, FirstOccurrenceWins) {
  auto p = parse(crlf(R"(INVITE sip:a@b SIP/2.0
Via: SIP/2.0/UDP top;branch=z9hG4bKtop
Via: SIP/2.0/UDP second;branch=z9hG4bKsecond
Call-ID: first
Call-ID: second
From: <sip:first@a>;tag=1
From: <sip:second@a>;tag=2

)"));
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_EQ(p.msg.via_branch, "z9hG4bKtop");
  EXPECT_EQ(p.msg.call_id, "first");
  EXPECT_EQ(p.msg.from.user, "first");
}

TEST(SipHeaders, FoldedHeadersAreUnfolded) {
  std::string data = crlf(
      "INVITE sip:a@b SIP/2.0\n"
      "Via: SIP/2.0/UDP h:5060\n"
      " ;branch=z9hG4bKfolded\n"
      "From: \"Alice\"\n"
      "\t<sip:alice@a>\n"
      "   ;tag=ftag\n"
      "Subject: I know you're there,\n"
      "      pick up the phone\n"
      "Call-ID: unfolded\n"
      "CSeq:\n"
      " 9\n"
      " INVITE\n"
      "\n");
  auto p = parse(data);
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_EQ(p.msg.via_branch, "z9hG4bKfolded");
  EXPECT_EQ(p.msg.from.display_name, "Alice");
  EXPECT_EQ(p.msg.from.uri, "sip:alice@a");
  EXPECT_EQ(p.msg.from.tag, "ftag");
  EXPECT_EQ(p.msg.cseq, 9u);
  EXPECT_EQ(p.msg.cseq_method, "INVITE");
  EXPECT_EQ(p.msg.call_id, "unfolded");
  EXPECT_FALSE(p.scratch.empty());
  // Unfolded values live in scratch, the others in the input.
  EXPECT_TRUE(inside(p.msg.from.uri, p.scratch));
  EXPECT_TRUE(inside(p.msg.via_branch, p.scratch));
  EXPECT_TRUE(inside(p.msg.call_id, p.data));
}

TEST(SipHeaders, NoFoldingMeansNoScratchAndViewsIntoInput) {
  SipMessage msg;
  std::string scratch = "left over from a previous message";
  auto result = parse_sip_message(kInvite, SipFraming::kDatagram, msg, scratch);
  ASSERT_EQ(result.status, SipParseStatus::kComplete);
  EXPECT_TRUE(scratch.empty());
  for (std::string_view v : {msg.method, msg.request_uri, msg.call_id, msg.from.uri, msg.from.tag, msg.to.uri,
                             msg.via_branch, msg.contact_uri, msg.content_type, msg.body})
    EXPECT_TRUE(inside(v, kInvite)) << v;
}

TEST(SipHeaders, MalformedHeaderLineIsSkippedWithWarning) {
  auto p =
      parse(crlf("INVITE sip:a@b SIP/2.0\n no header to continue\nthis line has no colon\n"
                 "Bad Name: x\nCall-ID: still-found\n\n"));
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_NE(p.msg.warnings & kSipWarnMalformedHeaderLine, 0u);
  EXPECT_EQ(p.msg.call_id, "still-found");
}

TEST(SipHeaders, MissingDialogHeadersStillParse) {
  auto p = parse(crlf("OPTIONS sip:a@b SIP/2.0\nMax-Forwards: 70\n\n"));
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_TRUE(p.msg.call_id.empty());
  EXPECT_FALSE(p.msg.has_dialog_headers());
  EXPECT_EQ(p.msg.content_length, -1);
}

TEST(SipHeaders, EmptyCallIdCountsAsMissing) {
  auto p =
      parse(crlf("BYE sip:a@b SIP/2.0\nCall-ID:   \nFrom: <sip:a@b>;tag=1\nTo: <sip:b@b>\nCSeq: 1 BYE\n\n"));
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_TRUE(p.msg.call_id.empty());
  EXPECT_FALSE(p.msg.has_dialog_headers());
}

TEST(SipHeaders, CSeqForms) {
  auto cseq = [](const std::string& value) {
    std::string data = "ACK sip:a@b SIP/2.0\r\nCSeq:" + std::string(value) + "\r\n\r\n";
    Parsed p = parse(data);
    EXPECT_EQ(p.result.status, SipParseStatus::kComplete);
    return std::pair<uint32_t, std::string>(p.msg.cseq, std::string(p.msg.cseq_method));
  };
  EXPECT_EQ(cseq(" 314159 INVITE"), (std::pair<uint32_t, std::string>(314159, "INVITE")));
  EXPECT_EQ(cseq("  3 INVITE"), (std::pair<uint32_t, std::string>(3, "INVITE")));
  EXPECT_EQ(cseq("\t4294967295\tACK "), (std::pair<uint32_t, std::string>(4294967295u, "ACK")));
  EXPECT_EQ(cseq(" 0 BYE"), (std::pair<uint32_t, std::string>(0, "BYE")));
  // correct_1.pcap (Mu Dynamics): 33 KB of zeros prepended to the number.
  EXPECT_EQ(cseq(" " + std::string(33000, '0') + "1 CANCEL"),
            (std::pair<uint32_t, std::string>(1, "CANCEL")));
  // Not "number method": treated as absent.
  EXPECT_EQ(cseq(" 4294967296 INVITE"), (std::pair<uint32_t, std::string>(0, "")));
  EXPECT_EQ(cseq(" x INVITE"), (std::pair<uint32_t, std::string>(0, "")));
  EXPECT_EQ(cseq(" 1"), (std::pair<uint32_t, std::string>(0, "")));
  EXPECT_EQ(cseq(" -1 INVITE"), (std::pair<uint32_t, std::string>(0, "")));
  EXPECT_EQ(cseq(" 1 INV@TE"), (std::pair<uint32_t, std::string>(0, "")));
  EXPECT_EQ(cseq(" 1 INVITE trailing"), (std::pair<uint32_t, std::string>(0, "")));
}

TEST(SipHeaders, ViaBranchForms) {
  auto branch = [](std::string_view via_lines) {
    std::string data = "INVITE sip:a@b SIP/2.0\r\n" + std::string(via_lines) + "\r\n";
    Parsed p = parse(data);
    EXPECT_EQ(p.result.status, SipParseStatus::kComplete);
    return std::string(p.msg.via_branch);
  };
  EXPECT_EQ(branch("Via: SIP/2.0/UDP h;rport;branch=z9hG4bK1;received=1.2.3.4\r\n"), "z9hG4bK1");
  EXPECT_EQ(branch("Via: SIP/2.0/UDP a;branch=z9hG4bKa, SIP/2.0/UDP b;branch=z9hG4bKb\r\n"), "z9hG4bKa");
  EXPECT_EQ(branch("Via: SIP/2.0/UDP a, SIP/2.0/UDP b;branch=z9hG4bKb\r\n"), "");
  EXPECT_EQ(branch("Via: SIP / 2.0 / UDP h ; Branch = z9hG4bKsp ;rport\r\n"), "z9hG4bKsp");
  EXPECT_EQ(branch("Via: SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bK6\r\n"), "z9hG4bK6");
  EXPECT_EQ(branch("Via: SIP/2.0/UDP h;xbranch=no;branch=yes\r\n"), "yes");
  EXPECT_EQ(branch("Via: SIP/2.0/UDP h\r\n"), "");
}

// ---------------------------------------------------------------- addresses

SipAddress address(std::string_view value) {
  SipAddress a;
  parse_sip_address(value, a);
  return a;
}

TEST(SipAddressTest, NameAddrForms) {
  auto a = address("Bob <sip:bob@biloxi.example.com>;tag=a6c85cf");
  EXPECT_EQ(a.display_name, "Bob");
  EXPECT_EQ(a.uri, "sip:bob@biloxi.example.com");
  EXPECT_EQ(a.user, "bob");
  EXPECT_EQ(a.tag, "a6c85cf");

  auto b = address("<sip:+48123@host;user=phone>");
  EXPECT_TRUE(b.display_name.empty());
  EXPECT_EQ(b.uri, "sip:+48123@host;user=phone");
  EXPECT_EQ(b.user, "+48123");
  EXPECT_TRUE(b.tag.empty());

  auto c = address("Anonymous Caller Smith   <sip:c@h> ; tag = spaced ");
  EXPECT_EQ(c.display_name, "Anonymous Caller Smith");
  EXPECT_EQ(c.tag, "spaced");

  auto d = address("\"test\"<sip:20008777@101.231.48.19:5060>;tag=x");
  EXPECT_EQ(d.display_name, "test");
  EXPECT_EQ(d.user, "20008777");
}

TEST(SipAddressTest, QuotedDisplayNames) {
  auto escaped = address(R"("Bob \"The Builder\" \\ Smith" <sip:bob@h>;tag=1)");
  EXPECT_EQ(escaped.display_name, R"(Bob \"The Builder\" \\ Smith)");
  EXPECT_EQ(escaped.uri, "sip:bob@h");
  EXPECT_EQ(escaped.tag, "1");

  auto comma = address(R"("Smith, Bob; Jr. <boss>" <sip:bob@h>;tag=2)");
  EXPECT_EQ(comma.display_name, "Smith, Bob; Jr. <boss>");
  EXPECT_EQ(comma.uri, "sip:bob@h");
  EXPECT_EQ(comma.tag, "2");

  auto tag_in_name = address(R"("tag=fake" <sip:bob@h>)");
  EXPECT_EQ(tag_in_name.display_name, "tag=fake");
  EXPECT_TRUE(tag_in_name.tag.empty());

  auto empty = address(R"("" <sip:bob@h>)");
  EXPECT_TRUE(empty.display_name.empty());
  EXPECT_EQ(empty.uri, "sip:bob@h");

  SipAddress bad;
  EXPECT_FALSE(parse_sip_address(R"("unterminated <sip:bob@h>)", bad));
  EXPECT_TRUE(bad.uri.empty());
  EXPECT_FALSE(parse_sip_address(R"("ends in backslash\)", bad));
  EXPECT_FALSE(parse_sip_address(R"("name" sip:bob@h)", bad));
  EXPECT_FALSE(parse_sip_address("<sip:bob@h", bad));
  EXPECT_FALSE(parse_sip_address("<>", bad));
  EXPECT_FALSE(parse_sip_address("", bad));
}

TEST(SipAddressTest, TagOnlyOutsideAngleBrackets) {
  auto inside_uri = address("<sip:bob@h;tag=uri-param>");
  EXPECT_EQ(inside_uri.uri, "sip:bob@h;tag=uri-param");
  EXPECT_TRUE(inside_uri.tag.empty());

  auto both = address("<sip:bob@h;tag=uri-param>;tag=real");
  EXPECT_EQ(both.tag, "real");

  auto upper = address("<sip:bob@h>;TAG=Upper;other=1");
  EXPECT_EQ(upper.tag, "Upper");

  auto not_tag = address("<sip:bob@h>;xtag=no;tagx=no");
  EXPECT_TRUE(not_tag.tag.empty());

  // A tag is a token: whatever follows whitespace is not part of it.
  EXPECT_EQ(address("<sip:bob@h>;tag=00-94%s -1701b6ab").tag, "00-94%s");
  EXPECT_EQ(address("<sip:bob@h>;tag=\"quoted value\"").tag, "quoted value");
  EXPECT_TRUE(address("<sip:bob@h>;tag").tag.empty());
  EXPECT_TRUE(address("<sip:bob@h>;tag=").tag.empty());
}

TEST(SipAddressTest, AddrSpecParametersBelongToHeader) {
  auto a = address("sip:bob@h;tag=88");
  EXPECT_EQ(a.uri, "sip:bob@h");
  EXPECT_EQ(a.user, "bob");
  EXPECT_EQ(a.tag, "88");
  EXPECT_TRUE(a.display_name.empty());

  auto b = address("  sip:10.0.2.20:5060  ");
  EXPECT_EQ(b.uri, "sip:10.0.2.20:5060");
  EXPECT_TRUE(b.user.empty());
}

TEST(SipAddressTest, TelUris) {
  auto a = address("<tel:+1-201-555-0123;phone-context=example.com>;tag=t");
  EXPECT_EQ(a.uri, "tel:+1-201-555-0123;phone-context=example.com");
  EXPECT_EQ(a.user, "+1-201-555-0123");
  EXPECT_EQ(a.tag, "t");
  EXPECT_EQ(sip_uri_user("TEL:122"), "122");
  EXPECT_EQ(sip_uri_user("tel:7042?x=y"), "7042");
}

TEST(SipAddressTest, UserParts) {
  EXPECT_EQ(sip_uri_user("sip:alice@atlanta.com"), "alice");
  EXPECT_EQ(sip_uri_user("SIP:Alice@atlanta.com"), "Alice");
  EXPECT_EQ(sip_uri_user("sips:alice:secret@atlanta.com;transport=tls"), "alice");
  EXPECT_EQ(sip_uri_user("sip:+1234;npdi;rn=+1999@gw;user=phone"), "+1234;npdi;rn=+1999");
  EXPECT_EQ(sip_uri_user("sip:atlanta.com"), "");
  EXPECT_EQ(sip_uri_user("sip:@h"), "");
  EXPECT_EQ(sip_uri_user("urn:service:sos"), "");
  EXPECT_EQ(sip_uri_user("mailto:a@b"), "");
  EXPECT_EQ(sip_uri_user(""), "");
}

TEST(SipAddressTest, Ipv6Hosts) {
  auto a = address("<sip:alice@[2001:db8::1]:5060;transport=udp>;tag=v6");
  EXPECT_EQ(a.uri, "sip:alice@[2001:db8::1]:5060;transport=udp");
  EXPECT_EQ(a.user, "alice");
  EXPECT_EQ(a.tag, "v6");
  EXPECT_EQ(sip_uri_user("sip:[fd01::183]:5060"), "");
  // Unbracketed (seen in sip_ipv6.pcap): the user part is still before '@'.
  EXPECT_EQ(sip_uri_user("sip:9876@fe80:0:0:0:21a:a0ff:fe07:32e0:5060"), "9876");
}

TEST(SipHeaders, ContactForms) {
  auto contact = [](std::string_view value) {
    std::string data = "REGISTER sip:h SIP/2.0\r\nContact: " + std::string(value) + "\r\n\r\n";
    Parsed p = parse(data);
    EXPECT_EQ(p.result.status, SipParseStatus::kComplete);
    return std::string(p.msg.contact_uri);
  };
  EXPECT_EQ(contact("<sip:alice@10.0.0.1:5060;transport=udp>;expires=60"),
            "sip:alice@10.0.0.1:5060;transport=udp");
  EXPECT_EQ(contact("sip:sipp@10.0.2.20:5060"), "sip:sipp@10.0.2.20:5060");
  EXPECT_EQ(contact("sip:a@h;expires=0"), "sip:a@h");
  EXPECT_EQ(contact("\"Smith, Bob\" <sip:bob@h>, <sip:second@h>"), "sip:bob@h");
  EXPECT_EQ(contact("<sip:first@h;a=1,2>, <sip:second@h>"), "sip:first@h;a=1,2");
  EXPECT_EQ(contact("*"), "*");
  EXPECT_EQ(contact("<sip:[fd01::183]:5060>;+g.3gpp.icsi-ref=\"urn%3Aurn-7\""), "sip:[fd01::183]:5060");
}

TEST(SipHeaders, ContentTypeAndParameters) {
  auto p = parse(crlf("INVITE sip:a@b SIP/2.0\nContent-Type:  Application/SDP ; charset=UTF-8\n\n"));
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_EQ(p.msg.content_type, "Application/SDP");
  EXPECT_EQ(p.msg.content_type_params, "charset=UTF-8");
  EXPECT_TRUE(p.msg.content_type_is("application/sdp"));
  EXPECT_FALSE(p.msg.content_type_is("application/sdpx"));
}

// ------------------------------------------------------------ body framing

std::string message_with_body(std::string_view content_length_header, std::string_view body) {
  return "MESSAGE sip:a@b SIP/2.0\r\nCall-ID: body\r\n" + std::string(content_length_header) + "\r\n" +
         std::string(body);
}

TEST(SipDatagramBody, ExactContentLength) {
  auto p = parse(message_with_body("Content-Length: 5\r\n", "hello"));
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete);
  EXPECT_EQ(p.msg.body, "hello");
  EXPECT_EQ(p.msg.content_length, 5);
  EXPECT_EQ(p.msg.warnings, kSipWarnNone);
}

TEST(SipDatagramBody, LongerThanContentLengthIsTruncated) {
  std::string data = message_with_body("Content-Length: 5\r\n", "hello world");
  auto p = parse(data);
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete);
  EXPECT_EQ(p.msg.body, "hello");
  EXPECT_EQ(p.msg.warnings, kSipWarnContentLengthLong);
  EXPECT_EQ(p.result.consumed, data.size());
}

TEST(SipDatagramBody, ShorterThanContentLengthKeepsWhatIsThere) {
  auto p = parse(message_with_body("Content-Length: 500\r\n", "hello"));
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete);
  EXPECT_EQ(p.msg.body, "hello");
  EXPECT_EQ(p.msg.content_length, 500);
  EXPECT_EQ(p.msg.warnings, kSipWarnContentLengthShort);
}

TEST(SipDatagramBody, MissingContentLengthTakesTheRest) {
  auto p = parse(message_with_body("", "hello"));
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete);
  EXPECT_EQ(p.msg.body, "hello");
  EXPECT_EQ(p.msg.content_length, -1);
  EXPECT_EQ(p.msg.warnings, kSipWarnNoContentLength);

  // Without a body there is nothing to warn about (UDP does not require it).
  auto empty = parse(message_with_body("", ""));
  ASSERT_EQ(empty.result.status, SipParseStatus::kComplete);
  EXPECT_TRUE(empty.msg.body.empty());
  EXPECT_EQ(empty.msg.warnings, kSipWarnNone);
}

TEST(SipDatagramBody, InvalidContentLengthWarnsAndTakesTheRest) {
  for (std::string_view header :
       {"Content-Length: bad\r\n", "Content-Length: -1\r\n", "Content-Length: 1 2\r\n",
        "Content-Length: 99999999999\r\n", "Content-Length:\r\n", "l: 0x10\r\n"}) {
    auto p = parse(message_with_body(header, "hello"));
    ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << header;
    EXPECT_EQ(p.msg.body, "hello") << header;
    EXPECT_EQ(p.msg.content_length, -1) << header;
    EXPECT_EQ(p.msg.warnings, kSipWarnContentLengthInvalid) << header;
  }
}

TEST(SipDatagramBody, ConflictingContentLengthsKeepTheFirst) {
  auto p = parse(message_with_body("Content-Length: 2\r\nl: 4\r\n", "hello"));
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete);
  EXPECT_EQ(p.msg.body, "he");
  EXPECT_NE(p.msg.warnings & kSipWarnContentLengthInvalid, 0u);
  auto same = parse(message_with_body("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"));
  EXPECT_EQ(same.msg.warnings, kSipWarnNone);
}

TEST(SipDatagramBody, LfOnlyLineEnds) {
  auto p = parse("SIP/2.0 200 OK\nCall-ID: lf\nContent-Length: 3\n\nabc");
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_EQ(p.msg.call_id, "lf");
  EXPECT_EQ(p.msg.body, "abc");
}

TEST(SipDatagramBody, HeaderSectionMustEnd) {
  auto p = parse("INVITE sip:a@b SIP/2.0\r\nCall-ID: x\r\nContent-Length: 0\r\n");
  EXPECT_EQ(p.result.status, SipParseStatus::kInvalid);
  auto cut = parse("INVITE sip:a@b SIP/2.0\r\nCall-");
  EXPECT_EQ(cut.result.status, SipParseStatus::kInvalid);
  auto start_only = parse("INVITE sip:a@b SIP/2.0");
  EXPECT_EQ(start_only.result.status, SipParseStatus::kInvalid);
}

// ------------------------------------------------------------- stream framing

TEST(SipStream, TwoMessagesInOneBuffer) {
  std::string first = crlf("SIP/2.0 100 Trying\nCall-ID: one\nContent-Length: 0\n\n");
  std::string second =
      crlf("SIP/2.0 200 OK\nCall-ID: two\nContent-Type: application/sdp\nContent-Length: 4\n\n") + "v=0\n";
  std::string buffer = first + second;
  auto a = parse(buffer, SipFraming::kStream);
  ASSERT_EQ(a.result.status, SipParseStatus::kComplete) << a.result.error;
  EXPECT_EQ(a.msg.call_id, "one");
  EXPECT_EQ(a.result.consumed, first.size());
  auto b = parse(std::string_view(buffer).substr(a.result.consumed), SipFraming::kStream);
  ASSERT_EQ(b.result.status, SipParseStatus::kComplete) << b.result.error;
  EXPECT_EQ(b.msg.call_id, "two");
  EXPECT_EQ(b.msg.body, "v=0\n");
  EXPECT_EQ(b.result.consumed, second.size());
}

TEST(SipStream, EveryPrefixIsIncompleteWithAnHonestNeed) {
  // `needed` is a lower bound: adding that many bytes must never overshoot
  // the message, and the full message parses.
  for (size_t cut = 0; cut < kInvite.size(); ++cut) {
    std::string_view prefix = std::string_view(kInvite).substr(0, cut);
    auto p = parse(prefix, SipFraming::kStream);
    ASSERT_EQ(p.result.status, SipParseStatus::kIncomplete) << "cut at " << cut << ": " << p.result.error;
    EXPECT_GE(p.result.needed, 1u);
    EXPECT_LE(cut + p.result.needed, kInvite.size()) << "cut at " << cut;
  }
  auto full = parse(kInvite, SipFraming::kStream);
  ASSERT_EQ(full.result.status, SipParseStatus::kComplete);
  EXPECT_EQ(full.result.consumed, kInvite.size());
}

TEST(SipStream, NeededIsExactOnceHeadersAreComplete) {
  size_t header_end = kInvite.find("\r\n\r\n") + 4;
  auto p = parse(std::string_view(kInvite).substr(0, header_end + 10), SipFraming::kStream);
  ASSERT_EQ(p.result.status, SipParseStatus::kIncomplete);
  EXPECT_EQ(p.result.needed, 149u - 10u);
}

TEST(SipStream, MissingContentLengthMeansNoBody) {
  std::string buffer = crlf("BYE sip:a@b SIP/2.0\nCall-ID: x\n\n") + "OPTIONS";
  auto p = parse(buffer, SipFraming::kStream);
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete);
  EXPECT_TRUE(p.msg.body.empty());
  EXPECT_EQ(p.result.consumed, buffer.size() - 7);
  EXPECT_EQ(p.msg.warnings, kSipWarnNone);
}

TEST(SipStream, BadContentLengthIsInvalid) {
  auto bad = parse(crlf("BYE sip:a@b SIP/2.0\nContent-Length: xyz\n\n"), SipFraming::kStream);
  EXPECT_EQ(bad.result.status, SipParseStatus::kInvalid);
  auto conflict = parse(crlf("BYE sip:a@b SIP/2.0\nContent-Length: 1\nl: 2\n\nab"), SipFraming::kStream);
  EXPECT_EQ(conflict.result.status, SipParseStatus::kInvalid);
  auto huge = parse(crlf("BYE sip:a@b SIP/2.0\nContent-Length: 4294967295\n\n"), SipFraming::kStream);
  EXPECT_EQ(huge.result.status, SipParseStatus::kInvalid);
}

TEST(SipStream, KeepAlivesOnlyAreIncompleteAndSkippable) {
  auto p = parse("\r\n\r\n\r\n", SipFraming::kStream);
  EXPECT_EQ(p.result.status, SipParseStatus::kIncomplete);
  EXPECT_EQ(p.result.skipped, 6u);
  auto empty = parse("", SipFraming::kStream);
  EXPECT_EQ(empty.result.status, SipParseStatus::kIncomplete);
  EXPECT_EQ(empty.result.skipped, 0u);

  std::string buffer = "\r\n\r\n" + kInvite;
  auto msg = parse(buffer, SipFraming::kStream);
  ASSERT_EQ(msg.result.status, SipParseStatus::kComplete);
  EXPECT_EQ(msg.result.consumed, buffer.size());
  EXPECT_EQ(msg.result.skipped, 4u);
}

TEST(SipStream, JunkThenPartialLineSkipsTheJunk) {
  std::string buffer = "junk junk\r\nINVITE sip:a@b SIP";
  auto p = parse(buffer, SipFraming::kStream);
  EXPECT_EQ(p.result.status, SipParseStatus::kIncomplete);
  EXPECT_EQ(p.result.skipped, 11u);
}

TEST(SipStream, UnterminatedHeadersAreBounded) {
  std::string buffer = "INVITE sip:a@b SIP/2.0\r\n";
  while (buffer.size() <= kSipMaxHeaderBytes)
    buffer += "X-Filler: 0123456789012345678901234567890123456789\r\n";
  auto p = parse(buffer, SipFraming::kStream);
  EXPECT_EQ(p.result.status, SipParseStatus::kInvalid);
  std::string junk(kSipMaxHeaderBytes + 10, 'x');
  EXPECT_EQ(parse(junk, SipFraming::kStream).result.status, SipParseStatus::kInvalid);
}

// sip-body-large.pcap: INVITE over TCP with Content-Length 65536, sent in
// segments of 16332 x 4 + 465 bytes. Rebuilt here rather than stored.
TEST(SipStream, LargeBodyArrivesInSegments) {
  std::string head = crlf(R"(INVITE sip:bob@target.com SIP/2.0
Via: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK123
From: <sip:alice@attacker.com>;tag=abc123
To: <sip:bob@target.com>
Call-ID: test123@attacker.com
CSeq: 1 INVITE
Content-Type: application/sdp
Content-Length: 65536

)");
  std::string body =
      crlf("v=0\no=SIPPS 105015165 105015162 IN IP4 192.168.1.2\ns=SIP call\nc=IN IP4 192.168.1.2\n") +
      "k=2882844";
  body.resize(65536, 'X');
  std::string stream = head + body;
  ASSERT_EQ(stream.size(), 65793u);  // the client's byte count in the capture
  size_t have = 0;
  for (size_t segment : {16332u, 16332u, 16332u, 16332u}) {
    have += segment;
    auto p = parse(std::string_view(stream).substr(0, have), SipFraming::kStream);
    ASSERT_EQ(p.result.status, SipParseStatus::kIncomplete);
    EXPECT_EQ(p.result.needed, stream.size() - have);
  }
  auto p = parse(stream, SipFraming::kStream);
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_EQ(p.msg.body.size(), 65536u);
  EXPECT_EQ(p.result.consumed, stream.size());
  EXPECT_EQ(find_sdp_body(p.msg).size(), 65536u);
  SdpSession sdp;
  auto r = parse_sdp(find_sdp_body(p.msg), sdp);
  ASSERT_EQ(r.status, SdpParseStatus::kOk) << r.error;
  EXPECT_EQ(sdp.media_count, 0u);
  EXPECT_EQ(sdp.connection, *IpAddress::parse("192.168.1.2"));
}

// -------------------------------------------------------------- garbage

TEST(SipGarbage, BinaryInputNeverCrashes) {
  uint64_t state = 0x9E3779B97F4A7C15ULL;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  static constexpr char kAlphabet[] = "INVITE SIP/2.0 sip: \r\n:;<>\"\\,=@ \t0123456789tag branch\x00\xff";
  const std::string_view alphabet(kAlphabet, sizeof kAlphabet - 1);
  for (int round = 0; round < 3000; ++round) {
    std::string data(next() % 300, '\0');
    bool texty = round % 2 == 0;
    for (char& c : data) c = texty ? alphabet[next() % alphabet.size()] : static_cast<char>(next() & 0xff);
    if (round % 3 == 0) data = kInvite.substr(0, next() % kInvite.size()) + data;
    for (SipFraming framing : {SipFraming::kDatagram, SipFraming::kStream}) {
      Parsed p = parse(data, framing);
      if (p.result.status == SipParseStatus::kComplete) {
        EXPECT_LE(p.result.consumed, data.size());
        EXPECT_TRUE(inside(p.msg.body, p.data));
        SdpSession sdp;
        parse_sdp(find_sdp_body(p.msg), sdp);
      }
    }
  }
}

TEST(SipGarbage, RtpPacketIsNotSip) {
  const unsigned char rtp[] = {0x80, 0x00, 0x12, 0x34, 0x00, 0x00, 0x00, 0xa0, 0x34, 0x3d,
                               0xa9, 0x9b, 0xff, 0xfe, 0x7f, 0x0d, 0x0a, 0x0d, 0x0a, 0x00};
  std::string_view data(reinterpret_cast<const char*>(rtp), sizeof rtp);
  EXPECT_EQ(parse(data).result.status, SipParseStatus::kInvalid);
  EXPECT_FALSE(looks_like_sip(data));
}

TEST(SipGarbage, NulBytesInsideHeaders) {
  std::string data = crlf("INVITE sip:a@b SIP/2.0\nCall-ID: a");
  data += std::string("\0b", 2);
  data += crlf("\nX-Bin: \x01\x02\n\n");
  auto p = parse(data);
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_EQ(p.msg.call_id, std::string_view("a\0b", 3));
}

// ------------------------------------------------------------ looks_like_sip

TEST(SipLooksLikeSip, PrefixTest) {
  EXPECT_TRUE(looks_like_sip("INVITE sip:bob@h SIP/2.0\r\n"));
  EXPECT_TRUE(looks_like_sip("\r\n\r\nBYE sips:bob@h SIP/2.0\r\n"));
  EXPECT_TRUE(looks_like_sip("MESSAGE tel:+7 SIP/2.0\r\n"));
  EXPECT_TRUE(looks_like_sip("SIP/2.0 200 OK\r\n"));
  EXPECT_TRUE(looks_like_sip("sip/2.0 180 Ringing\r\n"));
  EXPECT_TRUE(looks_like_sip("OPTIONS SIP:h SIP/2.0"));
  EXPECT_FALSE(looks_like_sip(""));
  EXPECT_FALSE(looks_like_sip("\r\n"));
  EXPECT_FALSE(looks_like_sip("INVITE"));
  EXPECT_FALSE(looks_like_sip("INVITE "));
  EXPECT_FALSE(looks_like_sip("GET / HTTP/1.1\r\n"));
  EXPECT_FALSE(looks_like_sip("HTTP/1.1 200 OK\r\n"));
  EXPECT_FALSE(looks_like_sip("SIP/2.0"));
  EXPECT_FALSE(looks_like_sip("INVITE http://x SIP/2.0"));
  EXPECT_FALSE(looks_like_sip(std::string(40, 'a') + " sip:x SIP/2.0"));
}

// --------------------------------------------------------- multipart bodies

Parsed parse_with_body(std::string_view content_type, std::string_view body, std::string& storage) {
  storage = "INVITE sip:a@b SIP/2.0\r\nContent-Type: " + std::string(content_type) +
            "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
  return parse(storage);
}

const std::string kSdp =
    crlf("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 0\n");

TEST(SipFindSdp, PlainSdpBody) {
  std::string storage;
  auto p = parse_with_body("application/sdp", kSdp, storage);
  EXPECT_EQ(find_sdp_body(p.msg), kSdp);
  auto upper = parse_with_body("APPLICATION/SDP;x=1", kSdp, storage);
  EXPECT_EQ(find_sdp_body(upper.msg), kSdp);
  auto other = parse_with_body("application/isup", "\x01\x02", storage);
  EXPECT_TRUE(find_sdp_body(other.msg).empty());
}

TEST(SipFindSdp, NoContentTypeButSdpLooking) {
  std::string data = "INVITE sip:a@b SIP/2.0\r\n\r\n" + kSdp;
  auto p = parse(data);
  EXPECT_EQ(find_sdp_body(p.msg), kSdp);
  auto text = parse("MESSAGE sip:a@b SIP/2.0\r\n\r\nhello");
  EXPECT_TRUE(find_sdp_body(text.msg).empty());
}

TEST(SipFindSdp, MultipartMixedWithQuotedBoundary) {
  std::string body = crlf(
                         "--unique-boundary-1\n"
                         "Content-Type: application/isup;version=itu-t92+\n"
                         "Content-Disposition: signal;handling=optional\n"
                         "\n"
                         "binary isup here\n"
                         "--unique-boundary-1\n"
                         "Content-Type: application/sdp\n"
                         "\n") +
                     kSdp + crlf("\n--unique-boundary-1--\n");
  std::string storage;
  auto p = parse_with_body("multipart/mixed; boundary=\"unique-boundary-1\"", body, storage);
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete);
  EXPECT_EQ(p.msg.content_type_params, "boundary=\"unique-boundary-1\"");
  EXPECT_EQ(find_sdp_body(p.msg), kSdp);
  SdpSession sdp;
  ASSERT_EQ(parse_sdp(find_sdp_body(p.msg), sdp).status, SdpParseStatus::kOk);
  EXPECT_EQ(sdp.media[0].port, 4000);
}

TEST(SipFindSdp, MultipartWithUnquotedBoundaryPreambleAndLfLines) {
  std::string sdp = "v=0\nc=IN IP4 192.0.2.9\nm=audio 5000 RTP/AVP 8\n";
  std::string body = "This is a preamble.\n--b1\ncontent-type: Application/SDP; charset=x\n\n" + sdp +
                     "\n--b1\nContent-Type: text/plain\n\nhi\n--b1--\nepilogue";
  std::string storage;
  auto p = parse_with_body("Multipart/Alternative;boundary=b1", body, storage);
  EXPECT_EQ(find_sdp_body(p.msg), sdp);
}

TEST(SipFindSdp, NestedMultipart) {
  std::string inner = crlf("--inner\nContent-Type: application/sdp\n\n") + kSdp + crlf("\n--inner--\n");
  std::string body = crlf(
                         "--outer\nContent-Type: text/plain\n\nhello\n--outer\n"
                         "Content-Type: multipart/alternative; boundary=inner\n\n") +
                     inner + crlf("\n--outer--\n");
  std::string storage;
  auto p = parse_with_body("multipart/mixed;boundary=outer", body, storage);
  EXPECT_EQ(find_sdp_body(p.msg), kSdp);
}

TEST(SipFindSdp, MultipartEdgeCases) {
  std::string storage;
  // No SDP part.
  auto none = parse_with_body("multipart/mixed;boundary=b",
                              "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n", storage);
  EXPECT_TRUE(find_sdp_body(none.msg).empty());
  // No boundary parameter.
  auto no_boundary =
      parse_with_body("multipart/mixed", "--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b--", storage);
  EXPECT_TRUE(find_sdp_body(no_boundary.msg).empty());
  // Closing delimiter missing (truncated capture): the part runs to the end.
  auto open = parse_with_body("multipart/mixed;boundary=b",
                              "--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n", storage);
  EXPECT_EQ(find_sdp_body(open.msg), "v=0\r\n");
  // The boundary text inside a part's line is not a delimiter.
  auto inline_text =
      parse_with_body("multipart/mixed;boundary=b",
                      "--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\ns=x--b\r\n--b--\r\n", storage);
  EXPECT_EQ(find_sdp_body(inline_text.msg), "v=0\r\ns=x--b");
  // Part without headers or blank line.
  auto headless =
      parse_with_body("multipart/mixed;boundary=b", "--b\r\n--b\r\nContent-Type: application/sdp", storage);
  EXPECT_TRUE(find_sdp_body(headless.msg).empty());
  // Only a close delimiter.
  auto closed = parse_with_body("multipart/mixed;boundary=b", "--b--\r\n", storage);
  EXPECT_TRUE(find_sdp_body(closed.msg).empty());
}

TEST(SipFindSdp, DeepNestingIsBounded) {
  std::string body = "v=0\r\n";
  for (int depth = 0; depth < 6; ++depth) {
    std::string b = "b" + std::to_string(depth);
    std::string type =
        depth == 0 ? "application/sdp" : "multipart/mixed;boundary=b" + std::to_string(depth - 1);
    body = "--" + b + "\r\nContent-Type: " + type + "\r\n\r\n" + body + "\r\n--" + b + "--\r\n";
  }
  std::string storage;
  auto p = parse_with_body("multipart/mixed;boundary=b5", body, storage);
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete);
  EXPECT_TRUE(find_sdp_body(p.msg).empty());
}

// ------------------------------------------- real messages (tests/unit/data/sip)

TEST(SipCaptures, CompactFormInvite) {
  // sip_compact_form.pcap frame 1
  std::string data = fixture("compact_form_invite.sip");
  auto p = parse(data);
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_EQ(p.msg.method, "INVITE");
  EXPECT_EQ(p.msg.request_uri, "sip:97239287044@voip.brujula.net");
  EXPECT_EQ(p.msg.call_id, "105090259-446faf7a@192.168.1.2");
  EXPECT_EQ(p.msg.from.display_name, R"(\"arik\")");
  EXPECT_EQ(p.msg.from.user, "816666");
  EXPECT_EQ(p.msg.from.tag, "6433ef9");
  EXPECT_EQ(p.msg.to.user, "97239287044");
  EXPECT_TRUE(p.msg.to.tag.empty());
  EXPECT_EQ(p.msg.cseq, 1u);
  EXPECT_EQ(p.msg.cseq_method, "INVITE");
  EXPECT_EQ(p.msg.via_branch, "z9hG4bKnp104984053-44ce4a41192.168.1.2");
  EXPECT_EQ(p.msg.contact_uri, "sip:816666@192.168.1.2");
  EXPECT_TRUE(p.msg.content_type_is("application/sdp"));
  EXPECT_EQ(p.msg.content_length, 272);
  EXPECT_EQ(p.msg.body.size(), 272u);  // 372 bytes follow the headers
  EXPECT_EQ(p.msg.warnings, kSipWarnContentLengthLong);
  EXPECT_TRUE(p.msg.body.ends_with("z=2882844"));
}

TEST(SipCaptures, G711InviteAndAnswer) {
  // sip-rtp-g711.pcap frames 1 and 4
  std::string invite = fixture("g711_invite.sip");
  auto p = parse(invite);
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_EQ(p.msg.call_id, "1-1966@10.0.2.20");
  EXPECT_EQ(p.msg.from.display_name, "PCMU/8000");
  EXPECT_EQ(p.msg.from.user, "sipp");
  EXPECT_EQ(p.msg.from.tag, "1");
  EXPECT_EQ(p.msg.to.display_name, "test");
  EXPECT_EQ(p.msg.to.user, "test");
  EXPECT_TRUE(p.msg.to.tag.empty());
  EXPECT_EQ(p.msg.via_branch, "z9hG4bK-1966-1-0");
  EXPECT_EQ(p.msg.contact_uri, "sip:sipp@10.0.2.20:5060");
  EXPECT_EQ(p.msg.content_length, 123);
  EXPECT_EQ(p.msg.warnings, kSipWarnNone);

  std::string answer = fixture("g711_200ok.sip");
  auto a = parse(answer);
  ASSERT_EQ(a.result.status, SipParseStatus::kComplete) << a.result.error;
  EXPECT_EQ(a.msg.status_code, 200);
  EXPECT_EQ(a.msg.reason, "OK");
  EXPECT_EQ(a.msg.call_id, "1-1966@10.0.2.20");
  EXPECT_EQ(a.msg.to.tag, "QvN92t713vSZK");
  EXPECT_EQ(a.msg.contact_uri, "sip:test@10.0.2.15:5060;transport=udp");
  EXPECT_EQ(a.msg.cseq_method, "INVITE");
  EXPECT_EQ(a.msg.body.size(), 226u);
  EXPECT_EQ(a.msg.warnings, kSipWarnNone);
}

TEST(SipCaptures, Ipv6Invite) {
  // sip_ipv6.pcap frame 1
  std::string data = fixture("ipv6_invite.sip");
  auto p = parse(data);
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_EQ(p.msg.call_id, "c3eF6f58-363323Cd-8058EB88-10300252@fe80:0:0:0:21a:a0ff:fe07:32e0");
  EXPECT_EQ(p.msg.from.user, "9876");
  EXPECT_EQ(p.msg.from.tag, "a3bhg");
  EXPECT_EQ(p.msg.to.user, "4321");
  EXPECT_EQ(p.msg.contact_uri, "sip:9876@fe80:0:0:0:21a:a0ff:fe07:32e0:5060");
  EXPECT_EQ(p.msg.via_branch, "z9hG4bKkdjuw8376");
}

TEST(SipCaptures, VideoCall) {
  // rohc-bug1265304_source.pcap frames 7 and 11
  std::string invite = fixture("video_invite.sip");
  auto p = parse(invite);
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_EQ(p.msg.call_id, "7e637c963b933af4@100.10.100.30");
  EXPECT_EQ(p.msg.from.user, "3000");
  EXPECT_EQ(p.msg.from.tag, "fd30e1e20ac6dca6");
  EXPECT_EQ(p.msg.to.user, "4000");
  EXPECT_EQ(p.msg.cseq, 15436u);
  std::string answer = fixture("video_200ok.sip");
  auto a = parse(answer);
  ASSERT_EQ(a.result.status, SipParseStatus::kComplete) << a.result.error;
  EXPECT_EQ(a.msg.to.tag, "20103e24ae913c82");
  EXPECT_EQ(a.msg.contact_uri, "sip:4000@100.10.10.30:5060");
}

TEST(SipCaptures, ProtosC07) {
  // c07-sip-r2.cap frames 3 (baseline) and 15 (4099-character method)
  std::string valid = fixture("protos_c07_valid.sip");
  auto p = parse(valid);
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_EQ(p.msg.call_id, "0@localhost");
  EXPECT_EQ(p.msg.from.display_name, "0");
  EXPECT_EQ(p.msg.from.user, "ann");
  EXPECT_EQ(p.msg.from.tag, "0");
  EXPECT_EQ(p.msg.to.display_name, "Receiver");
  EXPECT_EQ(p.msg.to.user, "tori");
  EXPECT_EQ(p.msg.via_branch, "z9hG4bK000000");

  std::string long_method = fixture("protos_c07_long_method.sip");
  auto l = parse(long_method);
  ASSERT_EQ(l.result.status, SipParseStatus::kComplete) << l.result.error;
  EXPECT_EQ(l.msg.method, std::string(4099, 'a'));
  EXPECT_EQ(l.msg.call_id, "12@localhost");
  EXPECT_EQ(l.msg.from.tag, "12");
  EXPECT_FALSE(looks_like_sip(long_method));  // too long to route on a non-SIP port
}

TEST(SipCaptures, T38ReInvite) {
  // FAX-Call-t38-CA-TDM-SIP-FB-1.pcap frame 3100
  std::string data = fixture("t38_reinvite.sip");
  auto p = parse(data);
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_EQ(p.msg.call_id, "00e9d4a500e9d48-0015-0001-0000-0000@10.35.40.25");
  EXPECT_EQ(p.msg.from.user, "unavailable");
  EXPECT_EQ(p.msg.from.tag, "00e9d478");
  EXPECT_EQ(p.msg.to.user, "061963177");
  EXPECT_EQ(p.msg.to.tag, "SD4909799-617263616479616E-331715520-5336f785-187410205");
  EXPECT_EQ(p.msg.cseq, 3u);
  EXPECT_EQ(p.msg.via_branch, "z9hG4bK.iIiIiI.0a232819.e9d689");
  EXPECT_EQ(p.msg.contact_uri, "sip:anonymous.iIiIiI.0a232819.@10.35.60.72");
}

TEST(SipCaptures, HoldInvite) {
  // erspan_sip_ipv4_udp.pcapng frame 45
  std::string data = fixture("hold_invite.sip");
  auto p = parse(data);
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_EQ(p.msg.call_id, "ddd141f1d982d8989fb73db754a8fbb7@192.168.1.191");
  EXPECT_EQ(p.msg.from.user, "20008909");
  EXPECT_EQ(p.msg.from.tag, "beee28-0-16e4-5af571ed-a536c5d-5af571ed");
  EXPECT_EQ(p.msg.to.display_name, "test");
  EXPECT_EQ(p.msg.to.user, "20008777");
  EXPECT_EQ(p.msg.to.tag, "00E4EF38-44ff2eb19c8ae9a0ef659ad5b8c55fc1z9hG4bKcb284c3e49cc680dd3278276563f7846");
  EXPECT_EQ(p.msg.cseq, 1709929693u);
  EXPECT_EQ(p.msg.via_branch, "z9hG4bK-5af571f7-4ec52ea8-329d97cf");
}

TEST(SipCaptures, VolteOverTcpWithTelUris) {
  // gtp-iphone.pcap frame 47 (TCP payload inside GTP-U)
  std::string data = fixture("volte_200ok_tcp.sip");
  auto p = parse(data, SipFraming::kStream);
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_EQ(p.result.consumed, data.size());
  EXPECT_EQ(p.msg.status_code, 200);
  EXPECT_EQ(p.msg.call_id, "zTHDK1uOm6wLihi3m15pRfSR");
  EXPECT_EQ(p.msg.from.uri, "tel:+88270006");
  EXPECT_EQ(p.msg.from.user, "+88270006");
  EXPECT_EQ(p.msg.from.tag, "XsO27IxvIu");
  EXPECT_EQ(p.msg.to.user, "122");
  EXPECT_EQ(p.msg.to.tag, "206718171");
  EXPECT_EQ(p.msg.via_branch, "z9hG4bKAm73W32FfruG5q1");
  EXPECT_EQ(p.msg.contact_uri, "sip:[fd01::183]:5060");
  EXPECT_EQ(p.msg.body.size(), 206u);
}

TEST(SipCaptures, InvalidContentLength) {
  // invalid-content-length.pcap frames 1 and 2
  std::string invite = fixture("invalid_content_length_invite.sip");
  auto p = parse(invite);
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_EQ(p.msg.call_id, "a84b4c76e66710@10.0.0.1");
  EXPECT_EQ(p.msg.from.user, "alice");
  EXPECT_EQ(p.msg.from.tag, "1928301774");
  EXPECT_EQ(p.msg.to.user, "bob");
  EXPECT_EQ(p.msg.via_branch, "z9hG4bK776");
  EXPECT_EQ(p.msg.content_length, -1);
  EXPECT_EQ(p.msg.warnings, kSipWarnContentLengthInvalid);
  EXPECT_EQ(parse(invite, SipFraming::kStream).result.status, SipParseStatus::kInvalid);

  std::string ok = fixture("invalid_content_length_200.sip");
  auto a = parse(ok);
  ASSERT_EQ(a.result.status, SipParseStatus::kComplete) << a.result.error;
  EXPECT_EQ(a.msg.status_code, 200);
  EXPECT_EQ(a.msg.to.tag, "abc123");
  EXPECT_EQ(a.msg.warnings, kSipWarnContentLengthInvalid);
}

TEST(SipCaptures, JunkBeforeRequestCapture) {
  // sip-junk-before-request.pcap: frame 1 is four zero bytes; frame 2 is a
  // REGISTER with none of the dialog headers.
  std::string zeros = fixture("junk_zero_payload.bin");
  ASSERT_EQ(zeros.size(), 4u);
  EXPECT_EQ(parse(zeros).result.status, SipParseStatus::kInvalid);
  EXPECT_FALSE(looks_like_sip(zeros));

  std::string reg = fixture("junk_register.sip");
  auto p = parse(reg);
  ASSERT_EQ(p.result.status, SipParseStatus::kComplete) << p.result.error;
  EXPECT_EQ(p.msg.method, "REGISTER");
  EXPECT_EQ(p.msg.request_uri, "sip:1.1.1.1:5060");
  EXPECT_TRUE(p.msg.call_id.empty());
  EXPECT_FALSE(p.msg.has_dialog_headers());
  EXPECT_EQ(p.msg.warnings, kSipWarnNone);
  EXPECT_TRUE(looks_like_sip(reg));

  // The same request behind the two bytes a hex dump shows before it
  // ("DB", really the UDP checksum): "DBREGISTER" is itself a valid token.
  std::string prefixed = "DB" + reg;
  auto d = parse(prefixed);
  ASSERT_EQ(d.result.status, SipParseStatus::kComplete);
  EXPECT_EQ(d.msg.method, "DBREGISTER");
  // Non-token junk is skipped to the next line that is a start line.
  std::string junk = std::string("\x44\x42\x00\r\n", 5) + reg;
  auto j = parse(junk);
  ASSERT_EQ(j.result.status, SipParseStatus::kComplete);
  EXPECT_EQ(j.msg.method, "REGISTER");
  EXPECT_EQ(j.msg.warnings, kSipWarnJunkBeforeStart);
}

TEST(SipCaptures, AllFixturesSurviveEveryFraming) {
  for (const char* name :
       {"compact_form_invite.sip", "g711_invite.sip", "g711_200ok.sip", "ipv6_invite.sip", "video_invite.sip",
        "video_200ok.sip", "protos_c07_valid.sip", "protos_c07_long_method.sip", "t38_reinvite.sip",
        "hold_invite.sip", "volte_200ok_tcp.sip", "junk_register.sip"}) {
    std::string data = fixture(name);
    EXPECT_TRUE(looks_like_sip(data) || std::string_view(name) == "protos_c07_long_method.sip") << name;
    auto d = parse(data);
    EXPECT_EQ(d.result.status, SipParseStatus::kComplete) << name;
    auto s = parse(data, SipFraming::kStream);
    EXPECT_EQ(s.result.status, SipParseStatus::kComplete) << name;
    // Every prefix of a stream is incomplete, never invalid.
    for (size_t cut = 0; cut + 1 < s.result.consumed; cut += 7) {
      auto part = parse(std::string_view(data).substr(0, cut), SipFraming::kStream);
      EXPECT_EQ(part.result.status, SipParseStatus::kIncomplete) << name << " cut at " << cut;
    }
  }
}

// ------------------------------------------------ fuzz corpus, replayed in CI

// Every seed and every past crasher kept in tests/fuzz/corpus runs through
// both parsers here, so the ordinary (sanitizer) test build replays them.
TEST(SipFuzzCorpus, ReplaysWithoutCrashing) {
  namespace fs = std::filesystem;
  size_t files = 0;
  for (const char* dir : {"sip_message", "sdp"}) {
    fs::path path = fs::path(CV_SOURCE_DIR) / "tests/fuzz/corpus" / dir;
    ASSERT_TRUE(fs::is_directory(path)) << path;
    for (const auto& entry : fs::directory_iterator(path)) {
      std::ifstream in(entry.path(), std::ios::binary);
      std::string data{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
      ++files;
      SdpSession sdp;
      parse_sdp(data, sdp);
      for (SipFraming framing : {SipFraming::kDatagram, SipFraming::kStream}) {
        Parsed p = parse(data, framing);
        if (p.result.status != SipParseStatus::kComplete) continue;
        EXPECT_LE(p.result.consumed, data.size()) << entry.path();
        parse_sdp(find_sdp_body(p.msg), sdp);
      }
    }
  }
  EXPECT_GT(files, 0u);
}

}  // namespace
}  // namespace cv
