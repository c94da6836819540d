// The encrypted recording reader (storage/vault): header parser and two-pass
// decryptor on arbitrary bytes, and a property: a valid file made from the
// input with one byte changed (chosen by the input) never decrypts as valid.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "storage/vault/vault_format.h"
#include "storage/wav_writer.h"

namespace {

cv::KeyHandle fixed_key() {
  static const cv::KeyHandle key = [] {
    if (sodium_init() < 0) std::abort();
    auto k = std::make_shared<cv::SecretKey>();
    for (size_t i = 0; i < k->bytes.size(); ++i) k->bytes[i] = static_cast<unsigned char>(i * 7 + 1);
    return k;
  }();
  return key;
}

cv::DecryptResult decrypt(std::span<const std::byte> file, bool partial) {
  cv::SpanVaultInput in(file);
  return cv::decrypt_vault(
      in, [](const cv::VaultHeader&, std::string&) { return fixed_key(); }, -1, cv::DecryptOptions{partial});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto input = std::as_bytes(std::span(data, size));
  std::string error;
  (void)cv::parse_vault_header(input, error);
  const cv::DecryptResult raw = decrypt(input, size > 0 && (data[0] & 1));
  // Without the key nothing valid can be forged.
  if (raw.ok()) std::abort();

  if (size < 3) return 0;
  static const int fd = memfd_create("fuzz_vault", 0);
  if (fd < 0 || ::ftruncate(fd, 0) != 0 || ::lseek(fd, 0, SEEK_SET) != 0) return 0;
  const size_t audio = (size - 3) / 4 * 4;
  cv::VaultWriter w;
  if (!w.begin(fd, cv::DayKey{cv::VaultDay{19800}, 1, fixed_key()}, 8000)) return 0;
  // Record sizes vary with the input: appended in pieces.
  size_t at = 0;
  while (at < audio) {
    const size_t n = std::min<size_t>(audio - at, 1 + data[3 + at] * 64u);
    w.append(data + 3 + at, n);
    at += n;
  }
  w.flush();
  const auto header = cv::wav_header(8000, audio);
  std::array<unsigned char, cv::kVaultFinalPlainBytes> final_plain{};
  std::memcpy(final_plain.data(), header.data(), header.size());
  crypto_hash_sha256_state sha;
  crypto_hash_sha256_init(&sha);
  crypto_hash_sha256_update(&sha, header.data(), header.size());
  crypto_hash_sha256_update(&sha, data + 3, audio);
  crypto_hash_sha256_final(&sha, final_plain.data() + header.size());
  if (!w.finish(final_plain)) return 0;
  std::vector<std::byte> file(w.file_bytes());
  if (::pread(fd, file.data(), file.size(), 0) != static_cast<ssize_t>(file.size())) return 0;
  const cv::DecryptResult good = decrypt(file, false);
  if (!good.ok() || good.wav_bytes != 44 + audio) std::abort();
  const size_t pos = (static_cast<size_t>(data[0]) << 8 | data[1]) % file.size();
  file[pos] ^= std::byte(data[2] ? data[2] : 1);
  if (decrypt(file, true).ok()) std::abort();
  // Cut short anywhere: never valid either.
  file[pos] ^= std::byte(data[2] ? data[2] : 1);
  if (decrypt(std::span(file).first(pos), true).ok()) std::abort();
  return 0;
}
