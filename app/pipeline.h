// The recording pipeline shared by `callvault replay` and `callvault capture`:
// frames -> PacketDecoder -> CallTracker -> CallRecorder -> audio sinks, each
// finished call printed and indexed, R1 coverage rows per minute of capture
// time and the capture session row. The jobs differ only in where frames come
// from and how the session starts and stops.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "app/config.h"
#include "app/status_metrics.h"
#include "capture/source/pcap_source.h"
#include "common/anomaly.h"

namespace cv {

struct PipelineOptions {
  // Empty: <data_dir>/audio, or ./recordings with no_db (and not encrypt).
  std::string out_dir;
  bool json = false;
  bool no_db = false;
  bool encrypt = false;
  int max_warnings_per_kind = 10;
  std::string kind;    // capture session kind: "replay" or "live"
  std::string source;  // files or interface, as the session row names them
};

class Pipeline {
 public:
  Pipeline(const Config& config, PipelineOptions options);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Keys, index writer, sinks. Returns 0, or 2 after logging why the store
  // or the database cannot be used.
  int start();

  // One frame through the pipeline; `where` names the source in warnings.
  void process(LinkType link, const CapturedFrame& frame, const std::string& where);
  // Live capture without packets: lets time pass (calls time out or finish
  // lingering, coverage intervals close) at `now` (wall clock). Never moves
  // time backwards.
  void idle(Timestamp now);
  // Live capture: the session row is written now rather than at the first
  // packet, so an idle interface still has its session and coverage rows.
  void open_session(Timestamp now);
  // Cumulative drop counters of the capture (kernel, interface).
  void set_drops(uint64_t kernel, uint64_t interface);
  void add_anomaly(Anomaly a);
  // SIGHUP: new office number patterns for R3 direction (already validated).
  void set_office_numbers(const std::vector<std::string>& patterns);

  // Ends every open call (end reason capture_end), closes the last coverage
  // interval and the session row (stop_reason), waits for the index. Returns
  // false when some index records still wait in the journal.
  bool finish(const std::string& stop_reason);
  // The statistics report (stderr): `head` first, then the pipeline's counts.
  [[nodiscard]] std::string report(const std::string& head) const;

  [[nodiscard]] uint64_t frames() const;

  // Copies the counters into metrics() (relaxed atomic stores, no lock, no
  // allocation): called once per dispatch batch or idle tick, never per
  // packet, so that the status endpoint costs the packet thread nothing.
  void publish();
  // What the status endpoint reads; lives as long as the Pipeline. Its
  // constant fields (mode, source, disk paths, index) are set by start().
  [[nodiscard]] const RecorderMetrics& metrics() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string join(const std::vector<std::string>& items, const char* sep);

}  // namespace cv
