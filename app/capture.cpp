#include "app/capture.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <ctime>

#include "app/pipeline.h"
#include "app/status_server.h"
#include "capture/call/direction.h"
#include "capture/source/pcap_live_source.h"

namespace cv {
namespace {

// Set by the signal handlers, read between pcap_dispatch batches.
std::atomic<int> g_stop_signal{0};
std::atomic<int> g_stop_count{0};
std::atomic<bool> g_reload{false};
std::atomic<PcapLiveSource*> g_source{nullptr};
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<PcapLiveSource*>::is_always_lock_free,
              "signal handlers need lock-free atomics");

extern "C" void on_stop_signal(int sig) {
  g_stop_signal.store(sig);
  g_stop_count.fetch_add(1);
  // The signal interrupts the source's poll; pcap_breakloop also ends a
  // dispatch in progress at the next frame.
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
void reload(const CaptureOptions& options, Config& running, Pipeline& pipeline, PcapLiveSource& source) {
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

}  // namespace

int run_capture(const Config& config, const CaptureOptions& options) {
  Config running = config;
  const LiveCaptureOptions& live = running.capture;
  std::string error;
  auto source = PcapLiveSource::open(live, error);
  if (!source) {
    spdlog::error("{}", error);
    return 2;
  }
  PipelineOptions po;
  po.out_dir = options.out_dir;
  po.json = options.json;
  po.no_db = options.no_db;
  po.encrypt = options.encrypt;
  po.kind = "live";
  po.source = live.interface;
  Pipeline pipeline(config, po);
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

  const LinkType link = source->link_type();
  const std::string& where = live.interface;
  auto on_frame = [&](const CapturedFrame& frame) { pipeline.process(link, frame, where); };
  LiveCaptureStats stats;
  uint64_t kernel_logged = 0, interface_logged = 0;
  auto read_stats = [&] {
    std::string e;
    if (!source->stats(stats, e)) {
      spdlog::warn("{}", e);
      return;
    }
    if (stats.kernel_drops > kernel_logged) {
      spdlog::warn(
          "{}: the kernel dropped {} packets ({} since capture started): callvault did not read them in "
          "time; calls of this period may have gaps (a larger [capture] buffer_mb helps with bursts)",
          where, stats.kernel_drops - kernel_logged, stats.kernel_drops);
      kernel_logged = stats.kernel_drops;
    }
    if (stats.interface_drops > interface_logged) {
      spdlog::warn("{}: the interface dropped {} packets ({} since capture started) before capture saw them",
                   where, stats.interface_drops - interface_logged, stats.interface_drops);
      interface_logged = stats.interface_drops;
    }
    pipeline.set_drops(stats.kernel_drops, stats.interface_drops);
  };

  // Packets reach us up to one timeout after the kernel stamped them: time
  // without packets is believed only that far behind the wall clock, so an
  // idle tick never ends a call before its last packets were read.
  const int64_t lag_ns = (static_cast<int64_t>(live.timeout_ms) + 500) * kNsPerMs;
  const int64_t stats_every_ms = static_cast<int64_t>(options.stats_interval_s) * 1000;
  int64_t next_stats_ms = monotonic_ms() + stats_every_ms;
  int64_t drain_until_ms = -1;  // after a stop signal: read what the kernel already holds
  int rc = 0;
  std::string stop_reason = "signal";
  for (;;) {
    const int n = source->dispatch(on_frame);
    if (n < 0) {
      spdlog::error("{}", source->error());
      stop_reason = "error: " + source->error();
      rc = 1;
      break;
    }
    const int64_t now_ms = monotonic_ms();
    pipeline.idle(Timestamp{wall_now().ns - lag_ns});
    if (now_ms >= next_stats_ms) {
      read_stats();
      next_stats_ms = now_ms + stats_every_ms;
    }
    pipeline.publish();  // once per batch or timeout: the status endpoint's view
    if (g_reload.exchange(false)) reload(options, running, pipeline, *source);
    if (const int sig = g_stop_signal.load()) {
      if (drain_until_ms < 0) {
        spdlog::info("{} received: stopping capture on {}, finishing open calls", strsignal(sig), where);
        drain_until_ms = now_ms + live.timeout_ms + 200;
      }
      // A second signal stops at once; otherwise frames already in the ring are read.
      if (g_stop_count.load() > 1 || now_ms >= drain_until_ms) break;
    }
  }
  g_source = nullptr;
  read_stats();
  const bool index_complete = pipeline.finish(stop_reason);
  std::string head = fmt::format(
      "callvault capture statistics\n"
      "  interface:             {}{}\n"
      "  received by kernel:    {}\n"
      "  kernel drops:          {}\n"
      "  interface drops:       {}\n",
      live.interface, live.filter.empty() ? "" : " (filter \"" + live.filter + "\")", stats.received,
      stats.kernel_drops, stats.interface_drops);
  std::fputs(pipeline.report(head).c_str(), stderr);
  if (rc != 0) return rc;
  return index_complete ? 0 : 3;
}

}  // namespace cv
