// One captured frame after the link, network and transport layers have been
// peeled off: the packet context of the pipeline (cf. Zeek's iosource/Packet.h).
#pragma once

#include <cstdint>

#include "common/bytes.h"
#include "common/endpoint.h"
#include "common/time.h"

namespace cv {

// libpcap DLT_* values the decoder understands (from pcap/dlt.h, repeated here
// so that the packet layers build and test without libpcap).
enum class LinkType : uint32_t {
  kNull = 0,         // DLT_NULL: 4-byte host-order address family (BSD loopback)
  kEthernet = 1,     // DLT_EN10MB
  kRaw = 12,         // DLT_RAW on most platforms (raw IPv4/IPv6)
  kLoop = 108,       // DLT_LOOP: like NULL but network byte order
  kLinuxSll = 113,   // DLT_LINUX_SLL
  kRawIp = 101,      // LINKTYPE_RAW as written in pcap files
  kIpv4 = 228,       // LINKTYPE_IPV4
  kIpv6 = 229,       // LINKTYPE_IPV6
  kLinuxSll2 = 276,  // DLT_LINUX_SLL2
};

enum class Transport : uint8_t { kUdp = 17, kTcp = 6 };

struct TcpInfo {
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;  // FIN=0x01 SYN=0x02 RST=0x04 PSH=0x08 ACK=0x10
};

struct DecodedPacket {
  Timestamp ts;
  uint64_t frame = 0;  // 1-based frame number in the capture, for warnings
  Endpoint src;
  Endpoint dst;
  Transport transport = Transport::kUdp;
  TcpInfo tcp;                // valid when transport == kTcp
  uint16_t vlan[2] = {0, 0};  // outermost first
  uint8_t vlan_count = 0;     // tags recorded in `vlan` (at most 2)
  bool reassembled = false;   // the payload was rebuilt from IP fragments
  // UDP or TCP payload. Points into the captured frame, or into the
  // reassembler's buffer for a reassembled datagram; valid until the next call
  // to PacketDecoder::decode().
  Bytes payload;
};

}  // namespace cv
