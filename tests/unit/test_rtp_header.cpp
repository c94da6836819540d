#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "capture/rtp/rtp_header.h"

namespace cv {
namespace {

using Packet = std::vector<std::byte>;

// Builds an RTP packet field by field (RFC 3550 5.1).
struct RtpBuilder {
  uint8_t version = 2;
  bool padding = false;
  bool extension = false;
  uint8_t csrc_count = 0;
  bool marker = false;
  uint8_t payload_type = 0;
  uint16_t sequence = 0x1234;
  uint32_t timestamp = 0xCAFEBABE;
  uint32_t ssrc = 0xDEADBEEF;

  [[nodiscard]] Packet header() const {
    Packet p;
    p.push_back(
        std::byte((version << 6) | (padding ? 0x20 : 0) | (extension ? 0x10 : 0) | (csrc_count & 0x0F)));
    p.push_back(std::byte((marker ? 0x80 : 0) | (payload_type & 0x7F)));
    put16(p, sequence);
    put32(p, timestamp);
    put32(p, ssrc);
    return p;
  }
  static void put16(Packet& p, uint16_t v) {
    p.push_back(std::byte(v >> 8));
    p.push_back(std::byte(v & 0xFF));
  }
  static void put32(Packet& p, uint32_t v) {
    put16(p, static_cast<uint16_t>(v >> 16));
    put16(p, static_cast<uint16_t>(v & 0xFFFF));
  }
};

void append(Packet& p, std::initializer_list<int> bytes) {
  for (int b : bytes) p.push_back(std::byte(b));
}
void append_n(Packet& p, size_t n, int value) { p.insert(p.end(), n, std::byte(value)); }

RtpParseStatus parse(const Packet& p, RtpHeader& h) { return parse_rtp(Bytes(p.data(), p.size()), h); }
RtpParseStatus parse(const Packet& p) {
  RtpHeader h;
  return parse(p, h);
}

// The payload view must point into the packet, not into a copy.
void expect_payload_at(const Packet& p, const RtpHeader& h, size_t offset, size_t size) {
  EXPECT_EQ(h.payload.data(), p.data() + offset);
  EXPECT_EQ(h.payload.size(), size);
}

TEST(RtpHeader, ParsesTheFixedHeader) {
  RtpBuilder b;
  b.marker = true;
  b.payload_type = 8;
  Packet p = b.header();
  append_n(p, 160, 0xD5);
  RtpHeader h;
  ASSERT_EQ(parse(p, h), RtpParseStatus::kOk);
  EXPECT_TRUE(h.marker);
  EXPECT_EQ(h.payload_type, 8);
  EXPECT_EQ(h.sequence, 0x1234);
  EXPECT_EQ(h.timestamp, 0xCAFEBABEu);
  EXPECT_EQ(h.ssrc, 0xDEADBEEFu);
  EXPECT_EQ(h.csrc_count, 0);
  EXPECT_FALSE(h.has_extension);
  EXPECT_EQ(h.padding, 0);
  expect_payload_at(p, h, 12, 160);
}

TEST(RtpHeader, HeaderOnlyHasAnEmptyPayload) {
  Packet p = RtpBuilder{}.header();
  RtpHeader h;
  ASSERT_EQ(parse(p, h), RtpParseStatus::kOk);
  EXPECT_TRUE(h.payload.empty());
}

TEST(RtpHeader, TooShortIsNotRtp) {
  Packet p = RtpBuilder{}.header();
  for (size_t n = 0; n < 12; ++n) {
    Packet cut(p.begin(), p.begin() + static_cast<ptrdiff_t>(n));
    EXPECT_EQ(parse(cut), RtpParseStatus::kNotRtp) << n << " bytes";
  }
}

TEST(RtpHeader, WrongVersionIsNotRtp) {
  for (uint8_t v : {0, 1, 3}) {
    RtpBuilder b;
    b.version = v;
    Packet p = b.header();
    append_n(p, 20, 0);
    EXPECT_EQ(parse(p), RtpParseStatus::kNotRtp) << int{v};
  }
}

TEST(RtpHeader, CsrcListIsSkipped) {
  RtpBuilder b;
  b.csrc_count = 2;
  Packet p = b.header();
  append(p, {0, 0, 0, 1, 0, 0, 0, 2});
  append_n(p, 10, 0x7F);
  RtpHeader h;
  ASSERT_EQ(parse(p, h), RtpParseStatus::kOk);
  EXPECT_EQ(h.csrc_count, 2);
  expect_payload_at(p, h, 20, 10);
}

TEST(RtpHeader, CsrcListPastTheEndIsMalformed) {
  RtpBuilder b;
  b.csrc_count = 15;  // 60 bytes claimed
  Packet p = b.header();
  append_n(p, 59, 0);
  EXPECT_EQ(parse(p), RtpParseStatus::kMalformed);
  append_n(p, 1, 0);
  RtpHeader h;
  ASSERT_EQ(parse(p, h), RtpParseStatus::kOk);  // exactly enough: empty payload
  EXPECT_TRUE(h.payload.empty());
}

TEST(RtpHeader, ExtensionIsSkipped) {
  RtpBuilder b;
  b.extension = true;
  b.csrc_count = 1;
  Packet p = b.header();
  append(p, {0, 0, 0, 9});                             // CSRC
  append(p, {0xBE, 0xDE, 0, 2});                       // RFC 8285 one-byte header, 2 words
  append(p, {0x10, 0xAA, 0x21, 0xBB, 0xCC, 0, 0, 0});  // two elements and padding
  append_n(p, 33, 0x55);
  RtpHeader h;
  ASSERT_EQ(parse(p, h), RtpParseStatus::kOk);
  EXPECT_TRUE(h.has_extension);
  EXPECT_EQ(h.extension_profile, 0xBEDE);
  EXPECT_EQ(h.extension.data(), p.data() + 20);
  EXPECT_EQ(h.extension.size(), 8u);
  expect_payload_at(p, h, 28, 33);
}

TEST(RtpHeader, EmptyExtension) {
  RtpBuilder b;
  b.extension = true;
  Packet p = b.header();
  append(p, {0x10, 0x00, 0, 0});
  RtpHeader h;
  ASSERT_EQ(parse(p, h), RtpParseStatus::kOk);
  EXPECT_TRUE(h.extension.empty());
  expect_payload_at(p, h, 16, 0);
}

TEST(RtpHeader, ExtensionPastTheEndIsMalformed) {
  RtpBuilder b;
  b.extension = true;
  Packet p = b.header();
  EXPECT_EQ(parse(p), RtpParseStatus::kMalformed);  // no room for the extension header
  append(p, {0xBE, 0xDE});
  EXPECT_EQ(parse(p), RtpParseStatus::kMalformed);  // half an extension header
  append(p, {0xFF, 0xFF});                          // 65535 words claimed
  append_n(p, 100, 0);
  EXPECT_EQ(parse(p), RtpParseStatus::kMalformed);

  Packet q = b.header();
  append(q, {0xBE, 0xDE, 0, 3});
  append_n(q, 11, 0);  // one byte short of 3 words
  EXPECT_EQ(parse(q), RtpParseStatus::kMalformed);
  append_n(q, 1, 0);
  EXPECT_EQ(parse(q), RtpParseStatus::kOk);
}

TEST(RtpHeader, PaddingIsRemoved) {
  RtpBuilder b;
  b.padding = true;
  Packet p = b.header();
  append_n(p, 20, 0x11);
  append(p, {0, 0, 3});  // 3 bytes of padding, the count included
  RtpHeader h;
  ASSERT_EQ(parse(p, h), RtpParseStatus::kOk);
  EXPECT_EQ(h.padding, 3);
  expect_payload_at(p, h, 12, 20);
}

TEST(RtpHeader, PaddingOfOneIsJustTheCountByte) {
  RtpBuilder b;
  b.padding = true;
  Packet p = b.header();
  append_n(p, 4, 0x11);
  append(p, {1});
  RtpHeader h;
  ASSERT_EQ(parse(p, h), RtpParseStatus::kOk);
  expect_payload_at(p, h, 12, 4);
}

TEST(RtpHeader, PaddingMayFillTheWholePayload) {
  RtpBuilder b;
  b.padding = true;
  b.csrc_count = 1;
  Packet p = b.header();
  append(p, {0, 0, 0, 7});
  append(p, {0, 0, 0, 4});  // keep-alive: only padding
  RtpHeader h;
  ASSERT_EQ(parse(p, h), RtpParseStatus::kOk);
  EXPECT_TRUE(h.payload.empty());
  EXPECT_EQ(h.padding, 4);
}

TEST(RtpHeader, PaddingCountZeroIsMalformed) {
  RtpBuilder b;
  b.padding = true;
  Packet p = b.header();
  append(p, {1, 2, 3, 0});
  EXPECT_EQ(parse(p), RtpParseStatus::kMalformed);
}

TEST(RtpHeader, PaddingIntoTheHeadersIsMalformed) {
  RtpBuilder b;
  b.padding = true;
  b.extension = true;
  Packet p = b.header();
  append(p, {0, 1, 0, 1, 9, 9, 9, 9});  // 4-byte extension
  append(p, {0xAA, 0xBB, 4});           // 3 bytes after the extension, 4 claimed
  EXPECT_EQ(parse(p), RtpParseStatus::kMalformed);
  p.back() = std::byte{3};
  EXPECT_EQ(parse(p), RtpParseStatus::kOk);
}

TEST(RtpHeader, PaddingFlagWithNothingAfterTheHeaderIsMalformed) {
  RtpBuilder b;
  b.padding = true;
  EXPECT_EQ(parse(b.header()), RtpParseStatus::kMalformed);
}

// RTCP on the RTP port (RFC 5761 4): byte 1 is the RTCP packet type.
Packet rtcp(uint8_t type, uint16_t length_words, size_t total) {
  Packet p;
  append(p, {0x81, type});
  RtpBuilder::put16(p, length_words);
  append_n(p, total - 4, 0);
  return p;
}

TEST(RtpHeader, RtcpPacketTypesAreRecognised) {
  // SR, RR, SDES, BYE, APP (RFC 3550), RTPFB, PSFB (RFC 4585), XR (RFC 3611).
  for (int type = 200; type <= 207; ++type) {
    EXPECT_EQ(parse(rtcp(static_cast<uint8_t>(type), 6, 28)), RtpParseStatus::kRtcp) << type;
  }
  // The whole reserved range, whatever comes to be defined in it.
  EXPECT_EQ(parse(rtcp(192, 1, 8)), RtpParseStatus::kRtcp);
  EXPECT_EQ(parse(rtcp(223, 1, 8)), RtpParseStatus::kRtcp);
}

TEST(RtpHeader, ShortRtcpIsStillRtcp) {
  // A receiver report without report blocks is 8 bytes, less than an RTP header.
  EXPECT_EQ(parse(rtcp(201, 1, 8)), RtpParseStatus::kRtcp);
  // A BYE without sources: the 4-byte common header alone.
  EXPECT_EQ(parse(rtcp(203, 0, 4)), RtpParseStatus::kRtcp);
}

TEST(RtpHeader, RtcpCompoundLongerThanTheFirstPacket) {
  Packet p = rtcp(200, 6, 28);     // SR
  Packet sdes = rtcp(202, 3, 16);  // SDES
  p.insert(p.end(), sdes.begin(), sdes.end());
  EXPECT_EQ(parse(p), RtpParseStatus::kRtcp);
}

TEST(RtpHeader, RtcpLengthPastTheEndIsMalformed) {
  EXPECT_EQ(parse(rtcp(200, 6, 24)), RtpParseStatus::kMalformed);
}

TEST(RtpHeader, RtcpWithWrongVersionIsNotRtp) {
  Packet p = rtcp(200, 6, 28);
  p[0] = std::byte{0x41};
  EXPECT_EQ(parse(p), RtpParseStatus::kNotRtp);
}

TEST(RtpHeader, PayloadTypesOutsideTheRtcpRangeAreRtp) {
  // Byte 1 of 191 (marker, PT 63) and 224 (marker, PT 96) are RTP; so is PT
  // 72..76 without the marker (byte 1 72..76), which only clashes with RTCP
  // when the marker is set.
  for (uint8_t byte1 : {0, 72, 76, 127, 128, 191, 224, 255}) {
    RtpBuilder b;
    b.marker = (byte1 & 0x80) != 0;
    b.payload_type = byte1 & 0x7F;
    Packet p = b.header();
    append_n(p, 8, 0);
    RtpHeader h;
    EXPECT_EQ(parse(p, h), RtpParseStatus::kOk) << int{byte1};
    EXPECT_EQ(h.payload_type, byte1 & 0x7F);
  }
}

TEST(RtpHeader, FailedParseLeavesNoStaleFields) {
  RtpBuilder b;
  b.payload_type = 9;
  Packet good = b.header();
  append_n(good, 8, 0);
  RtpHeader h;
  ASSERT_EQ(parse(good, h), RtpParseStatus::kOk);
  Packet bad = {std::byte{0x80}};
  EXPECT_EQ(parse(bad, h), RtpParseStatus::kNotRtp);
  EXPECT_TRUE(h.payload.empty());
  EXPECT_EQ(h.payload_type, 0);
}

}  // namespace
}  // namespace cv
