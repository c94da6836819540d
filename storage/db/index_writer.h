// The index writer: one thread that moves finished calls and coverage records
// into PostgreSQL, so that capture and decoding never wait for the database.
//
// Every batch is first appended to the on-disk journal (fsync), then inserted
// (a large batch split by call over insert_connections, each part with its
// calls' streams and DTMF in one transaction), then its journal segment is
// removed. Under load the next batch is journaled while the previous one is
// inserted. Inserts are idempotent by key (call uuid, session uuid, interval
// start), so a segment inserted twice (a crash between commit and removal)
// changes nothing. When
// the database is unreachable the segments stay on disk and are inserted, oldest
// first, when it is back; when the journal cannot be written (disk full) the
// batch waits in memory, bounded, and what overflows is counted as lost.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storage/index/index_record.h"

namespace cv {

class IndexJournal;

struct IndexWriterConfig {
  std::string conninfo;  // libpq connection string of the writer role
  int connect_timeout_s = 5;
  std::string journal_dir;                   // durable queue; empty: no journal (tests and benchmarks only)
  std::string retention_period = "1 month";  // expires_at = start + period, in time_zone
  std::string time_zone = "UTC";
  size_t batch_max = 5000;        // records per batch (one journal segment)
  size_t insert_connections = 2;  // a large batch is split over these, inserted in parallel
  int flush_interval_ms = 200;    // a batch waits at most this long
  int retry_min_ms = 250;         // reconnect backoff, doubling up to retry_max_ms
  int retry_max_ms = 10000;
  size_t max_unjournaled = 200000;  // records held in memory when the journal fails
};

struct IndexWriterStats {
  std::atomic<uint64_t> submitted{0};
  std::atomic<uint64_t> calls_inserted{0};         // new rows in calls
  std::atomic<uint64_t> calls_already_present{0};  // idempotent replays
  std::atomic<uint64_t> batches_committed{0};
  std::atomic<uint64_t> segments_journaled{0};
  std::atomic<uint64_t> journal_failures{0};  // batches that could not be journaled
  std::atomic<uint64_t> records_lost{0};      // neither journaled nor inserted
  std::atomic<uint64_t> segments_quarantined{0};
  std::atomic<uint64_t> db_outages{0};  // transitions from connected to unreachable
  std::atomic<uint64_t> queue_depth{0};
  std::atomic<uint64_t> journal_segments{0};  // segments waiting on disk
  std::atomic<uint64_t> journal_records{0};   // ... the records in them
  std::atomic<uint64_t> journal_bytes{0};     // ... and their size
  std::atomic<bool> connected{false};
};

class IndexWriter {
 public:
  // Opens the journal (a problem there is an error: the caller decides whether
  // to go on without it) and starts the thread. The database need not be up.
  static std::unique_ptr<IndexWriter> start(const IndexWriterConfig& config, std::string& error);
  ~IndexWriter();
  IndexWriter(const IndexWriter&) = delete;
  IndexWriter& operator=(const IndexWriter&) = delete;

  // Queues one record. Never waits for the database or the disk.
  void submit(IndexRecord record);

  // Stops taking records, journals and inserts everything queued, waiting up
  // to `wait_for_db` for an unreachable database. True when every record is in
  // the database; otherwise the rest stays in the journal for the next run.
  bool finish(std::chrono::milliseconds wait_for_db);

  [[nodiscard]] const IndexWriterStats& stats() const { return stats_; }
  [[nodiscard]] const std::string& journal_dir() const { return config_.journal_dir; }

 private:
  explicit IndexWriter(const IndexWriterConfig& config);
  class Connection;
  struct Pending {
    uint64_t segment = 0;              // 0: not journaled (held in memory)
    std::vector<IndexRecord> records;  // empty when only on disk
  };
  void run();
  void journal_batch(std::vector<IndexRecord> batch);
  // Inserts pending batches, oldest first, at most `max_batches`; `started`:
  // the first one's insert, already running. False: the database is unreachable.
  bool insert_pending(std::future<uint64_t>* started = nullptr, size_t max_batches = SIZE_MAX);
  bool connect();
  void disconnect(const std::string& why);
  // journal_* of stats_ from the journal (read by the status endpoint).
  void publish_journal_size();

  IndexWriterConfig config_;
  IndexWriterStats stats_;
  std::unique_ptr<IndexJournal> journal_;
  std::unique_ptr<Connection> db_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<IndexRecord> queue_;  // guarded by mutex_; a deque: batches leave from the front
  bool stopping_ = false;          // guarded by mutex_
  std::chrono::steady_clock::time_point give_up_at_;  // guarded by mutex_, set by finish()
  bool all_inserted_ = false;                         // guarded by mutex_

  // Owned by the thread.
  std::deque<Pending> pending_;
  size_t unjournaled_records_ = 0;
  std::chrono::steady_clock::time_point next_attempt_{};
  int backoff_ms_ = 0;
  bool journal_failing_ = false;
  std::string last_db_error_;
  std::thread thread_;
};

}  // namespace cv
