// The encrypted recording format (docs/RECORDING_FORMAT.md, "Encrypted store").
//
//   header (56 bytes, little endian)
//     0  8  magic "CVAULT\r\n"
//     8  2  version (1)
//    10  2  header size (56)
//    12  4  day: UTC days since 1970-01-01 (the key's day)
//    16  4  key generation (>= 1)
//    20  4  sample rate of the audio (Hz)
//    24  4  largest record plaintext (bytes, 16 .. 1 MiB; 8192 written)
//    28  4  reserved, zero
//    32 24  crypto_secretstream_xchacha20poly1305 header
//   records, each: u32 ciphertext length, ciphertext (plaintext + 17 bytes)
//     data records (TAG_MESSAGE): the WAV's audio bytes, in order
//     the final record (TAG_FINAL): the 44-byte WAV header + SHA-256 of the
//     plain WAV (header + audio), 76 bytes; nothing may follow it.
//
// Every record is authenticated with the 56 header bytes as additional data,
// so any change to the header, a record, their order or the end of the file
// is detected. A file without its final record (cut short) still decrypts up
// to its last complete record when the caller asks for that.
#pragma once

#include <sodium.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "storage/vault/key_store.h"

namespace cv {

inline constexpr size_t kVaultHeaderBytes = 56;
inline constexpr uint16_t kVaultVersion = 1;
inline constexpr uint32_t kVaultRecordPlainBytes = 8192;  // what the writer uses
inline constexpr uint32_t kVaultMinRecordPlainBytes = 16;
inline constexpr uint32_t kVaultMaxRecordPlainBytes = 1u << 20;  // what a reader accepts
inline constexpr size_t kVaultRecordOverhead = 4 + 17;           // length + secretstream ABYTES
inline constexpr size_t kVaultFinalPlainBytes = 44 + 32;
inline constexpr const char* kEncryptedSuffix = ".enc";  // "<uuid>.wav.enc"

struct VaultHeader {
  uint16_t version = kVaultVersion;
  VaultDay day;
  uint32_t generation = 0;
  uint32_t sample_rate = 0;
  uint32_t record_plain_max = kVaultRecordPlainBytes;
  std::array<unsigned char, 24> stream_header{};
};

std::array<std::byte, kVaultHeaderBytes> encode_vault_header(const VaultHeader& h);
// Checks every field; nullopt with `error` naming the problem.
std::optional<VaultHeader> parse_vault_header(std::span<const std::byte> bytes, std::string& error);

// Writes the records of one file to a file descriptor: a record buffer and a
// ciphertext buffer (together about 16 KiB), one write() per record. After a
// failed write the file is cut back to its last complete record and the
// stream state restored, so finish() still closes a valid (shorter) file.
class VaultWriter {
 public:
  VaultWriter() = default;
  ~VaultWriter();
  VaultWriter(const VaultWriter&) = delete;
  VaultWriter& operator=(const VaultWriter&) = delete;
  VaultWriter(VaultWriter&&) = default;
  VaultWriter& operator=(VaultWriter&&) = default;

  // Writes the header at the start of `fd` (empty, opened for writing).
  bool begin(int fd, const DayKey& key, uint32_t sample_rate);
  // Appends plaintext; full records are encrypted and written.
  bool append(const void* data, size_t n);
  // Encrypts and writes what is buffered as a (shorter) record.
  bool flush();
  // Writes the final record. `final_plain` is kVaultFinalPlainBytes long.
  bool finish(std::span<const unsigned char> final_plain);

  [[nodiscard]] bool failed() const { return failed_; }
  [[nodiscard]] int error_number() const { return errno_; }
  [[nodiscard]] uint64_t committed_plain() const { return committed_plain_; }  // in complete records
  [[nodiscard]] uint64_t file_bytes() const { return committed_offset_; }

 private:
  bool seal(const unsigned char* plain, size_t n, unsigned char tag);

  int fd_ = -1;
  std::array<std::byte, kVaultHeaderBytes> header_{};
  crypto_secretstream_xchacha20poly1305_state state_{}, saved_{};
  std::vector<unsigned char> plain_;   // kVaultRecordPlainBytes, filled up to fill_
  std::vector<unsigned char> cipher_;  // length prefix + ciphertext
  size_t fill_ = 0;
  uint64_t committed_offset_ = 0, committed_plain_ = 0;
  bool failed_ = false;
  int errno_ = 0;
};

// Where a reader gets the file's bytes.
class VaultInput {
 public:
  virtual ~VaultInput() = default;
  // Reads up to out.size() bytes at `offset`; returns the count (0 at the
  // end), or -1 with errno set.
  virtual ssize_t read_at(uint64_t offset, std::span<std::byte> out) = 0;
};

class FdVaultInput final : public VaultInput {
 public:
  explicit FdVaultInput(int fd) : fd_(fd) {}
  ssize_t read_at(uint64_t offset, std::span<std::byte> out) override;

 private:
  int fd_;
};

class SpanVaultInput final : public VaultInput {
 public:
  explicit SpanVaultInput(std::span<const std::byte> data) : data_(data) {}
  ssize_t read_at(uint64_t offset, std::span<std::byte> out) override;

 private:
  std::span<const std::byte> data_;
};

enum class VaultStatus {
  kOk,
  kTruncated,       // authentic, but ends before its final record (crash, copy cut short)
  kCorrupt,         // not this format, altered or damaged: authentication failed
  kKeyUnavailable,  // the day's key was destroyed or is missing
  kIoError,         // reading the file or writing the output failed
};
const char* vault_status_name(VaultStatus s);

// Finds the key a file names.
using VaultKeyLookup = std::function<KeyHandle(const VaultHeader& header, std::string& error)>;

struct DecryptOptions {
  // A file without its final record: write what was authenticated (a valid,
  // shorter WAV) instead of refusing. The status is still kTruncated.
  bool allow_partial = false;
};

struct DecryptResult {
  VaultStatus status = VaultStatus::kCorrupt;
  std::string message;          // one sentence when status != kOk
  uint64_t wav_bytes = 0;       // plain WAV bytes written (header + audio)
  std::string sha256;           // hex SHA-256 of the plain WAV written
  std::string recorded_sha256;  // hex SHA-256 the file's final record states
  uint32_t sample_rate = 0;
  VaultDay day;
  uint32_t generation = 0;
  [[nodiscard]] bool ok() const { return status == VaultStatus::kOk; }
};

// Authenticates the whole file, then writes the plain WAV to `out_fd` (none
// when out_fd < 0: verification only) and checks its SHA-256 against the
// final record. Never throws on malformed input.
DecryptResult decrypt_vault(VaultInput& in, const VaultKeyLookup& keys, int out_fd,
                            const DecryptOptions& options = {});

// The same for a file in the store, keys from `key_store`; messages name `path`.
DecryptResult decrypt_recording(KeyStore& key_store, const std::string& path, int out_fd,
                                const DecryptOptions& options = {});
DecryptResult verify_recording(KeyStore& key_store, const std::string& path);

// Internal, shared with the sink: authenticates the records of a file and
// passes each data record's plaintext to `on_data` (may be empty). Stops at
// the final record, or at the first problem. `data_bytes` counts the
// authenticated audio bytes; `final_plain` receives the final record.
struct VaultScan {
  VaultStatus status = VaultStatus::kCorrupt;
  std::string message;
  VaultHeader header;
  uint64_t data_bytes = 0;
  uint64_t records = 0;
  std::array<unsigned char, kVaultFinalPlainBytes> final_plain{};
};
VaultScan scan_vault(VaultInput& in, const VaultKeyLookup& keys,
                     const std::function<bool(std::span<const unsigned char>)>& on_data);

}  // namespace cv
