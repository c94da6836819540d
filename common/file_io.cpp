#include "common/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace cv {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

bool write_all(int fd, const void* data, size_t n, size_t* done) {
  const auto* p = static_cast<const char*>(data);
  size_t total = 0;
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      if (w == 0) errno = ENOSPC;
      if (done) *done = total;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
    total += static_cast<size_t>(w);
  }
  if (done) *done = total;
  return true;
}

bool fsync_dir(const std::string& dir) {
  UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  return d.get() >= 0 && ::fsync(d.get()) == 0;
}

bool make_directories(const std::string& path, unsigned mode, std::string& error) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return true;
    error = "cannot create directory " + path + ": a file is in the way (" + std::strerror(ENOTDIR) + ")";
    return false;
  }
  const std::string parent = std::filesystem::path(path).parent_path().string();
  if (!parent.empty() && parent != path && !make_directories(parent, mode, error)) return false;
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    error = "cannot create directory " + path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace cv
