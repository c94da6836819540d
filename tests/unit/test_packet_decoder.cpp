// Link, network and transport decoding and IP reassembly, on hand-built frames
// (one test per layer rule) and on real captures read with libpcap.
#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <new>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "capture/packet/packet_decoder.h"

// Counts heap allocations while `g_count_allocations` is set, to show which
// paths allocate. Replacing the global operators is allowed per executable;
// each unit test file is its own executable.
namespace {
bool g_count_allocations = false;
size_t g_allocations = 0;
}  // namespace

// noinline: GCC would otherwise inline free() where it sees a new'd pointer
// and warn about a mismatch that the replacement makes correct.
[[gnu::noinline]] void* operator new(size_t size) {
  if (g_count_allocations) ++g_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace cv {
namespace {

// ---- Frame building -------------------------------------------------------

using Frame = std::vector<std::byte>;

struct Builder {
  Frame f;
  Builder& u8(unsigned v) {
    f.push_back(static_cast<std::byte>(v & 0xFF));
    return *this;
  }
  Builder& be16(unsigned v) { return u8(v >> 8).u8(v); }
  Builder& be32(uint32_t v) { return be16(v >> 16).be16(v & 0xFFFF); }
  Builder& le32(uint32_t v) { return u8(v).u8(v >> 8).u8(v >> 16).u8(v >> 24); }
  Builder& zeros(size_t n) {
    f.insert(f.end(), n, std::byte{0});
    return *this;
  }
  Builder& bytes(const Frame& b) {
    f.insert(f.end(), b.begin(), b.end());
    return *this;
  }
  Builder& bytes(std::initializer_list<uint8_t> b) {
    for (uint8_t v : b) u8(v);
    return *this;
  }
  Builder& text(std::string_view s) {
    for (char c : s) u8(static_cast<unsigned char>(c));
    return *this;
  }
};

Frame text_bytes(std::string_view s) { return Builder{}.text(s).f; }

Frame udp(uint16_t src_port, uint16_t dst_port, const Frame& payload, int length_override = -1) {
  const unsigned length = length_override >= 0 ? static_cast<unsigned>(length_override) : 8 + payload.size();
  return Builder{}.be16(src_port).be16(dst_port).be16(length).be16(0).bytes(payload).f;
}
Frame udp(uint16_t src_port, uint16_t dst_port, std::string_view payload) {
  return udp(src_port, dst_port, text_bytes(payload));
}

Frame tcp(uint16_t src_port, uint16_t dst_port, uint32_t seq, uint32_t ack, uint8_t flags,
          const Frame& options, std::string_view payload) {
  const unsigned words = static_cast<unsigned>(5 + options.size() / 4);
  return Builder{}
      .be16(src_port)
      .be16(dst_port)
      .be32(seq)
      .be32(ack)
      .u8(words << 4)
      .u8(flags)
      .be16(65535)
      .be16(0)
      .be16(0)
      .bytes(options)
      .text(payload)
      .f;
}

using V4Addr = std::array<uint8_t, 4>;
using V6Addr = std::array<uint8_t, 16>;
constexpr V4Addr kA4{10, 0, 0, 1};
constexpr V4Addr kB4{10, 0, 0, 2};
constexpr V6Addr kA6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
constexpr V6Addr kB6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

struct V4 {
  V4Addr src = kA4;
  V4Addr dst = kB4;
  uint16_t id = 0x1234;
  uint16_t flags_offset = 0;  // MF = 0x2000, offset in 8-byte units
  int total_length = -1;      // -1: computed
  unsigned ihl = 5;
  unsigned version = 4;
};

Frame ipv4(uint8_t protocol, const Frame& payload, const V4& o = {}) {
  const size_t header = std::max(o.ihl, 5u) * 4;
  const unsigned total =
      o.total_length >= 0 ? static_cast<unsigned>(o.total_length) : header + payload.size();
  Builder b;
  b.u8(o.version << 4 | (o.ihl & 0x0F))
      .u8(0)
      .be16(total)
      .be16(o.id)
      .be16(o.flags_offset)
      .u8(64)
      .u8(protocol)
      .be16(0);
  for (uint8_t v : o.src) b.u8(v);
  for (uint8_t v : o.dst) b.u8(v);
  b.zeros(header - 20);  // options: NOPs would be 1s, zeros are End of Options
  return b.bytes(payload).f;
}

// One IPv4 fragment of `datagram` (the fragmentable part), [offset, offset + length).
Frame ipv4_fragment(const Frame& datagram, size_t offset, size_t length, bool more, uint16_t id = 0x1234,
                    uint8_t protocol = 17) {
  const Frame slice(datagram.begin() + static_cast<ptrdiff_t>(offset),
                    datagram.begin() + static_cast<ptrdiff_t>(offset + length));
  return ipv4(protocol, slice,
              {.id = id, .flags_offset = static_cast<uint16_t>((more ? 0x2000 : 0) | (offset / 8))});
}

Frame ipv6(uint8_t next, const Frame& payload, int payload_length = -1, V6Addr src = kA6, V6Addr dst = kB6) {
  const unsigned length = payload_length >= 0 ? static_cast<unsigned>(payload_length) : payload.size();
  Builder b;
  b.be32(0x60000000).be16(length).u8(next).u8(64);
  for (uint8_t v : src) b.u8(v);
  for (uint8_t v : dst) b.u8(v);
  return b.bytes(payload).f;
}

// Fragment header + slice of the fragmentable part.
Frame ipv6_fragment(const Frame& fragmentable, uint8_t next, size_t offset, size_t length, bool more,
                    uint32_t id = 0xABCD) {
  Builder b;
  b.u8(next).u8(0).be16(static_cast<unsigned>(offset) | (more ? 1 : 0)).be32(id);
  b.f.insert(b.f.end(), fragmentable.begin() + static_cast<ptrdiff_t>(offset),
             fragmentable.begin() + static_cast<ptrdiff_t>(offset + length));
  return ipv6(44, b.f);
}

Frame eth(uint16_t type, const Frame& payload) {
  return Builder{}.bytes({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}).be16(type).bytes(payload).f;
}

// Ethernet with the given tags (TPID, VID) before `type`.
Frame eth_tagged(std::initializer_list<std::pair<uint16_t, uint16_t>> tags, uint16_t type,
                 const Frame& payload) {
  Builder b;
  b.bytes({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  for (auto [tpid, vid] : tags) b.be16(tpid).be16(vid);
  return b.be16(type).bytes(payload).f;
}

Frame pppoe(uint16_t ppp_protocol, const Frame& payload, int length_override = -1) {
  const unsigned length = length_override >= 0 ? static_cast<unsigned>(length_override) : payload.size() + 2;
  return eth(0x8864, Builder{}.u8(0x11).u8(0).be16(0x0042).be16(length).be16(ppp_protocol).bytes(payload).f);
}

Frame sll(uint16_t protocol, const Frame& payload) {
  return Builder{}.be16(0).be16(1).be16(6).bytes({1, 2, 3, 4, 5, 6, 0, 0}).be16(protocol).bytes(payload).f;
}

Frame sll2(uint16_t protocol, const Frame& payload) {
  return Builder{}
      .be16(protocol)
      .be16(0)
      .be32(2)
      .be16(1)
      .u8(0)
      .u8(6)
      .bytes({1, 2, 3, 4, 5, 6, 0, 0})
      .bytes(payload)
      .f;
}

Frame truncate(Frame f, size_t n) {
  f.resize(std::min(n, f.size()));
  return f;
}

// ---- Decoding helpers ------------------------------------------------------

struct Decoded {
  DecodeResult result;
  DecodedPacket packet;
  std::string payload;  // copied: the decoder's view lives only until the next call
};

Decoded run(PacketDecoder& d, LinkType link, const Frame& f, int64_t ts_ns = 0) {
  Decoded out;
  out.result = d.decode(link, Timestamp{ts_ns}, 1, Bytes(f), out.packet);
  out.payload = std::string(as_text(out.packet.payload));
  return out;
}

Decoded run(LinkType link, const Frame& f) {
  PacketDecoder d;
  return run(d, link, f);
}

// Macros so that failures point at the caller's line; each evaluates its
// argument once, since decoding has side effects on the reassembler.
#define EXPECT_STATUS(decoded, st) EXPECT_EQ((decoded).result.status, DecodeStatus::st)
#define EXPECT_MALFORMED(decoded, an)                                             \
  do {                                                                            \
    const Decoded& expect_malformed_d = (decoded);                                \
    EXPECT_EQ(expect_malformed_d.result.status, DecodeStatus::kMalformed);        \
    EXPECT_EQ(anomaly_name(expect_malformed_d.result.anomaly), anomaly_name(an)); \
  } while (0)

const std::string kSip = "OPTIONS sip:b@example.com SIP/2.0\r\n\r\n";

void expect_udp_v4(const Decoded& d, std::string_view payload = kSip) {
  EXPECT_STATUS(d, kOk);
  EXPECT_EQ(d.packet.transport, Transport::kUdp);
  EXPECT_EQ(d.packet.src.to_string(), "10.0.0.1:5060");
  EXPECT_EQ(d.packet.dst.to_string(), "10.0.0.2:5062");
  EXPECT_EQ(d.payload, payload);
}

void expect_udp_v6(const Decoded& d, std::string_view payload = kSip) {
  EXPECT_STATUS(d, kOk);
  EXPECT_EQ(d.packet.transport, Transport::kUdp);
  EXPECT_EQ(d.packet.src.ip.family, 6);
  EXPECT_EQ(d.packet.src.to_string(), "[2001:db8::1]:5060");
  EXPECT_EQ(d.packet.dst.to_string(), "[2001:db8::2]:5062");
  EXPECT_EQ(d.payload, payload);
}

Frame v4_udp() { return ipv4(17, udp(5060, 5062, kSip)); }
Frame v6_udp() { return ipv6(17, udp(5060, 5062, kSip)); }

// ---- Link layers -------------------------------------------------------------

TEST(PacketLink, EthernetIpv4Udp) {
  auto d = run(LinkType::kEthernet, eth(0x0800, v4_udp()));
  expect_udp_v4(d);
  EXPECT_EQ(d.packet.vlan_count, 0);
  EXPECT_FALSE(d.packet.reassembled);
}

TEST(PacketLink, EthernetIpv6Udp) { expect_udp_v6(run(LinkType::kEthernet, eth(0x86DD, v6_udp()))); }

TEST(PacketLink, LinuxSll) {
  expect_udp_v4(run(LinkType::kLinuxSll, sll(0x0800, v4_udp())));
  expect_udp_v6(run(LinkType::kLinuxSll, sll(0x86DD, v6_udp())));
}

TEST(PacketLink, LinuxSll2) {
  expect_udp_v4(run(LinkType::kLinuxSll2, sll2(0x0800, v4_udp())));
  expect_udp_v6(run(LinkType::kLinuxSll2, sll2(0x86DD, v6_udp())));
}

TEST(PacketLink, RawIpEveryLinkTypeValueUsesVersionNibble) {
  for (LinkType link : {LinkType::kRaw, LinkType::kRawIp, LinkType::kIpv4, LinkType::kIpv6}) {
    SCOPED_TRACE(static_cast<int>(link));
    expect_udp_v4(run(link, v4_udp()));
    expect_udp_v6(run(link, v6_udp()));
    Frame bad = v4_udp();
    bad[0] = std::byte{0x55};
    EXPECT_MALFORMED(run(link, bad), Anomaly::kIpv4BadVersion);
  }
}

TEST(PacketLink, NullFamilyInEitherByteOrder) {
  expect_udp_v4(run(LinkType::kNull, Builder{}.le32(2).bytes(v4_udp()).f));
  // Written on a big-endian host.
  expect_udp_v4(run(LinkType::kNull, Builder{}.be32(2).bytes(v4_udp()).f));
  for (uint32_t family : {24u, 28u, 30u}) {
    expect_udp_v6(run(LinkType::kNull, Builder{}.le32(family).bytes(v6_udp()).f));
    expect_udp_v6(run(LinkType::kNull, Builder{}.be32(family).bytes(v6_udp()).f));
  }
  EXPECT_STATUS(run(LinkType::kNull, Builder{}.le32(7).bytes(v4_udp()).f), kNotInteresting);
}

TEST(PacketLink, LoopIsNetworkOrder) {
  expect_udp_v4(run(LinkType::kLoop, Builder{}.be32(2).bytes(v4_udp()).f));
  expect_udp_v6(run(LinkType::kLoop, Builder{}.be32(30).bytes(v6_udp()).f));
  // 2 in little endian reads as 0x02000000 in network order: not a family.
  EXPECT_STATUS(run(LinkType::kLoop, Builder{}.le32(2).bytes(v4_udp()).f), kNotInteresting);
}

TEST(PacketLink, UnsupportedLinkType) {
  EXPECT_MALFORMED(run(static_cast<LinkType>(147), v4_udp()), Anomaly::kUnsupportedLinkType);
}

TEST(PacketLink, LinkHeaderTruncated) {
  EXPECT_MALFORMED(run(LinkType::kEthernet, truncate(eth(0x0800, {}), 13)), Anomaly::kLinkTruncated);
  EXPECT_MALFORMED(run(LinkType::kLinuxSll, truncate(sll(0x0800, {}), 15)), Anomaly::kLinkTruncated);
  EXPECT_MALFORMED(run(LinkType::kLinuxSll2, truncate(sll2(0x0800, {}), 19)), Anomaly::kLinkTruncated);
  EXPECT_MALFORMED(run(LinkType::kNull, Builder{}.bytes({2, 0, 0}).f), Anomaly::kLinkTruncated);
  EXPECT_MALFORMED(run(LinkType::kLoop, Frame{}), Anomaly::kLinkTruncated);
  EXPECT_MALFORMED(run(LinkType::kRaw, Frame{}), Anomaly::kLinkTruncated);
}

TEST(PacketLink, NonIpIsNotInteresting) {
  EXPECT_STATUS(run(LinkType::kEthernet, eth(0x0806, Frame(28))), kNotInteresting);  // ARP
  EXPECT_STATUS(run(LinkType::kEthernet, eth(0x0026, Frame(38))), kNotInteresting);  // 802.3 length
  EXPECT_STATUS(run(LinkType::kEthernet, eth(0x8863, Frame(20))), kNotInteresting);  // PPPoE discovery
  EXPECT_STATUS(run(LinkType::kLinuxSll, sll(0x0004, Frame(20))), kNotInteresting);  // 802.2 LLC
  EXPECT_STATUS(run(LinkType::kEthernet, eth(0x0800, ipv4(1, Frame(16)))), kNotInteresting);   // ICMP
  EXPECT_STATUS(run(LinkType::kEthernet, eth(0x0800, ipv4(47, Frame(16)))), kNotInteresting);  // GRE
  EXPECT_STATUS(run(LinkType::kEthernet, eth(0x86DD, ipv6(58, Frame(16)))), kNotInteresting);  // ICMPv6
  EXPECT_STATUS(run(LinkType::kEthernet, eth(0x86DD, ipv6(59, Frame{}))), kNotInteresting);  // No Next Header
}

// ---- VLAN -----------------------------------------------------------------

TEST(PacketVlan, SingleTag) {
  auto d = run(LinkType::kEthernet, eth_tagged({{0x8100, 0x2000 | 107}}, 0x0800, v4_udp()));
  expect_udp_v4(d);
  ASSERT_EQ(d.packet.vlan_count, 1);
  EXPECT_EQ(d.packet.vlan[0], 107);  // priority bits masked off
}

TEST(PacketVlan, QinQEveryTpid) {
  for (uint16_t outer : {0x88A8, 0x9100, 0x8100}) {
    auto d = run(LinkType::kEthernet, eth_tagged({{outer, 3243}, {0x8100, 10}}, 0x86DD, v6_udp()));
    expect_udp_v6(d);
    ASSERT_EQ(d.packet.vlan_count, 2);
    EXPECT_EQ(d.packet.vlan[0], 3243);
    EXPECT_EQ(d.packet.vlan[1], 10);
  }
}

TEST(PacketVlan, DeeperStacksRecordTwoAndDecodeUpToFour) {
  auto three =
      run(LinkType::kEthernet, eth_tagged({{0x88A8, 1}, {0x8100, 2}, {0x8100, 3}}, 0x0800, v4_udp()));
  expect_udp_v4(three);
  EXPECT_EQ(three.packet.vlan_count, 2);
  EXPECT_EQ(three.packet.vlan[0], 1);
  EXPECT_EQ(three.packet.vlan[1], 2);
  expect_udp_v4(run(LinkType::kEthernet,
                    eth_tagged({{0x88A8, 1}, {0x8100, 2}, {0x8100, 3}, {0x8100, 4}}, 0x0800, v4_udp())));
  EXPECT_MALFORMED(
      run(LinkType::kEthernet,
          eth_tagged({{0x88A8, 1}, {0x8100, 2}, {0x8100, 3}, {0x8100, 4}, {0x8100, 5}}, 0x0800, v4_udp())),
      Anomaly::kVlanTooDeep);
}

TEST(PacketVlan, TagTruncated) {
  EXPECT_MALFORMED(run(LinkType::kEthernet, truncate(eth_tagged({{0x8100, 5}}, 0x0800, {}), 17)),
                   Anomaly::kLinkTruncated);
}

TEST(PacketVlan, SllCarriesTagsToo) {
  auto d = run(LinkType::kLinuxSll, sll(0x8100, Builder{}.be16(42).be16(0x0800).bytes(v4_udp()).f));
  expect_udp_v4(d);
  EXPECT_EQ(d.packet.vlan_count, 1);
  EXPECT_EQ(d.packet.vlan[0], 42);
}

// ---- PPPoE ----------------------------------------------------------------

TEST(PacketPppoe, Ipv4AndIpv6) {
  expect_udp_v4(run(LinkType::kEthernet, pppoe(0x0021, v4_udp())));
  expect_udp_v6(run(LinkType::kEthernet, pppoe(0x0057, v6_udp())));
}

TEST(PacketPppoe, InsideVlan) {
  Frame inner = pppoe(0x0021, v4_udp());
  Frame session(inner.begin() + 14, inner.end());
  auto d = run(LinkType::kEthernet, eth_tagged({{0x8100, 7}}, 0x8864, session));
  expect_udp_v4(d);
  EXPECT_EQ(d.packet.vlan[0], 7);
}

TEST(PacketPppoe, CompressedProtocolField) {
  Frame f =
      eth(0x8864, Builder{}.u8(0x11).u8(0).be16(1).be16(v4_udp().size() + 1).u8(0x21).bytes(v4_udp()).f);
  expect_udp_v4(run(LinkType::kEthernet, f));
}

TEST(PacketPppoe, ControlProtocolsAreNotInteresting) {
  EXPECT_STATUS(run(LinkType::kEthernet, pppoe(0xC021, Frame(10))), kNotInteresting);  // LCP
  EXPECT_STATUS(run(LinkType::kEthernet, pppoe(0x8021, Frame(10))), kNotInteresting);  // IPCP
  // Discovery codes (PADI = 0x09) in a session frame are not session data.
  Frame padi = pppoe(0x0021, v4_udp());
  padi[15] = std::byte{0x09};
  EXPECT_STATUS(run(LinkType::kEthernet, padi), kNotInteresting);
}

TEST(PacketPppoe, LengthBeyondCapturedAndPaddingTrimmed) {
  EXPECT_MALFORMED(run(LinkType::kEthernet, pppoe(0x0021, v4_udp(), static_cast<int>(v4_udp().size()) + 3)),
                   Anomaly::kLinkTruncated);
  EXPECT_MALFORMED(run(LinkType::kEthernet, truncate(pppoe(0x0021, {}), 19)), Anomaly::kLinkTruncated);
  Frame padded = pppoe(0x0021, v4_udp());
  padded.insert(padded.end(), 6, std::byte{0xEE});
  expect_udp_v4(run(LinkType::kEthernet, padded));
}

// ---- IPv4 -----------------------------------------------------------------

TEST(PacketIpv4, EthernetPaddingIsTrimmed) {
  // 20 + 8 + 4 bytes of IP, padded to the 46-byte Ethernet minimum.
  Frame f = eth(0x0800, ipv4(17, udp(5060, 5062, "ping")));
  f.resize(60, std::byte{0xAA});
  expect_udp_v4(run(LinkType::kEthernet, f), "ping");
}

TEST(PacketIpv4, OptionsAreSkipped) {
  expect_udp_v4(run(LinkType::kEthernet, eth(0x0800, ipv4(17, udp(5060, 5062, kSip), {.ihl = 7}))));
}

TEST(PacketIpv4, TotalLengthZeroMeansSegmentationOffload) {
  expect_udp_v4(run(LinkType::kEthernet, eth(0x0800, ipv4(17, udp(5060, 5062, kSip), {.total_length = 0}))));
}

TEST(PacketIpv4, Truncations) {
  Frame whole = v4_udp();
  EXPECT_MALFORMED(run(LinkType::kEthernet, eth(0x0800, truncate(whole, 19))), Anomaly::kIpv4Truncated);
  EXPECT_MALFORMED(run(LinkType::kEthernet, eth(0x0800, Frame{})), Anomaly::kIpv4Truncated);
  // The snap length cut the datagram: total length says more than captured.
  EXPECT_MALFORMED(run(LinkType::kEthernet, eth(0x0800, truncate(whole, whole.size() - 1))),
                   Anomaly::kIpv4BadTotalLength);
  // IHL says 60 bytes of header, total length agrees, but only 20 captured.
  EXPECT_MALFORMED(run(LinkType::kEthernet, eth(0x0800, truncate(ipv4(17, Frame(8), {.ihl = 15}), 24))),
                   Anomaly::kIpv4Truncated);
}

TEST(PacketIpv4, BadHeaderFields) {
  EXPECT_MALFORMED(run(LinkType::kEthernet, eth(0x0800, ipv4(17, udp(1, 2, "x"), {.version = 6}))),
                   Anomaly::kIpv4BadVersion);
  EXPECT_MALFORMED(run(LinkType::kEthernet, eth(0x0800, ipv4(17, udp(1, 2, "x"), {.ihl = 4}))),
                   Anomaly::kIpv4BadHeaderLength);
  // Total length shorter than the header.
  EXPECT_MALFORMED(run(LinkType::kEthernet, eth(0x0800, ipv4(17, udp(1, 2, "x"), {.total_length = 19}))),
                   Anomaly::kIpv4BadHeaderLength);
  EXPECT_MALFORMED(run(LinkType::kEthernet, eth(0x0800, ipv4(17, udp(1, 2, "x"), {.total_length = 200}))),
                   Anomaly::kIpv4BadTotalLength);
}

// ---- IPv6 -----------------------------------------------------------------

TEST(PacketIpv6, Truncations) {
  EXPECT_MALFORMED(run(LinkType::kEthernet, eth(0x86DD, truncate(v6_udp(), 39))), Anomaly::kIpv6Truncated);
  EXPECT_MALFORMED(run(LinkType::kEthernet, eth(0x86DD, truncate(v6_udp(), 3))), Anomaly::kIpv6Truncated);
  EXPECT_MALFORMED(run(LinkType::kEthernet, eth(0x86DD, truncate(v6_udp(), v6_udp().size() - 1))),
                   Anomaly::kIpv6BadPayloadLength);
  Frame v4_in_v6_type = eth(0x86DD, v4_udp());
  EXPECT_MALFORMED(run(LinkType::kEthernet, v4_in_v6_type), Anomaly::kIpv4BadVersion);
}

TEST(PacketIpv6, PaddingIsTrimmed) {
  Frame f = eth(0x86DD, ipv6(17, udp(5060, 5062, "x")));
  f.insert(f.end(), 9, std::byte{0xAA});
  expect_udp_v6(run(LinkType::kEthernet, f), "x");
}

TEST(PacketIpv6, ExtensionHeadersAreSkipped) {
  const Frame hop_by_hop = Builder{}.u8(43).u8(0).zeros(6).f;    // 8 bytes, next: routing
  const Frame routing = Builder{}.u8(51).u8(1).zeros(14).f;      // 16 bytes, next: AH
  const Frame ah = Builder{}.u8(60).u8(4).zeros(22).f;           // (4 + 2) * 4 = 24 bytes, next: dest options
  const Frame dest_options = Builder{}.u8(17).u8(0).zeros(6).f;  // 8 bytes, next: UDP
  const Frame chain =
      Builder{}.bytes(hop_by_hop).bytes(routing).bytes(ah).bytes(dest_options).bytes(udp(5060, 5062, kSip)).f;
  expect_udp_v6(run(LinkType::kEthernet, eth(0x86DD, ipv6(0, chain))));
}

TEST(PacketIpv6, ExtensionHeaderTruncated) {
  Frame chain = Builder{}.u8(17).u8(2).zeros(6).f;  // claims 24 bytes, has 8
  EXPECT_MALFORMED(run(LinkType::kEthernet, eth(0x86DD, ipv6(60, chain))), Anomaly::kIpv6Truncated);
  EXPECT_MALFORMED(run(LinkType::kEthernet, eth(0x86DD, ipv6(0, Builder{}.u8(17).f))),
                   Anomaly::kIpv6Truncated);
  EXPECT_MALFORMED(run(LinkType::kEthernet, eth(0x86DD, ipv6(44, Builder{}.u8(17).zeros(3).f))),
                   Anomaly::kIpv6Truncated);
}

TEST(PacketIpv6, AtomicFragmentIsProcessedInPlace) {
  PacketDecoder d;
  Frame f = ipv6(44, Builder{}.u8(17).u8(0).be16(0).be32(99).bytes(udp(5060, 5062, kSip)).f);
  expect_udp_v6(run(d, LinkType::kEthernet, eth(0x86DD, f)));
  EXPECT_EQ(d.fragment_stats().fragments, 0u);
}

// ---- UDP and TCP ------------------------------------------------------------

TEST(PacketUdp, LengthChecks) {
  auto ip = [](const Frame& u) { return eth(0x0800, ipv4(17, u)); };
  EXPECT_MALFORMED(run(LinkType::kEthernet, ip(Frame(7))), Anomaly::kUdpTruncated);
  EXPECT_MALFORMED(run(LinkType::kEthernet, ip(udp(1, 2, text_bytes("abc"), 7))), Anomaly::kUdpBadLength);
  EXPECT_MALFORMED(run(LinkType::kEthernet, ip(udp(1, 2, text_bytes("abc"), 0))), Anomaly::kUdpBadLength);
  EXPECT_MALFORMED(run(LinkType::kEthernet, ip(udp(1, 2, text_bytes("abc"), 12))), Anomaly::kUdpTruncated);
  auto trimmed = run(LinkType::kEthernet, ip(udp(1, 2, text_bytes("abcdef"), 10)));
  EXPECT_STATUS(trimmed, kOk);
  EXPECT_EQ(trimmed.payload, "ab");
  auto empty = run(LinkType::kEthernet, ip(udp(1, 2, "")));
  EXPECT_STATUS(empty, kOk);
  EXPECT_TRUE(empty.payload.empty());
}

TEST(PacketUdp, ChecksumIsNotVerified) {
  Frame u = udp(5060, 5062, kSip);
  u[6] = std::byte{0xDE};
  u[7] = std::byte{0xAD};
  expect_udp_v4(run(LinkType::kEthernet, eth(0x0800, ipv4(17, u))));
}

TEST(PacketTcp, DecodesHeaderAndSkipsOptions) {
  Frame options = Builder{}.bytes({2, 4, 0x05, 0xB4, 1, 1, 4, 2}).f;  // MSS, NOP, NOP, SACK permitted
  auto d = run(LinkType::kEthernet,
               eth(0x0800, ipv4(6, tcp(5060, 40000, 0x01020304, 0xA0B0C0D0, 0x18, options, "INVITE sip:x"))));
  EXPECT_STATUS(d, kOk);
  EXPECT_EQ(d.packet.transport, Transport::kTcp);
  EXPECT_EQ(d.packet.src.to_string(), "10.0.0.1:5060");
  EXPECT_EQ(d.packet.dst.to_string(), "10.0.0.2:40000");
  EXPECT_EQ(d.packet.tcp.seq, 0x01020304u);
  EXPECT_EQ(d.packet.tcp.ack, 0xA0B0C0D0u);
  EXPECT_EQ(d.packet.tcp.flags, 0x18);
  EXPECT_EQ(d.payload, "INVITE sip:x");
}

TEST(PacketTcp, Ipv6) {
  auto d = run(LinkType::kEthernet, eth(0x86DD, ipv6(6, tcp(1, 2, 3, 4, 0x02, {}, ""))));
  EXPECT_STATUS(d, kOk);
  EXPECT_EQ(d.packet.transport, Transport::kTcp);
  EXPECT_EQ(d.packet.tcp.flags, 0x02);
  EXPECT_TRUE(d.payload.empty());
}

TEST(PacketTcp, Truncations) {
  Frame segment = tcp(1, 2, 3, 4, 0x10, Builder{}.zeros(8).f, "data");
  EXPECT_MALFORMED(run(LinkType::kEthernet, eth(0x0800, ipv4(6, truncate(segment, 19)))),
                   Anomaly::kTcpTruncated);
  // Data offset says 28 bytes of header, 24 captured.
  EXPECT_MALFORMED(run(LinkType::kEthernet, eth(0x0800, ipv4(6, truncate(segment, 24)))),
                   Anomaly::kTcpTruncated);
  Frame bad_offset = segment;
  bad_offset[12] = std::byte{0x40};
  EXPECT_MALFORMED(run(LinkType::kEthernet, eth(0x0800, ipv4(6, bad_offset))), Anomaly::kTcpBadHeaderLength);
}

// ---- IP in IP ---------------------------------------------------------------

TEST(PacketTunnel, IpInIp) {
  auto v4v4 = run(LinkType::kEthernet,
                  eth(0x0800, ipv4(4, v4_udp(), {.src = {192, 0, 2, 1}, .dst = {192, 0, 2, 2}})));
  expect_udp_v4(v4v4);  // the inner addresses
  expect_udp_v6(run(LinkType::kEthernet, eth(0x0800, ipv4(41, v6_udp()))));
  expect_udp_v4(run(LinkType::kEthernet, eth(0x86DD, ipv6(4, v4_udp()))));
  // A tunnel inside a tunnel is not followed.
  EXPECT_STATUS(run(LinkType::kEthernet, eth(0x0800, ipv4(4, ipv4(4, v4_udp())))), kNotInteresting);
}

// Remote mirroring: GRE with bridged Ethernet (key and sequence present),
// ERSPAN type II and III (with and without the platform subheader), GRE
// carrying IP directly; PPTP's GRE version 1 and truncations.
TEST(PacketTunnel, GreAndErspan) {
  const Frame inner = eth(0x0800, v4_udp());
  auto outer = [](const Frame& gre) {
    return eth(0x0800, ipv4(47, gre, {.src = {192, 0, 2, 1}, .dst = {192, 0, 2, 2}}));
  };
  expect_udp_v4(
      run(LinkType::kEthernet, outer(Builder{}.be16(0x3000).be16(0x6558).be32(7).be32(1).bytes(inner).f)));
  expect_udp_v4(
      run(LinkType::kEthernet, outer(Builder{}.be16(0x1000).be16(0x88BE).be32(1).zeros(8).bytes(inner).f)));
  expect_udp_v4(
      run(LinkType::kEthernet, outer(Builder{}.be16(0x0000).be16(0x22EB).zeros(12).bytes(inner).f)));
  expect_udp_v4(run(LinkType::kEthernet,
                    outer(Builder{}.be16(0x0000).be16(0x22EB).zeros(11).u8(1).zeros(8).bytes(inner).f)));
  expect_udp_v4(
      run(LinkType::kEthernet, outer(Builder{}.be16(0x8000).be16(0x0800).be32(0).bytes(v4_udp()).f)));
  EXPECT_STATUS(run(LinkType::kEthernet, outer(Builder{}.be16(0x3001).be16(0x880B).zeros(8).bytes(inner).f)),
                kNotInteresting);
  EXPECT_MALFORMED(run(LinkType::kEthernet, outer(Builder{}.be16(0x3000).be16(0x6558).be16(7).f)),
                   Anomaly::kTunnelTruncated);
  EXPECT_MALFORMED(run(LinkType::kEthernet, outer(Builder{}.be16(0x0000).be16(0x88BE).zeros(5).f)),
                   Anomaly::kTunnelTruncated);
  // GRE inside an IP-in-IP tunnel is one tunnel too many.
  EXPECT_STATUS(run(LinkType::kEthernet,
                    eth(0x0800, ipv4(4, ipv4(47, Builder{}.be16(0).be16(0x0800).bytes(v4_udp()).f)))),
                kNotInteresting);
}

// ---- Fragments ------------------------------------------------------------

// A UDP datagram of `size` payload bytes whose content tells its offsets apart.
Frame big_udp(size_t size, char seed = 'a') {
  std::string text = "MESSAGE sip:x SIP/2.0\r\n";
  while (text.size() < size) text.push_back(static_cast<char>(seed + text.size() % 23));
  text.resize(size);
  return udp(5060, 5062, text);
}

std::string payload_of(const Frame& udp_datagram) {
  return std::string(as_text(Bytes(udp_datagram).subspan(8)));
}

// Cuts `datagram` into IPv4 fragments of `step` bytes (a multiple of 8).
std::vector<Frame> ipv4_fragments(const Frame& datagram, size_t step, uint16_t id = 0x1234,
                                  uint8_t protocol = 17) {
  std::vector<Frame> out;
  for (size_t off = 0; off < datagram.size(); off += step) {
    const size_t len = std::min(step, datagram.size() - off);
    out.push_back(eth(0x0800, ipv4_fragment(datagram, off, len, off + len < datagram.size(), id, protocol)));
  }
  return out;
}

// Feeds fragments, expecting all but the last to be held; returns the last.
Decoded feed(PacketDecoder& d, const std::vector<Frame>& frames, int64_t ts_ns = 0) {
  Decoded last;
  for (size_t i = 0; i < frames.size(); ++i) {
    last = run(d, LinkType::kEthernet, frames[i], ts_ns);
    if (i + 1 < frames.size()) {
      EXPECT_STATUS(last, kFragmentHeld) << "fragment " << i;
    }
  }
  return last;
}

TEST(PacketFragments, Ipv4InOrder) {
  PacketDecoder d;
  const Frame dg = big_udp(3000);
  auto last = feed(d, ipv4_fragments(dg, 1480));
  expect_udp_v4(last, payload_of(dg));
  EXPECT_TRUE(last.packet.reassembled);
  EXPECT_EQ(d.fragment_stats().fragments, 3u);
  EXPECT_EQ(d.fragment_stats().reassembled, 1u);
  EXPECT_EQ(d.fragment_stats().datagrams_held, 0u);
  EXPECT_EQ(d.fragment_stats().bytes_held, 0u);
}

TEST(PacketFragments, Ipv4Reverse) {
  PacketDecoder d;
  const Frame dg = big_udp(5000);
  auto frames = ipv4_fragments(dg, 1000);
  std::reverse(frames.begin(), frames.end());
  expect_udp_v4(feed(d, frames), payload_of(dg));
}

TEST(PacketFragments, Ipv4Shuffled) {
  const Frame dg = big_udp(8000);
  auto frames = ipv4_fragments(dg, 512);
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    std::shuffle(frames.begin(), frames.end(), rng);
    PacketDecoder d;
    expect_udp_v4(feed(d, frames), payload_of(dg));
  }
}

TEST(PacketFragments, Ipv4DuplicatesAndIdenticalOverlapsAreAccepted) {
  PacketDecoder d;
  const Frame dg = big_udp(100);  // 108 bytes of UDP
  EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 0, 48, true))), kFragmentHeld);
  EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 0, 48, true))), kFragmentHeld);
  // Overlaps the first piece by 16 identical bytes.
  EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 32, 40, true))), kFragmentHeld);
  auto last = run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 64, 44, false)));
  expect_udp_v4(last, payload_of(dg));
  EXPECT_EQ(d.fragment_stats().dropped, 0u);
}

TEST(PacketFragments, Ipv4ConflictingOverlapDropsDatagram) {
  PacketDecoder d;
  const Frame dg = big_udp(100);
  Frame other = dg;
  other[40] = std::byte{'#'};
  EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 0, 48, true))), kFragmentHeld);
  EXPECT_MALFORMED(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(other, 32, 40, true))),
                   Anomaly::kFragmentOverlap);
  EXPECT_EQ(d.fragment_stats().dropped, 1u);
  EXPECT_EQ(d.fragment_stats().datagrams_held, 0u);
  // The rest of the datagram alone cannot complete it.
  EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 48, 60, false))), kFragmentHeld);
  EXPECT_EQ(d.fragment_stats().reassembled, 0u);
}

TEST(PacketFragments, KeyedBySourceDestinationIdAndProtocol) {
  PacketDecoder d;
  const Frame a = big_udp(40, 'a');
  const Frame b = big_udp(40, 'k');
  // Same id, different protocol: two datagrams.
  EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(a, 0, 24, true, 7, 17))),
                kFragmentHeld);
  EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(b, 0, 24, true, 7, 6))), kFragmentHeld);
  // Different id.
  EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(b, 0, 24, true, 8, 17))),
                kFragmentHeld);
  EXPECT_EQ(d.fragment_stats().datagrams_held, 3u);
  expect_udp_v4(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(a, 24, 24, false, 7, 17))),
                payload_of(a));
  expect_udp_v4(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(b, 24, 24, false, 8, 17))),
                payload_of(b));
  EXPECT_EQ(d.fragment_stats().datagrams_held, 1u);
}

TEST(PacketFragments, ReassembledTcpAndOtherProtocols) {
  PacketDecoder d;
  const Frame segment = tcp(5060, 5061, 1, 2, 0x18, {}, std::string(3000, 'T'));
  auto last = feed(d, ipv4_fragments(segment, 1480, 9, 6));
  EXPECT_STATUS(last, kOk);
  EXPECT_EQ(last.packet.transport, Transport::kTcp);
  EXPECT_EQ(last.payload, std::string(3000, 'T'));
  // A fragmented ICMP echo completes but is not interesting.
  EXPECT_STATUS(feed(d, ipv4_fragments(Frame(3000), 1480, 10, 1)), kNotInteresting);
}

TEST(PacketFragments, ReassembledUdpStillChecksLength) {
  PacketDecoder d;
  Frame dg = big_udp(100);
  dg[4] = std::byte{0x01};  // UDP length 256+: more than the 108 reassembled bytes
  EXPECT_MALFORMED(feed(d, ipv4_fragments(dg, 64)), Anomaly::kUdpTruncated);
}

TEST(PacketFragments, BadFragments) {
  PacketDecoder d;
  const Frame dg = big_udp(100);
  // A fragment with more to follow must carry a multiple of 8 bytes.
  EXPECT_MALFORMED(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 0, 20, true))),
                   Anomaly::kFragmentBad);
  // Two last fragments that disagree on the end.
  EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 64, 44, false))), kFragmentHeld);
  EXPECT_MALFORMED(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 64, 40, false))),
                   Anomaly::kFragmentBad);
  // A piece beyond the known end.
  EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 64, 44, false))), kFragmentHeld);
  Frame longer = big_udp(200);
  EXPECT_MALFORMED(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(longer, 104, 16, true))),
                   Anomaly::kFragmentBad);
  // A last fragment ending before bytes already held.
  EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(longer, 104, 16, true))),
                kFragmentHeld);
  EXPECT_MALFORMED(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 64, 44, false))),
                   Anomaly::kFragmentBad);
  EXPECT_EQ(d.fragment_stats().dropped, 3u);
  EXPECT_EQ(d.fragment_stats().datagrams_held, 0u);
}

TEST(PacketFragments, TooLarge) {
  PacketDecoder d;
  const Frame dg = big_udp(100);
  EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 0, 48, true))), kFragmentHeld);
  // Offset 65480 + 48 bytes + 20 header = 65548 > 65535.
  Frame tail = ipv4(17, Frame(48), {.flags_offset = 65480 / 8});
  EXPECT_MALFORMED(run(d, LinkType::kEthernet, eth(0x0800, tail)), Anomaly::kFragmentTooLarge);
  EXPECT_EQ(d.fragment_stats().dropped, 1u);
  EXPECT_EQ(d.fragment_stats().datagrams_held, 0u);
  // Exactly 65535 is fine.
  Frame fits = ipv4(17, Frame(35), {.flags_offset = 65480 / 8});
  EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, fits)), kFragmentHeld);
}

TEST(PacketFragments, Ipv6InAndOutOfOrder) {
  const Frame dg = udp(5060, 5062, payload_of(big_udp(2500)));
  for (bool reverse : {false, true}) {
    PacketDecoder d;
    std::vector<Frame> frames;
    for (size_t off = 0; off < dg.size(); off += 1232) {
      const size_t len = std::min<size_t>(1232, dg.size() - off);
      frames.push_back(eth(0x86DD, ipv6_fragment(dg, 17, off, len, off + len < dg.size())));
    }
    if (reverse) std::reverse(frames.begin(), frames.end());
    auto last = feed(d, frames);
    expect_udp_v6(last, payload_of(dg));
    EXPECT_TRUE(last.packet.reassembled);
    EXPECT_EQ(d.fragment_stats().reassembled, 1u);
  }
}

TEST(PacketFragments, Ipv6ExtensionHeadersInFragmentablePart) {
  PacketDecoder d;
  // Destination options travel after the fragment header, inside the fragments.
  const Frame fragmentable = Builder{}.u8(17).u8(0).zeros(6).bytes(big_udp(1500)).f;
  auto last =
      feed(d, {eth(0x86DD, ipv6_fragment(fragmentable, 60, 0, 1000, true)),
               eth(0x86DD, ipv6_fragment(fragmentable, 60, 1000, fragmentable.size() - 1000, false))});
  EXPECT_STATUS(last, kOk);
  EXPECT_EQ(last.payload, payload_of(big_udp(1500)));
}

TEST(PacketFragments, Ipv6ConflictingOverlapAndTooLarge) {
  PacketDecoder d;
  const Frame dg = big_udp(200);
  Frame other = dg;
  other[10] = std::byte{'#'};
  EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x86DD, ipv6_fragment(dg, 17, 0, 64, true))), kFragmentHeld);
  EXPECT_MALFORMED(run(d, LinkType::kEthernet, eth(0x86DD, ipv6_fragment(other, 17, 0, 64, true))),
                   Anomaly::kFragmentOverlap);
  Frame huge = Builder{}.u8(17).u8(0).be16(65528).be32(1).zeros(16).f;
  EXPECT_MALFORMED(run(d, LinkType::kEthernet, eth(0x86DD, ipv6(44, huge))), Anomaly::kFragmentTooLarge);
}

TEST(PacketFragments, TableFullEvictsOldest) {
  PacketDecoder d(FragmentLimits{.max_datagrams = 2});
  const Frame dg = big_udp(100);
  for (uint16_t id : {1, 2, 3}) {
    EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 0, 64, true, id))),
                  kFragmentHeld);
  }
  EXPECT_EQ(d.fragment_stats().evicted, 1u);
  EXPECT_EQ(d.fragment_stats().datagrams_held, 2u);
  EXPECT_EQ(d.background_anomalies().get(Anomaly::kFragmentTableFull), 1u);
  // Datagram 1 was the oldest and is gone; 3 completes.
  EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 64, 44, false, 1))), kFragmentHeld);
  expect_udp_v4(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 64, 44, false, 3))),
                payload_of(dg));
}

TEST(PacketFragments, ByteLimitEvictsOldest) {
  const FragmentLimits limits{.max_bytes = 10000};
  PacketDecoder d(limits);
  const Frame dg = big_udp(3000);
  for (uint16_t id = 1; id <= 10; ++id) {
    EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 0, 1480, true, id))),
                  kFragmentHeld);
    EXPECT_LE(d.fragment_stats().bytes_held, limits.max_bytes);
  }
  EXPECT_GT(d.fragment_stats().evicted, 0u);
  EXPECT_LT(d.fragment_stats().datagrams_held, 10u);
  EXPECT_EQ(d.background_anomalies().get(Anomaly::kFragmentTableFull), d.fragment_stats().evicted);
  // The newest datagram survived and completes.
  EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 1480, 1480, true, 10))),
                kFragmentHeld);
  expect_udp_v4(
      run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 2960, dg.size() - 2960, false, 10))),
      payload_of(dg));
}

TEST(PacketFragments, DatagramLargerThanByteLimit) {
  PacketDecoder d(FragmentLimits{.max_bytes = 1000});
  const Frame dg = big_udp(3000);
  EXPECT_MALFORMED(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 0, 1480, true))),
                   Anomaly::kFragmentTableFull);
  EXPECT_EQ(d.fragment_stats().evicted, 1u);
  EXPECT_EQ(d.fragment_stats().datagrams_held, 0u);
  EXPECT_EQ(d.fragment_stats().bytes_held, 0u);
}

TEST(PacketFragments, TooManyPieces) {
  PacketDecoder d(FragmentLimits{.max_pieces = 2});
  const Frame dg = big_udp(100);
  EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 0, 8, true))), kFragmentHeld);
  EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 24, 8, true))), kFragmentHeld);
  // Touching an existing piece merges with it: still two pieces.
  EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 8, 8, true))), kFragmentHeld);
  EXPECT_MALFORMED(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 48, 8, true))),
                   Anomaly::kFragmentTooManyPieces);
  EXPECT_EQ(d.fragment_stats().dropped, 1u);
}

TEST(PacketFragments, ExpireDropsTimedOutDatagrams) {
  PacketDecoder d(FragmentLimits{.timeout_ns = kNsPerSec});
  const Frame dg = big_udp(100);
  EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 0, 64, true)), 0), kFragmentHeld);
  d.expire(Timestamp{kNsPerSec / 2});
  EXPECT_EQ(d.fragment_stats().timed_out, 0u);
  d.expire(Timestamp{kNsPerSec});
  EXPECT_EQ(d.fragment_stats().timed_out, 1u);
  EXPECT_EQ(d.fragment_stats().datagrams_held, 0u);
  EXPECT_EQ(d.background_anomalies().get(Anomaly::kFragmentTimeout), 1u);
  // The late tail starts a new datagram that cannot complete.
  EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 64, 44, false)), kNsPerSec),
                kFragmentHeld);
}

TEST(PacketFragments, DecodeExpiresByPacketTime) {
  PacketDecoder d(FragmentLimits{.timeout_ns = 2 * kNsPerSec});
  const Frame dg = big_udp(100);
  EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 0, 64, true, 1)), 0),
                kFragmentHeld);
  EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 0, 64, true, 2)), kNsPerSec),
                kFragmentHeld);
  expect_udp_v4(run(d, LinkType::kEthernet, eth(0x0800, v4_udp()), 2 * kNsPerSec));
  EXPECT_EQ(d.fragment_stats().timed_out, 1u);  // only datagram 1 is 2 s old
  expect_udp_v4(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 64, 44, false, 2)), 2 * kNsPerSec),
                payload_of(dg));
  // Time going backwards expires nothing (and overflows nothing).
  EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 0, 64, true, 3)), INT64_MAX),
                kFragmentHeld);
  d.expire(Timestamp{INT64_MIN});
  EXPECT_EQ(d.fragment_stats().datagrams_held, 1u);
}

TEST(PacketFragments, ManyDatagramsReuseBoundedState) {
  PacketDecoder d(FragmentLimits{.max_datagrams = 8, .max_bytes = 64 * 1024});
  const Frame dg = big_udp(2000);
  for (uint16_t id = 0; id < 2000; ++id) {
    auto frames = ipv4_fragments(dg, 504, id);
    // Interleave an abandoned datagram with every completed one.
    EXPECT_STATUS(run(d, LinkType::kEthernet, eth(0x0800, ipv4_fragment(dg, 0, 504, true, id + 30000))),
                  kFragmentHeld);
    expect_udp_v4(feed(d, frames), payload_of(dg));
    ASSERT_LE(d.fragment_stats().datagrams_held, 8u);
    ASSERT_LE(d.fragment_stats().bytes_held, 64u * 1024);
  }
  EXPECT_EQ(d.fragment_stats().reassembled, 2000u);
}

TEST(PacketFragments, InterleavedDatagramsAllComplete) {
  // Many datagrams in flight at once, their fragments shuffled together: every
  // one must be found again however the index probes and shifts.
  PacketDecoder d(FragmentLimits{.max_datagrams = 64});
  std::mt19937 rng(99);
  size_t completed = 0;
  for (uint16_t batch = 0; batch < 10; ++batch) {
    std::vector<std::pair<std::string, Frame>> frames;  // expected payload, fragment
    for (uint16_t i = 0; i < 60; ++i) {
      const uint16_t id = static_cast<uint16_t>(batch * 100 + i);
      const Frame dg = big_udp(200 + i * 8, static_cast<char>('a' + i % 20));
      for (Frame& f : ipv4_fragments(dg, 64, id)) frames.emplace_back(payload_of(dg), std::move(f));
    }
    std::shuffle(frames.begin(), frames.end(), rng);
    for (const auto& [payload, f] : frames) {
      auto r = run(d, LinkType::kEthernet, f);
      if (r.result.status == DecodeStatus::kOk) {
        EXPECT_EQ(r.payload, payload);
        ++completed;
      } else {
        EXPECT_STATUS(r, kFragmentHeld);
      }
    }
    EXPECT_EQ(d.fragment_stats().datagrams_held, 0u);
  }
  EXPECT_EQ(completed, 600u);
  EXPECT_EQ(d.fragment_stats().evicted, 0u);
}

TEST(PacketAllocation, WholeFramesDoNotAllocate) {
  PacketDecoder d;
  const std::vector<std::pair<LinkType, Frame>> frames = {
      {LinkType::kEthernet, eth_tagged({{0x88A8, 1}, {0x8100, 2}}, 0x0800, v4_udp())},
      {LinkType::kLinuxSll, sll(0x86DD, v6_udp())},
      {LinkType::kEthernet, pppoe(0x0021, ipv4(6, tcp(1, 2, 3, 4, 5, {}, "x")))},
      {LinkType::kNull, Builder{}.le32(30).bytes(v6_udp()).f},
  };
  DecodedPacket out;
  g_allocations = 0;
  g_count_allocations = true;
  for (int i = 0; i < 100; ++i) {
    for (const auto& [link, f] : frames) (void)d.decode(link, Timestamp{i}, 1, Bytes(f), out);
  }
  g_count_allocations = false;
  EXPECT_EQ(g_allocations, 0u);
}

TEST(PacketAllocation, SteadyFragmentTrafficReusesBuffers) {
  PacketDecoder d;
  const Frame dg = big_udp(3000);
  const auto frames = ipv4_fragments(dg, 1480);
  for (int warm_up = 0; warm_up < 3; ++warm_up) feed(d, frames);
  DecodedPacket out;
  g_allocations = 0;
  g_count_allocations = true;
  for (int i = 0; i < 100; ++i) {
    for (const Frame& f : frames) (void)d.decode(LinkType::kEthernet, Timestamp{i}, 1, Bytes(f), out);
  }
  g_count_allocations = false;
  EXPECT_EQ(g_allocations, 0u);
  EXPECT_EQ(d.fragment_stats().reassembled, 103u);
}

// ---- Robustness -------------------------------------------------------------

TEST(PacketRobustness, MutatedFramesNeverCrash) {
  // Runs under the sanitizer build in CI; here it at least must not crash.
  std::mt19937 rng(1234);
  const std::vector<std::pair<LinkType, Frame>> seeds = {
      {LinkType::kEthernet, eth(0x0800, v4_udp())},
      {LinkType::kEthernet, eth_tagged({{0x88A8, 1}, {0x8100, 2}}, 0x86DD, v6_udp())},
      {LinkType::kEthernet, pppoe(0x0021, ipv4_fragment(big_udp(100), 0, 64, true))},
      {LinkType::kLinuxSll, sll(0x86DD, ipv6_fragment(big_udp(100), 17, 0, 64, true))},
      {LinkType::kLinuxSll2, sll2(0x0800, ipv4(6, tcp(1, 2, 3, 4, 5, {}, "x")))},
      {LinkType::kNull, Builder{}.le32(30).bytes(ipv6(0, Builder{}.u8(17).u8(0).zeros(6).f)).f},
  };
  PacketDecoder d(FragmentLimits{.max_datagrams = 4, .max_bytes = 16 * 1024, .timeout_ns = 1000});
  int64_t ts = 0;
  for (int i = 0; i < 20000; ++i) {
    const auto& [link, seed] = seeds[static_cast<size_t>(i) % seeds.size()];
    Frame f = seed;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) f[rng() % f.size()] = static_cast<std::byte>(rng());
    f.resize(rng() % (f.size() + 1));
    DecodedPacket out;
    const auto r = d.decode(link, Timestamp{ts += 100}, 1, Bytes(f), out);
    if (r.status == DecodeStatus::kOk) {
      // The payload view lies inside the frame or inside the decoder's buffer.
      ASSERT_LE(out.payload.size(), 65535u);
    }
  }
}

// ---- Real captures ------------------------------------------------------------

std::filesystem::path pcaps_dir() {
  if (const char* env = std::getenv("CALLVAULT_PCAPS")) return env;
  return std::filesystem::path(CV_SOURCE_DIR "/../shared/pcaps");
}

#define REQUIRE_PCAPS()                                                                       \
  do {                                                                                        \
    if (!std::filesystem::is_directory(pcaps_dir())) {                                        \
      const char* ci = std::getenv("CI");                                                     \
      if (ci && std::string_view(ci) == "true") FAIL() << "missing " << pcaps_dir();          \
      GTEST_SKIP() << "capture folder " << pcaps_dir() << " not found (set CALLVAULT_PCAPS)"; \
    }                                                                                         \
  } while (0)

struct CaptureSummary {
  bool opened = false;
  std::string error;
  size_t frames = 0;
  std::map<DecodeStatus, size_t> status;
  std::map<std::string, size_t> anomalies;
  size_t udp = 0, tcp = 0, ipv6 = 0, reassembled = 0;
  size_t udp_payload_bytes = 0;
  std::vector<std::string> payloads;   // every kOk payload, copied
  std::vector<DecodedPacket> packets;  // payload views cleared
};

CaptureSummary read_capture(const std::string& name, FragmentLimits limits = {}) {
  CaptureSummary s;
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline((pcaps_dir() / name).c_str(), errbuf);
  if (!p) {
    s.error = errbuf;
    return s;
  }
  s.opened = true;
  const int dlt = pcap_datalink(p);
  PacketDecoder decoder(limits);
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  while (pcap_next_ex(p, &hdr, &data) == 1) {
    ++s.frames;
    DecodedPacket out;
    const Bytes frame(reinterpret_cast<const std::byte*>(data), hdr->caplen);
    const auto r =
        decoder.decode(static_cast<LinkType>(dlt), Timestamp::from_sec_usec(hdr->ts.tv_sec, hdr->ts.tv_usec),
                       s.frames, frame, out);
    ++s.status[r.status];
    if (r.anomaly != Anomaly::kNone) ++s.anomalies[std::string(anomaly_name(r.anomaly))];
    if (r.status != DecodeStatus::kOk) continue;
    (out.transport == Transport::kUdp ? s.udp : s.tcp)++;
    if (out.transport == Transport::kUdp) s.udp_payload_bytes += out.payload.size();
    if (out.src.ip.family == 6) ++s.ipv6;
    if (out.reassembled) ++s.reassembled;
    s.payloads.emplace_back(as_text(out.payload));
    out.payload = {};
    s.packets.push_back(out);
  }
  pcap_close(p);
  return s;
}

// A SIP request line ("METHOD uri SIP/2.0") or status line ("SIP/2.0 200 ").
bool starts_with_sip_start_line(std::string_view text) {
  const auto eol = text.find("\r\n");
  if (eol == std::string_view::npos) return false;
  const std::string_view line = text.substr(0, eol);
  if (line.starts_with("SIP/2.0 "))
    return line.size() >= 12 && std::isdigit(static_cast<unsigned char>(line[8]));
  return line.ends_with(" SIP/2.0") && line.find(' ') > 0 && line.find(' ') < line.size() - 8;
}

// Expected counts below were taken from tshark 4.0.17 (e.g.
// `tshark -r FILE -Y udp | wc -l`, `-T fields -e vlan.id`, `-e udp.length`).

TEST(PacketCaptures, ErspanGreSip) {
  REQUIRE_PCAPS();
  auto s = read_capture("erspan_sip_ipv4_udp.pcapng");
  ASSERT_TRUE(s.opened) << s.error;
  // tshark: 140 frames, all eth:ip:gre:eth:ip:udp:sip (GRE key, 0x6558).
  EXPECT_EQ(s.frames, 140u);
  EXPECT_EQ(s.udp, 140u);
  for (const auto& p : s.payloads) EXPECT_TRUE(starts_with_sip_start_line(p)) << p.substr(0, 40);
}

TEST(PacketCaptures, Ipv4FragmentedSipCancel) {
  REQUIRE_PCAPS();
  auto s = read_capture("correct_1.pcap");
  ASSERT_TRUE(s.opened) << s.error;
  EXPECT_EQ(s.frames, 23u);
  EXPECT_EQ(s.status[DecodeStatus::kFragmentHeld], 22u);
  ASSERT_EQ(s.status[DecodeStatus::kOk], 1u);
  EXPECT_EQ(s.udp, 1u);
  EXPECT_EQ(s.reassembled, 1u);
  EXPECT_TRUE(s.payloads[0].starts_with("CANCEL ")) << s.payloads[0].substr(0, 40);
  EXPECT_EQ(s.payloads[0].size(), 33332u - 8);  // tshark: udp.length 33332
}

TEST(PacketCaptures, Ipv6FragmentedSip) {
  REQUIRE_PCAPS();
  auto s = read_capture("ipv6frag.pcap");
  ASSERT_TRUE(s.opened) << s.error;
  EXPECT_EQ(s.frames, 34u);
  EXPECT_EQ(s.status[DecodeStatus::kFragmentHeld], 2u);
  EXPECT_EQ(s.status[DecodeStatus::kOk], 32u);
  EXPECT_EQ(s.udp, 32u);
  EXPECT_EQ(s.ipv6, 32u);
  EXPECT_EQ(s.reassembled, 2u);
  for (const auto& p : s.payloads) EXPECT_TRUE(starts_with_sip_start_line(p)) << p.substr(0, 60);
  // The two reassembled INVITEs: tshark udp.length 1699 and 1879.
  std::vector<size_t> reassembled_sizes;
  for (size_t i = 0; i < s.packets.size(); ++i) {
    if (s.packets[i].reassembled) reassembled_sizes.push_back(s.payloads[i].size());
  }
  EXPECT_EQ(reassembled_sizes, (std::vector<size_t>{1699 - 8, 1879 - 8}));
  EXPECT_TRUE(s.payloads[0].starts_with("INVITE sip:"));
}

TEST(PacketCaptures, LinuxCookedRtp) {
  REQUIRE_PCAPS();
  auto s = read_capture("pcmu_8k_no_jitter.pcap");
  ASSERT_TRUE(s.opened) << s.error;
  EXPECT_EQ(s.frames, 2528u);
  // tshark `-Y udp` says 2528, but 4 of those are ICMP port unreachables
  // quoting a UDP header: `-Y "udp && !icmp"` gives 2524, `-Y icmp` 4.
  EXPECT_EQ(s.udp, 2524u);
  EXPECT_EQ(s.status[DecodeStatus::kNotInteresting], 4u);
  EXPECT_EQ(s.udp_payload_bytes, 2524u * (180 - 8));  // tshark: every udp.length is 180
  EXPECT_EQ(s.packets[0].src.to_string(), "192.168.0.201:8090");
  EXPECT_EQ(s.packets[0].dst.to_string(), "192.168.0.201:8070");
}

TEST(PacketCaptures, RawIpv4Sip) {
  REQUIRE_PCAPS();
  auto s = read_capture("sip-long-request-response-paths.pcap");
  ASSERT_TRUE(s.opened) << s.error;
  EXPECT_EQ(s.frames, 2u);
  ASSERT_EQ(s.udp, 2u);
  EXPECT_EQ(s.payloads[0].size(), 9571u - 8);
  EXPECT_EQ(s.payloads[1].size(), 9556u - 8);
  for (const auto& p : s.payloads) EXPECT_TRUE(starts_with_sip_start_line(p));
  EXPECT_EQ(s.packets[0].src.ip.to_string(), "192.0.2.10");
}

TEST(PacketCaptures, NullLoopbackIpv4AndIpv6) {
  REQUIRE_PCAPS();
  auto s = read_capture("DLT_NULL.a.rtp");
  ASSERT_TRUE(s.opened) << s.error;
  EXPECT_EQ(s.frames, 600u);
  EXPECT_EQ(s.udp, 600u);
  EXPECT_EQ(s.ipv6, 300u);
  EXPECT_EQ(s.udp_payload_bytes, 600u * (53 - 8));
}

TEST(PacketCaptures, VlanAndQinQ) {
  REQUIRE_PCAPS();
  auto s = read_capture("false_positives.pcapng");
  ASSERT_TRUE(s.opened) << s.error;
  EXPECT_EQ(s.frames, 120u);
  EXPECT_EQ(s.udp, 120u);
  std::map<std::pair<int, int>, size_t> tags;  // (outer, inner) -> frames, -1 when absent
  for (const auto& p : s.packets) {
    ++tags[{p.vlan_count > 0 ? p.vlan[0] : -1, p.vlan_count > 1 ? p.vlan[1] : -1}];
  }
  const std::map<std::pair<int, int>, size_t> expected = {
      {{-1, -1}, 6}, {{107, -1}, 30}, {{3243, 10}, 50}, {{3394, 113}, 4}, {{4006, 20}, 30}};
  EXPECT_EQ(tags, expected);
}

TEST(PacketCaptures, PppoeSip) {
  REQUIRE_PCAPS();
  auto s = read_capture("DTMFsipinfo.pcap");
  ASSERT_TRUE(s.opened) << s.error;
  EXPECT_EQ(s.frames, 32u);
  EXPECT_EQ(s.udp, 32u);
  EXPECT_EQ(s.udp_payload_bytes, 23549u - 32 * 8);  // tshark: sum of udp.length
  for (const auto& p : s.payloads) EXPECT_TRUE(starts_with_sip_start_line(p)) << p.substr(0, 60);
}

TEST(PacketCaptures, IpInIpTcp) {
  REQUIRE_PCAPS();
  auto s = read_capture("ipip.pcap");
  ASSERT_TRUE(s.opened) << s.error;
  EXPECT_EQ(s.frames, 4u);
  ASSERT_EQ(s.tcp, 4u);
  std::vector<size_t> sizes;
  for (const auto& p : s.payloads) sizes.push_back(p.size());
  EXPECT_EQ(sizes, (std::vector<size_t>{1103, 621, 616, 409}));  // tshark: tcp.len
  for (const auto& p : s.payloads) EXPECT_TRUE(starts_with_sip_start_line(p));
}

}  // namespace
}  // namespace cv
