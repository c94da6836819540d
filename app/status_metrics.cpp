#include "app/status_metrics.h"

#include <fmt/format.h>
#include <sys/statvfs.h>

#include <ctime>
#include <filesystem>

#include "common/time.h"
#include "storage/db/index_writer.h"

#ifndef CALLVAULT_VERSION
#define CALLVAULT_VERSION "unknown"
#endif

namespace cv {
int64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

namespace {

// The audio directory may not exist before the first recording: what will
// hold it is the nearest existing parent.
StatusSnapshot::Disk disk_of(const std::string& path) {
  StatusSnapshot::Disk d;
  d.path = path;
  std::filesystem::path p = path.empty() ? std::filesystem::path(".") : std::filesystem::path(path);
  for (int depth = 0; depth < 64; ++depth) {
    struct statvfs st {};
    if (::statvfs(p.c_str(), &st) == 0) {
      d.ok = true;
      // f_bavail: what an unprivileged writer (the service user) may still use.
      d.free_bytes = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
      d.size_bytes = static_cast<uint64_t>(st.f_blocks) * st.f_frsize;
      return d;
    }
    if (!p.has_parent_path() || p.parent_path() == p) break;
    p = p.parent_path();
  }
  return d;
}

void line(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

template <typename T>
void value(std::string& out, std::string_view name, T v, std::string_view labels = {}) {
  if (labels.empty())
    fmt::format_to(std::back_inserter(out), "{} {}\n", name, v);
  else
    fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", name, labels, v);
}

// One series metric: HELP, TYPE and its sample.
template <typename T>
void metric(std::string& out, std::string_view name, std::string_view type, std::string_view help, T v) {
  line(out, name, type, help);
  value(out, name, v);
}

std::string label(std::string_view key, std::string_view v) {
  return fmt::format("{}=\"{}\"", key, prometheus_label_value(v));
}

}  // namespace

std::string prometheus_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

StatusSnapshot take_snapshot(const RecorderMetrics& m) {
  constexpr auto r = std::memory_order_relaxed;
  StatusSnapshot s;
  s.version = CALLVAULT_VERSION;
  s.mode = m.mode;
  s.source = m.source;
  s.sensor = m.sensor;
  s.start_time_ns = m.start_time_ns;
  s.now_ns = clock_ns(CLOCK_REALTIME);
  const int64_t steady = clock_ns(CLOCK_MONOTONIC);
  s.uptime_s = static_cast<double>(steady - m.start_steady_ns) / kNsPerSec;
  const int64_t published = m.last_publish_steady_ns.load(r);
  s.publish_age_s = static_cast<double>(steady - (published ? published : m.start_steady_ns)) / kNsPerSec;
  s.packets = m.packets.load(r);
  s.bytes = m.bytes.load(r);
  s.sip_messages = m.sip_messages.load(r);
  s.rtp_packets = m.rtp_packets.load(r);
  s.rtp_unmatched = m.rtp_unmatched.load(r);
  s.active_calls = m.active_calls.load(r);
  s.calls_started = m.calls_started.load(r);
  s.calls_finished = m.calls_finished.load(r);
  s.kernel_drops = m.kernel_drops.load(r);
  s.interface_drops = m.interface_drops.load(r);
  for (size_t i = 0; i < kAnomalyCount; ++i) s.anomalies[i] = m.anomalies[i].load(r);
  if (m.index) {
    const IndexWriterStats& is = *m.index;
    s.index_enabled = true;
    s.database_connected = is.connected.load(r);
    s.index_queue_depth = is.queue_depth.load(r);
    s.index_records_lost = is.records_lost.load(r);
    s.journal_segments = is.journal_segments.load(r);
    s.journal_records = is.journal_records.load(r);
    s.journal_bytes = is.journal_bytes.load(r);
  }
  for (const auto& p : m.disk_paths) s.disks.push_back(disk_of(p));
  return s;
}

void evaluate_health(StatusSnapshot& s) {
  s.problems.clear();
  if (s.drops_in_window > 0)
    s.problems.push_back(
        fmt::format("{} packets dropped in the last {} minutes ({} kernel, {} interface since start): calls "
                    "may have gaps",
                    s.drops_in_window, kDropWindowSec / 60, s.kernel_drops, s.interface_drops));
  if (s.index_enabled && !s.database_connected && (s.journal_records > 0 || s.journal_segments > 0))
    s.problems.push_back(fmt::format("index database unreachable: {} records ({} bytes) wait in the journal",
                                     s.journal_records, s.journal_bytes));
  if (s.index_records_lost > 0)
    s.problems.push_back(
        fmt::format("{} index records were lost (neither journaled nor inserted)", s.index_records_lost));
  for (const auto& d : s.disks) {
    if (!d.ok)
      s.problems.push_back(fmt::format("cannot read the free space of {}", d.path));
    else if (d.free_bytes < s.min_free_bytes)
      s.problems.push_back(fmt::format("{}: only {} MiB free (less than [status] min_free_mb = {})", d.path,
                                       d.free_bytes >> 20, s.min_free_bytes >> 20));
  }
  if (s.mode == "live" && s.publish_age_s > kStallSec)
    s.problems.push_back(
        fmt::format("the capture loop has not reported for {:.0f} s: it is stuck", s.publish_age_s));
}

std::string format_prometheus(const StatusSnapshot& s) {
  std::string out;
  out.reserve(8192);
  metric(out, "callvault_up", "gauge", "1 while the recorder runs (the endpoint answers only then).", 1);
  line(out, "callvault_info", "gauge", "The recorder's version, mode (live or replay), source and sensor.");
  value(out, "callvault_info", 1,
        fmt::format("{},{},{},{}", label("version", s.version), label("mode", s.mode),
                    label("source", s.source), label("sensor", s.sensor)));
  metric(out, "callvault_start_time_seconds", "gauge", "When the recorder started, seconds since the epoch.",
         fmt::format("{:.3f}", static_cast<double>(s.start_time_ns) / kNsPerSec));
  metric(out, "callvault_uptime_seconds", "gauge", "Seconds since the recorder started.",
         fmt::format("{:.3f}", s.uptime_s));
  metric(out, "callvault_healthy", "gauge",
         "1 when no health rule is broken (see GET /status 'problems' and the README).",
         s.problems.empty() ? 1 : 0);
  metric(out, "callvault_last_update_age_seconds", "gauge",
         "Seconds since the packet thread last published these counters.",
         fmt::format("{:.3f}", s.publish_age_s));
  metric(out, "callvault_packets_total", "counter", "Frames read from the capture.", s.packets);
  metric(out, "callvault_bytes_total", "counter", "Bytes of the frames read (as captured).", s.bytes);
  metric(out, "callvault_sip_messages_total", "counter", "SIP messages parsed (UDP and TCP).",
         s.sip_messages);
  metric(out, "callvault_rtp_packets_total", "counter", "Valid RTP packets, matched to a call or not.",
         s.rtp_packets);
  metric(out, "callvault_unmatched_rtp_packets_total", "counter",
         "Valid RTP packets that no call's SDP named (not recorded).", s.rtp_unmatched);
  metric(out, "callvault_active_calls", "gauge", "Calls being tracked now (including lingering ones).",
         s.active_calls);
  metric(out, "callvault_calls_started_total", "counter", "Calls seen starting.", s.calls_started);
  metric(out, "callvault_calls_finished_total", "counter", "Calls finished and handed to the index.",
         s.calls_finished);
  line(out, "callvault_drops_total", "counter",
       "Packets lost before callvault read them: kernel (ring full) or interface (NIC).");
  value(out, "callvault_drops_total", s.kernel_drops, "source=\"kernel\"");
  value(out, "callvault_drops_total", s.interface_drops, "source=\"interface\"");
  metric(out, "callvault_drops_recent", "gauge",
         fmt::format("Kernel and interface drops over the last {} seconds.", kDropWindowSec),
         s.drops_in_window);
  line(out, "callvault_anomalies_total", "counter", "Malformed or unexpected input, by kind.");
  for (size_t i = 1; i < kAnomalyCount; ++i)
    value(out, "callvault_anomalies_total", s.anomalies[i],
          label("kind", anomaly_name(static_cast<Anomaly>(i))));
  metric(out, "callvault_index_enabled", "gauge", "1 when finished calls are indexed in the database.",
         s.index_enabled ? 1 : 0);
  metric(out, "callvault_index_database_up", "gauge", "1 while the index writer is connected.",
         s.database_connected ? 1 : 0);
  metric(out, "callvault_index_queue_depth", "gauge", "Index records queued in memory for the index writer.",
         s.index_queue_depth);
  metric(out, "callvault_index_records_lost_total", "counter",
         "Index records neither journaled nor inserted.", s.index_records_lost);
  metric(out, "callvault_journal_segments", "gauge", "Journal segments waiting to be inserted.",
         s.journal_segments);
  metric(out, "callvault_journal_records", "gauge", "Index records waiting in the journal.",
         s.journal_records);
  metric(out, "callvault_journal_bytes", "gauge", "Size of the journal segments waiting.", s.journal_bytes);
  line(out, "callvault_disk_free_bytes", "gauge",
       "Free bytes (for the service user) of the file system holding each data directory.");
  for (const auto& d : s.disks)
    if (d.ok) value(out, "callvault_disk_free_bytes", d.free_bytes, label("path", d.path));
  line(out, "callvault_disk_size_bytes", "gauge", "Size of the file system holding each data directory.");
  for (const auto& d : s.disks)
    if (d.ok) value(out, "callvault_disk_size_bytes", d.size_bytes, label("path", d.path));
  metric(out, "callvault_disk_min_free_bytes", "gauge", "Below this free space the recorder is unhealthy.",
         s.min_free_bytes);
  return out;
}

nlohmann::json status_json(const StatusSnapshot& s) {
  nlohmann::json anomalies = nlohmann::json::object();
  for (size_t i = 1; i < kAnomalyCount; ++i)
    if (s.anomalies[i]) anomalies[std::string(anomaly_name(static_cast<Anomaly>(i)))] = s.anomalies[i];
  nlohmann::json disks = nlohmann::json::array();
  for (const auto& d : s.disks) {
    nlohmann::json j = {{"path", d.path}, {"ok", d.ok}};
    if (d.ok) {
      j["free_bytes"] = d.free_bytes;
      j["size_bytes"] = d.size_bytes;
    }
    disks.push_back(std::move(j));
  }
  return {
      {"up", true},
      {"healthy", s.problems.empty()},
      {"problems", s.problems},
      {"version", s.version},
      {"mode", s.mode},
      {"source", s.source},
      {"sensor", s.sensor},
      {"started", to_iso8601(Timestamp{s.start_time_ns})},
      {"start_time_seconds", static_cast<double>(s.start_time_ns) / kNsPerSec},
      {"uptime_seconds", s.uptime_s},
      {"last_update_age_seconds", s.publish_age_s},
      {"packets", s.packets},
      {"bytes", s.bytes},
      {"sip_messages", s.sip_messages},
      {"rtp_packets", s.rtp_packets},
      {"unmatched_rtp_packets", s.rtp_unmatched},
      {"active_calls", s.active_calls},
      {"calls_started", s.calls_started},
      {"calls_finished", s.calls_finished},
      {"drops",
       {{"kernel", s.kernel_drops},
        {"interface", s.interface_drops},
        {"recent", s.drops_in_window},
        {"window_seconds", kDropWindowSec}}},
      {"anomalies", anomalies},
      {"index",
       {{"enabled", s.index_enabled},
        {"database_connected", s.database_connected},
        {"queue_depth", s.index_queue_depth},
        {"records_lost", s.index_records_lost},
        {"journal_segments", s.journal_segments},
        {"journal_records", s.journal_records},
        {"journal_bytes", s.journal_bytes}}},
      {"disks", disks},
      {"min_free_bytes", s.min_free_bytes},
  };
}

}  // namespace cv
