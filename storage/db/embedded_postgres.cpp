#include "storage/db/embedded_postgres.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <grp.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <pqxx/nontransaction>
#include <vector>

namespace cv {
namespace fs = std::filesystem;
namespace {

// Who runs the cluster's programs.
struct Account {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  bool switch_user = false;  // true when we are root and must drop to it
};

bool resolve_account(const DatabaseSettings& s, Account& account, std::string& error) {
  if (geteuid() != 0) {
    account.uid = geteuid();
    account.gid = getegid();
    const passwd* pw = getpwuid(account.uid);
    account.name = pw ? pw->pw_name : std::to_string(account.uid);
    return true;
  }
  const passwd* pw = getpwnam(s.embedded_account.c_str());
  if (!pw) {
    error = fmt::format(
        "PostgreSQL refuses to run as root and the account \"{}\" for the embedded database does not exist: "
        "install the postgresql package (it creates \"postgres\"), create the account, or set "
        "[database] embedded_account",
        s.embedded_account);
    return false;
  }
  if (pw->pw_uid == 0) {
    error =
        fmt::format("[database] embedded_account \"{}\" is root; PostgreSQL needs an unprivileged account",
                    s.embedded_account);
    return false;
  }
  account.name = pw->pw_name;
  account.uid = pw->pw_uid;
  account.gid = pw->pw_gid;
  int n = 64;
  account.groups.resize(n);
  if (getgrouplist(pw->pw_name, pw->pw_gid, account.groups.data(), &n) < 0) {
    account.groups.resize(n);
    getgrouplist(pw->pw_name, pw->pw_gid, account.groups.data(), &n);
  }
  account.groups.resize(n);
  account.switch_user = true;
  return true;
}

std::string find_bin_dir(const DatabaseSettings& s, std::string& error) {
  auto usable = [](const fs::path& dir) {
    return access((dir / "initdb").c_str(), X_OK) == 0 && access((dir / "pg_ctl").c_str(), X_OK) == 0;
  };
  if (!s.pg_bin_dir.empty()) {
    if (usable(s.pg_bin_dir)) return s.pg_bin_dir;
    error = fmt::format("[database] pg_bin_dir {}: no executable initdb and pg_ctl there", s.pg_bin_dir);
    return {};
  }
  // Debian installs each major version side by side; take the newest.
  std::vector<std::pair<int, fs::path>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string v = entry.path().filename().string();
    if (v.empty() || !std::all_of(v.begin(), v.end(), ::isdigit)) continue;
    if (usable(entry.path() / "bin")) found.emplace_back(std::stoi(v), entry.path() / "bin");
  }
  if (found.empty()) {
    error =
        "no PostgreSQL server found in /usr/lib/postgresql/*/bin for the embedded database: install the "
        "postgresql package, set [database] pg_bin_dir, or point callvault at a server with --db URL";
    return {};
  }
  std::sort(found.begin(), found.end());
  return found.back().second.string();
}

// Runs a program as the cluster's account with a small fixed environment;
// returns its exit status (-1: could not run) and its output.
int run_as(const Account& account, const std::vector<std::string>& argv, std::string& output) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    output = std::string("pipe: ") + std::strerror(errno);
    return -1;
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // PostgreSQL's tools pick the locale and time zone up from here.
  const char* env[] = {"PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8", "LANG=C.UTF-8", nullptr};
  pid_t pid = fork();
  if (pid < 0) {
    output = std::string("fork: ") + std::strerror(errno);
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    if (account.switch_user) {
      if (setgroups(account.groups.size(), account.groups.data()) != 0 || setgid(account.gid) != 0 ||
          setuid(account.uid) != 0) {
        dprintf(2, "cannot switch to account %s: %s\n", account.name.c_str(), std::strerror(errno));
        _exit(126);
      }
    }
    if (chdir("/") != 0) _exit(126);
    execve(args[0], args.data(), const_cast<char* const*>(env));
    dprintf(2, "cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  char buf[4096];
  for (;;) {
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n > 0) {
      output.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string tail_of(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += "\n  " + all[i];
  return out;
}

bool make_dir(const std::string& path, mode_t mode, std::string& error) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) {
    error = fmt::format("cannot create {}: {}", path, ec.message());
    return false;
  }
  if (chmod(path.c_str(), mode) != 0) {
    error = fmt::format("cannot set the mode of {}: {}", path, std::strerror(errno));
    return false;
  }
  return true;
}

// The data directory: created 0750 when missing, an existing one keeps its
// mode (the installation's 0750 callvault:callvault, or what the operator chose).
bool make_data_dir(const std::string& path, std::string& error) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return true;
  return make_dir(path, 0750, error);
}

// Directories the cluster's account must own.
bool prepare_dirs(const DatabaseSettings& s, const Account& account, std::string& error) {
  if (!make_data_dir(s.data_dir, error)) return false;
  // The data directory itself must be searchable by the cluster's account
  // (not listable) unless that account owns it; everything below it is private.
  struct stat st {};
  if (stat(s.data_dir.c_str(), &st) == 0 && account.switch_user && st.st_uid != account.uid &&
      !(st.st_mode & S_IXOTH))
    chmod(s.data_dir.c_str(), (st.st_mode & 07777) | S_IXOTH);
  for (const std::string& dir : {EmbeddedPostgres::cluster_dir(s), EmbeddedPostgres::socket_dir(s)}) {
    if (!make_dir(dir, 0700, error)) return false;
    if (account.switch_user && chown(dir.c_str(), account.uid, account.gid) != 0) {
      error = fmt::format("cannot give {} to the account {}: {}", dir, account.name, std::strerror(errno));
      return false;
    }
  }
  const std::string log = EmbeddedPostgres::log_file(s);
  int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = fmt::format("cannot create {}: {}", log, std::strerror(errno));
    return false;
  }
  close(fd);
  if (account.switch_user && chown(log.c_str(), account.uid, account.gid) != 0) {
    error = fmt::format("cannot give {} to the account {}: {}", log, account.name, std::strerror(errno));
    return false;
  }
  // Every directory above must let the account through: check as that account.
  std::string out;
  const int rc = run_as(account, {"/usr/bin/test", "-w", EmbeddedPostgres::cluster_dir(s)}, out);
  if (rc != 0) {
    error = fmt::format(
        "the account {} cannot reach {}: every directory above it needs search permission for that account "
        "(chmod o+x), or choose another --data-dir",
        account.name, EmbeddedPostgres::cluster_dir(s));
    return false;
  }
  return true;
}

// Settings that must follow the data directory wherever it is.
bool write_cluster_conf(const DatabaseSettings& s, const Account& account, std::string& error) {
  std::string socket;
  for (char c : EmbeddedPostgres::socket_dir(s)) {
    if (c == '\'') socket += '\'';
    socket += c;
  }
  // Shared buffers: an eighth of the memory, between PostgreSQL's default
  // 128 MB and 1 GB. The indexes of a million calls take ~300 MB; when they
  // do not fit, every insert evicts and rewrites index pages.
  const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
  const long long memory_mb = pages > 0 && page_size > 0 ? 1LL * pages * page_size / (1024 * 1024) : 0;
  const long long shared_mb = std::clamp(memory_mb / 8, 128LL, 1024LL);
  const std::string path = EmbeddedPostgres::cluster_dir(s) + "/callvault.conf";
  std::ofstream out(path, std::ios::trunc);
  out << "# Written by callvault at every start of the embedded database.\n"
      << "listen_addresses = ''\n"
      << "port = 5432\n"
      << "unix_socket_directories = '" << socket << "'\n"
      << "unix_socket_permissions = 0700\n"
      << "shared_buffers = '" << shared_mb
      << "MB'\n"
      // Durability stays as PostgreSQL ships it (fsync, synchronous_commit,
      // full_page_writes on): the writer removes a journal segment once its
      // commit returns. Fewer checkpoints mean fewer full-page images in the WAL.
      << "wal_buffers = '32MB'\n"
      << "max_wal_size = '4GB'\n"
      << "min_wal_size = '512MB'\n"
      << "checkpoint_timeout = '15min'\n"
      // The auditors' queries are short; compiling them with LLVM costs more
      // than it saves.
      << "jit = off\n"
      << "log_min_messages = warning\n";
  out.close();
  if (!out) {
    error = "cannot write " + path;
    return false;
  }
  if (account.switch_user && chown(path.c_str(), account.uid, account.gid) != 0) {
    error = fmt::format("cannot give {} to the account {}: {}", path, account.name, std::strerror(errno));
    return false;
  }
  return true;
}

class DirLock {
 public:
  explicit DirLock(const std::string& path) : fd_(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    if (fd_ >= 0) flock(fd_, LOCK_EX);
  }
  ~DirLock() {
    if (fd_ >= 0) close(fd_);  // releases the lock
  }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_;
};

bool create_database(const DatabaseSettings& s, std::string& error) {
  std::string conninfo = connection_string(s, DbRole::kAdmin);
  conninfo.replace(conninfo.find("dbname=callvault"), 16, "dbname=postgres");
  auto conn = connect_database(conninfo, s.connect_timeout_s, error);
  if (!conn) return false;
  try {
    pqxx::nontransaction tx(*conn);
    if (tx.exec("SELECT 1 FROM pg_database WHERE datname = 'callvault'").empty())
      tx.exec("CREATE DATABASE callvault ENCODING 'UTF8' TEMPLATE template0");
  } catch (const std::exception& e) {
    error = "cannot create the database callvault: " + one_line(e.what());
    return false;
  }
  return true;
}

}  // namespace

bool EmbeddedPostgres::is_running(const DatabaseSettings& s) {
  std::string error;
  Account account;
  std::string bin = find_bin_dir(s, error);
  if (bin.empty() || !resolve_account(s, account, error)) return false;
  if (access((cluster_dir(s) + "/PG_VERSION").c_str(), F_OK) != 0) return false;
  std::string out;
  return run_as(account, {bin + "/pg_ctl", "status", "-D", cluster_dir(s)}, out) == 0;
}

bool EmbeddedPostgres::ensure_running(const DatabaseSettings& s, std::string& error, bool* started) {
  if (started) *started = false;
  Account account;
  const std::string bin = find_bin_dir(s, error);
  if (bin.empty() || !resolve_account(s, account, error)) return false;
  if (!make_data_dir(s.data_dir, error)) return false;
  DirLock lock(s.data_dir + "/.postgres.lock");
  if (!prepare_dirs(s, account, error)) return false;
  const std::string pgdata = cluster_dir(s);
  std::string out;
  if (access((pgdata + "/PG_VERSION").c_str(), F_OK) != 0) {
    spdlog::info("initialising the embedded database in {} (account {})", pgdata, account.name);
    const int rc = run_as(account,
                          {bin + "/initdb", "-D", pgdata, "-U", db_role_name(DbRole::kAdmin), "--auth=trust",
                           "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"},
                          out);
    if (rc != 0) {
      error = fmt::format("initdb {} failed:\n{}", pgdata, out);
      return false;
    }
    std::ofstream conf(pgdata + "/postgresql.conf", std::ios::app);
    conf << "\ninclude_if_exists = 'callvault.conf'\n";
    if (!conf) {
      error = "cannot extend " + pgdata + "/postgresql.conf";
      return false;
    }
  }
  if (run_as(account, {bin + "/pg_ctl", "status", "-D", pgdata}, out) != 0) {
    if (!write_cluster_conf(s, account, error)) return false;
    out.clear();
    const int rc =
        run_as(account, {bin + "/pg_ctl", "start", "-w", "-t", "120", "-D", pgdata, "-l", log_file(s)}, out);
    if (rc != 0) {
      error = fmt::format("the embedded database in {} did not start:\n{}\nlast lines of {}:{}", pgdata, out,
                          log_file(s), tail_of(log_file(s), 10));
      return false;
    }
    if (started) *started = true;
  }
  return create_database(s, error);
}

bool EmbeddedPostgres::stop(const DatabaseSettings& s, std::string& error, bool* was_running) {
  if (was_running) *was_running = false;
  Account account;
  const std::string bin = find_bin_dir(s, error);
  if (bin.empty() || !resolve_account(s, account, error)) return false;
  if (access((cluster_dir(s) + "/PG_VERSION").c_str(), F_OK) != 0) return true;  // never initialised
  DirLock lock(s.data_dir + "/.postgres.lock");
  std::string out;
  if (run_as(account, {bin + "/pg_ctl", "status", "-D", cluster_dir(s)}, out) != 0) return true;
  if (was_running) *was_running = true;
  out.clear();
  if (run_as(account, {bin + "/pg_ctl", "stop", "-w", "-t", "120", "-m", "fast", "-D", cluster_dir(s)},
             out) != 0) {
    error = fmt::format("stopping the embedded database in {} failed:\n{}", cluster_dir(s), out);
    return false;
  }
  return true;
}

}  // namespace cv
