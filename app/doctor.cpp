#include "app/doctor.h"

#include <fmt/core.h>
#include <linux/capability.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/timex.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/nontransaction>

#include "app/index_setup.h"
#include "capture/source/dpdk_source.h"
#include "storage/db/database.h"
#include "storage/db/embedded_postgres.h"
#include "storage/vault/vault_format.h"

namespace cv {
namespace fs = std::filesystem;
namespace {

// The audio the index saw lately, for the disk estimate.
struct RecentAudio {
  double bytes = 0;  // plain WAV bytes of the calls that started in the window
  double days = 0;   // the window: 7 days, or less when the index is younger
  long long calls = 0;
};

DoctorCheck ok(const char* name, std::string detail) { return {name, true, std::move(detail), {}}; }
DoctorCheck fix(const char* name, std::string detail, std::string what_to_do) {
  return {name, false, std::move(detail), std::move(what_to_do)};
}

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, units[u]);
}

std::string present_interfaces() {
  std::string names;
  if (struct if_nameindex* list = if_nameindex()) {
    for (struct if_nameindex* i = list; i->if_index != 0; ++i)
      names += (names.empty() ? "" : ", ") + std::string(i->if_name);
    if_freenameindex(list);
  }
  return names.empty() ? "none" : names;
}

// The effective capability set of this process (/proc/self/status CapEff).
uint64_t effective_capabilities() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  return 0;
}

bool has_cap(uint64_t caps, int cap) { return (caps >> cap) & 1; }

// Whether this process may open a packet socket (what live capture needs);
// the socket is closed at once and never bound.
bool can_open_packet_socket(std::string& why) {
  const int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(0x0003 /* ETH_P_ALL */));
  if (fd < 0) {
    why = std::strerror(errno);
    return false;
  }
  close(fd);
  return true;
}

DoctorCheck check_interface(const std::string& name) {
  if (name.empty())
    return fix("interface", "no capture interface given",
               "name the port the switch mirrors the calls to: callvault doctor --interface IF (interfaces "
               "here: " +
                   present_interfaces() + ")");
  if (name.size() >= IFNAMSIZ || name.find('/') != std::string::npos || name == "." || name == "..")
    return fix("interface", fmt::format("\"{}\" is not an interface name", name),
               "name an existing interface: " + present_interfaces());
  if (if_nametoindex(name.c_str()) == 0)
    return fix(
        "interface", fmt::format("{} does not exist (interfaces here: {})", name, present_interfaces()),
        fmt::format("name the mirror port's interface (ip -br link), or check that its driver is loaded "
                    "and the name did not change ({} is missing)",
                    name));
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq req{};
  std::snprintf(req.ifr_name, sizeof req.ifr_name, "%s", name.c_str());
  const bool read = fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &req) == 0;
  const std::string error = read ? "" : std::strerror(errno);
  if (fd >= 0) close(fd);
  if (!read)
    return fix("interface", fmt::format("cannot read the flags of {}: {}", name, error),
               "run doctor where the recorder runs (same network namespace)");
  const unsigned flags = static_cast<unsigned short>(req.ifr_flags);
  if (!(flags & IFF_UP))
    return fix("interface", fmt::format("{} is down", name),
               fmt::format("ip link set {} up, and bring it up at boot (/etc/network/interfaces: "
                           "auto {} / iface {} inet manual, or systemd-networkd)",
                           name, name, name));
  if (!(flags & IFF_RUNNING))
    return fix("interface", fmt::format("{} is up but has no link (no carrier)", name),
               "check the cable to the switch's mirror (SPAN) port and that the port is enabled");
  if (flags & IFF_PROMISC)
    return ok("interface", fmt::format("{} exists, is up with link, promiscuous", name));
  std::string why;
  if (can_open_packet_socket(why))
    return ok("interface",
              fmt::format("{} exists, is up with link; not promiscuous now, the recorder switches "
                          "promiscuous mode on when it opens it",
                          name));
  return fix(
      "interface", fmt::format("{} is not promiscuous and this process cannot capture on it ({})", name, why),
      fmt::format("give the recorder CAP_NET_RAW (deploy/systemd/callvault.service), or ip link set {} "
                  "promisc on",
                  name));
}

DoctorCheck check_capabilities() {
  const uint64_t caps = effective_capabilities();
  const bool raw = has_cap(caps, CAP_NET_RAW), admin = has_cap(caps, CAP_NET_ADMIN);
  std::string why;
  const bool packet = can_open_packet_socket(why);
  const std::string who = geteuid() == 0 ? "root" : "uid " + std::to_string(geteuid());
  if (raw && admin && packet)
    return ok("capabilities", fmt::format("{} with CAP_NET_RAW and CAP_NET_ADMIN; packet sockets open", who));
  std::string missing;
  if (!raw) missing += " CAP_NET_RAW";
  if (!admin) missing += " CAP_NET_ADMIN";
  if (!missing.empty())
    return fix("capabilities", fmt::format("this process ({}) lacks{}", who, missing),
               "run the recorder as deploy/systemd/callvault.service does (User=callvault, "
               "AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN) or as root; to check the service's view: "
               "systemd-run --pipe -p User=callvault -p AmbientCapabilities='CAP_NET_RAW CAP_NET_ADMIN' "
               "callvault doctor");
  return fix(
      "capabilities",
      fmt::format("{} has CAP_NET_RAW and CAP_NET_ADMIN but cannot open a packet socket: {}", who, why),
      "allow AF_PACKET (RestrictAddressFamilies= of the unit, seccomp or an LSM profile)");
}

// Reachable, the schema this build knows, not a superuser for an external
// server; fills `recent` with what the index says about the last 7 days.
DoctorCheck check_database(const Config& config, std::optional<RecentAudio>& recent) {
  const DatabaseSettings& db = config.database;
  std::string error, started_note;
  const bool embedded = uses_embedded(db);
  if (embedded) {
    if (access((EmbeddedPostgres::cluster_dir(db) + "/PG_VERSION").c_str(), F_OK) != 0)
      return fix(
          "database",
          fmt::format("the embedded database in {} was never initialised", EmbeddedPostgres::cluster_dir(db)),
          "callvault db start && callvault db migrate (as the recorder's account: sudo -u callvault), "
          "or configure a server with [database] url");
    // Started as the recorder would start it: this is its own cluster.
    bool started = false;
    if (!EmbeddedPostgres::ensure_running(db, error, &started))
      return fix(
          "database", "the embedded database does not start: " + one_line(error),
          fmt::format("read {}; callvault db start shows the same error", EmbeddedPostgres::log_file(db)));
    if (started) started_note = " (it was stopped; doctor started it as the recorder would)";
  }
  const std::string where = embedded ? "the embedded database" : "the database";
  auto conn = connect_database(connection_string(db, DbRole::kRetention), db.connect_timeout_s, error);
  if (!conn)
    return fix("database", where + " is unreachable: " + error,
               embedded ? "callvault db start"
                        : "check [database] url/--db (host, port, user), that the "
                          "server runs and that pg_hba.conf lets this host in");
  try {
    if (std::string problem = schema_problem(*conn); !problem.empty()) {
      const auto cmd = problem.find(": run `callvault db migrate`");
      return fix("database", one_line(problem.substr(0, cmd)),
                 cmd != std::string::npos ? std::string(embedded ? "callvault db migrate"
                                                                 : "callvault --db <owner's URL> db migrate")
                                          : "install the callvault that matches this database's schema");
    }
    if (!embedded && is_superuser(*conn))
      return fix("database", fmt::format("the database user \"{}\" is a superuser", conn->username()),
                 "connect as callvault_writer (the recorder) or another role without superuser rights");
  } catch (const std::exception& e) {
    return fix("database", where + ": " + one_line(e.what()), "check the server's log");
  }
  // The index's last 7 days, for the disk estimate; a role that cannot read
  // the calls (an auditor's URL) just gives no estimate.
  for (const char* table : {"callvault.calls", "audit.calls"}) {
    try {
      pqxx::nontransaction tx(*conn);
      auto r =
          tx.exec(fmt::format("SELECT coalesce(sum(audio_bytes), 0)::float8, count(*), "
                              "coalesce(extract(epoch FROM now() - min(start_time)) / 86400, 0)::float8 "
                              "FROM {} WHERE start_time >= now() - interval '7 days'",
                              table));
      RecentAudio a;
      a.bytes = r[0][0].as<double>();
      a.calls = r[0][1].as<long long>();
      a.days = std::clamp(r[0][2].as<double>(), 1.0, 7.0);
      recent = a;
      break;
    } catch (const std::exception&) {
    }
  }
  const int version = *schema_version(*conn, error);
  return ok("database", fmt::format("{} answers as {}, schema version {}{}", where, conn->username(), version,
                                    started_note));
}

DoctorCheck check_data_dir(const Config& config) {
  const std::string& dir = config.database.data_dir;
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0)
    return fix("data_dir", fmt::format("{} does not exist", dir),
               fmt::format(
                   "deploy/install.sh creates it, or: install -d -m 0750 -o callvault -g callvault {}", dir));
  if (!S_ISDIR(st.st_mode))
    return fix("data_dir", fmt::format("{} is not a directory", dir),
               "set [storage] data_dir to a directory");
  std::string probe = dir + "/.doctor-XXXXXX";
  const int fd = mkstemp(probe.data());
  if (fd < 0)
    return fix("data_dir", fmt::format("cannot create files in {}: {}", dir, std::strerror(errno)),
               fmt::format("give the recorder's account the directory: chown -R callvault:callvault {} "
                           "(and in the unit: ReadWritePaths={})",
                           dir, dir));
  close(fd);
  unlink(probe.c_str());
  return ok("data_dir",
            fmt::format("{} is writable (mode {:04o}, uid {})", dir, st.st_mode & 07777, st.st_uid));
}

double stored_audio_bytes(const std::string& dir) {
  double total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    std::error_code e2;
    if (it->is_regular_file(e2)) {
      const auto size = it->file_size(e2);
      if (!e2) total += static_cast<double>(size);
    }
  }
  return total;
}

DoctorCheck check_disk(const Config& config, const DoctorOptions& opt,
                       const std::optional<RecentAudio>& recent) {
  const std::string audio = audio_dir(config);
  fs::path where = audio;
  std::error_code ec;
  while (!where.empty() && !fs::exists(where, ec) && where != where.root_path()) where = where.parent_path();
  struct statvfs vfs {};
  if (statvfs(where.c_str(), &vfs) != 0)
    return fix("disk",
               fmt::format("cannot read the free space of {}: {}", where.string(), std::strerror(errno)),
               "create the data directory (deploy/install.sh)");
  const double free_bytes = static_cast<double>(vfs.f_bavail) * vfs.f_frsize;
  const int days = retention_days(config.retention_period);
  const double encrypted = stored_bytes_per_minute() / (32000.0 * 60);  // store bytes per WAV byte
  double per_day = 0;
  std::string basis;
  if (opt.calls_per_day > 0) {
    per_day = opt.calls_per_day * opt.minutes_per_call * stored_bytes_per_minute();
    basis = fmt::format("{} calls/day x {} min at 32,000 B/s + encryption", opt.calls_per_day,
                        opt.minutes_per_call);
  } else if (recent && recent->calls > 0) {
    per_day = recent->bytes * encrypted / recent->days;
    basis = fmt::format("the index: {} calls with {} of audio over the last {:.1f} days", recent->calls,
                        human_bytes(recent->bytes), recent->days);
  }
  const double stored = stored_audio_bytes(audio);
  if (per_day <= 0) {
    // Nothing to estimate from: at least a day of a busy office (10 h of calls).
    const double floor = 10 * 60 * stored_bytes_per_minute();
    const std::string why =
        recent ? "no calls in the index over the last 7 days" : "no index to estimate from";
    if (free_bytes < floor)
      return fix("disk",
                 fmt::format("{} free on {}, less than 10 hours of audio ({}); {}", human_bytes(free_bytes),
                             where.string(), human_bytes(floor), why),
                 "free space there or put [storage] data_dir on a larger file system; "
                 "--calls-per-day N --minutes-per-call M checks against a month of your load");
    return ok("disk",
              fmt::format("{} free on {} ({}: --calls-per-day N --minutes-per-call M checks it against "
                          "a month of your load)",
                          human_bytes(free_bytes), where.string(), why));
  }
  // Retention deletes what is older than the period: what is stored now
  // makes room for the next month, but keep at least a day in hand.
  const double month = per_day * days;
  const double needed = std::max(month - stored, per_day);
  const std::string detail = fmt::format(
      "{} free on {}; {} days ([retention] period \"{}\") of {}/day = {} ({}), {} stored now: {} needed",
      human_bytes(free_bytes), where.string(), days, config.retention_period, human_bytes(per_day),
      human_bytes(month), basis, human_bytes(stored), human_bytes(needed));
  if (free_bytes < needed)
    return fix(
        "disk", detail,
        fmt::format("free {} on {} or put [storage] data_dir on a file system with room for a month of "
                    "audio",
                    human_bytes(needed - free_bytes), where.string()));
  return ok("disk", detail);
}

DoctorCheck check_key_dir(const Config& config) {
  if (std::string problem = key_dir_problem(config); !problem.empty())
    return fix("key_dir", "[storage] key_dir " + problem,
               "set [storage] key_dir outside " + audio_dir(config) + ", e.g. " + config.database.data_dir +
                   "/keys");
  const std::string dir = key_dir(config);
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) {
    const std::string parent = fs::path(dir).parent_path().string();
    if (access(parent.c_str(), W_OK | X_OK) == 0)
      return ok("key_dir", fmt::format("{} does not exist yet; the recorder creates it (0700) with the first "
                                       "recording",
                                       dir));
    return fix(
        "key_dir",
        fmt::format("{} does not exist and cannot be created in {}: {}", dir, parent, std::strerror(errno)),
        fmt::format("install -d -m 0700 -o callvault -g callvault {}", dir));
  }
  if (!S_ISDIR(st.st_mode))
    return fix("key_dir", fmt::format("{} is not a directory", dir), "set [storage] key_dir to a directory");
  const unsigned mode = st.st_mode & 07777;
  if (mode != 0700)
    return fix("key_dir",
               fmt::format("{} has mode {:04o}: the day keys decrypt every recording, only their owner may "
                           "reach them",
                           dir, mode),
               fmt::format("chmod 0700 {}", dir));
  if (access(dir.c_str(), R_OK | W_OK | X_OK) != 0)
    return fix(
        "key_dir",
        fmt::format("{} (uid {}) is not usable by this account: {}", dir, st.st_uid, std::strerror(errno)),
        fmt::format("chown -R callvault:callvault {} (the recorder's account owns its keys)", dir));
  return ok("key_dir", fmt::format("{} has mode 0700, outside {}", dir, audio_dir(config)));
}

DoctorCheck check_clock() {
  const char* fix_sync =
      "enable time synchronisation: apt-get install systemd-timesyncd (or chrony) && timedatectl set-ntp "
      "true; call times are evidence";
  std::string answer;
  if (access("/usr/bin/timedatectl", X_OK) == 0) {
    if (FILE* p = popen("/usr/bin/timedatectl show -p NTPSynchronized --value 2>/dev/null", "r")) {
      char buf[64];
      while (std::fgets(buf, sizeof buf, p)) answer += buf;
      if (pclose(p) != 0) answer.clear();
    }
    while (!answer.empty() && std::isspace(static_cast<unsigned char>(answer.back()))) answer.pop_back();
  }
  if (answer == "yes") return ok("clock", "synchronized (timedatectl: NTPSynchronized=yes)");
  if (answer == "no") return fix("clock", "not synchronized (timedatectl: NTPSynchronized=no)", fix_sync);
  // No systemd to ask (a container, another init): the kernel's own view.
  timex tx{};
  const int state = adjtimex(&tx);
  if (state < 0)
    return fix("clock", fmt::format("cannot read the clock's status: {}", std::strerror(errno)), fix_sync);
  if (state == TIME_ERROR || (tx.status & STA_UNSYNC))
    return fix("clock", "not synchronized (kernel: STA_UNSYNC)", fix_sync);
  return ok("clock", fmt::format("synchronized (kernel: maximum error {} ms)", tx.maxerror / 1000));
}

}  // namespace

double stored_bytes_per_minute() {
  const double wav = 32000.0 * 60;  // 8 kHz x 2 channels x 2 bytes
  return wav * (1.0 + static_cast<double>(kVaultRecordOverhead) / kVaultRecordPlainBytes);
}

int retention_days(const std::string& period) {
  if (!valid_retention_period(period)) return 0;
  size_t i = 0;
  while (i < period.size() && std::isdigit(static_cast<unsigned char>(period[i]))) ++i;
  const int n = std::stoi(period.substr(0, i));
  const std::string unit = period.substr(period.find_first_not_of(' ', i));
  if (unit.rfind("day", 0) == 0) return n;
  if (unit.rfind("week", 0) == 0) return 7 * n;
  if (unit.rfind("month", 0) == 0) return 31 * n;
  return 366 * n;
}

CLI::App* add_doctor_command(CLI::App& app, DoctorOptions& options) {
  auto* cmd = app.add_subcommand(
      "doctor",
      "Check this machine for recording: interface, capabilities, database, data and key directories, disk, "
      "clock; each problem with its fix (exit 0 all ok, 1 something to fix)");
  cmd->add_option("--interface", options.interface, "The capture interface (the switch's mirror port)");
  cmd->add_flag("--json", options.json, "One JSON object on stdout: {\"ok\": bool, \"checks\": [...]}");
  auto* cpd = cmd->add_option("--calls-per-day", options.calls_per_day,
                              "Expected calls per day, for the disk check (default: the index's last 7 days)")
                  ->check(CLI::PositiveNumber);
  auto* mpc = cmd->add_option("--minutes-per-call", options.minutes_per_call, "Average minutes per call")
                  ->check(CLI::PositiveNumber);
  cpd->needs(mpc);
  mpc->needs(cpd);
  cmd->add_option("--skip", options.skip, "Checks not to run (repeat or comma-separate)")
      ->delimiter(',')
      ->check(CLI::IsMember(doctor_check_names()));
  return cmd;
}

int run_doctor(const Config& config, const DoctorOptions& opt) {
  auto wanted = [&](const std::string& name) {
    return std::find(opt.skip.begin(), opt.skip.end(), name) == opt.skip.end();
  };
  std::vector<DoctorCheck> checks;
  std::optional<RecentAudio> recent;
  if (wanted("interface")) {
    if (config.capture_backend == "dpdk" && dpdk_available())
      // A DPDK port is no kernel interface: EAL finds it when capture starts.
      checks.push_back(
          ok("interface",
             fmt::format("[capture] backend is dpdk (port \"{}\"): the port is checked "
                         "when capture starts the EAL",
                         config.capture.interface.empty() ? "the only one" : config.capture.interface)));
    else if (config.capture_backend == "dpdk")
      checks.push_back(
          fix("interface", "[capture] backend is dpdk, but this callvault was built without DPDK",
              "install a callvault built with Debian's dpdk-dev, or set [capture] backend = \"pcap\""));
    else
      checks.push_back(check_interface(opt.interface));
  }
  if (wanted("capabilities")) checks.push_back(check_capabilities());
  if (wanted("database")) checks.push_back(check_database(config, recent));
  if (wanted("data_dir")) checks.push_back(check_data_dir(config));
  if (wanted("disk")) checks.push_back(check_disk(config, opt, recent));
  if (wanted("key_dir")) checks.push_back(check_key_dir(config));
  if (wanted("clock")) checks.push_back(check_clock());
  const bool all_ok = std::all_of(checks.begin(), checks.end(), [](const DoctorCheck& c) { return c.ok; });
  if (opt.json) {
    nlohmann::json out = {{"ok", all_ok}, {"checks", nlohmann::json::array()}};
    for (const auto& c : checks) {
      nlohmann::json j = {{"name", c.name}, {"status", c.ok ? "ok" : "fix"}, {"detail", c.detail}};
      if (!c.ok) j["fix"] = c.fix;
      out["checks"].push_back(j);
    }
    std::cout << out.dump() << "\n";
  } else {
    for (const auto& c : checks) {
      std::cout << fmt::format("{:<4} {:<13} {}\n", c.ok ? "ok" : "FIX", c.name, c.detail);
      if (!c.ok) std::cout << fmt::format("{:<18} -> {}\n", "", c.fix);
    }
    const auto n = std::count_if(checks.begin(), checks.end(), [](const DoctorCheck& c) { return !c.ok; });
    std::cout << (all_ok ? "ready to record\n" : fmt::format("{} to fix\n", n));
  }
  std::cout.flush();
  return all_ok ? 0 : 1;
}

}  // namespace cv
