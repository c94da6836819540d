#include "app/recording_copy.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "app/index_setup.h"
#include "storage/recording_id.h"
#include "storage/vault/vault_format.h"
#include "storage/wav_writer.h"

namespace cv {
namespace {

std::string parent_of(const std::string& path) {
  const auto p = std::filesystem::path(path).parent_path();
  return p.empty() ? "." : p.string();
}

// The stored path comes from the database: it must stay inside the audio directory.
bool inside_store(const std::string& rel) {
  if (rel.empty() || rel.front() == '/') return false;
  for (const auto& part : std::filesystem::path(rel))
    if (part == "..") return false;
  return true;
}

}  // namespace

bool copy_recording(const Config& config, const std::string& stored_path, const std::string& expected_sha256,
                    int out_fd, CopiedRecording& copied, std::string& error) {
  copied = {};
  if (!inside_store(stored_path)) {
    error = fmt::format("the index names an audio path outside the store: \"{}\"", stored_path);
    return false;
  }
  const std::string path = audio_dir(config) + "/" + stored_path;
  if (stored_path.ends_with(std::string(".wav") + kEncryptedSuffix)) {
    // Encrypted at rest (R12): authenticated and decrypted here, on the way out.
    KeyStore keys(key_dir(config));
    const DecryptResult r = decrypt_recording(keys, path, out_fd);
    if (!r.ok()) {
      error = fmt::format("recording file {} cannot be decrypted ({}): {}", path, vault_status_name(r.status),
                          r.message);
      return false;
    }
    copied.bytes = r.wav_bytes;
    copied.sha256 = r.sha256;
    if (!expected_sha256.empty() && copied.sha256 != expected_sha256) {
      error = fmt::format(
          "recording file {} does not match the index: SHA-256 {} recorded, {} decrypted now (replaced by "
          "another recording of that day; the copy must not be used)",
          path, expected_sha256, copied.sha256);
      return false;
    }
    return true;
  }
  // A plain WAV: a store written before encryption at rest.
  const int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    error = fmt::format("recording file {}: {}", path, std::strerror(errno));
    return false;
  }
  Sha256 hash;
  std::array<char, 1 << 16> buf;
  for (;;) {
    const ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = fmt::format("reading {}: {}", path, std::strerror(errno));
      ::close(in);
      return false;
    }
    if (n == 0) break;
    hash.update(buf.data(), static_cast<size_t>(n));
    if (!write_all(out_fd, buf.data(), static_cast<size_t>(n))) {
      error = fmt::format("writing the copy: {}", std::strerror(errno ? errno : EIO));
      ::close(in);
      return false;
    }
    copied.bytes += static_cast<uint64_t>(n);
  }
  ::close(in);
  copied.sha256 = hash.hex_final();
  if (!expected_sha256.empty() && copied.sha256 != expected_sha256) {
    error = fmt::format(
        "recording file {} does not match the index: SHA-256 {} recorded, {} now (altered or damaged; the "
        "copy "
        "must not be used)",
        path, expected_sha256, copied.sha256);
    return false;
  }
  return true;
}

NewOutputFile::~NewOutputFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!temp_.empty()) ::unlink(temp_.c_str());
}

bool NewOutputFile::open(const std::string& path, std::string& error) {
  path_ = path;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    error = fmt::format("{} exists already: callvault does not overwrite files; name a new one", path);
    return false;
  }
  temp_ = fmt::format("{}/.{}.partial-{}", parent_of(path), std::filesystem::path(path).filename().string(),
                      ::getpid());
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    error = fmt::format("cannot create {}: {}", temp_, std::strerror(errno));
    temp_.clear();
    return false;
  }
  return true;
}

bool NewOutputFile::commit(std::string& error) {
  if (::fsync(fd_) != 0) {
    error = fmt::format("{}: {}", temp_, std::strerror(errno));
    return false;
  }
  ::close(fd_);
  fd_ = -1;
  // link() refuses an existing target: a file that appeared meanwhile is not replaced.
  if (::link(temp_.c_str(), path_.c_str()) != 0) {
    error = fmt::format("cannot create {}: {}", path_, std::strerror(errno));
    return false;
  }
  ::unlink(temp_.c_str());
  temp_.clear();
  fsync_dir(parent_of(path_));
  return true;
}

EvidencePackage::~EvidencePackage() {
  if (!committed_ && !temp_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(temp_, ec);
  }
}

bool EvidencePackage::begin(const std::string& dir, std::string& error) {
  dir_ = dir;
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  std::error_code ec;
  if (std::filesystem::exists(dir_, ec)) {
    if (!std::filesystem::is_directory(dir_, ec) || !std::filesystem::is_empty(dir_, ec)) {
      error = fmt::format("{} exists and is not an empty directory: name a new one", dir_);
      return false;
    }
    std::filesystem::remove(dir_, ec);
  }
  temp_ = fmt::format("{}/.{}.partial-{}", parent_of(dir_), std::filesystem::path(dir_).filename().string(),
                      ::getpid());
  std::filesystem::remove_all(temp_, ec);
  if (::mkdir(temp_.c_str(), 0700) != 0) {
    error = fmt::format("cannot create {}: {}", temp_, std::strerror(errno));
    temp_.clear();
    return false;
  }
  return true;
}

bool EvidencePackage::add_recording(const Config& config, const std::string& uuid,
                                    const std::string& stored_path, const std::string& expected_sha256,
                                    CopiedRecording& copied, std::string& error) {
  const std::string name = uuid + ".wav";
  NewOutputFile out;
  if (!out.open(temp_ + "/" + name, error)) return false;
  if (!copy_recording(config, stored_path, expected_sha256, out.fd(), copied, error)) return false;
  if (!out.commit(error)) return false;
  sums_.emplace_back(name, copied.sha256);
  return true;
}

bool EvidencePackage::write_file(const std::string& name, const std::string& content, std::string& sha256,
                                 std::string& error) {
  NewOutputFile out;
  if (!out.open(temp_ + "/" + name, error)) return false;
  if (!write_all(out.fd(), content.data(), content.size())) {
    error = fmt::format("writing {}: {}", name, std::strerror(errno ? errno : EIO));
    return false;
  }
  if (!out.commit(error)) return false;
  sha256 = sha256_hex(content);
  return true;
}

std::string EvidencePackage::finish(const nlohmann::json& manifest, std::string& error) {
  std::string manifest_sha;
  if (!write_file("manifest.json", manifest.dump(2) + "\n", manifest_sha, error)) return {};
  sums_.emplace_back("manifest.json", manifest_sha);
  std::string sums;
  for (const auto& [name, sha] : sums_) sums += sha + "  " + name + "\n";
  std::string ignored;
  if (!write_file("SHA256SUMS", sums, ignored, error)) return {};
  return manifest_sha;
}

bool EvidencePackage::commit(std::string& error) {
  if (!fsync_dir(temp_)) {
    error = fmt::format("{}: {}", temp_, std::strerror(errno));
    return false;
  }
  if (::rename(temp_.c_str(), dir_.c_str()) != 0) {
    error = fmt::format("cannot move the package from {} to {}: {}", temp_, dir_, std::strerror(errno));
    return false;
  }
  committed_ = true;
  fsync_dir(parent_of(dir_));
  return true;
}

}  // namespace cv
