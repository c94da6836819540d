#include "app/replay.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "app/pipeline.h"
#include "app/status_server.h"
#include "capture/source/pcap_source.h"

namespace cv {

int run_replay(const Config& config, const ReplayOptions& options) {
  PipelineOptions po;
  po.out_dir = options.out_dir;
  po.json = options.json;
  po.no_db = options.no_db;
  po.encrypt = options.encrypt;
  po.max_warnings_per_kind = options.max_warnings_per_kind;
  po.kind = "replay";
  po.source = join(options.files, ", ");
  Pipeline pipeline(config, po);
  if (int rc = pipeline.start(); rc != 0) return rc;
  std::unique_ptr<StatusServer> status;  // after the pipeline: stopped before it
  if (!options.status_listen.empty()) {
    status = serve_status(options.status_listen, options.status_min_free_mb, pipeline.metrics());
    if (!status) return 2;
  }
  // Files have no batches: while serving, publish every so many frames. Few
  // enough that a slow source (a pipe) shows progress, many enough to cost
  // nothing; without an endpoint nobody reads the metrics.
  constexpr uint64_t kPublishEvery = 64;
  uint64_t since_publish = 0;

  int unusable = 0;
  for (const std::string& path : options.files) {
    std::string error;
    auto source = PcapFileSource::open(path, error);
    if (!source) {
      spdlog::error("{}", error);
      ++unusable;
      continue;
    }
    CapturedFrame frame;
    for (;;) {
      ReadStatus st = source->next(frame);
      if (st == ReadStatus::kEnd) break;
      if (st == ReadStatus::kTruncated) {
        pipeline.add_anomaly(Anomaly::kCaptureTruncated);
        spdlog::warn(
            "{}: the capture ends inside frame {} (truncated file); everything before it was processed", path,
            frame.number + 1);
        break;
      }
      if (st == ReadStatus::kError) {
        pipeline.add_anomaly(Anomaly::kCaptureCorrupt);
        spdlog::warn("{}: cannot read past frame {}: {}; everything before it was processed", path,
                     frame.number, source->error());
        break;
      }
      pipeline.process(source->link_type(), frame, path);
      if (status && ++since_publish == kPublishEvery) {
        pipeline.publish();
        since_publish = 0;
      }
    }
    if (status) pipeline.publish();
  }
  const bool index_complete = pipeline.finish("end_of_input");
  std::string report = fmt::format(
      "callvault replay statistics\n"
      "  files:                 {} ({} unusable)\n",
      options.files.size(), unusable);
  std::fputs(pipeline.report(report).c_str(), stderr);
  if (unusable == static_cast<int>(options.files.size())) return 2;
  if (!index_complete) return 3;
  return unusable == 0 ? 0 : 1;
}

}  // namespace cv
