// Copies of stored recordings for the people allowed to have them (play,
// export, disclosure and subject-access packages). Every copy is checked
// against the SHA-256 the index recorded when the call was written, so what
// leaves the store is provably what was recorded.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/config.h"

namespace cv {

struct CopiedRecording {
  uint64_t bytes = 0;
  std::string sha256;
};

// Writes the recording stored at `stored_path` (relative to the audio
// directory) to `out_fd` as a plain WAV and checks it against
// `expected_sha256`. False with one sentence in `error` when the file is
// missing, unreadable, does not match its hash, or the output fails.
bool copy_recording(const Config& config, const std::string& stored_path, const std::string& expected_sha256,
                    int out_fd, CopiedRecording& copied, std::string& error);

// A new file written in full or not at all: a temporary file (mode 0600)
// beside `path`, fsynced, then linked to `path`, which must not exist yet.
class NewOutputFile {
 public:
  NewOutputFile() = default;
  ~NewOutputFile();
  NewOutputFile(const NewOutputFile&) = delete;
  NewOutputFile& operator=(const NewOutputFile&) = delete;

  bool open(const std::string& path, std::string& error);
  [[nodiscard]] int fd() const { return fd_; }
  bool commit(std::string& error);  // fsync, link into place, fsync the directory

 private:
  std::string path_, temp_;
  int fd_ = -1;
};

// An evidence package (disclosure, subject access): a directory that
// appears complete or not at all, holding <uuid>.wav per recording,
// manifest.json and SHA256SUMS (`sha256sum -c SHA256SUMS` checks it).
class EvidencePackage {
 public:
  ~EvidencePackage();
  // `dir` must not exist (or be an empty directory); its parent must.
  bool begin(const std::string& dir, std::string& error);
  // Copies one recording in; its file name and hash go into SHA256SUMS.
  bool add_recording(const Config& config, const std::string& uuid, const std::string& stored_path,
                     const std::string& expected_sha256, CopiedRecording& copied, std::string& error);
  // Writes manifest.json and SHA256SUMS; returns the manifest's SHA-256 (empty on failure).
  std::string finish(const nlohmann::json& manifest, std::string& error);
  // Moves the finished package to its place.
  bool commit(std::string& error);
  [[nodiscard]] const std::string& dir() const { return dir_; }

 private:
  bool write_file(const std::string& name, const std::string& content, std::string& sha256,
                  std::string& error);
  std::string dir_, temp_;
  std::vector<std::pair<std::string, std::string>> sums_;  // file name, sha256
  bool committed_ = false;
};

}  // namespace cv
