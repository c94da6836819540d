#include "app/replay.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cstdio>

#include "capture/call/call_tracker.h"
#include "capture/call/direction.h"
#include "capture/packet/packet_decoder.h"
#include "capture/source/pcap_source.h"
#include "decode/call_recorder.h"
#include "storage/call_summary.h"
#include "storage/recording_id.h"
#include "storage/wav_writer.h"

namespace cv {
namespace {

// Prints each finished call: a JSON line (--json) or a readable row.
class SummaryPrinter final : public RecordingSink {
 public:
  SummaryPrinter(const Config& config, bool json) : sensor_(config.sensor), json_(json) {
    std::string error;
    for (const auto& p : config.office_numbers) directions_.add_pattern(p, error);
  }
  void on_recording(const CallRecording& rec) override {
    const CallInfo& call = *rec.call;
    const std::string uuid = recording_uuid(sensor_, call.call_id, call.invite_time);
    const CallDirection dir = directions_.classify(call.caller, call.callee);
    ++calls_;
    if (json_) {
      std::string line = call_summary_json(rec, uuid, sensor_, dir)
                             .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      std::fwrite(line.data(), 1, line.size(), stdout);
      std::fputc('\n', stdout);
      return;
    }
    if (calls_ == 1)
      fmt::print("{:<24} {:<16} {:<16} {:<9} {:<11} {:>8}  {}\n", "start (UTC)", "caller", "callee",
                 "direction", "end", "seconds", "audio");
    const double secs = rec.has_audio
                            ? static_cast<double>(rec.frames) / rec.sample_rate
                            : static_cast<double>(call.end_time.ns - call.invite_time.ns) / kNsPerSec;
    fmt::print("{:<24} {:<16} {:<16} {:<9} {:<11} {:>8.1f}  {}\n", to_iso8601(call.invite_time),
               call.caller.substr(0, 16), call.callee.substr(0, 16), direction_name(dir),
               end_reason_name(call.end_reason), secs,
               rec.has_audio ? rec.audio.relative_path : (rec.audio_error.empty() ? "-" : rec.audio_error));
  }
  [[nodiscard]] uint64_t calls() const { return calls_; }

 private:
  std::string sensor_;
  bool json_;
  DirectionClassifier directions_;
  uint64_t calls_ = 0;
};

// Warnings naming the frame, at most `limit` per anomaly kind, so a storm of
// malformed packets cannot flood the log.
class WarningLimiter {
 public:
  explicit WarningLimiter(int limit) : limit_(limit) {}
  void report(const AnomalyCounters& before, const AnomalyCounters& after, const std::string& file,
              uint64_t frame) {
    for (size_t i = 1; i < kAnomalyCount; ++i) {
      if (after.count[i] == before.count[i]) continue;
      if (++shown_[i] > limit_) continue;
      auto a = static_cast<Anomaly>(i);
      spdlog::warn("{}: frame {}: {} ({}){}", file, frame, anomaly_name(a), anomaly_description(a),
                   shown_[i] == limit_ ? "; further warnings of this kind are only counted" : "");
    }
  }

 private:
  int limit_;
  std::array<int, kAnomalyCount> shown_{};
};

}  // namespace

int run_replay(const Config& config, const ReplayOptions& options) {
  AnomalyCounters anomalies;
  WavSinkFactory sinks(options.out_dir, config.sensor);
  SummaryPrinter printer(config, options.json);
  CallRecorder recorder(config.recorder, sinks, printer, anomalies);
  CallTracker tracker(config.tracker, recorder);
  PacketDecoder decoder;
  WarningLimiter warnings(options.max_warnings_per_kind);

  PacketClock clock;
  AnomalyCounters reported;  // what warnings were last issued for
  uint64_t frames = 0, bytes = 0;
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
    DecodedPacket packet;
    for (;;) {
      ReadStatus st = source->next(frame);
      if (st == ReadStatus::kEnd) break;
      if (st == ReadStatus::kTruncated) {
        anomalies.add(Anomaly::kCaptureTruncated);
        spdlog::warn(
            "{}: the capture ends inside frame {} (truncated file); everything before it was processed", path,
            frame.number + 1);
        break;
      }
      if (st == ReadStatus::kError) {
        anomalies.add(Anomaly::kCaptureCorrupt);
        spdlog::warn("{}: cannot read past frame {}: {}; everything before it was processed", path,
                     frame.number, source->error());
        break;
      }
      ++frames;
      bytes += frame.data.size();
      DecodeResult r = decoder.decode(source->link_type(), frame.ts, frame.number, frame.data, packet);
      if (r.status == DecodeStatus::kMalformed) anomalies.add(r.anomaly);
      if (r.status == DecodeStatus::kOk) tracker.on_packet(packet, anomalies);
      if (clock.observe(frame.ts)) {
        tracker.advance_time(clock.now());
      } else {
        anomalies.add(Anomaly::kTimestampJump);
      }
      if (anomalies.total != reported.total) {  // rare: name what changed, then catch up
        warnings.report(reported, anomalies, path, frame.number);
        reported = anomalies;
      }
    }
  }
  tracker.finish();
  anomalies += decoder.background_anomalies();
  std::fflush(stdout);

  const auto& ts = tracker.stats();
  const auto& rs = recorder.stats();
  const auto& fs = decoder.fragment_stats();
  std::string report = fmt::format(
      "callvault replay statistics\n"
      "  files:                 {} ({} unusable)\n"
      "  packets:               {}\n"
      "  bytes:                 {}\n"
      "  udp/tcp packets:       {} / {}\n"
      "  ip fragments:          {} ({} datagrams reassembled, {} evicted, {} timed out)\n"
      "  sip messages:          {} ({} requests, {} responses, {} outside any known call)\n"
      "  sip over tcp skipped:  {}\n"
      "  calls:                 {} ({} with audio, {} without any media, {} evicted, {} joined mid-call)\n"
      "  rtp matched:           {}\n"
      "  rtp unmatched:         {}\n"
      "  rtcp packets:          {}\n"
      "  non-audio rtp ignored: {}\n"
      "  nat addresses learned: {}\n"
      "  late samples dropped:  {}\n",
      options.files.size(), unusable, frames, bytes, ts.udp_packets, ts.tcp_packets, fs.fragments,
      fs.reassembled, fs.evicted, fs.timed_out, ts.sip_messages, ts.sip_requests, ts.sip_responses,
      ts.sip_without_call, ts.sip_over_tcp_ignored, ts.calls_started, rs.calls_with_audio,
      rs.calls_without_media, ts.calls_evicted, ts.calls_joined_mid_call, ts.rtp_matched, ts.rtp_unmatched,
      ts.rtcp_packets, ts.rtp_non_audio, ts.media_addresses_learned, rs.late_samples_dropped);
  report += "  malformed or unexpected input:\n";
  bool any = false;
  for (size_t i = 1; i < kAnomalyCount; ++i) {
    if (!anomalies.count[i]) continue;
    any = true;
    report += fmt::format("    {:<28} {}\n", anomaly_name(static_cast<Anomaly>(i)), anomalies.count[i]);
  }
  if (!any) report += "    none\n";
  std::fputs(report.c_str(), stderr);
  if (unusable == 0) return 0;
  return unusable == static_cast<int>(options.files.size()) ? 2 : 1;
}

}  // namespace cv
