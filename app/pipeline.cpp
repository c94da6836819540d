#include "app/pipeline.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <optional>

#include "app/index_setup.h"
#include "capture/call/call_tracker.h"
#include "capture/call/direction.h"
#include "capture/packet/packet_decoder.h"
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
  SummaryPrinter(const Config& config, bool json, bool flush_each, IndexWriter* index, std::string session)
      : sensor_(config.sensor),
        json_(json),
        flush_each_(flush_each),
        index_(index),
        session_(std::move(session)) {
    set_office_numbers(config.office_numbers);
  }
  void set_office_numbers(const std::vector<std::string>& patterns) {
    DirectionClassifier fresh;
    std::string error;
    for (const auto& p : patterns) fresh.add_pattern(p, error);
    directions_ = std::move(fresh);
  }
  [[nodiscard]] uint64_t calls() const { return calls_; }
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
      // Live capture runs for months: each call is visible when it ends.
      if (flush_each_) std::fflush(stdout);
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
    if (flush_each_) std::fflush(stdout);
  }

 private:
  std::string sensor_;
  bool json_;
  bool flush_each_;
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
             calls_without_media = 0, malformed = 0, kernel_drops = 0, interface_drops = 0;
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
      c.kernel_drops = t.kernel_drops - last_.kernel_drops;
      c.interface_drops = t.interface_drops - last_.interface_drops;
      index_->submit(std::move(c));
    }
    last_ = t;
  }

  IndexWriter* index_;
  std::string session_;
  int64_t start_ns_ = 0, end_ns_ = 0;
  Totals last_;
};

}  // namespace

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

struct Pipeline::Impl {
  Impl(const Config& c, PipelineOptions o) : config(c), options(std::move(o)) {}

  [[nodiscard]] CoverageMeter::Totals totals() const {
    const auto& ts = tracker->stats();
    return CoverageMeter::Totals{frames,           bytes,
                                 ts.rtp_unmatched, ts.sip_messages,
                                 ts.calls_started, recorder->stats().calls_without_media,
                                 anomalies.total,  kernel_drops,
                                 interface_drops};
  }
  void submit_session_start(Timestamp at) {
    if (index && session_record.started_ns == 0) {
      session_record.started_ns = at.ns;
      index->submit(session_record);
    }
  }
  void after_time_moved() {
    if (coverage->due(clock.now())) {
      // The session starts with its first packet: capture time, not wall time.
      submit_session_start(clock.now());
      coverage->roll(clock.now(), totals());
    }
  }

  const Config& config;
  PipelineOptions options;
  std::unique_ptr<KeyStore> keys;
  std::unique_ptr<IndexWriter> index;
  std::string session;
  AnomalyCounters anomalies;
  std::unique_ptr<AudioSinkFactory> sinks;
  std::unique_ptr<SummaryPrinter> printer;
  std::unique_ptr<CoverageMeter> coverage;
  std::unique_ptr<CallRecorder> recorder;
  std::unique_ptr<CallTracker> tracker;
  PacketDecoder decoder;
  DecodedPacket packet;  // reused: no allocation per frame
  std::optional<WarningLimiter> warnings;
  PacketClock clock;
  AnomalyCounters reported;  // what warnings were last issued for
  uint64_t frames = 0, bytes = 0, kernel_drops = 0, interface_drops = 0;
  CaptureSessionRecord session_record;
  RecorderMetrics metrics;
};

Pipeline::Pipeline(const Config& config, PipelineOptions options)
    : impl_(std::make_unique<Impl>(config, std::move(options))) {}

Pipeline::~Pipeline() = default;

int Pipeline::start() {
  Impl& m = *impl_;
  const Config& config = m.config;
  const PipelineOptions& options = m.options;
  // The recorder's store is encrypted (R12); plain WAV only for --no-db runs
  // (tests, re-creating evidence from a capture) that do not ask otherwise.
  const bool encrypt = !options.no_db || options.encrypt;
  if (encrypt) {
    if (const std::string problem = key_dir_problem(config); !problem.empty()) {
      spdlog::error("the key directory {}", problem);
      return 2;
    }
    m.keys = std::make_unique<KeyStore>(key_dir(config));
    std::string error;
    if (!m.keys->prepare(error)) {
      spdlog::error("{}", error);
      return 2;
    }
  }
  if (!options.no_db) {
    std::string error;
    m.index = start_index_writer(config, error);
    if (!m.index) {
      spdlog::error("{}", error);
      return 2;
    }
  }
  m.session = random_uuid();
  const std::string out_dir = !options.out_dir.empty()    ? options.out_dir
                              : options.no_db && !encrypt ? std::string("recordings")
                                                          : audio_dir(config);
  if (encrypt)
    m.sinks = std::make_unique<EncryptedSinkFactory>(out_dir, config.sensor, *m.keys);
  else
    m.sinks = std::make_unique<WavSinkFactory>(out_dir, config.sensor);
  m.printer = std::make_unique<SummaryPrinter>(config, options.json, options.kind == "live", m.index.get(),
                                               m.session);
  m.coverage = std::make_unique<CoverageMeter>(m.index.get(), m.session);
  m.recorder = std::make_unique<CallRecorder>(config.recorder, *m.sinks, *m.printer, m.anomalies);
  m.tracker = std::make_unique<CallTracker>(config.tracker, *m.recorder);
  m.warnings.emplace(options.max_warnings_per_kind);
  m.session_record.uuid = m.session;
  m.session_record.sensor = config.sensor;
  m.session_record.kind = options.kind;
  m.session_record.source = options.source;
  RecorderMetrics& rm = m.metrics;
  rm.mode = options.kind;
  rm.source = options.source;
  rm.sensor = config.sensor;
  rm.start_time_ns = clock_ns(CLOCK_REALTIME);
  rm.start_steady_ns = clock_ns(CLOCK_MONOTONIC);
  std::error_code ec;
  const std::string audio = std::filesystem::absolute(out_dir, ec).lexically_normal().string();
  rm.disk_paths = {ec ? out_dir : audio};
  if (m.index && !m.index->journal_dir().empty() && m.index->journal_dir() != rm.disk_paths[0])
    rm.disk_paths.push_back(m.index->journal_dir());
  rm.index = m.index ? &m.index->stats() : nullptr;
  publish();
  return 0;
}

void Pipeline::publish() {
  Impl& m = *impl_;
  if (!m.tracker) return;  // not started
  constexpr auto r = std::memory_order_relaxed;
  RecorderMetrics& rm = m.metrics;
  const auto& ts = m.tracker->stats();
  rm.packets.store(m.frames, r);
  rm.bytes.store(m.bytes, r);
  rm.sip_messages.store(ts.sip_messages, r);
  rm.rtp_packets.store(ts.rtp_matched + ts.rtp_unmatched, r);
  rm.rtp_unmatched.store(ts.rtp_unmatched, r);
  rm.active_calls.store(m.tracker->active_calls(), r);
  rm.calls_started.store(ts.calls_started, r);
  rm.calls_finished.store(m.printer->calls(), r);
  rm.kernel_drops.store(m.kernel_drops, r);
  rm.interface_drops.store(m.interface_drops, r);
  for (size_t i = 0; i < kAnomalyCount; ++i) rm.anomalies[i].store(m.anomalies.count[i], r);
  // One vDSO clock read per batch: lets the endpoint tell a stuck loop.
  rm.last_publish_steady_ns.store(clock_ns(CLOCK_MONOTONIC), r);
}

const RecorderMetrics& Pipeline::metrics() const { return impl_->metrics; }

void Pipeline::process(LinkType link, const CapturedFrame& frame, const std::string& where) {
  Impl& m = *impl_;
  ++m.frames;
  m.bytes += frame.data.size();
  DecodedPacket& packet = m.packet;
  DecodeResult r = m.decoder.decode(link, frame.ts, frame.number, frame.data, packet);
  if (r.status == DecodeStatus::kMalformed) m.anomalies.add(r.anomaly);
  if (r.status == DecodeStatus::kOk) m.tracker->on_packet(packet, m.anomalies);
  if (m.clock.observe(frame.ts)) {
    m.tracker->advance_time(m.clock.now());
  } else {
    m.anomalies.add(Anomaly::kTimestampJump);
  }
  m.after_time_moved();
  if (m.anomalies.total != m.reported.total) {  // rare: name what changed, then catch up
    m.warnings->report(m.reported, m.anomalies, where, frame.number);
    m.reported = m.anomalies;
  }
}

void Pipeline::idle(Timestamp now) {
  Impl& m = *impl_;
  // The wall clock and packet timestamps are the same clock on a live
  // interface; a wall clock behind the packets is simply not believed.
  if (now.ns <= m.clock.now().ns) return;
  if (!m.clock.observe(now)) return;
  m.tracker->advance_time(m.clock.now());
  m.after_time_moved();
}

void Pipeline::open_session(Timestamp now) {
  Impl& m = *impl_;
  m.clock.observe(now);
  m.submit_session_start(now);
  m.coverage->roll(now, m.totals());
}

void Pipeline::set_drops(uint64_t kernel, uint64_t interface) {
  impl_->kernel_drops = kernel;
  impl_->interface_drops = interface;
}

void Pipeline::add_anomaly(Anomaly a) { impl_->anomalies.add(a); }

void Pipeline::set_office_numbers(const std::vector<std::string>& patterns) {
  impl_->printer->set_office_numbers(patterns);
}

uint64_t Pipeline::frames() const { return impl_->frames; }

bool Pipeline::finish(const std::string& stop_reason) {
  Impl& m = *impl_;
  m.tracker->finish();
  m.anomalies += m.decoder.background_anomalies();
  m.anomalies += m.tracker->tcp_background_anomalies();
  publish();  // the last calls finished: the endpoint serves until the process ends
  std::fflush(stdout);
  if (!m.index) return true;
  m.coverage->close(m.clock.now(), m.totals());
  if (m.session_record.started_ns != 0) {
    const auto& ts = m.tracker->stats();
    CaptureSessionRecord& s = m.session_record;
    s.stopped_ns = std::max(m.clock.now().ns, s.started_ns);
    s.stop_reason = stop_reason;
    s.packets = m.frames;
    s.bytes = m.bytes;
    s.kernel_drops = m.kernel_drops;
    s.interface_drops = m.interface_drops;
    s.rtp_unmatched = ts.rtp_unmatched;
    s.calls = ts.calls_started;
    s.calls_without_media = m.recorder->stats().calls_without_media;
    s.index_records_lost = m.index->stats().records_lost;
    m.index->submit(s);
  }
  return m.index->finish(std::chrono::seconds(m.config.db_wait_at_exit_s));
}

std::string Pipeline::report(const std::string& head) const {
  const Impl& m = *impl_;
  const auto& ts = m.tracker->stats();
  const auto& rs = m.recorder->stats();
  const auto& fs = m.decoder.fragment_stats();
  const auto& tcp = m.tracker->tcp_stats();
  std::string report = head;
  report += fmt::format(
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
      m.frames, m.bytes, ts.udp_packets, ts.tcp_packets, fs.fragments, fs.reassembled, fs.evicted,
      fs.timed_out, ts.sip_messages, ts.sip_requests, ts.sip_responses, ts.sip_without_call, ts.sip_over_tcp,
      tcp.connections, tcp.mid_stream_pickups, tcp.gaps, tcp.gap_bytes, tcp.out_of_order, tcp.retransmitted,
      tcp.connections_evicted, ts.sip_stream_resyncs, ts.calls_started, rs.calls_with_audio,
      rs.calls_without_media, ts.calls_evicted, ts.calls_joined_mid_call, ts.rtp_matched, ts.rtp_unmatched,
      ts.rtcp_packets, ts.rtp_non_audio, ts.media_addresses_learned, rs.late_samples_dropped);
  report += "  malformed or unexpected input:\n";
  bool any = false;
  for (size_t i = 1; i < kAnomalyCount; ++i) {
    if (!m.anomalies.count[i]) continue;
    any = true;
    report += fmt::format("    {:<28} {}\n", anomaly_name(static_cast<Anomaly>(i)), m.anomalies.count[i]);
  }
  if (!any) report += "    none\n";
  if (m.index) {
    const auto& is = m.index->stats();
    report += fmt::format(
        "  index:                 {} calls inserted, {} already present, {} batches, {} database outages,\n"
        "                         {} journal failures, {} records lost, {} segments set aside, {} waiting in "
        "{}\n",
        is.calls_inserted.load(), is.calls_already_present.load(), is.batches_committed.load(),
        is.db_outages.load(), is.journal_failures.load(), is.records_lost.load(),
        is.segments_quarantined.load(), is.journal_segments.load(), m.index->journal_dir());
  }
  return report;
}

}  // namespace cv
