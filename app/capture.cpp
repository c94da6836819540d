#include "app/capture.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <optional>

#include "app/pipeline.h"
#include "app/status_server.h"
#include "capture/call/direction.h"
#include "capture/source/dpdk_source.h"
#include "capture/source/pcap_live_source.h"

namespace cv {
namespace {

// Set by the signal handlers, read between dispatches (libpcap batches or
// DPDK bursts).
std::atomic<int> g_stop_signal{0};
std::atomic<int> g_stop_count{0};
std::atomic<bool> g_reload{false};
// libpcap only: the signal interrupts the source's poll, and pcap_breakloop
// also ends a dispatch in progress at the next frame. (DPDK never blocks for
// longer than its idle sleep: the flags suffice.)
std::atomic<PcapLiveSource*> g_source{nullptr};
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<PcapLiveSource*>::is_always_lock_free,
              "signal handlers need lock-free atomics");

extern "C" void on_stop_signal(int sig) {
  g_stop_signal.store(sig);
  g_stop_count.fetch_add(1);
  if (PcapLiveSource* s = g_source.load()) s->break_loop();
}

extern "C" void on_hup_signal(int) {
  g_reload.store(true);
  if (PcapLiveSource* s = g_source.load()) s->break_loop();
}

// Installs the handlers for the lifetime of the capture, restores the old ones.
class SignalScope {
 public:
  SignalScope() {
    g_stop_signal = 0;
    g_stop_count = 0;
    g_reload = false;
    struct sigaction sa {};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a blocked poll returns at once
    sa.sa_handler = on_stop_signal;
    sigaction(SIGTERM, &sa, &old_term_);
    sigaction(SIGINT, &sa, &old_int_);
    sa.sa_handler = on_hup_signal;
    sigaction(SIGHUP, &sa, &old_hup_);
  }
  ~SignalScope() {
    g_source = nullptr;
    sigaction(SIGTERM, &old_term_, nullptr);
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGHUP, &old_hup_, nullptr);
  }
  SignalScope(const SignalScope&) = delete;
  SignalScope& operator=(const SignalScope&) = delete;

 private:
  struct sigaction old_term_ {};
  struct sigaction old_int_ {};
  struct sigaction old_hup_ {};
};

Timestamp wall_now() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return Timestamp::from_sec_nsec(ts.tv_sec, ts.tv_nsec);
}

int64_t monotonic_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

// SIGHUP: reread the file; apply what can change while capturing, name what
// needs a restart. A file that no longer loads changes nothing.
template <typename Source>
void reload(const CaptureOptions& options, Config& running, Pipeline& pipeline, Source& source) {
  if (options.config_path.empty()) {
    spdlog::info("SIGHUP: no configuration file (--config) to reload; nothing changed");
    return;
  }
  std::string error;
  auto fresh = load_config(options.config_path, error);
  if (!fresh) {
    spdlog::error("SIGHUP: configuration not reloaded, the running one stays in force: {}", error);
    return;
  }
  int applied = 0;
  if (options.log_level_from_cli) {
    if (fresh->log_level != running.log_level)
      spdlog::info("SIGHUP: log level stays {} (set on the command line)", running.log_level);
  } else if (fresh->log_level != running.log_level) {
    spdlog::set_level(spdlog::level::from_str(fresh->log_level));
    spdlog::info("SIGHUP: log level {} -> {}", running.log_level, fresh->log_level);
    running.log_level = fresh->log_level;
    ++applied;
  }
  if (fresh->office_numbers != running.office_numbers) {
    if (options.office_numbers_from_cli) {
      spdlog::info("SIGHUP: office numbers stay as given by --office-numbers");
    } else {
      pipeline.set_office_numbers(fresh->office_numbers);
      spdlog::info("SIGHUP: office numbers now [{}] (calls ending from now on are classified with them)",
                   join(fresh->office_numbers, ", "));
      running.office_numbers = fresh->office_numbers;
      ++applied;
    }
  }
  if (fresh->capture.filter != running.capture.filter) {
    if (options.filter_from_cli) {
      spdlog::info("SIGHUP: capture filter stays \"{}\" (set by --filter)", running.capture.filter);
    } else if (!source.set_filter(fresh->capture.filter, error)) {
      spdlog::error("SIGHUP: {}; the filter \"{}\" stays in force", error, running.capture.filter);
    } else {
      spdlog::info("SIGHUP: capture filter \"{}\" -> \"{}\"", running.capture.filter, fresh->capture.filter);
      running.capture.filter = fresh->capture.filter;
      ++applied;
    }
  }
  // Everything else shapes state that lives as long as the capture.
  std::vector<std::string> restart;
  const auto& a = running;
  const auto& b = *fresh;
  if (b.capture.interface != a.capture.interface && !b.capture.interface.empty())
    restart.emplace_back("capture.interface");
  if (b.capture.snaplen != a.capture.snaplen) restart.emplace_back("capture.snaplen");
  if (b.capture.buffer_mb != a.capture.buffer_mb) restart.emplace_back("capture.buffer_mb");
  if (b.capture.timeout_ms != a.capture.timeout_ms) restart.emplace_back("capture.timeout_ms");
  if (b.capture_backend != a.capture_backend) restart.emplace_back("capture.backend");
  if (b.dpdk_eal != a.dpdk_eal) restart.emplace_back("capture.dpdk_eal");
  if (b.dpdk_queues != a.dpdk_queues) restart.emplace_back("capture.dpdk_queues");
  if (b.sensor != a.sensor) restart.emplace_back("recorder.sensor");
  if (b.tracker.sip_ports != a.tracker.sip_ports || b.tracker.sip_on_any_port != a.tracker.sip_on_any_port ||
      b.tracker.dialog_timeout_ns != a.tracker.dialog_timeout_ns ||
      b.tracker.linger_ns != a.tracker.linger_ns || b.tracker.max_calls != a.tracker.max_calls ||
      b.tracker.max_media_addresses != a.tracker.max_media_addresses)
    restart.emplace_back("[sip]");
  if (b.recorder.mix_window_ms != a.recorder.mix_window_ms ||
      b.recorder.max_streams_per_call != a.recorder.max_streams_per_call)
    restart.emplace_back("[audio]");
  if (b.database.data_dir != a.database.data_dir || b.key_dir != a.key_dir) restart.emplace_back("[storage]");
  if (b.database.url != a.database.url) restart.emplace_back("[database]");
  if (b.status.enabled != a.status.enabled || b.status.listen != a.status.listen ||
      b.status.min_free_mb != a.status.min_free_mb)
    restart.emplace_back("[status]");
  if (!restart.empty())
    spdlog::warn("SIGHUP: changed but in force only after a restart: {}", join(restart, ", "));
  if (applied == 0 && restart.empty()) spdlog::info("SIGHUP: configuration reread, nothing changed");
}

// What the shared loop needs to know of a backend besides dispatch(),
// stats() and set_filter().
struct LoopSettings {
  std::string where;  // the source in logs: an interface or a DPDK port
  // After a stop signal, frames already buffered are read for at most this
  // long; with empty_means_drained a dispatch that returns nothing ends it
  // sooner (DPDK: empty rings; libpcap's 0 means only that the timeout passed).
  int64_t drain_ms = 0;
  bool empty_means_drained = false;
  const char* capture_drops = "";  // "the kernel dropped", "the DPDK port missed"
  const char* capture_hint = "";
  // Frames received and handed on, logged at debug level when they change
  // (a test driving a virtual device watches for its last frame).
  bool log_progress = false;
};

struct LoopResult {
  int rc = 0;
  std::string stop_reason = "signal";
  LiveCaptureStats stats;
};

// The capture loop of every backend: dispatch, let time pass while idle,
// read the drop counters every few seconds, SIGHUP reloads, SIGTERM/SIGINT
// drain and stop (a second signal stops at once). `idle_now` returns the
// time the pipeline may move to while no frames arrive, or nothing when time
// moves only with the frames.
template <typename Source, typename IdleNow>
LoopResult capture_loop(Source& source, Pipeline& pipeline, const LoopSettings& ls, IdleNow&& idle_now,
                        Config& running, const CaptureOptions& options) {
  const LinkType link = source.link_type();
  const std::string& where = ls.where;
  auto on_frame = [&](const CapturedFrame& frame) { pipeline.process(link, frame, where); };
  LoopResult result;
  LiveCaptureStats& stats = result.stats;
  uint64_t kernel_logged = 0, interface_logged = 0, progress_logged = 0;
  auto read_stats = [&] {
    std::string e;
    if (!source.stats(stats, e)) {
      spdlog::warn("{}", e);
      return;
    }
    if (stats.kernel_drops > kernel_logged) {
      spdlog::warn(
          "{}: {} {} packets ({} since capture started): callvault did not read them in time; calls "
          "of this period may have gaps ({})",
          where, ls.capture_drops, stats.kernel_drops - kernel_logged, stats.kernel_drops, ls.capture_hint);
      kernel_logged = stats.kernel_drops;
    }
    if (stats.interface_drops > interface_logged) {
      spdlog::warn("{}: the interface dropped {} packets ({} since capture started) before capture saw them",
                   where, stats.interface_drops - interface_logged, stats.interface_drops);
      interface_logged = stats.interface_drops;
    }
    if (ls.log_progress && stats.received != progress_logged) {
      spdlog::debug("{}: {} frames received, {} handed to the pipeline", where, stats.received,
                    pipeline.frames());
      progress_logged = stats.received;
    }
    pipeline.set_drops(stats.kernel_drops, stats.interface_drops);
  };

  const int64_t stats_every_ms = static_cast<int64_t>(options.stats_interval_s) * 1000;
  int64_t next_stats_ms = monotonic_ms() + stats_every_ms;
  int64_t drain_until_ms = -1;  // after a stop signal: read what is already buffered
  for (;;) {
    const int n = source.dispatch(on_frame);
    if (n < 0) {
      spdlog::error("{}", source.error());
      result.stop_reason = "error: " + source.error();
      result.rc = 1;
      break;
    }
    const int64_t now_ms = monotonic_ms();
    if (const std::optional<Timestamp> now = idle_now()) pipeline.idle(*now);
    if (now_ms >= next_stats_ms) {
      read_stats();
      next_stats_ms = now_ms + stats_every_ms;
    }
    pipeline.publish();  // once per batch or timeout: the status endpoint's view
    if (g_reload.exchange(false)) reload(options, running, pipeline, source);
    if (const int sig = g_stop_signal.load()) {
      if (drain_until_ms < 0) {
        spdlog::info("{} received: stopping capture on {}, finishing open calls", strsignal(sig), where);
        drain_until_ms = now_ms + ls.drain_ms;
      }
      // A second signal stops at once; otherwise frames already buffered are read.
      if (g_stop_count.load() > 1 || now_ms >= drain_until_ms || (ls.empty_means_drained && n == 0)) break;
    }
  }
  read_stats();
  return result;
}

PipelineOptions pipeline_options(const CaptureOptions& options, const std::string& source) {
  PipelineOptions po;
  po.out_dir = options.out_dir;
  po.json = options.json;
  po.no_db = options.no_db;
  po.encrypt = options.encrypt;
  po.kind = "live";
  po.source = source;
  return po;
}

int finish(Pipeline& pipeline, const LoopResult& r, const std::string& head) {
  const bool index_complete = pipeline.finish(r.stop_reason);
  std::fputs(pipeline.report(head).c_str(), stderr);
  if (r.rc != 0) return r.rc;
  return index_complete ? 0 : 3;
}

int run_pcap_capture(const Config& config, const CaptureOptions& options) {
  Config running = config;
  const LiveCaptureOptions& live = running.capture;
  std::string error;
  auto source = PcapLiveSource::open(live, error);
  if (!source) {
    spdlog::error("{}", error);
    return 2;
  }
  Pipeline pipeline(config, pipeline_options(options, live.interface));
  if (int rc = pipeline.start(); rc != 0) return rc;
  // Declared after the pipeline, so destroyed (stopped) before it: it reads
  // the pipeline's metrics, and serves through finish() (the journal draining).
  std::unique_ptr<StatusServer> status;
  if (!options.status_listen.empty()) {
    status = serve_status(options.status_listen, options.status_min_free_mb, pipeline.metrics());
    if (!status) return 2;
  }

  SignalScope signals;
  g_source = source.get();
  pipeline.open_session(wall_now());
  spdlog::info(
      "capturing on {} (snaplen {}, buffer {} MiB, timeout {} ms{}); SIGTERM or SIGINT stops, SIGHUP reloads",
      live.interface, live.snaplen, live.buffer_mb, live.timeout_ms,
      live.filter.empty() ? "" : ", filter \"" + live.filter + "\"");
  LoopSettings ls;
  ls.where = live.interface;
  ls.drain_ms = live.timeout_ms + 200;
  ls.capture_drops = "the kernel dropped";
  ls.capture_hint = "a larger [capture] buffer_mb helps with bursts";
  // Packets reach us up to one timeout after the kernel stamped them: time
  // without packets is believed only that far behind the wall clock, so an
  // idle tick never ends a call before its last packets were read.
  const int64_t lag_ns = (static_cast<int64_t>(live.timeout_ms) + 500) * kNsPerMs;
  auto idle_now = [&]() -> std::optional<Timestamp> { return Timestamp{wall_now().ns - lag_ns}; };
  const LoopResult r = capture_loop(*source, pipeline, ls, idle_now, running, options);
  g_source = nullptr;
  const std::string head = fmt::format(
      "callvault capture statistics\n"
      "  interface:             {}{}\n"
      "  received by kernel:    {}\n"
      "  kernel drops:          {}\n"
      "  interface drops:       {}\n",
      live.interface, live.filter.empty() ? "" : " (filter \"" + live.filter + "\")", r.stats.received,
      r.stats.kernel_drops, r.stats.interface_drops);
  return finish(pipeline, r, head);
}

int run_dpdk_capture(const Config& config, const CaptureOptions& options) {
  Config running = config;
  DpdkCaptureOptions dopt;
  dopt.eal_args = running.dpdk_eal;
  dopt.port = running.capture.interface;
  dopt.queues = running.dpdk_queues;
  dopt.snaplen = running.capture.snaplen;
  dopt.filter = running.capture.filter;
  if (!dpdk_available()) {
    std::string error;
    DpdkSource::open(dopt, error);
    spdlog::error("capture --backend dpdk: {}", error);
    return 2;
  }
  // The pipeline starts first: the EAL pins the calling thread to its main
  // lcore (-l/--lcores), and threads started after it (the index writer, the
  // embedded database) would inherit that pinning.
  Pipeline pipeline(config, pipeline_options(options, "dpdk:" + (dopt.port.empty() ? "?" : dopt.port)));
  if (int rc = pipeline.start(); rc != 0) return rc;
  // Before the EAL too (its thread must not inherit the pinning); declared
  // after the pipeline, so stopped before it.
  std::unique_ptr<StatusServer> status;
  if (!options.status_listen.empty()) {
    status = serve_status(options.status_listen, options.status_min_free_mb, pipeline.metrics());
    if (!status) return 2;
  }
  std::string error;
  auto source = DpdkSource::open(dopt, error);
  if (!source) {
    spdlog::error("{}", error);
    return 2;
  }
  SignalScope signals;
  const std::string where = "DPDK port " + source->port_name();
  const bool device_clock = source->clock() == DpdkClock::kDevice;
  // Wall-clock stamps: the session starts now, as with libpcap. Device
  // stamps: at the first frame, whose time tells which timeline this is.
  if (!device_clock) pipeline.open_session(wall_now());
  spdlog::info(
      "capturing on {} (port {}, driver {}, {} rx queue{}{}, timestamps from {}{}); SIGTERM or SIGINT stops, "
      "SIGHUP reloads",
      where, source->port_id(), source->driver(), source->queues(), source->queues() == 1 ? "" : "s",
      source->queues() > 1 ? " with RSS" : "", device_clock ? "the device" : "the wall clock per burst",
      running.capture.filter.empty() ? "" : ", filter \"" + running.capture.filter + "\"");
  LoopSettings ls;
  ls.where = where;
  ls.drain_ms = 500;
  ls.empty_means_drained = true;
  ls.capture_drops = "the DPDK port missed";
  ls.capture_hint = "rx rings full or no free mbufs; more [capture] dpdk_queues or a dedicated lcore help";
  ls.log_progress = true;
  // Frames are stamped when read (wall clock) or by the device. Time while
  // idle: the wall clock, a little behind so that no later frame is older.
  // Device stamps far from the wall clock (net_pcap replaying a capture
  // file) are a recording's own timeline: there time moves only with the
  // frames, exactly as in `callvault replay`, so the same file gives the
  // same recordings through both.
  enum class Timeline {
    kUnknown,
    kWall,
    kRecording
  } timeline = device_clock ? Timeline::kUnknown : Timeline::kWall;
  constexpr int64_t kWallLagNs = 500 * kNsPerMs;
  constexpr int64_t kSameClockNs = 3600 * kNsPerSec;  // PacketClock's largest believed step
  auto idle_now = [&]() -> std::optional<Timestamp> {
    if (timeline == Timeline::kUnknown) {
      if (source->frames() == 0) return std::nullopt;
      const int64_t skew = source->last_frame_time().ns - wall_now().ns;
      if (skew > -kSameClockNs && skew < kSameClockNs) {
        timeline = Timeline::kWall;
      } else {
        timeline = Timeline::kRecording;
        spdlog::info(
            "{}: the device's timestamps are {:.0f} s from the wall clock: a recording's own timeline; time "
            "moves only with its frames (as in replay)",
            where, static_cast<double>(skew) / kNsPerSec);
      }
    }
    if (timeline != Timeline::kWall) return std::nullopt;
    return Timestamp{wall_now().ns - kWallLagNs};
  };
  const LoopResult r = capture_loop(*source, pipeline, ls, idle_now, running, options);
  const std::string head = fmt::format(
      "callvault capture statistics\n"
      "  dpdk port:             {} (port {}, driver {}, {} rx queue{}){}\n"
      "  received by port:      {}\n"
      "  capture drops:         {}\n"
      "  interface drops:       {}\n"
      "  mbuf chains copied:    {}\n",
      source->port_name(), source->port_id(), source->driver(), source->queues(),
      source->queues() == 1 ? "" : "s",
      running.capture.filter.empty() ? "" : " (filter \"" + running.capture.filter + "\")", r.stats.received,
      r.stats.kernel_drops, r.stats.interface_drops, source->chained_frames());
  return finish(pipeline, r, head);
}

}  // namespace

int run_capture(const Config& config, const CaptureOptions& options) {
  if (config.capture_backend == "dpdk") return run_dpdk_capture(config, options);
  return run_pcap_capture(config, options);
}

}  // namespace cv
