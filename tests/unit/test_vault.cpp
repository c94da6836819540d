// Encryption at rest (R12): the key store, the encrypted sink, the decryptor.
// Real files, real libsodium; the plain WavFileSink is the reference.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "storage/recording_id.h"
#include "storage/vault/encrypted_sink.h"
#include "storage/vault/key_store.h"
#include "storage/vault/vault_format.h"
#include "storage/wav_writer.h"

namespace cv {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<unsigned char>;

class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/callvault-vault-XXXXXX";
    path_ = ::mkdtemp(name);
  }
  ~TempDir() {
    std::error_code ec;
    if (!std::getenv("CV_KEEP_TEST_FILES")) fs::remove_all(path_, ec);
  }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}
void write_file(const std::string& path, const Bytes& b) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

std::vector<int16_t> audio(size_t frames, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int16_t> v(2 * frames);
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<int16_t>(8000 * std::sin(static_cast<double>(i) * 0.01 * (1 + seed % 7)) +
                                static_cast<int>(rng() % 512) - 256);
  return v;
}

// The same writes (in uneven pieces, like the mix window's) into any sink.
struct Script {
  std::vector<int16_t> before;  // at the first rate
  std::vector<int16_t> after;   // after change_rate(8000, 16000), when set
  bool change = false;
};
void play(AudioSink& sink, const Script& s, uint32_t seed) {
  std::mt19937 rng(seed);
  auto feed = [&](const std::vector<int16_t>& v) {
    size_t at = 0, frames = v.size() / 2;
    while (at < frames) {
      size_t n = std::min<size_t>(frames - at, 1 + rng() % 3000);
      ASSERT_TRUE(sink.write(v.data() + 2 * at, n));
      at += n;
    }
  };
  feed(s.before);
  if (s.change) {
    ASSERT_TRUE(sink.change_rate(8000, 16000));
    feed(s.after);
  }
}

struct Store {
  TempDir tmp;
  std::string root = tmp.path() + "/audio";
  std::string key_dir = tmp.path() + "/keys";
  KeyStore keys{key_dir};
};

const std::string kRel = "2024/03/01/0b7e1c2a-3d4f-5a6b-8c9d-0e1f2a3b4c5d.wav";

FinishedAudio write_encrypted(Store& st, const Script& s, const std::string& rel = kRel + ".enc") {
  std::string error;
  auto sink = EncryptedWavSink::create(st.keys, st.root, rel, 8000, error);
  EXPECT_TRUE(sink) << error;
  if (!sink) return {};
  play(*sink, s, 7);
  return sink->finish();
}

Bytes write_plain(const std::string& root, const Script& s, FinishedAudio& fin) {
  std::string error;
  auto sink = WavFileSink::create(root, kRel, 8000, error);
  EXPECT_TRUE(sink) << error;
  play(*sink, s, 7);
  fin = sink->finish();
  return read_file(root + "/" + kRel);
}

struct Decrypted {
  DecryptResult result;
  Bytes wav;
};
Decrypted decrypt(KeyStore& keys, const std::string& path, bool partial = false) {
  TempDir out;
  const std::string file = out.path() + "/out.wav";
  UniqueFd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600));
  Decrypted d;
  d.result = decrypt_recording(keys, path, fd.get(), DecryptOptions{partial});
  d.wav = read_file(file);
  return d;
}
Decrypted decrypt_bytes(const Bytes& file, const KeyHandle& key, bool partial = false) {
  TempDir out;
  const std::string name = out.path() + "/out.wav";
  UniqueFd fd(::open(name.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600));
  SpanVaultInput in(std::as_bytes(std::span(file)));
  Decrypted d;
  d.result = decrypt_vault(
      in, [&](const VaultHeader&, std::string&) { return key; }, fd.get(), DecryptOptions{partial});
  d.wav = read_file(name);
  return d;
}

std::string sha256sum(const std::string& path) {
  std::string cmd = "sha256sum '" + path + "'";
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[65] = {};
  EXPECT_EQ(std::fread(buf, 1, 64, p), 64u);
  ::pclose(p);
  return buf;
}

// Offsets where records start (after the header), and the file size.
std::vector<size_t> record_starts(const Bytes& f) {
  std::vector<size_t> starts;
  size_t at = kVaultHeaderBytes;
  while (at + 4 <= f.size()) {
    starts.push_back(at);
    uint32_t len = f[at] | f[at + 1] << 8 | f[at + 2] << 16 | static_cast<uint32_t>(f[at + 3]) << 24;
    at += 4 + len;
  }
  EXPECT_EQ(at, f.size());
  return starts;
}

KeyHandle key_of(Store& st, VaultDay day, uint32_t gen = 1) {
  std::string error;
  auto k = st.keys.key_for_reading(day, gen, error);
  EXPECT_TRUE(k) << error;
  return k;
}
const VaultDay kDay = *vault_day_of_path(kRel);

// ---------------------------------------------------------------------------

TEST(VaultDay, NamesAndPaths) {
  EXPECT_EQ(vault_day_name(VaultDay{0}), "1970-01-01");
  EXPECT_EQ(vault_day_name(kDay), "2024-03-01");
  EXPECT_EQ(parse_vault_day("2024-03-01"), kDay);
  EXPECT_EQ(vault_day_of(Timestamp{1709337599LL * kNsPerSec}), kDay);  // 2024-03-01T23:59:59Z
  EXPECT_EQ(vault_day_of(Timestamp{1709337600LL * kNsPerSec}).days, kDay.days + 1);
  for (const char* bad : {"2024-02-30", "2024-3-01", "1969-12-31", "2024/03/01", "", "abcd-ef-gh"})
    EXPECT_FALSE(parse_vault_day(bad)) << bad;
  EXPECT_FALSE(vault_day_of_path("2024/03/1/x.wav.enc"));
  EXPECT_FALSE(vault_day_of_path("../../etc/passwd"));
}

TEST(VaultRoundTrip, ShortAndLongMatchThePlainWriterByteForByte) {
  for (size_t frames : {size_t{0}, size_t{1}, size_t{2047}, size_t{2048}, size_t{2049}, size_t{100'000},
                        size_t{8000 * 60 * 5}}) {
    SCOPED_TRACE(frames);
    Store st;
    Script s{audio(frames, static_cast<uint32_t>(frames)), {}, false};
    const FinishedAudio enc = write_encrypted(st, s);
    ASSERT_TRUE(enc.ok) << enc.error;
    EXPECT_EQ(enc.error, "");
    EXPECT_EQ(enc.relative_path, kRel + ".enc");
    FinishedAudio plain;
    const Bytes reference = write_plain(st.tmp.path() + "/plain", s, plain);
    EXPECT_EQ(enc.sha256, plain.sha256);
    EXPECT_EQ(enc.bytes, plain.bytes);
    EXPECT_EQ(enc.bytes, 44 + 4 * frames);

    const std::string path = st.root + "/" + enc.relative_path;
    const Bytes file = read_file(path);
    // Nothing of the audio is on disk in the clear.
    if (frames >= 64) {
      const auto* a = reinterpret_cast<const unsigned char*>(s.before.data()) + 100;
      EXPECT_EQ(std::search(file.begin(), file.end(), a, a + 32), file.end());
    }
    EXPECT_EQ(file.size(), kVaultHeaderBytes + (frames * 4 + 8191) / 8192 * kVaultRecordOverhead +
                               frames * 4 + kVaultRecordOverhead + kVaultFinalPlainBytes);
    Decrypted d = decrypt(st.keys, path);
    ASSERT_TRUE(d.result.ok()) << d.result.message;
    EXPECT_EQ(d.wav, reference);
    EXPECT_EQ(d.result.sha256, plain.sha256);
    EXPECT_EQ(d.result.recorded_sha256, plain.sha256);
    EXPECT_EQ(d.result.wav_bytes, reference.size());
    const DecryptResult v = verify_recording(st.keys, path);
    EXPECT_TRUE(v.ok()) << v.message;
    EXPECT_EQ(v.sha256, plain.sha256);
    // No temporary files left.
    for (const auto& e : fs::recursive_directory_iterator(st.root))
      EXPECT_NE(e.path().filename().string()[0], '.') << e.path();
  }
}

TEST(VaultRoundTrip, RateChangeMidCallMatchesThePlainWriter) {
  for (size_t before : {size_t{0}, size_t{3000}, size_t{2048 * 3}, size_t{40'000}}) {
    SCOPED_TRACE(before);
    Store st;
    Script s{audio(before, 1), audio(30'000, 2), true};
    const FinishedAudio enc = write_encrypted(st, s);
    ASSERT_TRUE(enc.ok) << enc.error;
    FinishedAudio plain;
    const Bytes reference = write_plain(st.tmp.path() + "/plain", s, plain);
    // The reference itself: a consistent 16 kHz WAV of the right length (the
    // plain writer's change_rate once failed to read back and appended its header).
    ASSERT_GE(reference.size(), 44u);
    EXPECT_EQ(Bytes(reference.begin(), reference.begin() + 44), [&] {
      const auto h = wav_header(16000, reference.size() - 44);
      return Bytes(h.begin(), h.end());
    }());
    EXPECT_NEAR(static_cast<double>(reference.size() - 44) / 4, 2.0 * before + 30'000, 4);
    Decrypted d = decrypt(st.keys, st.root + "/" + enc.relative_path);
    ASSERT_TRUE(d.result.ok()) << d.result.message;
    EXPECT_EQ(d.result.sample_rate, 16000u);
    EXPECT_EQ(d.wav, reference);
    EXPECT_EQ(enc.sha256, plain.sha256);
    EXPECT_EQ(enc.bytes, plain.bytes);
    EXPECT_FALSE(
        fs::exists(st.root + "/2024/03/01/." + fs::path(kRel).filename().string() + ".enc.tmp.rate"));
  }
}

TEST(VaultRoundTrip, Sha256IsThatOfTheDecryptedFileAsSha256sumSeesIt) {
  Store st;
  const FinishedAudio enc = write_encrypted(st, Script{audio(12345, 3), {}, false});
  ASSERT_TRUE(enc.ok);
  const std::string out = st.tmp.path() + "/decrypted.wav";
  {
    UniqueFd fd(::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600));
    ASSERT_TRUE(decrypt_recording(st.keys, st.root + "/" + enc.relative_path, fd.get()).ok());
  }
  EXPECT_EQ(sha256sum(out), enc.sha256);
  EXPECT_EQ(fs::file_size(out), enc.bytes);
}

TEST(VaultFiles, ModesAreOwnerOnlyWhateverTheUmask) {
  const mode_t old = ::umask(0);
  Store st;
  const FinishedAudio enc = write_encrypted(st, Script{audio(100, 4), {}, false});
  ::umask(old);
  ASSERT_TRUE(enc.ok);
  auto mode = [](const std::string& p) {
    struct stat s {};
    EXPECT_EQ(::stat(p.c_str(), &s), 0) << p;
    return s.st_mode & 07777;
  };
  EXPECT_EQ(mode(st.root + "/" + enc.relative_path), 0600u);
  EXPECT_EQ(mode(st.root + "/2024/03/01"), 0750u);
  EXPECT_EQ(mode(st.root + "/2024"), 0750u);
  EXPECT_EQ(mode(st.key_dir), 0700u);
  EXPECT_EQ(mode(st.key_dir + "/2024-03-01.1.key"), 0600u);
  EXPECT_EQ(fs::file_size(st.key_dir + "/2024-03-01.1.key"), 32u);
  // A key directory left open to others is closed again.
  ::chmod(st.key_dir.c_str(), 0755);
  KeyStore again(st.key_dir);
  std::string error;
  ASSERT_TRUE(again.prepare(error)) << error;
  EXPECT_EQ(mode(st.key_dir), 0700u);
}

TEST(VaultDamage, CutAtEveryRecordBoundaryAndMidRecord) {
  Store st;
  Script s{audio(2048 * 3 + 100, 5), {}, false};  // 4 data records + final
  const FinishedAudio enc = write_encrypted(st, s);
  ASSERT_TRUE(enc.ok);
  const Bytes file = read_file(st.root + "/" + enc.relative_path);
  const KeyHandle key = key_of(st, kDay);
  const auto starts = record_starts(file);
  ASSERT_EQ(starts.size(), 5u);
  const auto* pcm = reinterpret_cast<const unsigned char*>(s.before.data());
  std::set<size_t> cuts = {0, 1, 10, kVaultHeaderBytes - 1};
  for (size_t i = 0; i < starts.size(); ++i) {
    const size_t end = i + 1 < starts.size() ? starts[i + 1] : file.size();
    for (size_t c : {starts[i], starts[i] + 1, starts[i] + 3, starts[i] + 4, starts[i] + 5,
                     (starts[i] + end) / 2, end - 1})
      cuts.insert(c);
  }
  for (size_t cut : cuts) {
    SCOPED_TRACE(cut);
    const Bytes shorter(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(cut));
    const Decrypted strict = decrypt_bytes(shorter, key);
    EXPECT_FALSE(strict.result.ok());
    EXPECT_TRUE(strict.wav.empty()) << "nothing is written unless the whole file is authentic";
    const Decrypted partial = decrypt_bytes(shorter, key, true);
    if (cut < kVaultHeaderBytes) {
      EXPECT_EQ(partial.result.status, VaultStatus::kCorrupt);
      EXPECT_NE(partial.result.message.find("shorter"), std::string::npos) << partial.result.message;
      continue;
    }
    ASSERT_EQ(partial.result.status, VaultStatus::kTruncated) << partial.result.message;
    EXPECT_NE(partial.result.message.find("cut short"), std::string::npos) << partial.result.message;
    // Exactly the complete data records before the cut, as a valid WAV.
    size_t complete = 0;
    for (size_t i = 0; i + 1 < starts.size(); ++i)
      if (starts[i + 1] <= cut) ++complete;
    const size_t data = std::min<size_t>(complete * 8192, s.before.size() * 2);
    const auto header = wav_header(8000, data);
    Bytes expected(header.begin(), header.end());
    expected.insert(expected.end(), pcm, pcm + data);
    EXPECT_EQ(partial.wav, expected);
    EXPECT_EQ(partial.result.wav_bytes, expected.size());
  }
  // Appending to a complete file is detected too.
  Bytes longer = file;
  longer.push_back(0);
  const Decrypted appended = decrypt_bytes(longer, key, true);
  EXPECT_EQ(appended.result.status, VaultStatus::kCorrupt);
  EXPECT_NE(appended.result.message.find("appended after the final record"), std::string::npos);
}

TEST(VaultDamage, OneFlippedBitAnywhereIsDetected) {
  Store st;
  const FinishedAudio enc = write_encrypted(st, Script{audio(2048 * 2 + 7, 6), {}, false});
  ASSERT_TRUE(enc.ok);
  const Bytes file = read_file(st.root + "/" + enc.relative_path);
  const KeyHandle key = key_of(st, kDay);
  ASSERT_TRUE(decrypt_bytes(file, key).result.ok());
  for (size_t at = 0; at < file.size(); ++at) {
    Bytes bad = file;
    bad[at] ^= static_cast<unsigned char>(1u << (at % 8));
    SpanVaultInput in(std::as_bytes(std::span(bad)));
    const DecryptResult r = decrypt_vault(
        in, [&](const VaultHeader&, std::string&) { return key; }, -1, DecryptOptions{true});
    ASSERT_NE(r.status, VaultStatus::kOk) << "bit " << at % 8 << " of byte " << at;
    ASSERT_FALSE(r.message.empty());
  }
}

TEST(VaultKeys, WrongOrMissingKeyIsRefusedClearly) {
  Store st;
  const FinishedAudio enc = write_encrypted(st, Script{audio(5000, 8), {}, false});
  ASSERT_TRUE(enc.ok);
  const std::string path = st.root + "/" + enc.relative_path;
  {
    TempDir other;
    KeyStore wrong(other.path() + "/keys");
    std::string error;
    ASSERT_TRUE(wrong.key_for_writing(kDay, error)) << error;  // another key for the same day
    const Decrypted d = decrypt(wrong, path);
    EXPECT_EQ(d.result.status, VaultStatus::kCorrupt);
    EXPECT_NE(d.result.message.find("fails authentication"), std::string::npos) << d.result.message;
    EXPECT_NE(d.result.message.find("2024-03-01 generation 1"), std::string::npos) << d.result.message;
    EXPECT_TRUE(d.wav.empty());
  }
  {
    TempDir other;
    KeyStore none(other.path() + "/keys");
    const Decrypted d = decrypt(none, path);
    EXPECT_EQ(d.result.status, VaultStatus::kKeyUnavailable);
    EXPECT_NE(d.result.message.find("missing"), std::string::npos) << d.result.message;
    EXPECT_NE(d.result.message.find(path), std::string::npos) << d.result.message;
  }
  {
    const Decrypted d = decrypt(st.keys, st.tmp.path() + "/nonexistent.wav.enc");
    EXPECT_EQ(d.result.status, VaultStatus::kIoError);
  }
  {
    write_file(st.tmp.path() + "/plain.wav", Bytes(100, 'R'));
    const Decrypted d = decrypt(st.keys, st.tmp.path() + "/plain.wav");
    EXPECT_EQ(d.result.status, VaultStatus::kCorrupt);
    EXPECT_NE(d.result.message.find("not an encrypted"), std::string::npos) << d.result.message;
  }
}

TEST(VaultKeys, DestroyedKeyLeavesATombstoneAndLateRecordingsGetANewGeneration) {
  Store st;
  const FinishedAudio a = write_encrypted(st, Script{audio(3000, 9), {}, false});
  ASSERT_TRUE(a.ok);
  const Bytes key1 = read_file(st.key_dir + "/2024-03-01.1.key");
  // Another recorder process that has the key cached.
  KeyStore other(st.key_dir);
  std::string error;
  auto cached = other.key_for_writing(kDay, error);
  ASSERT_TRUE(cached);
  EXPECT_EQ(cached->generation, 1u);

  auto destroyed = st.keys.destroy_day(kDay, error);
  ASSERT_TRUE(destroyed) << error;
  EXPECT_EQ(*destroyed, 1);
  EXPECT_FALSE(fs::exists(st.key_dir + "/2024-03-01.1.key"));
  EXPECT_TRUE(fs::exists(st.key_dir + "/2024-03-01.1.destroyed"));
  const Decrypted gone = decrypt(st.keys, st.root + "/" + a.relative_path);
  EXPECT_EQ(gone.result.status, VaultStatus::kKeyUnavailable);
  EXPECT_NE(gone.result.message.find("destroyed"), std::string::npos) << gone.result.message;
  EXPECT_TRUE(gone.wav.empty());
  EXPECT_FALSE(verify_recording(other, st.root + "/" + a.relative_path).ok()) << "a cached key is not used";

  // A late recording of that day: generation 2, in this process and the other.
  auto late = other.key_for_writing(kDay, error);
  ASSERT_TRUE(late) << error;
  EXPECT_EQ(late->generation, 2u);
  const std::string rel_b = "2024/03/01/11111111-2222-5333-8444-555555555555.wav.enc";
  const FinishedAudio b = write_encrypted(st, Script{audio(3000, 10), {}, false}, rel_b);
  ASSERT_TRUE(b.ok) << b.error;
  EXPECT_NE(read_file(st.key_dir + "/2024-03-01.2.key"), key1);
  const Decrypted d = decrypt(st.keys, st.root + "/" + rel_b);
  ASSERT_TRUE(d.result.ok()) << d.result.message;
  EXPECT_EQ(d.result.generation, 2u);
  EXPECT_FALSE(fs::exists(st.key_dir + "/2024-03-01.1.key")) << "never recreated";

  // Destroying again covers both generations; the next is 3.
  destroyed = st.keys.destroy_day(kDay, error);
  ASSERT_TRUE(destroyed) << error;
  EXPECT_EQ(*destroyed, 1);
  EXPECT_FALSE(verify_recording(st.keys, st.root + "/" + rel_b).ok());
  KeyStore fresh(st.key_dir);
  auto third = fresh.key_for_writing(kDay, error);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->generation, 3u);
  // A day without keys: nothing destroyed, nothing created.
  EXPECT_EQ(st.keys.destroy_day(VaultDay{kDay.days + 1}, error), 0);
  EXPECT_FALSE(fs::exists(st.key_dir + "/2024-03-02.1.destroyed"));
}

TEST(VaultKeys, CreatedOnceUnderConcurrentThreadsAndProcesses) {
  for (int round = 0; round < 5; ++round) {
    TempDir tmp;
    const std::string dir = tmp.path() + "/keys";
    // Processes: each its own KeyStore; they report the key they got.
    std::vector<pid_t> pids;
    for (int p = 0; p < 6; ++p) {
      const pid_t pid = ::fork();
      if (pid == 0) {
        KeyStore ks(dir);
        std::string error;
        auto k = ks.key_for_writing(VaultDay{20000 + round}, error);
        if (!k) ::_exit(2);
        const std::string out = tmp.path() + "/p" + std::to_string(p);
        std::ofstream(out, std::ios::binary).write(reinterpret_cast<const char*>(k->key->bytes.data()), 32);
        ::_exit(0);
      }
      pids.push_back(pid);
    }
    // Threads in this process, each with its own KeyStore too, and one shared.
    KeyStore shared(dir);
    std::vector<Bytes> got(8);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < got.size(); ++t)
      threads.emplace_back([&, t] {
        KeyStore own(dir);
        KeyStore& ks = t % 2 ? shared : own;
        std::string error;
        auto k = ks.key_for_writing(VaultDay{20000 + round}, error);
        if (k) got[t].assign(k->key->bytes.begin(), k->key->bytes.end());
      });
    for (auto& t : threads) t.join();
    for (pid_t pid : pids) {
      int status = 0;
      ASSERT_EQ(::waitpid(pid, &status, 0), pid);
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    const std::string name = vault_day_name(VaultDay{20000 + round});
    const Bytes key = read_file(dir + "/" + name + ".1.key");
    ASSERT_EQ(key.size(), 32u);
    for (const auto& g : got) EXPECT_EQ(g, key);
    for (int p = 0; p < 6; ++p) EXPECT_EQ(read_file(tmp.path() + "/p" + std::to_string(p)), key);
    size_t files = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
      ++files;
      EXPECT_EQ(e.path().filename().string(), name + ".1.key") << "no temporary files, no second key";
    }
    EXPECT_EQ(files, 1u);
  }
}

TEST(VaultKeys, CacheIsBoundedAndKeysAreShared) {
  TempDir tmp;
  KeyStore ks(tmp.path() + "/keys", 4);
  std::string error;
  KeyHandle first;
  for (int d = 0; d < 40; ++d) {
    auto k = ks.key_for_writing(VaultDay{19000 + d}, error);
    ASSERT_TRUE(k) << error;
    if (d == 0) first = k->key;
    EXPECT_LE(ks.cached_keys(), 4u);
  }
  // An evicted key stays valid for whoever holds it, and reloads the same.
  auto again = ks.key_for_reading(VaultDay{19000}, 1, error);
  ASSERT_TRUE(again) << error;
  EXPECT_EQ(again->bytes, first->bytes);
  EXPECT_FALSE(ks.key_for_reading(VaultDay{19000}, 0, error));
  EXPECT_FALSE(ks.key_for_reading(VaultDay{19000}, 2, error));
  EXPECT_NE(error.find("missing"), std::string::npos);
}

TEST(VaultFormat, HeaderParserChecksEveryField) {
  VaultHeader h;
  h.day = kDay;
  h.generation = 3;
  h.sample_rate = 16000;
  h.stream_header.fill(0xAB);
  const auto good = encode_vault_header(h);
  std::string error;
  auto parsed = parse_vault_header(good, error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(parsed->day, kDay);
  EXPECT_EQ(parsed->generation, 3u);
  EXPECT_EQ(parsed->sample_rate, 16000u);
  EXPECT_EQ(parsed->record_plain_max, kVaultRecordPlainBytes);
  EXPECT_EQ(parsed->stream_header, h.stream_header);
  for (size_t n = 0; n < good.size(); ++n)
    EXPECT_FALSE(parse_vault_header(std::span(good.data(), n), error)) << n;
  struct Patch {
    size_t at;
    uint32_t value;
    int width;
    const char* mention;
  } patches[] = {{0, 0x41, 1, "signature"},  {8, 2, 2, "version"},
                 {10, 57, 2, "header size"}, {12, 0x7FFFFFFF, 4, "day"},
                 {16, 0, 4, "generation"},   {16, 1001, 4, "generation"},
                 {20, 0, 4, "sample rate"},  {20, 400000, 4, "rate"},
                 {24, 15, 4, "record size"}, {24, (1u << 20) + 1, 4, "record size"},
                 {28, 1, 4, "reserved"}};
  for (const auto& p : patches) {
    auto bad = good;
    for (int i = 0; i < p.width; ++i) bad[p.at + i] = std::byte((p.value >> (8 * i)) & 0xFF);
    error.clear();
    EXPECT_FALSE(parse_vault_header(bad, error)) << p.mention;
    EXPECT_NE(error.find(p.mention), std::string::npos) << error;
  }
}

// A small tmpfs mounted for one test and unmounted however it ends.
class SmallTmpfs {
 public:
  SmallTmpfs(const std::string& path, const char* options) : path_(path) {
    fs::create_directories(path);
    mounted_ = ::mount("tmpfs", path.c_str(), "tmpfs", 0, options) == 0;
  }
  ~SmallTmpfs() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;
  [[nodiscard]] bool mounted() const { return mounted_; }

 private:
  std::string path_;
  bool mounted_ = false;
};

TEST(VaultFiles, FullDiskKeepsEarlierFilesAndReportsTheError) {
  TempDir tmp;
  const std::string root = tmp.path() + "/small";
  SmallTmpfs disk(root, "size=256k");
  if (!disk.mounted()) {
    const char* ci = std::getenv("CI");
    if (ci && std::string(ci) == "true") FAIL() << "cannot mount a tmpfs (root needed)";
    GTEST_SKIP() << "needs root to mount a small tmpfs";
  }
  KeyStore keys(tmp.path() + "/keys");  // the keys on another disk, as they should be
  std::string error;
  const std::string rel_a = "2024/03/01/aaaaaaaa-2222-5333-8444-555555555555.wav.enc";
  const auto a_audio = audio(10'000, 11);
  auto a = EncryptedWavSink::create(keys, root, rel_a, 8000, error);
  ASSERT_TRUE(a) << error;
  ASSERT_TRUE(a->write(a_audio.data(), 10'000));
  const FinishedAudio fa = a->finish();
  ASSERT_TRUE(fa.ok) << fa.error;
  const Bytes a_file = read_file(root + "/" + rel_a);

  const std::string rel_b = "2024/03/01/bbbbbbbb-2222-5333-8444-555555555555.wav.enc";
  auto b = EncryptedWavSink::create(keys, root, rel_b, 8000, error);
  ASSERT_TRUE(b) << error;
  const auto chunk = audio(1000, 12);
  bool failed = false;
  for (int i = 0; i < 200 && !failed; ++i) failed = !b->write(chunk.data(), 1000);
  ASSERT_TRUE(failed) << "256 KiB must fill up";
  EXPECT_NE(b->error().find(strerror(ENOSPC)), std::string::npos) << b->error();
  EXPECT_FALSE(b->write(chunk.data(), 1000)) << "stays failed";
  const FinishedAudio fb = b->finish();
  EXPECT_NE(fb.error.find(strerror(ENOSPC)), std::string::npos) << fb.error;
  if (fb.ok) {
    // What reached the disk is a valid, shorter, authentic recording.
    const Decrypted d = decrypt(keys, root + "/" + rel_b);
    ASSERT_TRUE(d.result.ok()) << d.result.message;
    EXPECT_EQ(d.result.sha256, fb.sha256);
    EXPECT_EQ(d.wav.size(), fb.bytes);
    EXPECT_GT(fb.bytes, 44u);
  } else {
    EXPECT_FALSE(fs::exists(root + "/" + rel_b));
  }
  // The earlier recording is untouched and still decrypts.
  EXPECT_EQ(read_file(root + "/" + rel_a), a_file);
  const Decrypted da = decrypt(keys, root + "/" + rel_a);
  ASSERT_TRUE(da.result.ok()) << da.result.message;
  EXPECT_EQ(da.result.sha256, fa.sha256);
  // No temporary file is left behind.
  for (const auto& e : fs::recursive_directory_iterator(root))
    EXPECT_NE(e.path().filename().string()[0], '.') << e.path();
}

TEST(VaultFiles, AbandonRemovesTheTemporaryFile) {
  Store st;
  std::string error;
  {
    auto sink = EncryptedWavSink::create(st.keys, st.root, kRel + ".enc", 8000, error);
    ASSERT_TRUE(sink);
    const auto a = audio(5000, 13);
    ASSERT_TRUE(sink->write(a.data(), 5000));
  }  // destroyed without finish()
  size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(st.root)) files += e.is_regular_file();
  EXPECT_EQ(files, 0u);
  EXPECT_FALSE(EncryptedWavSink::create(st.keys, st.root, "not/dated.wav.enc", 8000, error));
  EXPECT_NE(error.find("date"), std::string::npos);
}

}  // namespace
}  // namespace cv
