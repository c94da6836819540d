#include "common/endpoint.h"

#include <arpa/inet.h>

namespace cv {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  // inet_pton needs a NUL-terminated string; addresses are short, so copy to
  // a fixed buffer instead of allocating.
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof buf) return std::nullopt;
  text.copy(buf, text.size());
  buf[text.size()] = '\0';
  IpAddress a;
  if (text.find(':') != std::string_view::npos) {
    if (inet_pton(AF_INET6, buf, a.bytes.data()) != 1) return std::nullopt;
    a.family = 6;
  } else {
    if (inet_pton(AF_INET, buf, a.bytes.data()) != 1) return std::nullopt;
    a.family = 4;
  }
  return a;
}

bool IpAddress::is_unspecified() const {
  if (family == 0) return false;
  size_t n = family == 4 ? 4 : 16;
  for (size_t i = 0; i < n; ++i)
    if (bytes[i] != 0) return false;
  return true;
}

bool IpAddress::is_private() const {
  const auto& b = bytes;
  if (family == 4) {
    return b[0] == 10 || (b[0] == 172 && (b[1] & 0xF0) == 16) || (b[0] == 192 && b[1] == 168) ||
           (b[0] == 100 && (b[1] & 0xC0) == 64) || (b[0] == 169 && b[1] == 254);
  }
  if (family == 6) return (b[0] & 0xFE) == 0xFC || (b[0] == 0xFE && (b[1] & 0xC0) == 0x80);
  return false;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  if (family == 4) return inet_ntop(AF_INET, bytes.data(), buf, sizeof buf) ? buf : "?";
  if (family == 6) return inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf) ? buf : "?";
  return "";
}

std::string Endpoint::to_string() const {
  if (ip.family == 6) return "[" + ip.to_string() + "]:" + std::to_string(port);
  return ip.to_string() + ":" + std::to_string(port);
}

}  // namespace cv
