#include "app/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>

#include "app/status_server.h"
#include "capture/call/direction.h"
#include "capture/source/dpdk_source.h"

namespace cv {
namespace {

// Known keys per table: anything else is a typo the operator must hear about.
const std::set<std::string> kKnown = {
    "recorder",
    "recorder.sensor",
    "recorder.log_level",
    "capture",
    "capture.interface",
    "capture.snaplen",
    "capture.buffer_mb",
    "capture.filter",
    "capture.timeout_ms",
    "capture.backend",
    "capture.dpdk_eal",
    "capture.dpdk_queues",
    "office",
    "office.numbers",
    "sip",
    "sip.ports",
    "sip.any_port",
    "sip.dialog_timeout_s",
    "sip.linger_s",
    "sip.max_calls",
    "sip.max_media_addresses",
    "tcp",
    "tcp.max_connections",
    "tcp.max_memory_mib",
    "tcp.max_connection_kib",
    "tcp.max_segments",
    "tcp.idle_timeout_s",
    "audio",
    "audio.mix_window_ms",
    "audio.max_streams_per_call",
    "storage",
    "storage.data_dir",
    "storage.key_dir",
    "database",
    "database.url",
    "database.embedded_account",
    "database.pg_bin_dir",
    "database.connect_timeout_s",
    "database.wait_at_exit_s",
    "retention",
    "retention.period",
    "retention.time_zone",
    "access",
    "retention.interval_s",
    "access.roles",
    "access.listen_roles",
    "access.supervised_roles",
    "access.supervisor_role",
    "access.approve_roles",
    "status",
    "status.enabled",
    "status.listen",
    "status.min_free_mb",
};

bool check_unknown(const toml::table& t, const std::string& prefix, std::string& error) {
  for (const auto& [k, v] : t) {
    std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (!kKnown.count(key)) {
      error = "unknown key '" + key + "'";
      return false;
    }
    if (const auto* sub = v.as_table(); sub && !check_unknown(*sub, key, error)) return false;
  }
  return true;
}

template <typename T>
bool get_int(const toml::table& t, const char* path, T& out, int64_t lo, int64_t hi, std::string& error) {
  auto node = t.at_path(path);
  if (!node) return true;
  auto v = node.value<int64_t>();
  if (!v || !node.is_integer()) {
    error = std::string("'") + path + "' must be an integer";
    return false;
  }
  if (*v < lo || *v > hi) {
    error = std::string("'") + path + "' is " + std::to_string(*v) + ", must be between " +
            std::to_string(lo) + " and " + std::to_string(hi);
    return false;
  }
  out = static_cast<T>(*v);
  return true;
}

bool get_string(const toml::table& t, const char* path, std::string& out, bool allow_empty,
                std::string& error) {
  auto node = t.at_path(path);
  if (!node) return true;
  auto v = node.value<std::string>();
  if (!node.is_string() || !v || (!allow_empty && v->empty())) {
    error = std::string("'") + path + "' must be a " + (allow_empty ? "" : "non-empty ") + "string";
    return false;
  }
  out = *v;
  return true;
}

// An array of role names at `path` (absent: `out` unchanged).
bool get_role_list(const toml::table& t, const char* path, std::vector<std::string>& out, bool allow_empty,
                   std::string& error) {
  auto n = t.at_path(path);
  if (!n) return true;
  const std::string key = std::string("'") + path + "'";
  const auto* arr = n.as_array();
  if (!arr || (!allow_empty && arr->empty())) {
    error = key + " must be a " + (allow_empty ? "" : "non-empty ") +
            "array of role names, e.g. [\"mayor\", \"secretary\"]";
    return false;
  }
  out.clear();
  for (const auto& el : *arr) {
    auto s = el.value<std::string>();
    if (!el.is_string() || !s) {
      error = key + " must contain only strings";
      return false;
    }
    if (!valid_role_name(*s)) {
      error = key + ": \"" + *s +
              "\" is not a role name (lowercase letters, digits and _, starting with a letter, at most 63)";
      return false;
    }
    if (std::find(out.begin(), out.end(), *s) != out.end()) {
      error = key + ": \"" + *s + "\" is listed twice";
      return false;
    }
    out.push_back(*s);
  }
  return true;
}

}  // namespace

bool valid_retention_period(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 4 || std::stoi(text.substr(0, i)) == 0) return false;
  while (i < text.size() && text[i] == ' ') ++i;
  static const std::set<std::string> units = {"day",   "days",   "week", "weeks",
                                              "month", "months", "year", "years"};
  return units.count(text.substr(i)) > 0;
}

std::optional<Config> load_config(const std::string& path, std::string& error) {
  Config c;
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    error = path + ":" + std::to_string(src.begin.line) + ":" + std::to_string(src.begin.column) + ": " +
            std::string(e.description());
    return std::nullopt;
  }
  auto fail = [&](const std::string& what) {
    error = path + ": " + what;
    return std::nullopt;
  };
  std::string e;
  if (!check_unknown(t, "", e)) return fail(e);
  if (auto n = t.at_path("recorder.sensor")) {
    auto s = n.value<std::string>();
    if (!n.is_string() || !s || s->empty()) return fail("'recorder.sensor' must be a non-empty string");
    c.sensor = *s;
  }
  if (!get_string(t, "recorder.log_level", c.log_level, false, e)) return fail(e);
  if (!valid_log_level(c.log_level))
    return fail("'recorder.log_level' is \"" + c.log_level + "\"; use trace, debug, info, warn or error");
  if (!get_string(t, "capture.backend", c.capture_backend, false, e)) return fail(e);
  if (c.capture_backend != "pcap" && c.capture_backend != "dpdk")
    return fail("'capture.backend' is \"" + c.capture_backend +
                "\"; use \"pcap\" (libpcap on a kernel interface) or \"dpdk\"");
  const bool dpdk = c.capture_backend == "dpdk";
  if (!get_string(t, "capture.dpdk_eal", c.dpdk_eal, true, e)) return fail(e);
  if (std::vector<std::string> words; !split_eal_args(c.dpdk_eal, words, e))
    return fail("'capture.dpdk_eal' \"" + c.dpdk_eal + "\" cannot be split into arguments: " + e);
  if (!get_int(t, "capture.dpdk_queues", c.dpdk_queues, 1, kMaxDpdkQueues, e)) return fail(e);
  if (!get_string(t, "capture.interface", c.capture.interface, false, e)) return fail(e);
  if (t.at_path("capture.interface")) {
    if (dpdk && !valid_dpdk_port_name(c.capture.interface))
      return fail("'capture.interface' is \"" + c.capture.interface +
                  "\", not a DPDK port (a port id or a device name: 1-63 characters, no '/' or spaces)");
    if (!dpdk && !valid_interface_name(c.capture.interface))
      return fail("'capture.interface' is \"" + c.capture.interface +
                  "\", not an interface name (1-15 characters, no '/', ':' or spaces)");
  }
  if (!get_int(t, "capture.snaplen", c.capture.snaplen, kMinSnaplen, kMaxSnaplen, e)) return fail(e);
  if (!get_int(t, "capture.buffer_mb", c.capture.buffer_mb, 1, kMaxBufferMb, e)) return fail(e);
  if (!get_int(t, "capture.timeout_ms", c.capture.timeout_ms, 1, kMaxTimeoutMs, e)) return fail(e);
  if (!get_string(t, "capture.filter", c.capture.filter, true, e)) return fail(e);
  if (!valid_capture_filter(c.capture.filter, e))
    return fail("'capture.filter' \"" + c.capture.filter + "\" is " + e);
  if (auto n = t.at_path("office.numbers")) {
    const auto* arr = n.as_array();
    if (!arr) return fail("'office.numbers' must be an array of strings, e.g. [\"100-199\", \"4822555*\"]");
    DirectionClassifier probe;
    for (const auto& el : *arr) {
      auto s = el.value<std::string>();
      if (!el.is_string() || !s) return fail("'office.numbers' must contain only strings");
      if (!probe.add_pattern(*s, e)) return fail("'office.numbers': " + e);
      c.office_numbers.push_back(*s);
    }
  }
  if (auto n = t.at_path("sip.ports")) {
    const auto* arr = n.as_array();
    if (!arr || arr->empty()) return fail("'sip.ports' must be a non-empty array of port numbers");
    c.tracker.sip_ports.clear();
    for (const auto& el : *arr) {
      auto v = el.value<int64_t>();
      if (!el.is_integer() || !v || *v < 1 || *v > 65535)
        return fail("'sip.ports' entries must be integers 1-65535");
      c.tracker.sip_ports.push_back(static_cast<uint16_t>(*v));
    }
  }
  if (auto n = t.at_path("sip.any_port")) {
    if (!n.is_boolean()) return fail("'sip.any_port' must be true or false");
    c.tracker.sip_on_any_port = *n.value<bool>();
  }
  int64_t timeout_s = c.tracker.dialog_timeout_ns / kNsPerSec, linger_s = c.tracker.linger_ns / kNsPerSec;
  if (!get_int(t, "sip.dialog_timeout_s", timeout_s, 10, 7 * 86400, e)) return fail(e);
  if (!get_int(t, "sip.linger_s", linger_s, 0, 600, e)) return fail(e);
  c.tracker.dialog_timeout_ns = timeout_s * kNsPerSec;
  c.tracker.linger_ns = linger_s * kNsPerSec;
  if (!get_int(t, "sip.max_calls", c.tracker.max_calls, 1, 10'000'000, e)) return fail(e);
  if (!get_int(t, "sip.max_media_addresses", c.tracker.max_media_addresses, 1, 40'000'000, e)) return fail(e);
  {
    TcpLimits& tcp = c.tracker.tcp;
    int64_t memory_mib = static_cast<int64_t>(tcp.max_bytes >> 20);
    int64_t connection_kib = static_cast<int64_t>(tcp.max_connection_bytes >> 10);
    int64_t idle_s = tcp.idle_timeout_ns / kNsPerSec;
    if (!get_int(t, "tcp.max_connections", tcp.max_connections, 1, 4'000'000, e)) return fail(e);
    if (!get_int(t, "tcp.max_memory_mib", memory_mib, 1, 65'536, e)) return fail(e);
    // A SIP message on a stream may have 64 KiB of headers and a 1 MiB body;
    // 4 KiB still holds a typical INVITE with SDP.
    if (!get_int(t, "tcp.max_connection_kib", connection_kib, 4, 2 * 1024, e)) return fail(e);
    if (!get_int(t, "tcp.max_segments", tcp.max_connection_segments, 1, 65'536, e)) return fail(e);
    if (!get_int(t, "tcp.idle_timeout_s", idle_s, 10, 7 * 86400, e)) return fail(e);
    if (connection_kib > memory_mib * 1024)
      return fail("'tcp.max_connection_kib' is " + std::to_string(connection_kib) +
                  ", more than 'tcp.max_memory_mib' (" + std::to_string(memory_mib) +
                  " MiB) allows for all connections together");
    tcp.max_bytes = static_cast<size_t>(memory_mib) << 20;
    tcp.max_connection_bytes = static_cast<size_t>(connection_kib) << 10;
    tcp.idle_timeout_ns = idle_s * kNsPerSec;
  }
  if (!get_int(t, "audio.mix_window_ms", c.recorder.mix_window_ms, 100, 10'000, e)) return fail(e);
  if (!get_int(t, "audio.max_streams_per_call", c.recorder.max_streams_per_call, 2, 256, e)) return fail(e);
  if (!get_string(t, "storage.data_dir", c.database.data_dir, false, e)) return fail(e);
  if (!c.database.data_dir.empty() && c.database.data_dir[0] != '/')
    return fail("'storage.data_dir' must be an absolute path");
  if (!get_string(t, "storage.key_dir", c.key_dir, false, e)) return fail(e);
  if (const std::string problem = key_dir_problem(c); !problem.empty())
    return fail("'storage.key_dir' " + problem);
  if (!get_string(t, "database.url", c.database.url, true, e)) return fail(e);
  if (!c.database.url.empty() && c.database.url.rfind("postgresql://", 0) != 0 &&
      c.database.url.rfind("postgres://", 0) != 0 && c.database.url.find('=') == std::string::npos)
    return fail("'database.url' must be a postgresql:// URL or a libpq key=value string");
  if (!get_string(t, "database.embedded_account", c.database.embedded_account, false, e)) return fail(e);
  if (!get_string(t, "database.pg_bin_dir", c.database.pg_bin_dir, true, e)) return fail(e);
  if (!get_int(t, "database.connect_timeout_s", c.database.connect_timeout_s, 1, 600, e)) return fail(e);
  if (!get_int(t, "database.wait_at_exit_s", c.db_wait_at_exit_s, 0, 86400, e)) return fail(e);
  if (!get_string(t, "retention.period", c.retention_period, false, e)) return fail(e);
  if (!valid_retention_period(c.retention_period))
    return fail("'retention.period' is \"" + c.retention_period +
                "\"; write a number and a unit: \"1 month\", \"30 days\", \"2 weeks\", \"1 year\"");
  if (!get_string(t, "retention.time_zone", c.time_zone, false, e)) return fail(e);
  if ((c.time_zone != "UTC" && !std::filesystem::exists("/usr/share/zoneinfo/" + c.time_zone)) ||
      c.time_zone.find("..") != std::string::npos)
    return fail("'retention.time_zone' is \"" + c.time_zone +
                "\", not a time zone known to this system (an IANA name such as \"Europe/Warsaw\")");
  if (!get_int(t, "retention.interval_s", c.retention_interval_s, 10, 86400, e)) return fail(e);
  if (auto n = t.at_path("status.enabled")) {
    if (!n.is_boolean()) return fail("'status.enabled' must be true or false");
    c.status.enabled = *n.value<bool>();
  }
  if (!get_string(t, "status.listen", c.status.listen, false, e)) return fail(e);
  if (ListenAddress where; !parse_listen_address(c.status.listen, where, e))
    return fail("'status.listen' " + e);
  if (!get_int(t, "status.min_free_mb", c.status.min_free_mb, 0, 1'000'000'000, e)) return fail(e);
  if (!get_role_list(t, "access.roles", c.access_roles, false, e)) return fail(e);
  AccessPolicy& ap = c.access_policy;
  if (!get_role_list(t, "access.listen_roles", ap.listen_roles, true, e)) return fail(e);
  if (!get_role_list(t, "access.supervised_roles", ap.supervised_roles, true, e)) return fail(e);
  if (!get_role_list(t, "access.approve_roles", ap.approve_roles, true, e)) return fail(e);
  if (!get_string(t, "access.supervisor_role", ap.supervisor_role, false, e)) return fail(e);
  auto known = [&](const std::string& r) {
    return std::find(c.access_roles.begin(), c.access_roles.end(), r) != c.access_roles.end();
  };
  // A rule left at the regulation's default keeps only the roles this office
  // has (an office with its own [access] roles need not restate every rule);
  // a supervised role whose supervisor role does not exist may not listen.
  auto keep_known = [&](const char* key, std::vector<std::string>& list) {
    if (t.at_path(key)) return;
    std::erase_if(list, [&](const std::string& r) { return !known(r); });
  };
  keep_known("access.listen_roles", ap.listen_roles);
  keep_known("access.supervised_roles", ap.supervised_roles);
  keep_known("access.approve_roles", ap.approve_roles);
  if (!t.at_path("access.supervisor_role") && !known(ap.supervisor_role) &&
      !t.at_path("access.listen_roles") && !t.at_path("access.supervised_roles")) {
    for (const auto& r : ap.supervised_roles) std::erase(ap.listen_roles, r);
    ap.supervised_roles.clear();
  }
  // Every role named in a rule must be one a person can have.
  const std::pair<const char*, const std::vector<std::string>*> rules[] = {
      {"access.listen_roles", &ap.listen_roles},
      {"access.supervised_roles", &ap.supervised_roles},
      {"access.approve_roles", &ap.approve_roles}};
  for (const auto& [key, list] : rules)
    for (const auto& r : *list)
      if (!known(r)) return fail(std::string("'") + key + "': \"" + r + "\" is not one of 'access.roles'");
  for (const auto& r : ap.supervised_roles)
    if (!ap.may_listen(r))
      return fail("'access.supervised_roles': \"" + r + "\" is not in 'access.listen_roles'");
  if (!ap.supervised_roles.empty() && !known(ap.supervisor_role))
    return fail("'access.supervisor_role': \"" + ap.supervisor_role + "\" is not one of 'access.roles'");
  if (!ap.supervised_roles.empty() &&
      (ap.is_supervised(ap.supervisor_role) || !ap.may_listen(ap.supervisor_role)))
    return fail("'access.supervisor_role': \"" + ap.supervisor_role +
                "\" must be a listening role that is not itself supervised");
  return c;
}

std::string key_dir(const Config& config) {
  return config.key_dir.empty() ? config.database.data_dir + "/keys" : config.key_dir;
}

std::string key_dir_problem(const Config& config) {
  const std::string dir = key_dir(config);
  if (dir.empty() || dir[0] != '/') return "must be an absolute path (\"" + dir + "\" is not)";
  const std::filesystem::path keys = std::filesystem::path(dir).lexically_normal();
  const std::filesystem::path audio =
      (std::filesystem::path(config.database.data_dir) / "audio").lexically_normal();
  auto within = [](const std::filesystem::path& inner, const std::filesystem::path& outer) {
    const auto rel = inner.lexically_relative(outer);
    return !rel.empty() && *rel.begin() != "..";
  };
  if (within(keys, audio) || within(audio, keys))
    return "is \"" + dir + "\", which overlaps the audio directory " + audio.string() +
           ": keys must be kept apart from the recordings (and out of their backups)";
  return {};
}

bool valid_log_level(const std::string& level) {
  static const std::set<std::string> levels = {"trace", "debug", "info", "warn", "error"};
  return levels.count(level) > 0;
}

bool valid_role_name(const std::string& name) {
  if (name.empty() || name.size() > 63 || name[0] < 'a' || name[0] > 'z') return false;
  return std::all_of(name.begin(), name.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
  });
}

}  // namespace cv
