// Network addresses as values: cheap to copy, hashable, comparable, printable.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace cv {

struct IpAddress {
  // 4 or 6; 0 means "unset". IPv4 uses bytes[0..3], the rest are zero.
  uint8_t family = 0;
  std::array<uint8_t, 16> bytes{};

  static IpAddress v4(const uint8_t* b) {
    IpAddress a;
    a.family = 4;
    std::memcpy(a.bytes.data(), b, 4);
    return a;
  }
  static IpAddress v6(const uint8_t* b) {
    IpAddress a;
    a.family = 6;
    std::memcpy(a.bytes.data(), b, 16);
    return a;
  }
  // Parses dotted quad or RFC 4291 text; nullopt when malformed.
  static std::optional<IpAddress> parse(std::string_view text);

  [[nodiscard]] bool is_set() const { return family != 0; }
  // 0.0.0.0 or :: (SDP hold per RFC 3264 section 8.4).
  [[nodiscard]] bool is_unspecified() const;
  // RFC 1918, RFC 6598 (CGN), link-local, IPv6 ULA: addresses a NAT hides.
  [[nodiscard]] bool is_private() const;
  [[nodiscard]] std::string to_string() const;
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

struct Endpoint {
  IpAddress ip;
  uint16_t port = 0;

  // "ip:port" for IPv4, "[addr]:port" for IPv6.
  [[nodiscard]] std::string to_string() const;
  friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// A fast, well-mixed hash for flow tables keyed by network input.
inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

struct EndpointHash {
  size_t operator()(const Endpoint& e) const {
    uint64_t a, b;
    std::memcpy(&a, e.ip.bytes.data(), 8);
    std::memcpy(&b, e.ip.bytes.data() + 8, 8);
    return static_cast<size_t>(mix64(a ^ mix64(b ^ (uint64_t{e.port} << 8 | e.ip.family))));
  }
};

}  // namespace cv
