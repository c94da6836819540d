#include "storage/recording_id.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>

namespace cv {
namespace {

// callvault's UUID namespace (a fixed random v4 UUID): keeps our name-based
// uuids from colliding with anyone else's for the same names.
constexpr std::array<unsigned char, 16> kNamespace = {0x6f, 0x3a, 0x1c, 0x52, 0x9e, 0x0b, 0x4d, 0x7e,
                                                      0xa1, 0x44, 0x2b, 0x8d, 0x5c, 0x13, 0x77, 0xe0};

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

std::string to_hex(const unsigned char* d, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[d[i] >> 4];
    out[2 * i + 1] = kHex[d[i] & 15];
  }
  return out;
}

}  // namespace

std::string recording_uuid(std::string_view sensor, std::string_view call_id, Timestamp invite_time) {
  std::string name;
  name.reserve(sensor.size() + call_id.size() + 24);
  name.append(sensor).append("\n").append(call_id).append("\n").append(std::to_string(invite_time.ns));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  MdCtx ctx(EVP_MD_CTX_new());
  EVP_DigestInit_ex(ctx.get(), EVP_sha1(), nullptr);
  EVP_DigestUpdate(ctx.get(), kNamespace.data(), kNamespace.size());
  EVP_DigestUpdate(ctx.get(), name.data(), name.size());
  EVP_DigestFinal_ex(ctx.get(), digest, &len);
  digest[6] = static_cast<unsigned char>((digest[6] & 0x0F) | 0x50);  // version 5
  digest[8] = static_cast<unsigned char>((digest[8] & 0x3F) | 0x80);  // RFC 4122 variant
  std::string hex = to_hex(digest, 16);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
         hex.substr(20, 12);
}

std::string recording_relative_path(const std::string& uuid, Timestamp call_start) {
  using namespace std::chrono;
  auto days = floor<std::chrono::days>(sys_seconds{seconds{call_start.seconds()}});
  year_month_day ymd{days};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d/%02u/%02u/", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return std::string(buf) + uuid + ".wav";
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return to_hex(digest, len);
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr);
}
Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }
void Sha256::update(const void* data, size_t size) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, size);
}
std::string Sha256::hex_final() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), digest, &len);
  return to_hex(digest, len);
}

std::string sha256_file(const std::string& path, std::string& error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = path + ": " + std::strerror(errno);
    return {};
  }
  Sha256 hash;
  std::array<char, 1 << 16> buf;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = path + ": " + std::strerror(errno);
      ::close(fd);
      return {};
    }
    if (n == 0) break;
    hash.update(buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  return hash.hex_final();
}

}  // namespace cv
