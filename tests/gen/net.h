// Wire encoding for the capture generator: addresses, Ethernet (with optional
// 802.1Q / QinQ tags), IPv4 and IPv6 (with fragmentation), UDP and TCP with
// real checksums, and a pcap file writer.
//
// Independent of callvault's own parsers on purpose: the generator is the
// reference the parsers are tested against, so it shares no code with them.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cv::gen {

using ByteSpan = std::span<const uint8_t>;

struct Ip {
  uint8_t family = 4;  // 4 or 6
  std::array<uint8_t, 16> b{};

  // Parses dotted quad or IPv6 text; throws std::invalid_argument when malformed.
  static Ip parse(std::string_view text);
  [[nodiscard]] std::string str() const;
  friend auto operator<=>(const Ip&, const Ip&) = default;
};

struct Ep {
  Ip ip;
  uint16_t port = 0;

  static Ep parse(std::string_view ip, uint16_t port) { return {Ip::parse(ip), port}; }
  // "ip:port", or "[v6]:port" (the form callvault's JSON uses).
  [[nodiscard]] std::string str() const;
  friend auto operator<=>(const Ep&, const Ep&) = default;
};

// Link layer of every frame in a capture.
struct Link {
  enum class Kind : uint8_t { kPlain, kVlan, kQinQ };
  Kind kind = Kind::kPlain;
  uint16_t outer_vid = 0;  // kVlan: the 802.1Q tag; kQinQ: the 0x88A8 service tag
  uint16_t inner_vid = 0;  // kQinQ: the 0x8100 customer tag
};

// One captured frame with its capture time (microseconds since the epoch).
// orig_len > frame.size() writes a record whose captured part is shorter than
// the packet on the wire (snap length cut).
struct Frame {
  int64_t t_us = 0;
  std::vector<uint8_t> bytes;
  uint32_t orig_len = 0;  // 0: same as bytes.size()
};

// The Internet checksum (RFC 1071) of `data`, continuing from `sum`.
uint32_t checksum_add(uint32_t sum, ByteSpan data);
uint16_t checksum_fold(uint32_t sum);

// Appends the Ethernet header (and tags) for an IP packet of `family`.
void append_link(const Link& link, const Ip& src, const Ip& dst, uint8_t family, std::vector<uint8_t>& out);

// Builds one complete frame carrying a UDP datagram in a single IP packet.
// `out` is cleared and reused (no allocation once it has grown).
void build_udp_frame(const Link& link, const Ep& src, const Ep& dst, ByteSpan payload, uint32_t ip_id,
                     std::vector<uint8_t>& out);

// Builds one frame carrying a TCP segment (20-byte header, real checksum).
// Flags: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10.
void build_tcp_frame(const Link& link, const Ep& src, const Ep& dst, uint32_t seq, uint32_t ack,
                     uint8_t flags, ByteSpan payload, uint32_t ip_id, std::vector<uint8_t>& out);

// The UDP datagram (header with checksum + payload) as IP would carry it.
std::vector<uint8_t> build_udp_datagram(const Ep& src, const Ep& dst, ByteSpan payload);

// Splits a UDP datagram into IP fragments carrying at most `fragment_bytes`
// of IP payload each (rounded down to a multiple of 8). Frames are returned
// in offset order; callers shuffle them to send out of order.
std::vector<std::vector<uint8_t>> build_fragmented_udp(const Link& link, const Ep& src, const Ep& dst,
                                                       ByteSpan payload, uint32_t ip_id,
                                                       size_t fragment_bytes);

// Writes a classic pcap file (microsecond timestamps, link type Ethernet)
// through a large stdio buffer; no allocation per record.
class PcapWriter {
 public:
  // Throws std::runtime_error when the file cannot be created.
  explicit PcapWriter(const std::string& path, uint32_t snaplen = 262144);
  ~PcapWriter();
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  void write(int64_t t_us, ByteSpan data, uint32_t orig_len = 0);
  void write(const Frame& f) { write(f.t_us, f.bytes, f.orig_len); }
  // Flushes and closes; throws std::runtime_error on a write error.
  void close();
  [[nodiscard]] uint64_t records() const { return records_; }

 private:
  std::FILE* file_ = nullptr;
  std::vector<char> buffer_;
  uint64_t records_ = 0;
};

}  // namespace cv::gen
