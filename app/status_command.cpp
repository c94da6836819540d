#include "app/status_command.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "app/status_server.h"

namespace cv {
namespace {

std::string bytes_text(uint64_t b) {
  const double v = static_cast<double>(b);
  if (b >= (1ull << 30)) return fmt::format("{:.1f} GiB", v / (1ull << 30));
  if (b >= (1ull << 20)) return fmt::format("{:.1f} MiB", v / (1ull << 20));
  if (b >= (1ull << 10)) return fmt::format("{:.1f} KiB", v / (1ull << 10));
  return fmt::format("{} bytes", b);
}

std::string duration_text(double seconds) {
  auto s = static_cast<uint64_t>(seconds < 0 ? 0 : seconds);
  const uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;
  s %= 60;
  if (d) return fmt::format("{}d {}h {}m", d, h, m);
  if (h) return fmt::format("{}h {}m {}s", h, m, s);
  if (m) return fmt::format("{}m {}s", m, s);
  return fmt::format("{}s", s);
}

template <typename T>
T get(const nlohmann::json& j, const char* key, T fallback) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    return fallback;
  }
}

}  // namespace

CLI::App* add_status_command(CLI::App& app, StatusCommandOptions& options) {
  auto* cmd = app.add_subcommand(
      "status",
      "Ask the running recorder how it is doing (its [status] endpoint): packets, drops, calls, index "
      "journal, free disk (exit 0 healthy, 1 unhealthy, 3 not reachable)");
  cmd->add_flag("--json", options.json, "Print the endpoint's JSON document instead of the summary");
  cmd->add_option("--listen", options.listen,
                  "The endpoint's address (default: [status] listen, 127.0.0.1:9477)");
  cmd->add_option("--timeout", options.timeout_s, "Seconds to wait for the answer (default 3)")
      ->check(CLI::Range(0.1, 600.0));
  return cmd;
}

std::string format_status_summary(const std::string& address, const nlohmann::json& j) {
  const bool healthy = get(j, "healthy", false);
  std::string out = fmt::format("callvault {} at {}: {}\n", get<std::string>(j, "version", "?"), address,
                                healthy ? "healthy" : "UNHEALTHY");
  const std::string mode = get<std::string>(j, "mode", "");
  out +=
      fmt::format("  recording:        {} {} (sensor {})\n", mode == "live" ? "live capture on" : "replay of",
                  get<std::string>(j, "source", "?"), get<std::string>(j, "sensor", "?"));
  out += fmt::format("  started:          {} (up {})\n", get<std::string>(j, "started", "?"),
                     duration_text(get(j, "uptime_seconds", 0.0)));
  out += fmt::format("  packets:          {} ({})\n", get<uint64_t>(j, "packets", 0),
                     bytes_text(get<uint64_t>(j, "bytes", 0)));
  out += fmt::format("  sip messages:     {}\n", get<uint64_t>(j, "sip_messages", 0));
  out += fmt::format("  rtp packets:      {} ({} matched no call)\n", get<uint64_t>(j, "rtp_packets", 0),
                     get<uint64_t>(j, "unmatched_rtp_packets", 0));
  out += fmt::format("  calls:            {} active, {} started, {} finished\n",
                     get<uint64_t>(j, "active_calls", 0), get<uint64_t>(j, "calls_started", 0),
                     get<uint64_t>(j, "calls_finished", 0));
  const nlohmann::json drops = j.value("drops", nlohmann::json::object());
  out += fmt::format("  drops:            {} kernel, {} interface ({} in the last {} minutes)\n",
                     get<uint64_t>(drops, "kernel", 0), get<uint64_t>(drops, "interface", 0),
                     get<uint64_t>(drops, "recent", 0), get<int>(drops, "window_seconds", 0) / 60);
  const nlohmann::json index = j.value("index", nlohmann::json::object());
  if (get(index, "enabled", false)) {
    out += fmt::format(
        "  index:            database {}, {} queued, {} records in {} journal segments ({}), {} lost\n",
        get(index, "database_connected", false) ? "connected" : "UNREACHABLE",
        get<uint64_t>(index, "queue_depth", 0), get<uint64_t>(index, "journal_records", 0),
        get<uint64_t>(index, "journal_segments", 0), bytes_text(get<uint64_t>(index, "journal_bytes", 0)),
        get<uint64_t>(index, "records_lost", 0));
  } else {
    out += "  index:            none (--no-db)\n";
  }
  for (const auto& d : j.value("disks", nlohmann::json::array())) {
    if (get(d, "ok", false))
      out += fmt::format("  disk:             {} free of {} ({})\n",
                         bytes_text(get<uint64_t>(d, "free_bytes", 0)),
                         bytes_text(get<uint64_t>(d, "size_bytes", 0)), get<std::string>(d, "path", "?"));
    else
      out += fmt::format("  disk:             unknown ({})\n", get<std::string>(d, "path", "?"));
  }
  const nlohmann::json anomalies = j.value("anomalies", nlohmann::json::object());
  if (!anomalies.empty()) {
    std::vector<std::string> kinds;
    for (const auto& [k, v] : anomalies.items()) kinds.push_back(fmt::format("{} {}", k, v.dump()));
    out += fmt::format("  anomalies:        {}\n", fmt::join(kinds, ", "));
  }
  for (const auto& p : j.value("problems", nlohmann::json::array()))
    out += fmt::format("  PROBLEM:          {}\n", p.is_string() ? p.get<std::string>() : p.dump());
  return out;
}

int run_status(const Config& config, const StatusCommandOptions& options) {
  const std::string listen = options.listen.empty() ? config.status.listen : options.listen;
  ListenAddress where;
  std::string error;
  if (!parse_listen_address(listen, where, error)) {
    spdlog::error("status: {} {}", options.listen.empty() ? "[status] listen" : "--listen", error);
    return 2;
  }
  int http_status = 0;
  std::string body;
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(options.timeout_s * 1000));
  if (!http_get(listen, "/status", timeout, http_status, body, error)) {
    spdlog::error(
        "no callvault status endpoint answers at {}: the recorder is not running, or its status endpoint is "
        "disabled ([status] enabled) or elsewhere ([status] listen, --listen) ({})",
        where.to_string(), error);
    return kStatusUnreachable;
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception&) {
    j = nullptr;
  }
  if (http_status != 200 || !j.is_object() || !j.contains("healthy")) {
    spdlog::error(
        "{} answered HTTP {} without a callvault status document: is something else listening there?",
        where.to_string(), http_status);
    return kStatusUnreachable;
  }
  if (options.json) {
    std::fputs((j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n").c_str(), stdout);
  } else {
    std::fputs(format_status_summary(where.to_string(), j).c_str(), stdout);
  }
  return j.value("healthy", false) ? kStatusHealthy : kStatusUnhealthy;
}

}  // namespace cv
