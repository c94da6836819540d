// What the recorder reports about itself: the counters the packet thread
// publishes, a snapshot of them taken by the status thread, and their two
// renderings (Prometheus text exposition 0.0.4 and JSON).
//
// Ownership: the Pipeline owns RecorderMetrics and is the only writer of its
// counters (Pipeline::publish, once per dispatch batch or idle tick, never per
// packet); the status thread only loads them. Every field is a relaxed atomic:
// a scrape may see packets of one batch and drops of the previous one, which
// is fine for monitoring and costs the packet thread nothing but plain stores.
#pragma once

#include <time.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/anomaly.h"

namespace cv {

// The clock `id` (CLOCK_REALTIME, CLOCK_MONOTONIC) in nanoseconds: the
// packet thread stamps RecorderMetrics with it and the status thread
// compares with it.
int64_t clock_ns(clockid_t id);

struct IndexWriterStats;

struct RecorderMetrics {
  // Set before the status endpoint starts, constant afterwards.
  std::string mode;    // "live" or "replay"
  std::string source;  // interface or files
  std::string sensor;
  int64_t start_time_ns = 0;            // wall clock (Unix epoch)
  int64_t start_steady_ns = 0;          // CLOCK_MONOTONIC, for the uptime
  std::vector<std::string> disk_paths;  // statvfs'd at scrape time, by the status thread
  // The index writer's own live counters (atomics it keeps anyway); null
  // without an index (--no-db). Owned by the Pipeline, which outlives the
  // endpoint.
  const IndexWriterStats* index = nullptr;

  // Published by the packet thread.
  std::atomic<uint64_t> packets{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> sip_messages{0};
  std::atomic<uint64_t> rtp_packets{0};    // matched + unmatched
  std::atomic<uint64_t> rtp_unmatched{0};  // valid RTP that no call's SDP named
  std::atomic<uint64_t> active_calls{0};
  std::atomic<uint64_t> calls_started{0};
  std::atomic<uint64_t> calls_finished{0};  // recordings handed to the index/printer
  std::atomic<uint64_t> kernel_drops{0};
  std::atomic<uint64_t> interface_drops{0};
  std::array<std::atomic<uint64_t>, kAnomalyCount> anomalies{};
  std::atomic<int64_t> last_publish_steady_ns{0};  // a stalled packet loop stops moving it
};

// Health rules (documented in README "Health"): the recorder is unhealthy when
//  - packets were dropped (kernel or interface) within the last kDropWindowSec,
//  - the index database is unreachable while records wait in the journal,
//  - index records were lost (neither journaled nor inserted),
//  - a data directory's file system has less than min_free_bytes free,
//  - a live capture's loop has not published for kStallSec (it is stuck).
constexpr int kDropWindowSec = 300;
constexpr int kStallSec = 30;

struct StatusSnapshot {
  std::string version, mode, source, sensor;
  int64_t start_time_ns = 0, now_ns = 0;
  double uptime_s = 0;
  double publish_age_s = 0;  // since the packet thread last published
  uint64_t packets = 0, bytes = 0, sip_messages = 0, rtp_packets = 0, rtp_unmatched = 0, active_calls = 0,
           calls_started = 0, calls_finished = 0, kernel_drops = 0, interface_drops = 0;
  uint64_t drops_in_window = 0;  // kernel + interface drops over the last kDropWindowSec
  std::array<uint64_t, kAnomalyCount> anomalies{};
  bool index_enabled = false, database_connected = false;
  uint64_t index_queue_depth = 0, index_records_lost = 0, journal_segments = 0, journal_records = 0,
           journal_bytes = 0;
  struct Disk {
    std::string path;
    bool ok = false;  // statvfs succeeded
    uint64_t free_bytes = 0, size_bytes = 0;
  };
  std::vector<Disk> disks;
  uint64_t min_free_bytes = 0;
  std::vector<std::string> problems;  // empty: healthy
};

// Loads the counters (no locks) and statvfs's each disk path (the nearest
// existing parent of a directory not created yet). Fills everything but
// drops_in_window and problems.
StatusSnapshot take_snapshot(const RecorderMetrics& metrics);

// Applies the health rules above to a snapshot: fills `problems`.
void evaluate_health(StatusSnapshot& s);

// Prometheus text exposition format 0.0.4.
std::string format_prometheus(const StatusSnapshot& s);
// The same as one JSON object (GET /status, `callvault status --json`).
nlohmann::json status_json(const StatusSnapshot& s);

// The Prometheus label value escaping: backslash, double quote, newline.
std::string prometheus_label_value(std::string_view v);

}  // namespace cv
