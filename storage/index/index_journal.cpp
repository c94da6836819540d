#include "storage/index/index_journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <exception>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <system_error>

#include "common/file_io.h"
#include "storage/index/index_record_json.h"

namespace cv {
namespace {

constexpr size_t kSequenceDigits = 20;
constexpr std::string_view kSegmentSuffix = ".jsonl";
constexpr std::string_view kTmpSuffix = ".jsonl.tmp";
constexpr std::string_view kBadSuffix = ".jsonl.bad";

std::string error_text(int err) { return std::generic_category().message(err); }

std::string segment_name(uint64_t segment, std::string_view suffix = kSegmentSuffix) {
  return fmt::format("{:0{}}{}", segment, kSequenceDigits, suffix);
}

// The sequence number of "<20 digits><suffix>", or nullopt for any other name.
std::optional<uint64_t> sequence_of(std::string_view name, std::string_view suffix) {
  if (name.size() != kSequenceDigits + suffix.size() || !name.ends_with(suffix)) return std::nullopt;
  uint64_t sequence = 0;
  const char* end = name.data() + kSequenceDigits;
  const auto [stop, ec] = std::from_chars(name.data(), end, sequence);
  if (ec != std::errc() || stop != end) return std::nullopt;
  return sequence;
}

bool read_all(int fd, std::string& text) {
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) text.reserve(static_cast<size_t>(st.st_size));
  char buffer[65536];
  for (;;) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return false;
    if (got == 0) return true;
    text.append(buffer, static_cast<size_t>(got));
  }
}

// Newlines in a segment: its records. 0 when it cannot be read (read()
// reports that properly when the segment's turn comes).
uint64_t count_lines(int dir_fd, const char* name) {
  const int fd = ::openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  UniqueFd closer(fd);
  uint64_t lines = 0;
  char buffer[65536];
  for (;;) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return lines;
    lines += static_cast<uint64_t>(std::count(buffer, buffer + got, '\n'));
  }
}

// "12 calls, 1 capture session" for error messages: what was not journaled.
std::string describe(std::span<const IndexRecord> records) {
  size_t calls = 0, sessions = 0, intervals = 0;
  for (const auto& r : records) {
    calls += std::holds_alternative<IndexedCall>(r);
    sessions += std::holds_alternative<CaptureSessionRecord>(r);
    intervals += std::holds_alternative<CoverageInterval>(r);
  }
  std::string text;
  const auto add = [&](size_t n, std::string_view one, std::string_view many) {
    if (n == 0) return;
    if (!text.empty()) text += ", ";
    text += fmt::format("{} {}", n, n == 1 ? one : many);
  };
  add(calls, "call", "calls");
  add(sessions, "capture session", "capture sessions");
  add(intervals, "coverage interval", "coverage intervals");
  return text;
}

}  // namespace

IndexJournal::IndexJournal(std::string dir, int dir_fd) : dir_(std::move(dir)), dir_fd_(dir_fd) {}

IndexJournal::~IndexJournal() {
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

std::unique_ptr<IndexJournal> IndexJournal::open(const std::string& dir, std::string& error) {
  error.clear();
  try {
    if (dir.empty()) {
      error = "journal: no directory given";
      return nullptr;
    }
    // Mode 0700: the journal holds phone numbers and call metadata.
    if (std::string e; !make_directories(dir, 0700, e)) {
      error = fmt::format("journal {}: {}", dir, e);
      return nullptr;
    }
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      error = fmt::format("journal {}: {}", dir, error_text(errno));
      return nullptr;
    }
    std::unique_ptr<IndexJournal> journal(new IndexJournal(dir, fd));
    // Two processes on one journal would delete each other's .tmp files and
    // reuse each other's numbers.
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      error = fmt::format("journal {}: cannot lock it ({}): is another callvault using it?", dir,
                          error_text(errno));
      return nullptr;
    }
    if (!journal->scan(error)) return nullptr;
    return journal;
  } catch (const std::exception& e) {
    error = fmt::format("journal {}: {}", dir, e.what());
    return nullptr;
  }
}

bool IndexJournal::scan(std::string& error) {
  std::unique_ptr<DIR, int (*)(DIR*)> listing(::opendir(dir_.c_str()), ::closedir);
  if (!listing) {
    error = fmt::format("journal {}: cannot list it: {}", dir_, error_text(errno));
    return false;
  }
  uint64_t highest = 0;
  bool removed_tmp = false;
  for (;;) {
    errno = 0;
    const dirent* entry = ::readdir(listing.get());
    if (entry == nullptr) break;
    const std::string_view name = entry->d_name;
    if (const auto tmp = sequence_of(name, kTmpSuffix)) {
      // A crash before this segment was renamed: append never returned
      // success for it, so its records were reported as not journaled.
      if (::unlinkat(dir_fd_, entry->d_name, 0) != 0) {
        error = fmt::format("journal {}/{}: cannot remove an incomplete segment: {}", dir_, name,
                            error_text(errno));
        return false;
      }
      removed_tmp = true;
      highest = std::max(highest, *tmp);
    } else if (const auto bad = sequence_of(name, kBadSuffix)) {
      highest = std::max(highest, *bad);  // never reuse a quarantined number
    } else if (const auto segment = sequence_of(name, kSegmentSuffix)) {
      struct stat st {};
      if (::fstatat(dir_fd_, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
      // The status endpoint reports records waiting, not only bytes: count
      // this earlier run's lines once here (a segment holds at most one
      // batch), so that no one has to read the journal while recording.
      const uint64_t records = count_lines(dir_fd_, entry->d_name);
      segments_[*segment] = {static_cast<uint64_t>(st.st_size), records};
      pending_bytes_ += static_cast<uint64_t>(st.st_size);
      pending_records_ += records;
      highest = std::max(highest, *segment);
    }
  }
  if (errno != 0) {
    error = fmt::format("journal {}: cannot list it: {}", dir_, error_text(errno));
    return false;
  }
  next_segment_ = highest + 1;
  return !removed_tmp || sync_dir("fsync", error);
}

std::string IndexJournal::segment_path(uint64_t segment) const { return dir_ + "/" + segment_name(segment); }

bool IndexJournal::sync_dir(const std::string& what, std::string& error) const {
  if (::fsync(dir_fd_) == 0) return true;
  error = fmt::format("journal {}: {}: {}", dir_, what, error_text(errno));
  return false;
}

IndexJournal::AppendResult IndexJournal::append(std::span<const IndexRecord> records) {
  AppendResult result;
  try {
    if (records.empty()) {
      result.error = fmt::format("journal {}: nothing to append", dir_);
      return result;
    }
    // The whole segment is built in memory and written at once: one system
    // call in the usual case, and nothing half-written to undo but the file.
    std::string text;
    for (const auto& record : records) append_json_line(text, record);

    const uint64_t segment = next_segment_++;
    const std::string name = segment_name(segment);
    const std::string tmp_name = segment_name(segment, kTmpSuffix);
    const auto fail = [&](const std::string& path, std::string_view step, int err) {
      result.error = fmt::format("journal {}: {}: {}: {} could not be journaled", path, step, error_text(err),
                                 describe(records));
      if (::unlinkat(dir_fd_, tmp_name.c_str(), 0) != 0 && errno != ENOENT)
        result.error += fmt::format(" (and {} could not be removed: {})", tmp_name, error_text(errno));
      return result;
    };
    const std::string tmp_path = dir_ + "/" + tmp_name;

    const int fd = ::openat(dir_fd_, tmp_name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return fail(tmp_path, "create", errno);
    {
      // close() is not checked: fsync already reported any write-back error.
      UniqueFd closer(fd);
      if (!write_all(fd, text.data(), text.size())) return fail(tmp_path, "write", errno);
      if (::fsync(fd) != 0) return fail(tmp_path, "fsync", errno);
    }
    if (::renameat(dir_fd_, tmp_name.c_str(), dir_fd_, name.c_str()) != 0)
      return fail(tmp_path, "rename", errno);
    if (::fsync(dir_fd_) != 0) {
      // The rename may not survive a crash: report failure and take the
      // segment back, so that "journaled" always means durable.
      const int err = errno;
      ::unlinkat(dir_fd_, name.c_str(), 0);
      return fail(dir_, "fsync", err);
    }

    segments_[segment] = {text.size(), records.size()};
    pending_bytes_ += text.size();
    pending_records_ += records.size();
    result.ok = true;
    result.segment = segment;
    return result;
  } catch (const std::exception& e) {
    result.ok = false;
    result.error =
        fmt::format("journal {}: {}: {} could not be journaled", dir_, e.what(), describe(records));
    return result;
  }
}

void IndexJournal::forget(uint64_t segment) {
  if (const auto it = segments_.find(segment); it != segments_.end()) {
    pending_bytes_ -= it->second.bytes;
    pending_records_ -= it->second.records;
    segments_.erase(it);
  }
}

std::vector<uint64_t> IndexJournal::pending() const {
  std::vector<uint64_t> segments;
  segments.reserve(segments_.size());
  for (const auto& [segment, size] : segments_) segments.push_back(segment);
  return segments;
}

bool IndexJournal::read(uint64_t segment, std::vector<IndexRecord>& out, std::string& error) const {
  out.clear();
  error.clear();
  const std::string path = segment_path(segment);
  try {
    const int fd = ::openat(dir_fd_, segment_name(segment).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      error = fmt::format("journal {}: {}", path, error_text(errno));
      return false;
    }
    UniqueFd closer(fd);
    std::string text;
    if (!read_all(fd, text)) {
      error = fmt::format("journal {}: read: {}", path, error_text(errno));
      return false;
    }
    // Appends never write an empty segment: an empty one lost its contents.
    if (text.empty()) {
      error = fmt::format("journal {}: empty segment", path);
      return false;
    }
    size_t line_number = 0;
    for (size_t begin = 0; begin < text.size();) {
      ++line_number;
      const size_t end = text.find('\n', begin);
      const auto problem = [&](std::string_view what) {
        error = fmt::format("journal {}: line {}: {}", path, line_number, what);
        out.clear();
        return false;
      };
      if (end == std::string::npos) return problem("incomplete (no newline at the end)");
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(std::string_view(text).substr(begin, end - begin));
      } catch (const nlohmann::json::parse_error& e) {
        // Not e.what(): it quotes the line, which may hold any bytes.
        return problem(fmt::format("not valid JSON (at byte {})", e.byte));
      }
      std::string record_error;
      auto record = index_record_from_json(j, record_error);
      if (!record) return problem(record_error);
      out.push_back(std::move(*record));
      begin = end + 1;
    }
    return true;
  } catch (const std::exception& e) {
    out.clear();
    error = fmt::format("journal {}: {}", path, e.what());
    return false;
  }
}

bool IndexJournal::remove(uint64_t segment, std::string& error) {
  error.clear();
  if (::unlinkat(dir_fd_, segment_name(segment).c_str(), 0) != 0 && errno != ENOENT) {
    error = fmt::format("journal {}: remove: {}", segment_path(segment), error_text(errno));
    return false;
  }
  forget(segment);
  // Should the removal be lost in a crash, the segment is inserted again:
  // harmless, inserts are idempotent.
  return sync_dir("fsync after removing " + segment_name(segment), error);
}

bool IndexJournal::quarantine(uint64_t segment, std::string& error) {
  error.clear();
  const std::string path = segment_path(segment);
  const std::string bad_name = segment_name(segment, kBadSuffix);
  if (::renameat(dir_fd_, segment_name(segment).c_str(), dir_fd_, bad_name.c_str()) != 0) {
    error = fmt::format("journal {}: cannot move it aside: {}", path, error_text(errno));
    return false;
  }
  forget(segment);
  spdlog::warn("journal {}: set aside as {}; its records are not inserted (the reason is logged above)", path,
               bad_name);
  return sync_dir("fsync after moving " + segment_name(segment) + " aside", error);
}

}  // namespace cv
