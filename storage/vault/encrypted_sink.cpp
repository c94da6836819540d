#include "storage/vault/encrypted_sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "decode/resampler.h"
#include "storage/recording_id.h"

namespace cv {
namespace {

constexpr uint64_t kMaxDataBytes = 0xFFFFFFFFull - 44;

}  // namespace

std::unique_ptr<EncryptedWavSink> EncryptedWavSink::create(KeyStore& keys, const std::string& root,
                                                           const std::string& relative_path,
                                                           uint32_t sample_rate, std::string& error) {
  const auto day = vault_day_of_path(relative_path);
  if (!day) {
    error = "recording path " + relative_path + " does not start with its date (YYYY/MM/DD/)";
    return nullptr;
  }
  std::unique_ptr<EncryptedWavSink> s(new EncryptedWavSink());
  auto key = keys.key_for_writing(*day, error);
  if (!key) return nullptr;
  s->key_ = *key;
  s->relative_ = relative_path;
  HiddenTempFile file;
  if (!create_hidden_temp(root, relative_path, 0750, 0600, file, error)) return nullptr;
  s->final_path_ = std::move(file.final_path);
  s->temp_path_ = std::move(file.temp_path);
  s->fd_ = std::move(file.fd);
  s->rate_ = sample_rate;
  if (!s->writer_.begin(s->fd_.get(), s->key_, sample_rate)) {
    error = "cannot write " + s->temp_path_ + ": " + std::strerror(s->writer_.error_number());
    ::unlink(s->temp_path_.c_str());
    s->done_ = true;
    return nullptr;
  }
  return s;
}

EncryptedWavSink::~EncryptedWavSink() {
  if (!done_) abandon();
}

bool EncryptedWavSink::fail(const std::string& what, int err) {
  if (!failed_) error_ = what + " " + temp_path_ + ": " + std::strerror(err);
  failed_ = true;
  return false;
}

VaultKeyLookup EncryptedWavSink::own_key() const {
  return [key = key_.key](const VaultHeader&, std::string&) { return key; };
}

bool EncryptedWavSink::write(const int16_t* interleaved, size_t frames) {
  if (failed_) return false;
  const size_t bytes = frames * 4;
  if (writer_.committed_plain() + bytes + kVaultRecordPlainBytes > kMaxDataBytes) {
    failed_ = true;
    error_ = "recording exceeds the WAV size limit of 4 GiB; the rest of the call was not written";
    return false;
  }
  // WAV is little endian, as is every platform callvault builds on.
  if (!writer_.append(interleaved, bytes)) return fail("writing", writer_.error_number());
  return true;
}

bool EncryptedWavSink::change_rate(uint32_t from_rate, uint32_t to_rate) {
  if (failed_) return false;
  if (!writer_.flush()) return fail("writing", writer_.error_number());
  // Decrypt what was written, convert it, and encrypt it into a second
  // temporary file that replaces the first. Happens at most once per call.
  const std::string converted = temp_path_ + ".rate";
  UniqueFd out(::open(converted.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (out.get() < 0) return fail("creating", errno);
  VaultWriter w;
  if (!w.begin(out.get(), key_, to_rate)) {
    ::unlink(converted.c_str());
    return fail("writing", w.error_number());
  }
  Resampler left(static_cast<int>(from_rate), static_cast<int>(to_rate));
  Resampler right(static_cast<int>(from_rate), static_cast<int>(to_rate));
  std::vector<int16_t> l, r, lo, ro, inter;
  auto emit = [&](bool final) {
    if (final) {
      left.flush(lo);
      right.flush(ro);
    }
    const size_t n = std::min(lo.size(), ro.size());
    inter.resize(2 * n);
    for (size_t i = 0; i < n; ++i) {
      inter[2 * i] = lo[i];
      inter[2 * i + 1] = ro[i];
    }
    lo.erase(lo.begin(), lo.begin() + static_cast<std::ptrdiff_t>(n));
    ro.erase(ro.begin(), ro.begin() + static_cast<std::ptrdiff_t>(n));
    return w.append(inter.data(), inter.size() * sizeof(int16_t));
  };
  FdVaultInput in(fd_.get());
  bool write_ok = true;
  const VaultScan scan = scan_vault(in, own_key(), [&](std::span<const unsigned char> d) {
    const size_t frames = d.size() / 4;  // records hold whole frames
    l.resize(frames);
    r.resize(frames);
    for (size_t i = 0; i < frames; ++i) {
      int16_t lr[2];
      std::memcpy(lr, d.data() + 4 * i, 4);
      l[i] = lr[0];
      r[i] = lr[1];
    }
    left.process(l.data(), frames, lo);
    right.process(r.data(), frames, ro);
    write_ok = emit(false);
    return write_ok;
  });
  if (!write_ok || scan.status != VaultStatus::kTruncated || scan.data_bytes != writer_.committed_plain()) {
    ::unlink(converted.c_str());
    if (!write_ok) return fail("writing", w.error_number());
    failed_ = true;
    error_ = "reading back " + temp_path_ + ": " + scan.message;
    return false;
  }
  if (!emit(true) || !w.flush()) {
    ::unlink(converted.c_str());
    return fail("writing", w.error_number());
  }
  if (::rename(converted.c_str(), temp_path_.c_str()) != 0) {
    const int err = errno;
    ::unlink(converted.c_str());
    return fail("replacing", err);
  }
  fd_ = std::move(out);
  writer_ = std::move(w);
  rate_ = to_rate;
  return true;
}

FinishedAudio EncryptedWavSink::finish() {
  FinishedAudio result;
  done_ = true;
  if (!failed_ && !writer_.flush()) fail("writing", writer_.error_number());
  // Even after a write error (disk full) what reached the disk is kept as a
  // valid, shorter recording: it is evidence, and the error is reported beside it.
  const uint64_t data_bytes = writer_.committed_plain();
  const auto header = wav_header(rate_, data_bytes);
  // The plain WAV's SHA-256 (header first) from what is on disk: read back,
  // authenticated and decrypted.
  // (OpenSSL's SHA-256 through cv::Sha256: several times faster than libsodium's portable one.)
  Sha256 sha;
  sha.update(header.data(), header.size());
  FdVaultInput in(fd_.get());
  const VaultScan scan = scan_vault(in, own_key(), [&](std::span<const unsigned char> d) {
    sha.update(d.data(), d.size());
    return true;
  });
  std::array<unsigned char, kVaultFinalPlainBytes> final_plain{};
  std::memcpy(final_plain.data(), header.data(), header.size());
  const std::string sha_hex = sha.hex_final();
  if (sodium_hex2bin(final_plain.data() + header.size(), 32, sha_hex.data(), sha_hex.size(), nullptr, nullptr,
                     nullptr) != 0)
    std::abort();  // our own 64 hex digits
  auto give_up = [&](const std::string& why) {
    if (error_.empty() || !failed_) error_ = why;
    failed_ = true;
    result.error = error_;
    fd_.reset();
    ::unlink(temp_path_.c_str());
    return result;
  };
  if (scan.status != VaultStatus::kTruncated || scan.data_bytes != data_bytes)
    return give_up("reading back " + temp_path_ + ": " + scan.message);
  if (!writer_.finish(final_plain) || ::fsync(fd_.get()) != 0)
    return give_up("finishing " + temp_path_ + ": " + std::strerror(errno));
  fd_.reset();
  if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0)
    return give_up("renaming " + temp_path_ + ": " + std::strerror(errno));
  fsync_dir(std::filesystem::path(final_path_).parent_path().string());
  result.ok = true;
  result.sha256 = sha_hex;
  result.relative_path = relative_;
  result.bytes = header.size() + data_bytes;
  result.error = failed_ ? error_ : "";
  return result;
}

void EncryptedWavSink::abandon() {
  done_ = true;
  fd_.reset();
  ::unlink(temp_path_.c_str());
}

std::unique_ptr<AudioSink> EncryptedSinkFactory::open(const CallInfo& call, uint32_t sample_rate,
                                                      std::string& error) {
  const std::string uuid = recording_uuid(sensor_, call.call_id, call.invite_time);
  return EncryptedWavSink::create(
      keys_, root_, recording_relative_path(uuid, call.invite_time) + kEncryptedSuffix, sample_rate, error);
}

}  // namespace cv
