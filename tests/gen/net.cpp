#include "tests/gen/net.h"

#include <arpa/inet.h>

#include <stdexcept>

namespace cv::gen {

namespace {

void put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void put32(std::vector<uint8_t>& out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v >> 16));
  put16(out, static_cast<uint16_t>(v));
}
void set16(std::vector<uint8_t>& out, size_t at, uint16_t v) {
  out[at] = static_cast<uint8_t>(v >> 8);
  out[at + 1] = static_cast<uint8_t>(v);
}
void append(std::vector<uint8_t>& out, ByteSpan data) { out.insert(out.end(), data.begin(), data.end()); }
size_t addr_len(const Ip& ip) { return ip.family == 4 ? 4 : 16; }

// A locally administered MAC derived from the IP address, so frames look real.
void put_mac(std::vector<uint8_t>& out, const Ip& ip) {
  out.push_back(0x02);
  out.push_back(0x00);
  const size_t n = addr_len(ip);
  for (size_t i = n - 4; i < n; ++i) out.push_back(ip.b[i]);
}

uint32_t pseudo_header_sum(const Ep& src, const Ep& dst, uint32_t udp_len, uint8_t protocol = 17) {
  uint32_t sum = 0;
  sum = checksum_add(sum, {src.ip.b.data(), addr_len(src.ip)});
  sum = checksum_add(sum, {dst.ip.b.data(), addr_len(dst.ip)});
  if (src.ip.family == 4) {
    sum += protocol;
    sum += udp_len;
  } else {
    sum += udp_len >> 16;
    sum += udp_len & 0xFFFF;
    sum += protocol;
  }
  return sum;
}

void append_ipv4_header(std::vector<uint8_t>& out, const Ep& src, const Ep& dst, size_t payload_len,
                        uint16_t id, uint16_t frag_field, uint8_t protocol = 17) {
  const size_t start = out.size();
  out.push_back(0x45);
  out.push_back(0);
  put16(out, static_cast<uint16_t>(20 + payload_len));
  put16(out, id);
  put16(out, frag_field);
  out.push_back(64);
  out.push_back(protocol);
  put16(out, 0);
  append(out, {src.ip.b.data(), 4});
  append(out, {dst.ip.b.data(), 4});
  set16(out, start + 10, checksum_fold(checksum_add(0, {out.data() + start, 20})));
}

void append_ipv6_header(std::vector<uint8_t>& out, const Ep& src, const Ep& dst, size_t payload_len,
                        uint8_t next_header) {
  put32(out, 0x60000000);
  put16(out, static_cast<uint16_t>(payload_len));
  out.push_back(next_header);
  out.push_back(64);
  append(out, {src.ip.b.data(), 16});
  append(out, {dst.ip.b.data(), 16});
}

}  // namespace

Ip Ip::parse(std::string_view text) {
  Ip ip;
  const std::string s(text);
  if (inet_pton(AF_INET, s.c_str(), ip.b.data()) == 1) {
    ip.family = 4;
    return ip;
  }
  if (inet_pton(AF_INET6, s.c_str(), ip.b.data()) == 1) {
    ip.family = 6;
    return ip;
  }
  throw std::invalid_argument("bad IP address: " + s);
}

std::string Ip::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == 4 ? AF_INET : AF_INET6, b.data(), buf, sizeof buf);
  return buf;
}

std::string Ep::str() const {
  if (ip.family == 6) return "[" + ip.str() + "]:" + std::to_string(port);
  return ip.str() + ":" + std::to_string(port);
}

uint32_t checksum_add(uint32_t sum, ByteSpan data) {
  size_t i = 0;
  for (; i + 1 < data.size(); i += 2) sum += static_cast<uint32_t>(data[i] << 8 | data[i + 1]);
  if (i < data.size()) sum += static_cast<uint32_t>(data[i] << 8);
  return sum;
}

uint16_t checksum_fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

void append_link(const Link& link, const Ip& src, const Ip& dst, uint8_t family, std::vector<uint8_t>& out) {
  put_mac(out, dst);
  put_mac(out, src);
  switch (link.kind) {
    case Link::Kind::kPlain:
      break;
    case Link::Kind::kVlan:
      put16(out, 0x8100);
      put16(out, link.outer_vid & 0x0FFF);
      break;
    case Link::Kind::kQinQ:
      put16(out, 0x88A8);
      put16(out, link.outer_vid & 0x0FFF);
      put16(out, 0x8100);
      put16(out, link.inner_vid & 0x0FFF);
      break;
  }
  put16(out, family == 4 ? 0x0800 : 0x86DD);
}

std::vector<uint8_t> build_udp_datagram(const Ep& src, const Ep& dst, ByteSpan payload) {
  std::vector<uint8_t> d;
  d.reserve(8 + payload.size());
  const auto len = static_cast<uint32_t>(8 + payload.size());
  put16(d, src.port);
  put16(d, dst.port);
  put16(d, static_cast<uint16_t>(len));
  put16(d, 0);
  append(d, payload);
  uint16_t c = checksum_fold(checksum_add(pseudo_header_sum(src, dst, len), d));
  if (c == 0) c = 0xFFFF;
  set16(d, 6, c);
  return d;
}

void build_udp_frame(const Link& link, const Ep& src, const Ep& dst, ByteSpan payload, uint32_t ip_id,
                     std::vector<uint8_t>& out) {
  out.clear();
  append_link(link, src.ip, dst.ip, src.ip.family, out);
  const size_t udp_len = 8 + payload.size();
  if (src.ip.family == 4) {
    append_ipv4_header(out, src, dst, udp_len, static_cast<uint16_t>(ip_id), 0x4000 /* DF */);
  } else {
    append_ipv6_header(out, src, dst, udp_len, 17);
  }
  const size_t udp_at = out.size();
  put16(out, src.port);
  put16(out, dst.port);
  put16(out, static_cast<uint16_t>(udp_len));
  put16(out, 0);
  append(out, payload);
  uint16_t c = checksum_fold(checksum_add(pseudo_header_sum(src, dst, static_cast<uint32_t>(udp_len)),
                                          {out.data() + udp_at, udp_len}));
  if (c == 0) c = 0xFFFF;
  set16(out, udp_at + 6, c);
}

std::vector<std::vector<uint8_t>> build_fragmented_udp(const Link& link, const Ep& src, const Ep& dst,
                                                       ByteSpan payload, uint32_t ip_id,
                                                       size_t fragment_bytes) {
  const std::vector<uint8_t> datagram = build_udp_datagram(src, dst, payload);
  const size_t step = fragment_bytes & ~size_t{7};
  if (step == 0) throw std::invalid_argument("fragment size below 8");
  std::vector<std::vector<uint8_t>> frames;
  for (size_t off = 0; off < datagram.size(); off += step) {
    const size_t n = std::min(step, datagram.size() - off);
    const bool more = off + n < datagram.size();
    std::vector<uint8_t> f;
    append_link(link, src.ip, dst.ip, src.ip.family, f);
    if (src.ip.family == 4) {
      const auto field = static_cast<uint16_t>((more ? 0x2000 : 0) | (off / 8));
      append_ipv4_header(f, src, dst, n, static_cast<uint16_t>(ip_id), field);
    } else {
      append_ipv6_header(f, src, dst, 8 + n, 44);
      f.push_back(17);  // next header after reassembly
      f.push_back(0);
      put16(f, static_cast<uint16_t>(off | (more ? 1 : 0)));  // offset in 8-byte units << 3, M flag
      put32(f, ip_id);
    }
    append(f, {datagram.data() + off, n});
    frames.push_back(std::move(f));
  }
  return frames;
}

PcapWriter::PcapWriter(const std::string& path, uint32_t snaplen) : buffer_(1 << 20) {
  file_ = std::fopen(path.c_str(), "wb");
  if (file_ == nullptr) throw std::runtime_error("cannot create " + path);
  std::setvbuf(file_, buffer_.data(), _IOFBF, buffer_.size());
  const uint32_t hdr[6] = {0xa1b2c3d4, 0x00040002, 0, 0, snaplen, 1 /* LINKTYPE_ETHERNET */};
  // Written in host order: readers detect the byte order from the magic.
  std::fwrite(hdr, sizeof hdr, 1, file_);
}

PcapWriter::~PcapWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

void PcapWriter::write(int64_t t_us, ByteSpan data, uint32_t orig_len) {
  const uint32_t rec[4] = {static_cast<uint32_t>(t_us / 1000000), static_cast<uint32_t>(t_us % 1000000),
                           static_cast<uint32_t>(data.size()),
                           orig_len != 0 ? orig_len : static_cast<uint32_t>(data.size())};
  std::fwrite(rec, sizeof rec, 1, file_);
  std::fwrite(data.data(), 1, data.size(), file_);
  ++records_;
}

void PcapWriter::close() {
  if (file_ == nullptr) return;
  const bool bad = std::ferror(file_) != 0;
  const bool close_failed = std::fclose(file_) != 0;
  file_ = nullptr;
  if (bad || close_failed) throw std::runtime_error("pcap write failed");
}

void build_tcp_frame(const Link& link, const Ep& src, const Ep& dst, uint32_t seq, uint32_t ack,
                     uint8_t flags, ByteSpan payload, uint32_t ip_id, std::vector<uint8_t>& out) {
  out.clear();
  append_link(link, src.ip, dst.ip, src.ip.family, out);
  const size_t tcp_len = 20 + payload.size();
  if (src.ip.family == 4) {
    append_ipv4_header(out, src, dst, tcp_len, static_cast<uint16_t>(ip_id), 0x4000 /* DF */, 6);
  } else {
    append_ipv6_header(out, src, dst, tcp_len, 6);
  }
  const size_t tcp_at = out.size();
  put16(out, src.port);
  put16(out, dst.port);
  put32(out, seq);
  put32(out, ack);
  out.push_back(0x50);  // 5 words, no options
  out.push_back(flags);
  put16(out, 65535);  // window
  put16(out, 0);      // checksum, below
  put16(out, 0);      // urgent pointer
  append(out, payload);
  const uint16_t c = checksum_fold(checksum_add(
      pseudo_header_sum(src, dst, static_cast<uint32_t>(tcp_len), 6), {out.data() + tcp_at, tcp_len}));
  set16(out, tcp_at + 16, c);
}

}  // namespace cv::gen
