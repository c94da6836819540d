// `callvault replay` into the recorder's store writes only encrypted
// recordings (R12), and they decrypt to exactly the WAVs a plain replay of the
// same capture writes. Runs callvault-gen and callvault as processes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "storage/vault/vault_format.h"
#include "storage/wav_writer.h"

namespace cv {
namespace {

namespace fs = std::filesystem;

std::string bin(const char* env, const char* compiled) {
  const char* e = std::getenv(env);
  return e && *e ? e : compiled;
}

// Runs a shell command; returns its exit code and stdout.
int run(const std::string& cmd, std::string* out = nullptr) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return -1;
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  const int status = ::pclose(p);
  if (out) *out = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::map<std::string, nlohmann::json> calls_by_uuid(const std::string& json_lines) {
  std::map<std::string, nlohmann::json> calls;
  std::istringstream in(json_lines);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) {
      auto j = nlohmann::json::parse(line);
      calls[j["uuid"].get<std::string>()] = j;
    }
  return calls;
}

TEST(VaultReplay, TheStoreHoldsOnlyEncryptedRecordingsThatDecryptToThePlainReplay) {
  char name[] = "/tmp/callvault-vault-replay-XXXXXX";
  const std::string dir = ::mkdtemp(name);
  const std::string gen = bin("CALLVAULT_GEN", CALLVAULT_GEN), cv = bin("CALLVAULT_BIN", CALLVAULT_BIN);
  // demo: three calls, one of them G.722 (16 kHz); g722_and_g711: a mixed-rate call.
  for (const char* c : {"demo", "g722_and_g711"})
    ASSERT_EQ(run(gen + " --case " + c + " --out " + dir + " >/dev/null"), 0) << c;
  const std::string pcaps = dir + "/demo.pcap " + dir + "/g722_and_g711.pcap";
  std::string plain_json, enc_json;
  ASSERT_EQ(run(cv + " replay --no-db --json --out " + dir + "/plain " + pcaps + " 2>/dev/null", &plain_json),
            0);
  ASSERT_EQ(run("umask 000; " + cv + " --data-dir " + dir + "/data replay --no-db --encrypt --json " + pcaps +
                    " 2>/dev/null",
                &enc_json),
            0);
  const auto plain = calls_by_uuid(plain_json), enc = calls_by_uuid(enc_json);
  ASSERT_EQ(plain.size(), enc.size());
  ASSERT_GE(plain.size(), 4u);

  // Only .wav.enc files, mode 0600, in directories 0750; keys 0700/0600.
  size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir + "/data/audio")) {
    struct stat st {};
    ASSERT_EQ(::stat(e.path().c_str(), &st), 0);
    if (e.is_directory()) {
      EXPECT_EQ(st.st_mode & 07777, 0750u) << e.path();
      continue;
    }
    ++files;
    EXPECT_TRUE(e.path().string().ends_with(".wav.enc")) << e.path();
    EXPECT_EQ(st.st_mode & 07777, 0600u) << e.path();
    EXPECT_NE(slurp(e.path()).substr(0, 4), "RIFF");
  }
  size_t with_audio = 0;
  for (const auto& [uuid, j] : plain) with_audio += !j["audio"].is_null();
  EXPECT_EQ(files, with_audio);
  struct stat kd {};
  ASSERT_EQ(::stat((dir + "/data/keys").c_str(), &kd), 0);
  EXPECT_EQ(kd.st_mode & 07777, 0700u);

  // Each decrypts to the plain replay's WAV, byte for byte, with the same hash.
  KeyStore keys(dir + "/data/keys");
  for (const auto& [uuid, p] : plain) {
    SCOPED_TRACE(uuid);
    ASSERT_TRUE(enc.count(uuid));
    const auto& e = enc.at(uuid);
    if (p["audio"].is_null()) {
      EXPECT_TRUE(e["audio"].is_null());
      continue;
    }
    const std::string rel = e["audio"].get<std::string>();
    EXPECT_EQ(rel, p["audio"].get<std::string>() + ".enc");
    EXPECT_EQ(e["sha256"], p["sha256"]);
    const std::string out = dir + "/" + uuid + ".wav";
    {
      UniqueFd fd(::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600));
      const DecryptResult r = decrypt_recording(keys, dir + "/data/audio/" + rel, fd.get());
      ASSERT_TRUE(r.ok()) << r.message;
      EXPECT_EQ(r.sha256, p["sha256"].get<std::string>());
    }
    const std::string reference = slurp(dir + "/plain/" + p["audio"].get<std::string>());
    ASSERT_FALSE(reference.empty());
    EXPECT_TRUE(slurp(out) == reference) << "decrypted WAV differs from the plain replay's";
  }
  // Replaying again gives the same recordings (same keys, same plaintext hashes).
  std::string again;
  ASSERT_EQ(run(cv + " --data-dir " + dir + "/data replay --no-db --encrypt --json " + pcaps + " 2>/dev/null",
                &again),
            0);
  for (const auto& [uuid, j] : calls_by_uuid(again)) EXPECT_EQ(j["sha256"], enc.at(uuid)["sha256"]);

  // A key directory inside the audio directory is refused before anything is recorded.
  std::ofstream(dir + "/bad.toml") << "[storage]\nkey_dir = \"" << dir << "/data2/audio/keys\"\n";
  std::string ignored;
  EXPECT_EQ(run(cv + " --config " + dir + "/bad.toml --data-dir " + dir + "/data2 replay --no-db --encrypt " +
                    pcaps + " 2>/dev/null",
                &ignored),
            2);
  EXPECT_FALSE(fs::exists(dir + "/data2/audio/2024"));
  if (!std::getenv("CV_KEEP_TEST_FILES")) fs::remove_all(dir);
}

}  // namespace
}  // namespace cv
