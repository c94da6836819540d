#include "storage/vault/vault_format.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "storage/recording_id.h"
#include "storage/wav_writer.h"

namespace cv {
namespace {

constexpr char kMagic[8] = {'C', 'V', 'A', 'U', 'L', 'T', '\r', '\n'};
constexpr size_t kABytes = crypto_secretstream_xchacha20poly1305_ABYTES;
constexpr size_t kWavHeaderBytes = 44;
constexpr uint64_t kMaxWavData = 0xFFFFFFFFull - kWavHeaderBytes;
static_assert(kVaultRecordOverhead == 4 + kABytes);
static_assert(crypto_secretstream_xchacha20poly1305_HEADERBYTES == 24);
static_assert(crypto_secretstream_xchacha20poly1305_KEYBYTES == kVaultKeyBytes);

void put16(std::byte* p, uint16_t v) {
  p[0] = std::byte(v & 0xFF);
  p[1] = std::byte(v >> 8);
}
void put32(std::byte* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = std::byte((v >> (8 * i)) & 0xFF);
}
uint16_t get16(const std::byte* p) {
  return static_cast<uint16_t>(std::to_integer<uint16_t>(p[0]) | std::to_integer<uint16_t>(p[1]) << 8);
}
uint32_t get32(const std::byte* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | std::to_integer<uint32_t>(p[i]);
  return v;
}

// Reads exactly out.size() bytes unless the input ends; returns the count or -1.
ssize_t read_full(VaultInput& in, uint64_t offset, std::span<std::byte> out) {
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = in.read_at(offset + got, out.subspan(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(got);
}

std::string to_hex(const unsigned char* d, size_t n) {
  std::string out(2 * n + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), d, n);
  out.pop_back();
  return out;
}

}  // namespace

const char* vault_status_name(VaultStatus s) {
  switch (s) {
    case VaultStatus::kOk:
      return "ok";
    case VaultStatus::kTruncated:
      return "truncated";
    case VaultStatus::kCorrupt:
      return "corrupt";
    case VaultStatus::kKeyUnavailable:
      return "key unavailable";
    case VaultStatus::kIoError:
      return "i/o error";
  }
  return "?";
}

std::array<std::byte, kVaultHeaderBytes> encode_vault_header(const VaultHeader& h) {
  std::array<std::byte, kVaultHeaderBytes> b{};
  std::memcpy(b.data(), kMagic, sizeof kMagic);
  put16(b.data() + 8, h.version);
  put16(b.data() + 10, static_cast<uint16_t>(kVaultHeaderBytes));
  put32(b.data() + 12, static_cast<uint32_t>(h.day.days));
  put32(b.data() + 16, h.generation);
  put32(b.data() + 20, h.sample_rate);
  put32(b.data() + 24, h.record_plain_max);
  put32(b.data() + 28, 0);
  std::memcpy(b.data() + 32, h.stream_header.data(), h.stream_header.size());
  return b;
}

std::optional<VaultHeader> parse_vault_header(std::span<const std::byte> b, std::string& error) {
  if (b.size() < kVaultHeaderBytes) {
    error = "shorter (" + std::to_string(b.size()) + " bytes) than the " + std::to_string(kVaultHeaderBytes) +
            "-byte header of an encrypted recording";
    return std::nullopt;
  }
  if (std::memcmp(b.data(), kMagic, sizeof kMagic) != 0) {
    error = "not an encrypted callvault recording (no CVAULT signature)";
    return std::nullopt;
  }
  VaultHeader h;
  h.version = get16(b.data() + 8);
  if (h.version != kVaultVersion) {
    error =
        "encrypted recording format version " + std::to_string(h.version) + " is not known to this callvault";
    return std::nullopt;
  }
  if (get16(b.data() + 10) != kVaultHeaderBytes) {
    error = "header size " + std::to_string(get16(b.data() + 10)) + " is not " +
            std::to_string(kVaultHeaderBytes);
    return std::nullopt;
  }
  const uint32_t day = get32(b.data() + 12);
  // 1970-01-01 .. 9999-12-31
  if (day > 2932896) {
    error = "day " + std::to_string(day) + " is out of range";
    return std::nullopt;
  }
  h.day = VaultDay{static_cast<int32_t>(day)};
  h.generation = get32(b.data() + 16);
  if (h.generation == 0 || h.generation > KeyStore::kMaxGenerations) {
    error = "key generation " + std::to_string(h.generation) + " is out of range";
    return std::nullopt;
  }
  h.sample_rate = get32(b.data() + 20);
  if (h.sample_rate < 1000 || h.sample_rate > 192000) {
    error = "sample rate " + std::to_string(h.sample_rate) + " is out of range";
    return std::nullopt;
  }
  h.record_plain_max = get32(b.data() + 24);
  if (h.record_plain_max < kVaultMinRecordPlainBytes || h.record_plain_max > kVaultMaxRecordPlainBytes) {
    error = "record size " + std::to_string(h.record_plain_max) + " is out of range";
    return std::nullopt;
  }
  if (get32(b.data() + 28) != 0) {
    error = "reserved header bytes are not zero";
    return std::nullopt;
  }
  std::memcpy(h.stream_header.data(), b.data() + 32, h.stream_header.size());
  return h;
}

// ---------------------------------------------------------------- writer

VaultWriter::~VaultWriter() {
  sodium_memzero(&state_, sizeof state_);
  sodium_memzero(&saved_, sizeof saved_);
  if (!plain_.empty()) sodium_memzero(plain_.data(), plain_.size());
}

bool VaultWriter::begin(int fd, const DayKey& key, uint32_t sample_rate) {
  fd_ = fd;
  plain_.assign(kVaultRecordPlainBytes, 0);
  cipher_.assign(4 + kVaultRecordPlainBytes + kABytes, 0);
  fill_ = 0;
  failed_ = false;
  errno_ = 0;
  VaultHeader h;
  h.day = key.day;
  h.generation = key.generation;
  h.sample_rate = sample_rate;
  h.record_plain_max = kVaultRecordPlainBytes;
  crypto_secretstream_xchacha20poly1305_init_push(&state_, h.stream_header.data(), key.key->bytes.data());
  header_ = encode_vault_header(h);
  if (!write_all(fd_, header_.data(), header_.size())) {
    errno_ = errno;
    failed_ = true;
    return false;
  }
  committed_offset_ = header_.size();
  committed_plain_ = 0;
  return true;
}

bool VaultWriter::seal(const unsigned char* plain, size_t n, unsigned char tag) {
  if (failed_) return false;
  saved_ = state_;
  unsigned long long clen = 0;
  crypto_secretstream_xchacha20poly1305_push(&state_, cipher_.data() + 4, &clen, plain, n,
                                             reinterpret_cast<const unsigned char*>(header_.data()),
                                             header_.size(), tag);
  put32(reinterpret_cast<std::byte*>(cipher_.data()), static_cast<uint32_t>(clen));
  if (!write_all(fd_, cipher_.data(), 4 + clen)) {
    // Disk full (or worse): forget this record so the file stays a valid
    // prefix that a final record can still close.
    errno_ = errno;
    failed_ = true;
    state_ = saved_;
    if (::ftruncate(fd_, static_cast<off_t>(committed_offset_)) == 0)
      ::lseek(fd_, static_cast<off_t>(committed_offset_), SEEK_SET);
    return false;
  }
  committed_offset_ += 4 + clen;
  if (tag == crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) committed_plain_ += n;
  return true;
}

bool VaultWriter::append(const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  while (n > 0 && !failed_) {
    const size_t take = std::min(n, plain_.size() - fill_);
    std::memcpy(plain_.data() + fill_, p, take);
    fill_ += take;
    p += take;
    n -= take;
    if (fill_ == plain_.size() && !flush()) return false;
  }
  return !failed_;
}

bool VaultWriter::flush() {
  if (fill_ == 0 || failed_) {
    fill_ = 0;
    return !failed_;
  }
  const bool ok = seal(plain_.data(), fill_, crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
  fill_ = 0;
  return ok;
}

bool VaultWriter::finish(std::span<const unsigned char> final_plain) {
  if (final_plain.size() != kVaultFinalPlainBytes) return false;
  // After a failure the stream state is that of the last complete record.
  failed_ = false;
  return seal(final_plain.data(), final_plain.size(), crypto_secretstream_xchacha20poly1305_TAG_FINAL);
}

// ---------------------------------------------------------------- reader

ssize_t FdVaultInput::read_at(uint64_t offset, std::span<std::byte> out) {
  return ::pread(fd_, out.data(), out.size(), static_cast<off_t>(offset));
}

ssize_t SpanVaultInput::read_at(uint64_t offset, std::span<std::byte> out) {
  if (offset >= data_.size()) return 0;
  const size_t n = std::min<uint64_t>(out.size(), data_.size() - offset);
  std::memcpy(out.data(), data_.data() + offset, n);
  return static_cast<ssize_t>(n);
}

VaultScan scan_vault(VaultInput& in, const VaultKeyLookup& keys,
                     const std::function<bool(std::span<const unsigned char>)>& on_data) {
  VaultScan s;
  std::array<std::byte, kVaultHeaderBytes> hb{};
  const ssize_t got = read_full(in, 0, hb);
  if (got < 0) {
    s.status = VaultStatus::kIoError;
    s.message = std::string("cannot read: ") + std::strerror(errno);
    return s;
  }
  std::string error;
  auto header = parse_vault_header(std::span<const std::byte>(hb.data(), static_cast<size_t>(got)), error);
  if (!header) {
    s.status = VaultStatus::kCorrupt;
    s.message = error;
    return s;
  }
  s.header = *header;
  KeyHandle key = keys(s.header, error);
  if (!key) {
    s.status = VaultStatus::kKeyUnavailable;
    s.message = error;
    return s;
  }
  crypto_secretstream_xchacha20poly1305_state state;
  struct Wipe {
    void* p;
    size_t n;
    ~Wipe() { sodium_memzero(p, n); }
  } wipe_state{&state, sizeof state};
  if (crypto_secretstream_xchacha20poly1305_init_pull(&state, s.header.stream_header.data(),
                                                      key->bytes.data()) != 0) {
    s.status = VaultStatus::kCorrupt;
    s.message = "the stream header is invalid";
    return s;
  }
  const size_t max_plain = std::max<size_t>(s.header.record_plain_max, kVaultFinalPlainBytes);
  std::vector<std::byte> cipher(max_plain + kABytes);
  std::vector<unsigned char> plain(max_plain);
  struct WipePlain {
    std::vector<unsigned char>& v;
    ~WipePlain() { sodium_memzero(v.data(), v.size()); }
  } wipe_plain{plain};
  uint64_t offset = kVaultHeaderBytes;
  const std::string name =
      vault_day_name(s.header.day) + " generation " + std::to_string(s.header.generation);
  for (;;) {
    const std::string where =
        "record " + std::to_string(s.records + 1) + " (offset " + std::to_string(offset) + ")";
    std::array<std::byte, 4> lb{};
    const ssize_t n = read_full(in, offset, lb);
    if (n < 0) {
      s.status = VaultStatus::kIoError;
      s.message = "cannot read " + where + ": " + std::strerror(errno);
      return s;
    }
    if (n < 4) {
      s.status = VaultStatus::kTruncated;
      s.message = "the file ends " + std::string(n == 0 ? "after " : "inside the length of ") + where +
                  " without its final record (cut short: a crash, a full disk or an incomplete copy); " +
                  std::to_string(s.data_bytes) + " audio bytes are authentic";
      return s;
    }
    const uint32_t len = get32(lb.data());
    if (len < kABytes || len > cipher.size()) {
      s.status = VaultStatus::kCorrupt;
      s.message = where + " has an impossible length " + std::to_string(len) + " (altered or damaged)";
      return s;
    }
    const ssize_t m = read_full(in, offset + 4, std::span<std::byte>(cipher.data(), len));
    if (m < 0) {
      s.status = VaultStatus::kIoError;
      s.message = "cannot read " + where + ": " + std::strerror(errno);
      return s;
    }
    if (static_cast<size_t>(m) < len) {
      s.status = VaultStatus::kTruncated;
      s.message = "the file ends inside " + where + " (" + std::to_string(m) + " of " + std::to_string(len) +
                  " bytes; cut short: a crash, a full disk or an incomplete copy); " +
                  std::to_string(s.data_bytes) + " audio bytes are authentic";
      return s;
    }
    unsigned long long mlen = 0;
    unsigned char tag = 0;
    if (crypto_secretstream_xchacha20poly1305_pull(
            &state, plain.data(), &mlen, &tag, reinterpret_cast<const unsigned char*>(cipher.data()), len,
            reinterpret_cast<const unsigned char*>(hb.data()), hb.size()) != 0) {
      s.status = VaultStatus::kCorrupt;
      s.message = where + " fails authentication: the file was altered or damaged" +
                  (s.records == 0 ? " (or the key for " + name + " is not the one it was written with)" : "");
      return s;
    }
    offset += 4 + len;
    ++s.records;
    if (tag == crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) {
      if (mlen > s.header.record_plain_max) {
        s.status = VaultStatus::kCorrupt;
        s.message = where + " is larger than the header allows";
        return s;
      }
      s.data_bytes += mlen;
      if (s.data_bytes > kMaxWavData) {
        s.status = VaultStatus::kCorrupt;
        s.message = "more audio than a WAV file can hold";
        return s;
      }
      if (on_data && !on_data(std::span<const unsigned char>(plain.data(), mlen))) {
        s.status = VaultStatus::kIoError;
        s.message = std::string("writing the decrypted audio: ") + std::strerror(errno ? errno : EIO);
        return s;
      }
      continue;
    }
    if (tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL || mlen != kVaultFinalPlainBytes) {
      s.status = VaultStatus::kCorrupt;
      s.message = where + " is not a data record nor a valid final record";
      return s;
    }
    std::memcpy(s.final_plain.data(), plain.data(), kVaultFinalPlainBytes);
    std::array<std::byte, 1> extra{};
    const ssize_t e = read_full(in, offset, extra);
    if (e != 0) {
      s.status = e < 0 ? VaultStatus::kIoError : VaultStatus::kCorrupt;
      s.message = e < 0 ? std::string("cannot read: ") + std::strerror(errno)
                        : "altered: bytes were appended after the final record (offset " +
                              std::to_string(offset) + ")";
      return s;
    }
    s.status = VaultStatus::kOk;
    return s;
  }
}

DecryptResult decrypt_vault(VaultInput& in, const VaultKeyLookup& keys, int out_fd,
                            const DecryptOptions& options) {
  DecryptResult r;
  // Pass 1: authenticate everything before the first byte goes out (the WAV
  // header, which comes first in the output, is in the final record).
  VaultScan first = scan_vault(in, keys, {});
  r.status = first.status;
  r.message = first.message;
  r.sample_rate = first.header.sample_rate;
  r.day = first.header.day;
  r.generation = first.header.generation;
  const bool partial = first.status == VaultStatus::kTruncated && options.allow_partial;
  if (first.status != VaultStatus::kOk && !partial) return r;
  uint64_t data_bytes = first.data_bytes;
  std::array<uint8_t, 44> header{};
  if (first.status == VaultStatus::kOk) {
    header = wav_header(first.header.sample_rate, data_bytes);
    if (data_bytes % 4 != 0 || std::memcmp(header.data(), first.final_plain.data(), header.size()) != 0) {
      r.status = VaultStatus::kCorrupt;
      r.message = "the final record's WAV header does not describe the " + std::to_string(data_bytes) +
                  " audio bytes of the file";
      return r;
    }
    r.recorded_sha256 = to_hex(first.final_plain.data() + 44, 32);
  } else {
    data_bytes -= data_bytes % 4;  // whole stereo frames only
    header = wav_header(first.header.sample_rate, data_bytes);
  }
  // Pass 2: the output, hashed as it is written.
  Sha256 sha;
  sha.update(header.data(), header.size());
  if (out_fd >= 0 && !write_all(out_fd, header.data(), header.size())) {
    r.status = VaultStatus::kIoError;
    r.message = std::string("writing the decrypted audio: ") + std::strerror(errno);
    return r;
  }
  uint64_t remaining = data_bytes;
  VaultScan second = scan_vault(in, keys, [&](std::span<const unsigned char> d) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(d.size(), remaining));
    remaining -= n;
    sha.update(d.data(), n);
    return n == 0 || out_fd < 0 || write_all(out_fd, d.data(), n);
  });
  if (second.status == VaultStatus::kIoError) {
    r.status = second.status;
    r.message = second.message;
    return r;
  }
  if (second.status != first.status || second.data_bytes != first.data_bytes || remaining != 0) {
    r.status = second.status == VaultStatus::kOk ? VaultStatus::kCorrupt : second.status;
    r.message = "the file changed while it was read" + (second.message.empty() ? "" : ": " + second.message);
    return r;
  }
  r.sha256 = sha.hex_final();
  r.wav_bytes = header.size() + data_bytes;
  if (first.status == VaultStatus::kOk && r.sha256 != r.recorded_sha256) {
    r.status = VaultStatus::kCorrupt;
    r.message = "the decrypted audio's SHA-256 " + r.sha256 + " is not the " + r.recorded_sha256 +
                " its final record states";
    return r;
  }
  if (partial) r.message += "; wrote them as a shorter WAV (" + std::to_string(data_bytes / 4) + " frames)";
  return r;
}

DecryptResult decrypt_recording(KeyStore& key_store, const std::string& path, int out_fd,
                                const DecryptOptions& options) {
  DecryptResult r;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    r.status = VaultStatus::kIoError;
    r.message = path + ": " + std::strerror(errno);
    return r;
  }
  FdVaultInput in(fd.get());
  r = decrypt_vault(
      in,
      [&](const VaultHeader& h, std::string& error) {
        return key_store.key_for_reading(h.day, h.generation, error);
      },
      out_fd, options);
  if (!r.message.empty()) r.message = path + ": " + r.message;
  return r;
}

DecryptResult verify_recording(KeyStore& key_store, const std::string& path) {
  return decrypt_recording(key_store, path, -1);
}

}  // namespace cv
