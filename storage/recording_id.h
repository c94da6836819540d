// Identity and place of a recording: a name-based UUID derived from the call
// itself, so that replaying the same capture re-creates the same uuids (and
// re-indexing is idempotent), and the dated path of its audio file.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/time.h"

namespace cv {

// RFC 4122 version 5 (SHA-1, name-based) UUID in callvault's namespace of
// the name "<sensor>\n<call-id>\n<first INVITE time in ns>".
std::string recording_uuid(std::string_view sensor, std::string_view call_id, Timestamp invite_time);

// "YYYY/MM/DD/<uuid>.wav" from the UTC date of the call start.
std::string recording_relative_path(const std::string& uuid, Timestamp call_start);

// Hex SHA-256 of a file's contents; empty string (and `error` set) on failure.
std::string sha256_file(const std::string& path, std::string& error);
std::string sha256_hex(std::string_view data);

// SHA-256 over data given in pieces (copies of recordings checked as they are written).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t size);
  std::string hex_final();  // lowercase hex; the object is then spent

 private:
  void* ctx_;  // EVP_MD_CTX (OpenSSL), kept out of this header
};

}  // namespace cv
