// callvault: passive SIP call recorder. One binary, one subcommand per job.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <optional>

#include "app/access_commands.h"
#include "app/capture.h"
#include "app/case_commands.h"
#include "app/config.h"
#include "app/db_commands.h"
#include "app/doctor.h"
#include "app/replay.h"
#include "app/status_command.h"
#include "app/status_server.h"
#include "capture/call/direction.h"
#include "capture/source/dpdk_source.h"

int main(int argc, char** argv) {
  // Logs go to stderr so that stdout carries only results (JSON lines).
  spdlog::set_default_logger(spdlog::stderr_color_mt("callvault"));
  spdlog::set_pattern("%^%l%$: %v");

  CLI::App app{"callvault: passive SIP/RTP call recorder"};
  app.require_subcommand(1);
  std::string config_path;
  app.add_option("--config", config_path, "TOML configuration file (see deploy/callvault.toml)")
      ->check(CLI::ExistingFile);
  std::string data_dir, db_url;
  app.add_option("--data-dir", data_dir,
                 "Where callvault keeps audio, the index journal and its embedded database (default "
                 "/var/lib/callvault)");
  app.add_option("--db", db_url,
                 "PostgreSQL to use instead of the embedded one: postgresql://user@host/db or key=value "
                 "(the standard PG* environment variables work too)");
  std::string sensor;
  std::vector<std::string> office_numbers;

  cv::ReplayOptions replay;
  auto* cmd = app.add_subcommand("replay", "Record the calls in capture files (pcap, pcapng)");
  cmd->add_option("files", replay.files, "Capture files, read in the order given as one capture")->required();
  cmd->add_option("--out", replay.out_dir,
                  "Directory for the recordings (YYYY/MM/DD/<uuid>.wav, or .wav.enc when encrypted; default "
                  "<data-dir>/audio, or ./recordings with --no-db)");
  cmd->add_flag("--json", replay.json, "Print one JSON object per call on stdout (JSON Lines)");
  cmd->add_flag(
      "--no-db", replay.no_db,
      "Files and summaries only: do not index the calls in PostgreSQL (plain WAV unless --encrypt)");
  cmd->add_flag("--encrypt", replay.encrypt,
                "With --no-db: write the store's encrypted recordings (.wav.enc, keys in [storage] key_dir) "
                "instead of plain WAV; always so when the calls are indexed");
  cmd->add_option("--sensor", sensor, "Name of this recorder, part of every recording's uuid");
  cmd->add_option("--status-listen", replay.status_listen,
                  "Serve the status endpoint (/metrics, /status) on this loopback host:port while replaying");
  cmd->add_option("--office-numbers", office_numbers,
                  "Office number patterns for call direction: 1234, 4822555*, 100-199")
      ->delimiter(',');

  cv::CaptureOptions capture;
  std::string cap_interface, cap_filter, log_level;
  std::optional<int> cap_snaplen, cap_buffer_mb, cap_timeout_ms, cap_dpdk_queues;
  std::optional<std::string> cap_backend, cap_dpdk_eal;
  bool cap_filter_given = false;
  auto* cap = app.add_subcommand("capture",
                                 "Record the calls seen on a network interface (mirror/SPAN port) "
                                 "until SIGTERM or SIGINT; SIGHUP reloads the configuration");
  cap->add_option(
      "--interface,-i", cap_interface,
      "Interface to capture on ([capture] interface); with --backend dpdk the DPDK port: a port id "
      "or a device name (net_pcap0, 0000:03:00.0), default the only port");
  cap->add_option("--backend", cap_backend,
                  "pcap (libpcap on a kernel interface, default) or dpdk (a DPDK port) ([capture] backend)")
      ->check(CLI::IsMember({"pcap", "dpdk"}));
  cap->add_option("--dpdk-eal", cap_dpdk_eal,
                  "DPDK EAL arguments as one string, e.g. '-l 0 --in-memory --vdev net_pcap0,rx_pcap=FILE' "
                  "([capture] dpdk_eal)");
  cap->add_option("--dpdk-queues", cap_dpdk_queues,
                  "DPDK receive queues (RSS) wanted, fewer when the device has fewer ([capture] dpdk_queues, "
                  "default 4)")
      ->check(CLI::Range(1, cv::kMaxDpdkQueues));
  cap->add_option("--snaplen", cap_snaplen, "Bytes kept per frame ([capture] snaplen, default 65535)")
      ->check(CLI::Range(cv::kMinSnaplen, cv::kMaxSnaplen));
  cap->add_option("--buffer-mb", cap_buffer_mb, "Kernel ring buffer in MiB ([capture] buffer_mb, default 64)")
      ->check(CLI::Range(1, cv::kMaxBufferMb));
  cap->add_option("--timeout-ms", cap_timeout_ms,
                  "Longest wait before buffered frames are handed over ([capture] timeout_ms, default 200)")
      ->check(CLI::Range(1, cv::kMaxTimeoutMs));
  cap->add_option("--filter", cap_filter, "BPF capture filter ([capture] filter; default: everything)")
      ->each([&](const std::string&) { cap_filter_given = true; });
  cap->add_option("--out", capture.out_dir,
                  "Directory for the recordings (default <data-dir>/audio, or ./recordings with --no-db)");
  cap->add_flag("--json", capture.json, "Print one JSON object per finished call on stdout (JSON Lines)");
  cap->add_flag(
      "--no-db", capture.no_db,
      "Files and summaries only: do not index the calls in PostgreSQL (plain WAV unless --encrypt)");
  cap->add_flag("--encrypt", capture.encrypt, "With --no-db: write encrypted recordings (.wav.enc)");
  cap->add_option("--stats-interval", capture.stats_interval_s, "Seconds between reads of the drop counters")
      ->check(CLI::Range(1, 3600));
  std::string cap_status_listen;
  cap->add_option("--status-listen", cap_status_listen,
                  "Serve the status endpoint on this loopback host:port ([status] listen; enables it)");
  bool cap_no_status = false;
  cap->add_flag("--no-status", cap_no_status,
                "No status endpoint even if [status] enabled (e.g. a second capture beside the service)")
      ->excludes("--status-listen");
  cap->add_option("--sensor", sensor, "Name of this recorder, part of every recording's uuid");
  cap->add_option("--office-numbers", office_numbers,
                  "Office number patterns for call direction: 1234, 4822555*, 100-199")
      ->delimiter(',');
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error ([recorder] log_level)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

  cv::DbCommandOptions dbopt;
  auto* db = app.add_subcommand("db", "The index database: url, migrate, start, stop, status, flush");
  db->require_subcommand(1);
  auto* db_url_cmd =
      db->add_subcommand("url", "Print the connection string (for psql \"$(callvault db url)\")");
  db_url_cmd->add_option("--role", dbopt.role, "auditor (default), writer, retention, operator or admin")
      ->check(CLI::IsMember({"auditor", "writer", "retention", "operator", "admin"}));
  auto* db_migrate_cmd = db->add_subcommand("migrate", "Bring the schema up to this callvault's version");
  auto* db_start_cmd = db->add_subcommand("start", "Start the embedded database (initialised on first use)");
  auto* db_stop_cmd = db->add_subcommand("stop", "Stop the embedded database cleanly");
  auto* db_status_cmd = db->add_subcommand("status", "Server, schema version, calls and journal backlog");
  auto* db_flush_cmd = db->add_subcommand("flush", "Insert what waits in the journal");
  db_flush_cmd->add_option("--wait", dbopt.wait_s,
                           "Seconds to wait for an unreachable database (default 30)");

  cv::AccessCommands access(app);
  cv::CaseCommands cases(app);
  cv::StatusCommandOptions status_opts;
  auto* status_cmd = cv::add_status_command(app, status_opts);
  cv::DoctorOptions doctor;
  auto* doctor_cmd = cv::add_doctor_command(app, doctor);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" that exit 0; every real usage error
    // exits 2 like the other problems with what the operator asked for.
    return app.exit(e) == 0 ? 0 : 2;
  }

  cv::Config config;
  if (!config_path.empty()) {
    std::string error;
    auto loaded = cv::load_config(config_path, error);
    if (!loaded) {
      spdlog::error("configuration: {}", error);
      return 2;
    }
    config = *loaded;
  }
  if (!data_dir.empty()) {
    if (data_dir[0] != '/') {
      std::error_code ec;
      data_dir = std::filesystem::absolute(data_dir, ec).string();
    }
    config.database.data_dir = data_dir;
  }
  if (!db_url.empty()) config.database.url = db_url;
  if (!sensor.empty()) config.sensor = sensor;
  if (!office_numbers.empty()) {
    cv::DirectionClassifier probe;
    std::string error;
    for (const auto& p : office_numbers) {
      if (!probe.add_pattern(p, error)) {
        spdlog::error("--office-numbers: {}", error);
        return 2;
      }
    }
    config.office_numbers = office_numbers;
  }
  if (!log_level.empty()) config.log_level = log_level;
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  // An endpoint asked for on the command line is checked before anything starts.
  for (const std::string* listen : {&replay.status_listen, &cap_status_listen}) {
    cv::ListenAddress where;
    std::string error;
    if (!listen->empty() && !cv::parse_listen_address(*listen, where, error)) {
      spdlog::error("--status-listen {}", error);
      return 2;
    }
  }
  replay.status_min_free_mb = capture.status_min_free_mb = config.status.min_free_mb;
  if (*status_cmd) return cv::run_status(config, status_opts);
  if (*cmd) return cv::run_replay(config, replay);
  if (*cap) {
    if (!cap_interface.empty()) config.capture.interface = cap_interface;
    if (cap_snaplen) config.capture.snaplen = *cap_snaplen;
    if (cap_buffer_mb) config.capture.buffer_mb = *cap_buffer_mb;
    if (cap_timeout_ms) config.capture.timeout_ms = *cap_timeout_ms;
    if (cap_backend) config.capture_backend = *cap_backend;
    if (cap_dpdk_queues) config.dpdk_queues = *cap_dpdk_queues;
    if (cap_dpdk_eal) {
      std::vector<std::string> words;
      std::string error;
      if (!cv::split_eal_args(*cap_dpdk_eal, words, error)) {
        spdlog::error("--dpdk-eal \"{}\": {}", *cap_dpdk_eal, error);
        return 2;
      }
      config.dpdk_eal = *cap_dpdk_eal;
    }
    if (cap_filter_given) {
      std::string error;
      if (!cv::valid_capture_filter(cap_filter, error)) {
        spdlog::error("--filter \"{}\" is {}", cap_filter, error);
        return 2;
      }
      config.capture.filter = cap_filter;
    }
    if (config.capture_backend != "dpdk" && (cap_dpdk_eal || cap_dpdk_queues))
      spdlog::warn("--dpdk-eal and --dpdk-queues apply only to --backend dpdk; capturing with libpcap");
    if (config.capture.interface.empty() && config.capture_backend != "dpdk") {
      spdlog::error("capture: no interface; give --interface IF or [capture] interface in the configuration");
      return 2;
    }
    capture.config_path = config_path;
    capture.office_numbers_from_cli = !office_numbers.empty();
    capture.filter_from_cli = cap_filter_given;
    capture.log_level_from_cli = !log_level.empty();
    capture.status_listen = cap_no_status                ? std::string()
                            : !cap_status_listen.empty() ? cap_status_listen
                            : config.status.enabled      ? config.status.listen
                                                         : std::string();
    return cv::run_capture(config, capture);
  }
  if (*db_url_cmd) return cv::db_url(config, dbopt);
  if (*db_migrate_cmd) return cv::db_migrate(config);
  if (*db_start_cmd) return cv::db_start(config);
  if (*db_stop_cmd) return cv::db_stop(config);
  if (*db_status_cmd) return cv::db_status(config);
  if (*db_flush_cmd) return cv::db_flush(config, dbopt);
  if (*doctor_cmd) {
    if (doctor.interface.empty()) doctor.interface = config.capture.interface;  // [capture] interface
    return cv::run_doctor(config, doctor);
  }
  if (auto rc = access.run(config)) return *rc;
  if (auto rc = cases.run(config)) return *rc;
  return 0;
}
