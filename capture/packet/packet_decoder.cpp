#include "capture/packet/packet_decoder.h"

#include "capture/packet/ip_reassembler.h"

namespace cv {
namespace {

// Tags followed before giving up: QinQ needs 2, and carrier networks stack a
// third or fourth; more than that is a loop or an attack.
constexpr int kMaxVlanTags = 4;
// Outer IP plus one tunnelled inner IP header (IP-in-IP, GRE, ERSPAN);
// deeper tunnels are not decoded.
constexpr int kMaxIpHeaders = 2;

constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeIpv6 = 0x86DD;
constexpr uint16_t kEtherTypeVlan = 0x8100;     // IEEE 802.1Q
constexpr uint16_t kEtherTypeQinQ = 0x88A8;     // IEEE 802.1ad service tag
constexpr uint16_t kEtherTypeQinQOld = 0x9100;  // pre-standard QinQ
constexpr uint16_t kEtherTypePppoeSession = 0x8864;

// GRE payload types (RFC 2784 protocol field): bridged Ethernet, and the two
// ERSPAN versions switches use to mirror a port across the network.
constexpr uint16_t kGreTransparentEthernet = 0x6558;
constexpr uint16_t kGreErspanII = 0x88BE;
constexpr uint16_t kGreErspanIII = 0x22EB;
constexpr size_t kErspanIIHeader = 8;
constexpr size_t kErspanIIIHeader = 12;
constexpr size_t kErspanIIIPlatformSubheader = 8;

constexpr uint16_t kPppIpv4 = 0x0021;
constexpr uint16_t kPppIpv6 = 0x0057;

constexpr uint8_t kIpProtoHopByHop = 0;
constexpr uint8_t kIpProtoIpv4 = 4;
constexpr uint8_t kIpProtoTcp = 6;
constexpr uint8_t kIpProtoUdp = 17;
constexpr uint8_t kIpProtoIpv6 = 41;
constexpr uint8_t kIpProtoRouting = 43;
constexpr uint8_t kIpProtoFragment = 44;
constexpr uint8_t kIpProtoGre = 47;
constexpr uint8_t kIpProtoAh = 51;
constexpr uint8_t kIpProtoDestOptions = 60;

// Address families in DLT_NULL/DLT_LOOP headers: AF_INET is 2 everywhere,
// AF_INET6 differs per BSD (NetBSD/OpenBSD 24, FreeBSD 28, Darwin 30).
constexpr uint32_t kBsdAfInet = 2;
constexpr uint32_t kBsdAfInet6NetBsd = 24;
constexpr uint32_t kBsdAfInet6FreeBsd = 28;
constexpr uint32_t kBsdAfInet6Darwin = 30;

constexpr size_t kIpv4MinHeader = 20;
constexpr size_t kUdpHeader = 8;
constexpr size_t kTcpMinHeader = 20;
constexpr size_t kSllHeader = 16;
constexpr size_t kSll2Header = 20;

DecodeResult ok() { return {DecodeStatus::kOk, Anomaly::kNone}; }
DecodeResult not_interesting() { return {DecodeStatus::kNotInteresting, Anomaly::kNone}; }
DecodeResult malformed(Anomaly a) { return {DecodeStatus::kMalformed, a}; }

IpAddress read_v4(Bytes b) { return IpAddress::v4(reinterpret_cast<const uint8_t*>(b.data())); }
IpAddress read_v6(Bytes b) { return IpAddress::v6(reinterpret_cast<const uint8_t*>(b.data())); }

// The state one frame's layers share while it is peeled: the output, the
// reassembler, and how deep the nesting already goes.
struct Layers {
  DecodedPacket& out;
  IpReassembler& fragments;
  int vlan_tags = 0;
  int ip_headers = 0;
};

DecodeResult decode_ethertype(uint16_t type, Bytes data, Layers& l);
DecodeResult decode_ethernet(Bytes frame, Layers& l);
DecodeResult decode_ipv4(Bytes data, Layers& l);
DecodeResult decode_ipv6(Bytes data, Layers& l);

// ---- Transport ----------------------------------------------------------

// Suricata decode-udp.c order: header vs captured, claimed vs header, claimed
// vs captured. The checksum is not verified: mirror ports see packets before
// checksum offload fills them in.
DecodeResult decode_udp(Bytes data, Layers& l) {
  ByteReader r(data);
  uint16_t src_port = 0, dst_port = 0, length = 0, checksum = 0;
  if (!r.be16(src_port) || !r.be16(dst_port) || !r.be16(length) || !r.be16(checksum)) {
    return malformed(Anomaly::kUdpTruncated);
  }
  if (length < kUdpHeader) return malformed(Anomaly::kUdpBadLength);
  Bytes payload;
  if (!r.take(length - kUdpHeader, payload)) return malformed(Anomaly::kUdpTruncated);
  // Bytes beyond the UDP length (link padding) are dropped by take().
  l.out.transport = Transport::kUdp;
  l.out.src.port = src_port;
  l.out.dst.port = dst_port;
  l.out.payload = payload;
  return ok();
}

DecodeResult decode_tcp(Bytes data, Layers& l) {
  ByteReader r(data);
  uint16_t src_port = 0, dst_port = 0;
  uint32_t seq = 0, ack = 0;
  uint8_t offset_byte = 0, flags = 0;
  if (!r.be16(src_port) || !r.be16(dst_port) || !r.be32(seq) || !r.be32(ack) || !r.u8(offset_byte) ||
      !r.u8(flags)) {
    return malformed(Anomaly::kTcpTruncated);
  }
  const size_t header_length = static_cast<size_t>(offset_byte >> 4) * 4;
  if (header_length < kTcpMinHeader) return malformed(Anomaly::kTcpBadHeaderLength);
  ByteReader whole(data);
  if (!whole.skip(header_length)) return malformed(Anomaly::kTcpTruncated);
  l.out.transport = Transport::kTcp;
  l.out.src.port = src_port;
  l.out.dst.port = dst_port;
  l.out.tcp.seq = seq;
  l.out.tcp.ack = ack;
  l.out.tcp.flags = flags;
  l.out.payload = whole.rest();
  return ok();
}

// GRE (RFC 2784/2890) as remote mirroring uses it: bridged Ethernet, ERSPAN
// type II and III, or IP directly. Version 1 (PPTP) is not followed.
DecodeResult decode_gre(Bytes data, Layers& l) {
  ByteReader r(data);
  uint16_t flags_version = 0, protocol = 0;
  if (!r.be16(flags_version) || !r.be16(protocol)) return malformed(Anomaly::kTunnelTruncated);
  const bool checksum = flags_version & 0x8000, routing = flags_version & 0x4000,
             key = flags_version & 0x2000, sequence = flags_version & 0x1000;
  if ((flags_version & 0x7) != 0 || routing) return not_interesting();
  if (!r.skip((checksum ? 4u : 0u) + (key ? 4u : 0u) + (sequence ? 4u : 0u))) {
    return malformed(Anomaly::kTunnelTruncated);
  }
  switch (protocol) {
    case kGreTransparentEthernet:
      return decode_ethernet(r.rest(), l);
    case kGreErspanII:
      if (!r.skip(kErspanIIHeader)) return malformed(Anomaly::kTunnelTruncated);
      return decode_ethernet(r.rest(), l);
    case kGreErspanIII: {
      Bytes header;
      if (!r.take(kErspanIIIHeader, header)) return malformed(Anomaly::kTunnelTruncated);
      // The O flag (last bit of the header) announces an 8-byte platform subheader.
      if ((static_cast<uint8_t>(header[kErspanIIIHeader - 1]) & 1) && !r.skip(kErspanIIIPlatformSubheader)) {
        return malformed(Anomaly::kTunnelTruncated);
      }
      return decode_ethernet(r.rest(), l);
    }
    default:
      return decode_ethertype(protocol, r.rest(), l);
  }
}

// Next layer after an IP header, by protocol number.
DecodeResult decode_ip_payload(uint8_t protocol, Bytes data, Layers& l) {
  switch (protocol) {
    case kIpProtoUdp:
      return decode_udp(data, l);
    case kIpProtoTcp:
      return decode_tcp(data, l);
    case kIpProtoIpv4:
      return l.ip_headers < kMaxIpHeaders ? decode_ipv4(data, l) : not_interesting();
    case kIpProtoIpv6:
      return l.ip_headers < kMaxIpHeaders ? decode_ipv6(data, l) : not_interesting();
    case kIpProtoGre:
      return l.ip_headers < kMaxIpHeaders ? decode_gre(data, l) : not_interesting();
    default:
      return not_interesting();  // ICMP, SCTP, ESP, ...
  }
}

// ---- Network ------------------------------------------------------------

DecodeResult decode_ipv4(Bytes data, Layers& l) {
  ++l.ip_headers;
  ByteReader r(data);
  uint8_t version_ihl = 0, tos = 0, ttl = 0, protocol = 0;
  uint16_t total_length = 0, id = 0, flags_offset = 0, checksum = 0;
  Bytes src, dst;
  if (!r.u8(version_ihl)) return malformed(Anomaly::kIpv4Truncated);
  if (version_ihl >> 4 != 4) return malformed(Anomaly::kIpv4BadVersion);
  if (!r.u8(tos) || !r.be16(total_length) || !r.be16(id) || !r.be16(flags_offset) || !r.u8(ttl) ||
      !r.u8(protocol) || !r.be16(checksum) || !r.take(4, src) || !r.take(4, dst)) {
    return malformed(Anomaly::kIpv4Truncated);
  }
  const size_t header_length = size_t{version_ihl & 0x0Fu} * 4;
  const bool more_fragments = (flags_offset & 0x2000) != 0;
  const uint32_t fragment_offset = uint32_t{flags_offset & 0x1FFFu} * 8;
  const bool is_fragment = more_fragments || fragment_offset != 0;
  // Total length 0 is what a sender with TCP segmentation offload captures
  // (the NIC fills it in later); the captured length is then all we have.
  size_t datagram_length = total_length;
  if (total_length == 0 && !is_fragment) datagram_length = data.size();
  if (header_length < kIpv4MinHeader || header_length > datagram_length) {
    return malformed(Anomaly::kIpv4BadHeaderLength);
  }
  if (header_length > data.size()) return malformed(Anomaly::kIpv4Truncated);
  // Longer than captured: the snap length cut it. Shorter: the rest is link
  // padding (Ethernet pads to 60 bytes) and is not part of the datagram.
  if (datagram_length > data.size()) return malformed(Anomaly::kIpv4BadTotalLength);
  const Bytes payload = data.subspan(header_length, datagram_length - header_length);

  l.out.src.ip = read_v4(src);
  l.out.dst.ip = read_v4(dst);
  if (!is_fragment) return decode_ip_payload(protocol, payload, l);

  Fragment fragment;
  fragment.key = {l.out.src.ip, l.out.dst.ip, id, protocol};
  fragment.offset = fragment_offset;
  fragment.more = more_fragments;
  fragment.next_protocol = protocol;
  fragment.header_length = static_cast<uint32_t>(header_length);
  fragment.data = payload;
  Reassembled done;
  const DecodeResult held = l.fragments.add(l.out.ts, fragment, done);
  if (held.status != DecodeStatus::kOk) return held;
  l.out.reassembled = true;
  return decode_ip_payload(done.protocol, done.data, l);
}

// Walks the IPv6 extension header chain from `next` over `data` until a
// transport header. `reassembled` is set when `data` is already the
// fragmentable part of a rebuilt datagram (which cannot hold another
// fragment header).
DecodeResult decode_ipv6_chain(uint8_t next, Bytes data, bool reassembled, Layers& l) {
  ByteReader r(data);
  // Each extension header is at least 8 bytes, so the chain ends within
  // data.size() / 8 steps without an explicit limit.
  for (;;) {
    switch (next) {
      case kIpProtoHopByHop:
      case kIpProtoRouting:
      case kIpProtoDestOptions: {
        uint8_t length = 0;
        if (!r.u8(next) || !r.u8(length) || !r.skip((size_t{length} + 1) * 8 - 2)) {
          return malformed(Anomaly::kIpv6Truncated);
        }
        break;
      }
      case kIpProtoAh: {
        // AH counts its length in 4-byte units, minus 2 (RFC 4302).
        uint8_t length = 0;
        if (!r.u8(next) || !r.u8(length) || !r.skip((size_t{length} + 2) * 4 - 2)) {
          return malformed(Anomaly::kIpv6Truncated);
        }
        break;
      }
      case kIpProtoFragment: {
        const size_t unfragmentable = r.position();
        uint8_t fragment_next = 0, reserved = 0;
        uint16_t offset_flags = 0;
        uint32_t id = 0;
        if (!r.u8(fragment_next) || !r.u8(reserved) || !r.be16(offset_flags) || !r.be32(id)) {
          return malformed(Anomaly::kIpv6Truncated);
        }
        if (reassembled) return malformed(Anomaly::kFragmentBad);
        const uint32_t offset = uint32_t{offset_flags & 0xFFF8u};
        const bool more = (offset_flags & 1) != 0;
        if (offset == 0 && !more) {
          // Atomic fragment (RFC 6946): a whole datagram, processed in place.
          next = fragment_next;
          break;
        }
        Fragment fragment;
        fragment.key = {l.out.src.ip, l.out.dst.ip, id, 0};
        fragment.offset = offset;
        fragment.more = more;
        fragment.next_protocol = fragment_next;
        fragment.header_length = static_cast<uint32_t>(unfragmentable);
        fragment.data = r.rest();
        Reassembled done;
        const DecodeResult held = l.fragments.add(l.out.ts, fragment, done);
        if (held.status != DecodeStatus::kOk) return held;
        l.out.reassembled = true;
        return decode_ipv6_chain(done.protocol, done.data, true, l);
      }
      default:
        return decode_ip_payload(next, r.rest(), l);  // includes 59, No Next Header
    }
  }
}

DecodeResult decode_ipv6(Bytes data, Layers& l) {
  ++l.ip_headers;
  ByteReader r(data);
  uint32_t version_class_flow = 0;
  uint16_t payload_length = 0;
  uint8_t next = 0, hop_limit = 0;
  Bytes src, dst;
  if (!r.be32(version_class_flow)) return malformed(Anomaly::kIpv6Truncated);
  if (version_class_flow >> 28 != 6) return malformed(Anomaly::kIpv4BadVersion);
  if (!r.be16(payload_length) || !r.u8(next) || !r.u8(hop_limit) || !r.take(16, src) || !r.take(16, dst)) {
    return malformed(Anomaly::kIpv6Truncated);
  }
  // Payload length 0 is a jumbogram or a segmentation-offload capture; either
  // way the captured bytes are the best measure.
  size_t length = payload_length;
  if (length == 0) length = r.remaining();
  Bytes payload;
  if (!r.take(length, payload)) return malformed(Anomaly::kIpv6BadPayloadLength);
  l.out.src.ip = read_v6(src);
  l.out.dst.ip = read_v6(dst);
  return decode_ipv6_chain(next, payload, false, l);
}

// Raw IP links carry no type field: the version nibble decides.
DecodeResult decode_ip_by_version(Bytes data, Layers& l) {
  ByteReader r(data);
  uint8_t first = 0;
  if (!r.u8(first)) return malformed(Anomaly::kLinkTruncated);
  switch (first >> 4) {
    case 4:
      return decode_ipv4(data, l);
    case 6:
      return decode_ipv6(data, l);
    default:
      return malformed(Anomaly::kIpv4BadVersion);
  }
}

// ---- Link ---------------------------------------------------------------

DecodeResult decode_vlan(Bytes data, Layers& l) {
  if (++l.vlan_tags > kMaxVlanTags) return malformed(Anomaly::kVlanTooDeep);
  ByteReader r(data);
  uint16_t tci = 0, type = 0;
  if (!r.be16(tci) || !r.be16(type)) return malformed(Anomaly::kLinkTruncated);
  if (l.out.vlan_count < 2) l.out.vlan[l.out.vlan_count++] = tci & 0x0FFF;
  return decode_ethertype(type, r.rest(), l);
}

// RFC 2516 session stage: version/type 0x11, code 0, then PPP.
DecodeResult decode_pppoe_session(Bytes data, Layers& l) {
  ByteReader r(data);
  uint8_t version_type = 0, code = 0;
  uint16_t session = 0, length = 0;
  if (!r.u8(version_type) || !r.u8(code) || !r.be16(session) || !r.be16(length)) {
    return malformed(Anomaly::kLinkTruncated);
  }
  if (version_type != 0x11 || code != 0) return not_interesting();
  Bytes ppp;
  if (!r.take(length, ppp)) return malformed(Anomaly::kLinkTruncated);
  ByteReader p(ppp);
  uint8_t high = 0, low = 0;
  if (!p.u8(high)) return malformed(Anomaly::kLinkTruncated);
  // A protocol field with its low bit set is the 1-byte compressed form
  // (RFC 1661 section 6.5); full 2-byte values always have an even first byte.
  uint16_t protocol = high;
  if ((high & 1) == 0) {
    if (!p.u8(low)) return malformed(Anomaly::kLinkTruncated);
    protocol = static_cast<uint16_t>(high << 8 | low);
  }
  switch (protocol) {
    case kPppIpv4:
      return decode_ipv4(p.rest(), l);
    case kPppIpv6:
      return decode_ipv6(p.rest(), l);
    default:
      return not_interesting();  // LCP, IPCP, CHAP, ...
  }
}

// Next layer after Ethernet, a VLAN tag or a Linux cooked header, by
// EtherType. Values up to 1500 are 802.3 lengths (LLC frames): not IP.
DecodeResult decode_ethertype(uint16_t type, Bytes data, Layers& l) {
  switch (type) {
    case kEtherTypeIpv4:
      return decode_ipv4(data, l);
    case kEtherTypeIpv6:
      return decode_ipv6(data, l);
    case kEtherTypeVlan:
    case kEtherTypeQinQ:
    case kEtherTypeQinQOld:
      return decode_vlan(data, l);
    case kEtherTypePppoeSession:
      return decode_pppoe_session(data, l);
    default:
      return not_interesting();  // ARP, LLDP, PPPoE discovery, ...
  }
}

DecodeResult decode_ethernet(Bytes frame, Layers& l) {
  ByteReader r(frame);
  uint16_t type = 0;
  if (!r.skip(12) || !r.be16(type)) return malformed(Anomaly::kLinkTruncated);
  return decode_ethertype(type, r.rest(), l);
}

// DLT_LINUX_SLL: packet type, ARPHRD type, address length, 8 address bytes,
// then the protocol (an EtherType for every device type that carries IP).
DecodeResult decode_linux_sll(Bytes frame, Layers& l) {
  ByteReader r(frame);
  uint16_t protocol = 0;
  if (!r.skip(kSllHeader - 2) || !r.be16(protocol)) return malformed(Anomaly::kLinkTruncated);
  return decode_ethertype(protocol, r.rest(), l);
}

// DLT_LINUX_SLL2 moves the protocol to the front and adds the interface index.
DecodeResult decode_linux_sll2(Bytes frame, Layers& l) {
  ByteReader r(frame);
  uint16_t protocol = 0;
  if (!r.be16(protocol) || !r.skip(kSll2Header - 2)) return malformed(Anomaly::kLinkTruncated);
  return decode_ethertype(protocol, r.rest(), l);
}

// DLT_NULL stores the family in the capturing host's byte order, which need
// not be ours; families are small, so a value that only fits swapped is
// read swapped (as Wireshark does). DLT_LOOP is always big-endian.
DecodeResult decode_bsd_loopback(Bytes frame, bool network_order, Layers& l) {
  ByteReader r(frame);
  uint32_t family = 0;
  if (network_order) {
    if (!r.be32(family)) return malformed(Anomaly::kLinkTruncated);
  } else {
    if (!r.le32(family)) return malformed(Anomaly::kLinkTruncated);
    if (family > 0xFFFF) family = __builtin_bswap32(family);
  }
  switch (family) {
    case kBsdAfInet:
      return decode_ipv4(r.rest(), l);
    case kBsdAfInet6NetBsd:
    case kBsdAfInet6FreeBsd:
    case kBsdAfInet6Darwin:
      return decode_ipv6(r.rest(), l);
    default:
      return not_interesting();
  }
}

DecodeResult decode_link(LinkType link, Bytes frame, Layers& l) {
  switch (link) {
    case LinkType::kEthernet:
      return decode_ethernet(frame, l);
    case LinkType::kLinuxSll:
      return decode_linux_sll(frame, l);
    case LinkType::kLinuxSll2:
      return decode_linux_sll2(frame, l);
    case LinkType::kRaw:
    case LinkType::kRawIp:
    case LinkType::kIpv4:
    case LinkType::kIpv6:
      return decode_ip_by_version(frame, l);
    case LinkType::kNull:
      return decode_bsd_loopback(frame, false, l);
    case LinkType::kLoop:
      return decode_bsd_loopback(frame, true, l);
  }
  return malformed(Anomaly::kUnsupportedLinkType);
}

}  // namespace

struct PacketDecoder::Impl {
  explicit Impl(const FragmentLimits& limits) : fragments(limits) {}
  IpReassembler fragments;
};

PacketDecoder::PacketDecoder(FragmentLimits limits) : impl_(std::make_unique<Impl>(limits)) {}
PacketDecoder::~PacketDecoder() = default;

DecodeResult PacketDecoder::decode(LinkType link, Timestamp ts, uint64_t frame_number, Bytes frame,
                                   DecodedPacket& out) {
  impl_->fragments.release_delivered();
  impl_->fragments.expire(ts);
  out = DecodedPacket{};
  out.ts = ts;
  out.frame = frame_number;
  Layers layers{out, impl_->fragments};
  return decode_link(link, frame, layers);
}

void PacketDecoder::expire(Timestamp now) { impl_->fragments.expire(now); }

const FragmentStats& PacketDecoder::fragment_stats() const { return impl_->fragments.stats(); }

const AnomalyCounters& PacketDecoder::background_anomalies() const {
  return impl_->fragments.background_anomalies();
}

}  // namespace cv
