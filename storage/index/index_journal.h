// The durable journal of index records: "nothing lost".
//
// Records are written here before the writer inserts them into PostgreSQL.
// Each append is one segment file, <seq>.jsonl (20-digit, zero-padded
// sequence, one JSON record a line, see index_record_json.h), made durable
// before append returns: written as <seq>.jsonl.tmp, fsynced, renamed,
// directory fsynced. So a <seq>.jsonl file is always complete, and a .tmp file
// is a crash before its segment was acknowledged (removed on open). After its
// records are inserted the writer removes the segment; inserts are idempotent
// by key, so a segment replayed twice (crash between insert and remove) is
// harmless. A segment that cannot be read is moved aside as <seq>.jsonl.bad.
//
// Thread-safety: none. One writer thread owns the journal and makes every
// call; nothing in it is shared or locked.
//
// Nothing throws out of it: failures are returned as values, each message
// naming the file and the system's reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "storage/index/index_record.h"

namespace cv {

class IndexJournal {
 public:
  struct AppendResult {
    bool ok = false;
    uint64_t segment = 0;  // the new segment, when ok
    std::string error;     // otherwise: path, reason and what was not journaled
  };

  // Opens (creating with mode 0700, parents too) the journal directory,
  // removes leftover <seq>.jsonl.tmp files and finds the pending segments, so
  // that numbering continues after the highest one seen. The directory is
  // locked (flock) while the journal is open: a second journal on it, in this
  // process or another, fails. nullptr and `error` when the directory cannot
  // be created, read or locked.
  static std::unique_ptr<IndexJournal> open(const std::string& dir, std::string& error);

  ~IndexJournal();
  IndexJournal(const IndexJournal&) = delete;
  IndexJournal& operator=(const IndexJournal&) = delete;

  // Writes `records` as one new segment and makes it durable. On failure
  // (disk full, I/O error, read-only...) no file is left behind and the error
  // says e.g. "journal /j/00000000000000000007.jsonl.tmp: write: No space
  // left on device: 12 calls could not be journaled". An empty span is an error.
  AppendResult append(std::span<const IndexRecord> records);

  // Segments waiting to be inserted, oldest first.
  [[nodiscard]] std::vector<uint64_t> pending() const;
  [[nodiscard]] size_t pending_segments() const { return segments_.size(); }
  [[nodiscard]] uint64_t pending_bytes() const { return pending_bytes_; }
  // Records in the pending segments (lines: one record each). Segments of an
  // earlier run are counted once, when the journal is opened.
  [[nodiscard]] uint64_t pending_records() const { return pending_records_; }

  // Reads every record of `segment` into `out` (replacing its contents). A
  // line that does not parse is an error naming the file and line number;
  // `out` is then empty and the caller should quarantine the segment.
  bool read(uint64_t segment, std::vector<IndexRecord>& out, std::string& error) const;

  // Deletes a segment whose records are in the database (unlink, fsync of
  // the directory). Removing a segment that is already gone succeeds.
  bool remove(uint64_t segment, std::string& error);

  // Moves an unreadable segment aside as <seq>.jsonl.bad (kept for a human,
  // never read again) and logs a warning.
  bool quarantine(uint64_t segment, std::string& error);

  [[nodiscard]] const std::string& dir() const { return dir_; }
  [[nodiscard]] std::string segment_path(uint64_t segment) const;

 private:
  IndexJournal(std::string dir, int dir_fd);
  bool scan(std::string& error);
  bool sync_dir(const std::string& what, std::string& error) const;
  void forget(uint64_t segment);

  std::string dir_;
  int dir_fd_ = -1;  // kept open: the *at() calls and the directory fsyncs use it
  struct SegmentSize {
    uint64_t bytes = 0;
    uint64_t records = 0;
  };
  std::map<uint64_t, SegmentSize> segments_;  // pending segment -> its size
  uint64_t pending_bytes_ = 0;
  uint64_t pending_records_ = 0;
  uint64_t next_segment_ = 1;
};

}  // namespace cv
