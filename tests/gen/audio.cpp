#include "tests/gen/audio.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <numbers>
#include <stdexcept>

namespace cv::gen {

Signal tone(double freq_hz, int rate, double seconds, double amplitude) {
  auto v = std::make_shared<std::vector<int16_t>>(static_cast<size_t>(seconds * rate));
  for (size_t i = 0; i < v->size(); ++i) {
    (*v)[i] = static_cast<int16_t>(
        std::lround(amplitude * std::sin(2.0 * std::numbers::pi * freq_hz * static_cast<double>(i) / rate)));
  }
  return v;
}

namespace {

// Runs argv without a shell; returns the exit status (127: could not exec).
int run(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    if (std::freopen("/dev/null", "w", stdout) == nullptr) _exit(126);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

bool have_tool(const char* name) {
  const char* path = std::getenv("PATH");
  std::string p = path != nullptr ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    const size_t end = p.find(':', start);
    const std::string dir = p.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) return true;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return false;
}

}  // namespace

Signal speech(const std::string& text, int rate) {
  static std::mutex mu;
  static std::map<std::pair<std::string, int>, Signal> cache;
  std::lock_guard lock(mu);
  if (auto it = cache.find({text, rate}); it != cache.end()) return it->second;
  for (const char* tool : {"espeak-ng", "sox"}) {
    if (!have_tool(tool)) {
      throw std::runtime_error(std::string("speech audio needs ") + tool +
                               " (apt-get install espeak-ng sox); it is not on PATH");
    }
  }
  char dir_template[] = "/tmp/cvgen-speech-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) throw std::runtime_error("mkdtemp failed");
  const std::filesystem::path dir = dir_template;
  const std::string wav = (dir / "speech.wav").string();
  const std::string raw = (dir / "speech.raw").string();
  if (run({"espeak-ng", "-w", wav, text}) != 0) throw std::runtime_error("espeak-ng failed");
  if (run({"sox", wav, "-r", std::to_string(rate), "-c", "1", "-b", "16", "-e", "signed-integer", "-L",
           raw}) != 0)
    throw std::runtime_error("sox failed");
  std::ifstream in(raw, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::filesystem::remove_all(dir);
  auto v = std::make_shared<std::vector<int16_t>>(bytes.size() / 2);
  for (size_t i = 0; i < v->size(); ++i) {
    (*v)[i] = static_cast<int16_t>(static_cast<uint8_t>(bytes[2 * i]) |
                                   (static_cast<uint8_t>(bytes[2 * i + 1]) << 8));
  }
  if (v->empty()) throw std::runtime_error("espeak-ng produced no audio for: " + text);
  cache.emplace(std::make_pair(text, rate), v);
  return v;
}

}  // namespace cv::gen
