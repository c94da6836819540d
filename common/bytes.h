// Bounds-checked, non-owning reading of wire data.
//
// Every protocol parser in callvault reads through ByteReader so that no raw
// pointer arithmetic appears in protocol code: each read checks the remaining
// length first and reports failure instead of reading past the captured bytes
// (the habit of Suricata's decode-*.c and PcapPlusPlus's layers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace cv {

using Bytes = std::span<const std::byte>;

inline std::string_view as_text(Bytes b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }
inline Bytes as_bytes(std::string_view s) { return {reinterpret_cast<const std::byte*>(s.data()), s.size()}; }

class ByteReader {
 public:
  explicit ByteReader(Bytes data) : data_(data) {}

  [[nodiscard]] size_t remaining() const { return data_.size() - pos_; }
  [[nodiscard]] size_t position() const { return pos_; }
  [[nodiscard]] Bytes rest() const { return data_.subspan(pos_); }

  [[nodiscard]] bool skip(size_t n) {
    if (remaining() < n) return false;
    pos_ += n;
    return true;
  }
  [[nodiscard]] bool u8(uint8_t& v) {
    if (remaining() < 1) return false;
    v = static_cast<uint8_t>(data_[pos_]);
    pos_ += 1;
    return true;
  }
  [[nodiscard]] bool be16(uint16_t& v) {
    if (remaining() < 2) return false;
    v = static_cast<uint16_t>((static_cast<unsigned>(data_[pos_]) << 8) |
                              static_cast<unsigned>(data_[pos_ + 1]));
    pos_ += 2;
    return true;
  }
  [[nodiscard]] bool be32(uint32_t& v) {
    if (remaining() < 4) return false;
    v = (static_cast<uint32_t>(data_[pos_]) << 24) | (static_cast<uint32_t>(data_[pos_ + 1]) << 16) |
        (static_cast<uint32_t>(data_[pos_ + 2]) << 8) | static_cast<uint32_t>(data_[pos_ + 3]);
    pos_ += 4;
    return true;
  }
  [[nodiscard]] bool le16(uint16_t& v) {
    if (remaining() < 2) return false;
    v = static_cast<uint16_t>(static_cast<unsigned>(data_[pos_]) |
                              (static_cast<unsigned>(data_[pos_ + 1]) << 8));
    pos_ += 2;
    return true;
  }
  [[nodiscard]] bool le32(uint32_t& v) {
    if (remaining() < 4) return false;
    v = static_cast<uint32_t>(data_[pos_]) | (static_cast<uint32_t>(data_[pos_ + 1]) << 8) |
        (static_cast<uint32_t>(data_[pos_ + 2]) << 16) | (static_cast<uint32_t>(data_[pos_ + 3]) << 24);
    pos_ += 4;
    return true;
  }
  // Takes n bytes as a view; fails without consuming when fewer remain.
  [[nodiscard]] bool take(size_t n, Bytes& out) {
    if (remaining() < n) return false;
    out = data_.subspan(pos_, n);
    pos_ += n;
    return true;
  }

 private:
  Bytes data_;
  size_t pos_ = 0;
};

}  // namespace cv
