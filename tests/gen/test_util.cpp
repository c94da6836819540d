#include "tests/gen/test_util.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace cv::gen::test {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr && *base != 0 ? base : "/tmp") + "/cvgen-test-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  if (std::getenv("CVGEN_KEEP") != nullptr) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

RunResult run(const std::vector<std::string>& args) {
  RunResult r;
  int out_pipe[2], err_pipe[2];
  if (pipe(out_pipe) != 0) return r;
  if (pipe(err_pipe) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return r;
  }
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    close(out_pipe[0]);
    close(err_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[1]);
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (pid < 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    return r;
  }
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  rusage usage{};
  while (wait4(pid, &status, 0, &usage) < 0) {
  }
  r.max_rss_kb = usage.ru_maxrss;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

bool have_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

Wav read_wav(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<uint8_t> d((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto le16 = [&](size_t at) { return static_cast<uint32_t>(d[at] | d[at + 1] << 8); };
  auto le32 = [&](size_t at) { return le16(at) | le16(at + 2) << 16; };
  if (d.size() < 12 || std::string(d.begin(), d.begin() + 4) != "RIFF" ||
      std::string(d.begin() + 8, d.begin() + 12) != "WAVE")
    throw std::runtime_error(path + ": not RIFF/WAVE");
  Wav w;
  size_t at = 12;
  bool have_fmt = false;
  while (at + 8 <= d.size()) {
    const std::string id(d.begin() + static_cast<std::ptrdiff_t>(at),
                         d.begin() + static_cast<std::ptrdiff_t>(at + 4));
    const size_t len = le32(at + 4);
    const size_t body = at + 8;
    if (body + len > d.size()) throw std::runtime_error(path + ": chunk past end of file");
    if (id == "fmt ") {
      if (le16(body) != 1) throw std::runtime_error(path + ": not PCM");
      w.channels = static_cast<int>(le16(body + 2));
      w.rate = static_cast<int>(le32(body + 4));
      w.bits = static_cast<int>(le16(body + 14));
      have_fmt = true;
    } else if (id == "data") {
      if (!have_fmt || w.bits != 16 || w.channels < 1)
        throw std::runtime_error(path + ": unsupported format");
      const size_t frames = len / (2 * static_cast<size_t>(w.channels));
      for (size_t i = 0; i < frames; ++i) {
        const size_t f = body + i * 2 * static_cast<size_t>(w.channels);
        w.left.push_back(static_cast<int16_t>(le16(f)));
        if (w.channels > 1) w.right.push_back(static_cast<int16_t>(le16(f + 2)));
      }
    }
    at = body + len + (len & 1);
  }
  return w;
}

double correlation(const std::vector<int16_t>& a, const std::vector<int16_t>& b, int max_lag, int* lag) {
  double best = -2.0;
  const auto n = static_cast<long>(std::max(a.size(), b.size()));
  for (int l = -max_lag; l <= max_lag; ++l) {
    double ab = 0, aa = 0, bb = 0;
    for (long i = 0; i < n; ++i) {
      const long j = i + l;
      const double x = i < static_cast<long>(a.size()) ? a[static_cast<size_t>(i)] : 0.0;
      const double y = j >= 0 && j < static_cast<long>(b.size()) ? b[static_cast<size_t>(j)] : 0.0;
      ab += x * y;
      aa += x * x;
      bb += y * y;
    }
    const double c = aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : (aa == bb ? 1.0 : 0.0);
    if (c > best) {
      best = c;
      if (lag != nullptr) *lag = l;
    }
  }
  return best;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  return nlohmann::json::parse(in);
}

int64_t parse_iso_ms(const std::string& s) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &ms) < 6)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + ms;
}

std::vector<TsharkStream> parse_tshark_rtp_streams(const std::string& text) {
  static const std::regex line_re(
      R"(^\s*\S+\s+\S+\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)\s+(0x[0-9A-Fa-f]+)\s+(.*?)\s+(\d+)\s+(-?\d+)\s+\(-?[\d.]+%\))");
  std::vector<TsharkStream> out;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) {
    std::smatch m;
    if (!std::regex_search(line, m, line_re)) continue;
    auto ep = [](const std::string& ip, const std::string& port) {
      return ip.find(':') != std::string::npos ? "[" + ip + "]:" + port : ip + ":" + port;
    };
    TsharkStream t;
    t.src = ep(m[1], m[2]);
    t.dst = ep(m[3], m[4]);
    t.ssrc = m[5];
    for (auto& c : t.ssrc) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    t.ssrc[1] = 'x';
    t.payload = m[6];
    t.packets = std::stoll(m[7]);
    t.lost = std::stoll(m[8]);
    out.push_back(t);
  }
  return out;
}

}  // namespace cv::gen::test
