#include "app/replay.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cstdio>

#include "app/index_setup.h"
#include "capture/call/call_tracker.h"
#include "capture/call/direction.h"
#include "capture/packet/packet_decoder.h"
#include "capture/source/pcap_source.h"
#include "decode/call_recorder.h"
#include "storage/call_summary.h"
#include "storage/recording_id.h"
#include "storage/vault/encrypted_sink.h"
#include "storage/wav_writer.h"

namespace cv {
namespace {

// Each finished call: to the index (when there is one), and printed as a
// JSON line (--json) or a readable row.
class SummaryPrinter final : public RecordingSink {
 public:
  SummaryPrinter(const Config& config, bool json, IndexWriter* index, std::string session)
      : sensor_(config.sensor), json_(json), index_(index), session_(std::move(session)) {
    std::string error;
    for (const auto& p : config.office_numbers) directions_.add_pattern(p, error);
  }
  void on_recording(const CallRecording& rec) override {
    const CallInfo& call = *rec.call;
    const std::string uuid = recording_uuid(sensor_, call.call_id, call.invite_time);
    const CallDirection dir = directions_.classify(call.caller, call.callee);
    ++calls_;
    if (index_) index_->submit(indexed_call(rec, uuid, sensor_, session_, dir));
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
  IndexWriter* index_;
  std::string session_;
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

// R1 coverage: what the capture saw per minute of capture time, as deltas.
class CoverageMeter {
 public:
  struct Totals {
    uint64_t packets = 0, bytes = 0, rtp_unmatched = 0, sip_messages = 0, calls_started = 0,
             calls_without_media = 0, malformed = 0;
  };
  static constexpr int64_t kIntervalNs = 60 * kNsPerSec;

  CoverageMeter(IndexWriter* index, std::string session) : index_(index), session_(std::move(session)) {}
  // Cheap enough per packet: one comparison until the interval is over.
  [[nodiscard]] bool due(Timestamp now) const { return now.ns >= end_ns_; }
  void roll(Timestamp now, const Totals& totals) {
    if (start_ns_ == 0) {  // first packet: align the first interval to the minute
      start_ns_ = now.ns - now.ns % kIntervalNs;
      end_ns_ = start_ns_ + kIntervalNs;
      return;
    }
    emit(end_ns_, totals);
    start_ns_ = now.ns - now.ns % kIntervalNs;
    end_ns_ = start_ns_ + kIntervalNs;
  }
  // The last, partial interval ends at the last packet.
  void close(Timestamp last, const Totals& totals) {
    if (start_ns_ != 0) emit(std::max(last.ns, start_ns_), totals);
  }

 private:
  void emit(int64_t end_ns, const Totals& t) {
    if (index_) {
      CoverageInterval c;
      c.session = session_;
      c.start_ns = start_ns_;
      c.end_ns = end_ns;
      c.packets = t.packets - last_.packets;
      c.bytes = t.bytes - last_.bytes;
      c.rtp_unmatched = t.rtp_unmatched - last_.rtp_unmatched;
      c.sip_messages = t.sip_messages - last_.sip_messages;
      c.calls_started = t.calls_started - last_.calls_started;
      c.calls_without_media = t.calls_without_media - last_.calls_without_media;
      c.malformed = t.malformed - last_.malformed;
      index_->submit(std::move(c));
    }
    last_ = t;
  }

  IndexWriter* index_;
  std::string session_;
  int64_t start_ns_ = 0, end_ns_ = 0;
  Totals last_;
};

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

}  // namespace

int run_replay(const Config& config, const ReplayOptions& options) {
  // The recorder's store is encrypted (R12); plain WAV only for --no-db runs
  // (tests, re-creating evidence from a capture) that do not ask otherwise.
  const bool encrypt = !options.no_db || options.encrypt;
  std::unique_ptr<KeyStore> keys;
  if (encrypt) {
    if (const std::string problem = key_dir_problem(config); !problem.empty()) {
      spdlog::error("the key directory {}", problem);
      return 2;
    }
    keys = std::make_unique<KeyStore>(key_dir(config));
    std::string error;
    if (!keys->prepare(error)) {
      spdlog::error("{}", error);
      return 2;
    }
  }
  std::unique_ptr<IndexWriter> index;
  if (!options.no_db) {
    std::string error;
    index = start_index_writer(config, error);
    if (!index) {
      spdlog::error("{}", error);
      return 2;
    }
  }
  const std::string session = random_uuid();
  const std::string out_dir = !options.out_dir.empty()    ? options.out_dir
                              : options.no_db && !encrypt ? std::string("recordings")
                                                          : audio_dir(config);
  AnomalyCounters anomalies;
  std::unique_ptr<AudioSinkFactory> sink_factory;
  if (encrypt)
    sink_factory = std::make_unique<EncryptedSinkFactory>(out_dir, config.sensor, *keys);
  else
    sink_factory = std::make_unique<WavSinkFactory>(out_dir, config.sensor);
  AudioSinkFactory& sinks = *sink_factory;
  SummaryPrinter printer(config, options.json, index.get(), session);
  CoverageMeter coverage(index.get(), session);
  CallRecorder recorder(config.recorder, sinks, printer, anomalies);
  CallTracker tracker(config.tracker, recorder);
  PacketDecoder decoder;
  WarningLimiter warnings(options.max_warnings_per_kind);

  PacketClock clock;
  AnomalyCounters reported;  // what warnings were last issued for
  uint64_t frames = 0, bytes = 0;
  int unusable = 0;
  auto totals = [&] {
    const auto& ts = tracker.stats();
    return CoverageMeter::Totals{frames,           bytes,
                                 ts.rtp_unmatched, ts.sip_messages,
                                 ts.calls_started, recorder.stats().calls_without_media,
                                 anomalies.total};
  };
  CaptureSessionRecord session_record;
  session_record.uuid = session;
  session_record.sensor = config.sensor;
  session_record.kind = "replay";
  session_record.source = join(options.files, ", ");
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
      if (coverage.due(clock.now())) {
        // The session starts with its first packet: capture time, not wall time.
        if (index && session_record.started_ns == 0) {
          session_record.started_ns = clock.now().ns;
          index->submit(session_record);
        }
        coverage.roll(clock.now(), totals());
      }
      if (anomalies.total != reported.total) {  // rare: name what changed, then catch up
        warnings.report(reported, anomalies, path, frame.number);
        reported = anomalies;
      }
    }
  }
  tracker.finish();
  anomalies += decoder.background_anomalies();
  anomalies += tracker.tcp_background_anomalies();
  std::fflush(stdout);
  bool index_complete = true;
  if (index) {
    coverage.close(clock.now(), totals());
    if (session_record.started_ns != 0) {
      const auto& ts = tracker.stats();
      session_record.stopped_ns = std::max(clock.now().ns, session_record.started_ns);
      session_record.stop_reason = "end_of_input";
      session_record.packets = frames;
      session_record.bytes = bytes;
      session_record.rtp_unmatched = ts.rtp_unmatched;
      session_record.calls = ts.calls_started;
      session_record.calls_without_media = recorder.stats().calls_without_media;
      session_record.index_records_lost = index->stats().records_lost;
      index->submit(session_record);
    }
    index_complete = index->finish(std::chrono::seconds(config.db_wait_at_exit_s));
  }

  const auto& ts = tracker.stats();
  const auto& rs = recorder.stats();
  const auto& fs = decoder.fragment_stats();
  const auto& tcp = tracker.tcp_stats();
  std::string report = fmt::format(
      "callvault replay statistics\n"
      "  files:                 {} ({} unusable)\n"
      "  packets:               {}\n"
      "  bytes:                 {}\n"
      "  udp/tcp packets:       {} / {}\n"
      "  ip fragments:          {} ({} datagrams reassembled, {} evicted, {} timed out)\n"
      "  sip messages:          {} ({} requests, {} responses, {} outside any known call)\n"
      "  sip over tcp:          {} messages in {} connections ({} picked up mid-stream, {} gaps of {} "
      "bytes,\n"
      "                         {} out of order, {} retransmitted, {} evicted, {} resynchronised)\n"
      "  calls:                 {} ({} with audio, {} without any media, {} evicted, {} joined mid-call)\n"
      "  rtp matched:           {}\n"
      "  rtp unmatched:         {}\n"
      "  rtcp packets:          {}\n"
      "  non-audio rtp ignored: {}\n"
      "  nat addresses learned: {}\n"
      "  late samples dropped:  {}\n",
      options.files.size(), unusable, frames, bytes, ts.udp_packets, ts.tcp_packets, fs.fragments,
      fs.reassembled, fs.evicted, fs.timed_out, ts.sip_messages, ts.sip_requests, ts.sip_responses,
      ts.sip_without_call, ts.sip_over_tcp, tcp.connections, tcp.mid_stream_pickups, tcp.gaps, tcp.gap_bytes,
      tcp.out_of_order, tcp.retransmitted, tcp.connections_evicted, ts.sip_stream_resyncs, ts.calls_started,
      rs.calls_with_audio, rs.calls_without_media, ts.calls_evicted, ts.calls_joined_mid_call, ts.rtp_matched,
      ts.rtp_unmatched, ts.rtcp_packets, ts.rtp_non_audio, ts.media_addresses_learned,
      rs.late_samples_dropped);
  report += "  malformed or unexpected input:\n";
  bool any = false;
  for (size_t i = 1; i < kAnomalyCount; ++i) {
    if (!anomalies.count[i]) continue;
    any = true;
    report += fmt::format("    {:<28} {}\n", anomaly_name(static_cast<Anomaly>(i)), anomalies.count[i]);
  }
  if (!any) report += "    none\n";
  if (index) {
    const auto& is = index->stats();
    report += fmt::format(
        "  index:                 {} calls inserted, {} already present, {} batches, {} database outages,\n"
        "                         {} journal failures, {} records lost, {} segments set aside, {} waiting in "
        "{}\n",
        is.calls_inserted.load(), is.calls_already_present.load(), is.batches_committed.load(),
        is.db_outages.load(), is.journal_failures.load(), is.records_lost.load(),
        is.segments_quarantined.load(), is.journal_segments.load(), index->journal_dir());
  }
  std::fputs(report.c_str(), stderr);
  if (unusable == static_cast<int>(options.files.size())) return 2;
  if (!index_complete) return 3;
  return unusable == 0 ? 0 : 1;
}

}  // namespace cv
