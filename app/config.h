// callvault's configuration: one TOML file (toml++), every key validated with
// an error that names the key. Command-line options override the file.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "capture/call/call_tracker.h"
#include "capture/source/pcap_live_source.h"
#include "decode/call_recorder.h"
#include "storage/db/access_policy.h"
#include "storage/db/database.h"
#include "storage/db/people.h"

namespace cv {

// [status]: the loopback HTTP endpoint of `callvault capture` (app/status_server.h).
struct StatusSettings {
  bool enabled = false;  // [status] enabled: capture serves it (the sample config turns it on)
  std::string listen = "127.0.0.1:9477";  // [status] listen: loopback host:port only
  uint64_t min_free_mb = 1024;            // [status] min_free_mb: less free disk than this is unhealthy
};

struct Config {
  std::string sensor = "callvault";         // [recorder] sensor: names this recorder in uuids and the index
  std::vector<std::string> office_numbers;  // [office] numbers: patterns for R3 direction
  CallTrackerConfig
      tracker;  // [sip] ports, dialog_timeout_s, linger_s, max_calls ...; [tcp] limits (tracker.tcp)
  CallRecorderConfig recorder;  // [audio] mix_window_ms, max_streams_per_call
  DatabaseSettings database;    // [storage] data_dir; [database] url, embedded_account, pg_bin_dir
  int db_wait_at_exit_s =
      30;  // [database] wait_at_exit_s: how long a finished replay waits for an unreachable database
  std::string retention_period = "1 month";  // [retention] period: "<n> day(s)|week(s)|month(s)|year(s)"
  std::string time_zone = "UTC";  // [retention] time_zone: the office's zone for calendar months (IANA name)
  // [access] roles: the roles a person may have (R8); default_access_roles().
  std::vector<std::string> access_roles = default_access_roles();
  // [access] listen_roles, supervised_roles, supervisor_role, approve_roles (R8, R10).
  AccessPolicy access_policy = AccessPolicy::regulation_default();
  int retention_interval_s = 300;  // [retention] interval_s: how often `retention run` sweeps as a daemon
  // [storage] key_dir: the per-day recording keys (R12); empty: <data_dir>/keys. Keep it out of
  // the audio backups: destroying a day's key then destroys that day's recordings everywhere.
  std::string key_dir;
  // [capture] interface, snaplen, buffer_mb, filter, timeout_ms: `callvault capture`.
  // With the dpdk backend, interface names the DPDK port (a port id or a
  // device name such as net_pcap0 or 0000:03:00.0; empty: the only port).
  LiveCaptureOptions capture;
  // [capture] backend: "pcap" (libpcap on a kernel interface) or "dpdk".
  std::string capture_backend = "pcap";
  // [capture] dpdk_eal: the DPDK EAL arguments, one string split like a shell.
  std::string dpdk_eal;
  // [capture] dpdk_queues: receive queues (RSS) wanted; fewer when the device has fewer.
  int dpdk_queues = 4;
  // [recorder] log_level: trace, debug, info, warn, error (SIGHUP reloads it).
  std::string log_level = "info";
  StatusSettings status;  // [status] enabled, listen, min_free_mb
};

// The key directory in effect: [storage] key_dir, or <data_dir>/keys.
std::string key_dir(const Config& config);
// Empty when the key directory is usable, else why not: it must be absolute
// and must not lie inside the audio directory (<data_dir>/audio), which is
// backed up, nor contain it.
std::string key_dir_problem(const Config& config);

// Limits of the [capture] settings (and their command-line options).
constexpr int kMinSnaplen = 64;  // Ethernet + IP + UDP + RTP header and some payload
constexpr int kMaxSnaplen = 262144;
constexpr int kMaxBufferMb = 2047;  // pcap_set_buffer_size takes an int of bytes
constexpr int kMaxTimeoutMs = 10000;
constexpr int kMaxDpdkQueues = 128;

// trace, debug, info, warn, error.
bool valid_log_level(const std::string& level);

// A role name of [access] roles: ^[a-z][a-z0-9_]{0,62}$ (as the database checks it).
bool valid_role_name(const std::string& name);

// "1 month", "30 days", "2 weeks", "1 year": returns false for anything else.
bool valid_retention_period(const std::string& text);

// Loads and validates a config file. Returns nullopt and sets `error` (naming
// the file, key and problem) when it is unreadable or invalid.
std::optional<Config> load_config(const std::string& path, std::string& error);

}  // namespace cv
