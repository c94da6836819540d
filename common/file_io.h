// Small POSIX file primitives shared by everything that writes durably
// (recordings, the vault's keys, the index journal, copies, retention):
// an owned descriptor, complete writes, directory fsync, directory creation.
#pragma once

#include <cstddef>
#include <string>

namespace cv {

// Owns a file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  [[nodiscard]] int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Writes everything, or as much as the disk takes (`done` says how much);
// false with errno set (ENOSPC when the disk took nothing more).
bool write_all(int fd, const void* data, size_t n, size_t* done = nullptr);
// fsync of a directory, so that names created or removed in it are durable;
// false with errno set.
bool fsync_dir(const std::string& dir);
// Creates `path` and its missing parents with `mode` (existing ones are left alone).
bool make_directories(const std::string& path, unsigned mode, std::string& error);

}  // namespace cv
