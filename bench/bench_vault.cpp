// Encryption at rest (R12): what encrypting costs per second of recorded call.
// One call-second at 8 kHz is 32,000 bytes of stereo 16-bit audio (64,000 at
// 16 kHz). Items are call-seconds: items_per_second is how many seconds of
// calls one core encrypts per second.
//   BM_EncryptRecords      VaultWriter alone (secretstream + one write() per 8 KiB record) into /dev/null
//   BM_EncryptedSinkCall   a whole 60 s call through EncryptedWavSink on /dev/shm (create, write in
//                          mix-window pieces, read back + SHA-256, final record, fsync, rename)
//   BM_PlainSinkCall       the same call through WavFileSink, for comparison
//   BM_DecryptCall         decrypt_recording of that 60 s call (both passes) into /dev/null
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "storage/vault/encrypted_sink.h"
#include "storage/wav_writer.h"

namespace {

constexpr size_t kRate = 8000;
constexpr size_t kCallSeconds = 60;
constexpr size_t kPieceFrames = 160;  // what the mixer hands over per 20 ms packet

std::vector<int16_t> call_audio(size_t seconds) {
  std::vector<int16_t> v(2 * kRate * seconds);
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<int16_t>(9000 * std::sin(0.013 * static_cast<double>(i)));
  return v;
}

std::string bench_dir() {
  const std::string base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
  std::string dir = base + "/callvault-bench-vault-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  return dir;
}

void BM_EncryptRecords(benchmark::State& state) {
  const auto audio = call_audio(1);
  cv::KeyStore keys(bench_dir() + "/keys");
  std::string error;
  const auto key = keys.key_for_writing(cv::VaultDay{20000}, error);
  cv::UniqueFd null(::open("/dev/null", O_WRONLY));
  cv::VaultWriter w;
  w.begin(null.get(), *key, kRate);
  for (auto _ : state) {
    for (size_t f = 0; f < audio.size() / 2; f += kPieceFrames)
      w.append(audio.data() + 2 * f, kPieceFrames * 4);
  }
  state.SetItemsProcessed(state.iterations());  // call-seconds
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(audio.size() * 2));
}
BENCHMARK(BM_EncryptRecords);

template <bool kEncrypted>
void run_call(benchmark::State& state) {
  const auto audio = call_audio(kCallSeconds);
  const std::string dir = bench_dir();
  cv::KeyStore keys(dir + "/keys");
  const std::string rel = "2024/03/01/0b7e1c2a-3d4f-5a6b-8c9d-0e1f2a3b4c5d.wav";
  std::string error;
  for (auto _ : state) {
    std::unique_ptr<cv::AudioSink> sink;
    if constexpr (kEncrypted)
      sink = cv::EncryptedWavSink::create(keys, dir + "/audio", rel + ".enc", kRate, error);
    else
      sink = cv::WavFileSink::create(dir + "/plain", rel, kRate, error);
    for (size_t f = 0; f < audio.size() / 2; f += kPieceFrames)
      sink->write(audio.data() + 2 * f, kPieceFrames);
    auto fin = sink->finish();
    if (!fin.ok) state.SkipWithError(fin.error.c_str());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kCallSeconds));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(audio.size() * 2));
  std::filesystem::remove_all(dir);
}
void BM_EncryptedSinkCall(benchmark::State& state) { run_call<true>(state); }
void BM_PlainSinkCall(benchmark::State& state) { run_call<false>(state); }
BENCHMARK(BM_EncryptedSinkCall)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PlainSinkCall)->Unit(benchmark::kMillisecond);

void BM_DecryptCall(benchmark::State& state) {
  const auto audio = call_audio(kCallSeconds);
  const std::string dir = bench_dir();
  cv::KeyStore keys(dir + "/keys");
  const std::string rel = "2024/03/01/0b7e1c2a-3d4f-5a6b-8c9d-0e1f2a3b4c5d.wav.enc";
  std::string error;
  auto sink = cv::EncryptedWavSink::create(keys, dir + "/audio", rel, kRate, error);
  sink->write(audio.data(), audio.size() / 2);
  sink->finish();
  cv::UniqueFd null(::open("/dev/null", O_WRONLY));
  for (auto _ : state) {
    auto r = cv::decrypt_recording(keys, dir + "/audio/" + rel, null.get());
    if (!r.ok()) state.SkipWithError(r.message.c_str());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kCallSeconds));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(audio.size() * 2));
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_DecryptCall)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
