// Whole-pipeline throughput and memory per concurrent call.
//
// A capture of many concurrent G.711 calls (callvault-gen's benchmark mode)
// is loaded into memory once; each iteration runs packet decoding, SIP and
// RTP correlation, sequencing, decoding and stereo mixing over all of it, on
// one core, with the audio either discarded after mixing ("null") or written
// as WAV files to tmpfs ("wav", which adds the file I/O and hashing). Reports
// packets per second and heap bytes per concurrent call at mid-capture.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "capture/call/call_tracker.h"
#include "capture/packet/packet_decoder.h"
#include "capture/source/pcap_source.h"
#include "decode/call_recorder.h"
#include "storage/wav_writer.h"
#include "tests/gen/bench.h"

namespace {

struct LoadedCapture {
  cv::LinkType link = cv::LinkType::kEthernet;
  std::vector<std::byte> bytes;
  struct Frame {
    cv::Timestamp ts;
    size_t offset, size;
  };
  std::vector<Frame> frames;
};

const LoadedCapture& capture(int calls, int concurrent, double seconds) {
  static std::map<std::tuple<int, int, double>, LoadedCapture> cache;
  auto key = std::make_tuple(calls, concurrent, seconds);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  const std::string path =
      "/dev/shm/callvault-bench-" + std::to_string(calls) + "-" + std::to_string(concurrent) + ".pcap";
  cv::gen::BenchOptions opt;
  opt.calls = calls;
  opt.concurrent = concurrent;
  opt.seconds = seconds;
  opt.out = path;
  cv::gen::write_bench(opt);
  LoadedCapture& c = cache[key];
  std::string error;
  auto src = cv::PcapFileSource::open(path, error);
  if (!src) throw std::runtime_error(error);
  c.link = src->link_type();
  cv::CapturedFrame f;
  while (src->next(f) == cv::ReadStatus::kFrame) {
    c.frames.push_back({f.ts, c.bytes.size(), f.data.size()});
    c.bytes.insert(c.bytes.end(), f.data.begin(), f.data.end());
  }
  std::filesystem::remove(path);
  return c;
}

class NullSink final : public cv::AudioSink {
 public:
  bool write(const int16_t* s, size_t frames) override {
    benchmark::DoNotOptimize(s[2 * frames - 1]);
    return true;
  }
  bool change_rate(uint32_t, uint32_t) override { return true; }
  cv::FinishedAudio finish() override { return {true, "", "", 0, ""}; }
  void abandon() override {}
};
class NullSinks final : public cv::AudioSinkFactory {
 public:
  std::unique_ptr<cv::AudioSink> open(const cv::CallInfo&, uint32_t, std::string&) override {
    return std::make_unique<NullSink>();
  }
};
class CountRecordings final : public cv::RecordingSink {
 public:
  void on_recording(const cv::CallRecording& r) override { calls += r.has_audio; }
  uint64_t calls = 0;
};

size_t heap_in_use() { return mallinfo2().uordblks; }

void run_pipeline(benchmark::State& state, bool wav) {
  const auto& cap = capture(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)), 20.0);
  const std::string out = "/dev/shm/callvault-bench-out";
  double bytes_per_call = 0;
  for (auto _ : state) {
    std::filesystem::remove_all(out);
    cv::AnomalyCounters anomalies;
    NullSinks null_sinks;
    cv::WavSinkFactory wav_sinks(out, "bench");
    CountRecordings recs;
    const size_t heap0 = heap_in_use();
    cv::CallRecorder recorder({}, wav ? static_cast<cv::AudioSinkFactory&>(wav_sinks) : null_sinks, recs,
                              anomalies);
    cv::CallTracker tracker({}, recorder);
    cv::PacketDecoder decoder;
    cv::DecodedPacket packet;
    const size_t mid = cap.frames.size() / 2;
    for (size_t i = 0; i < cap.frames.size(); ++i) {
      const auto& f = cap.frames[i];
      auto r = decoder.decode(cap.link, f.ts, i + 1, cv::Bytes(cap.bytes.data() + f.offset, f.size), packet);
      if (r.status == cv::DecodeStatus::kOk) tracker.on_packet(packet, anomalies);
      tracker.advance_time(f.ts);
      if (i == mid && tracker.active_calls() > 0)
        bytes_per_call =
            static_cast<double>(heap_in_use() - heap0) / static_cast<double>(tracker.active_calls());
    }
    tracker.finish();
    if (recs.calls != static_cast<uint64_t>(state.range(0)))
      state.SkipWithError("not every call was recorded");
  }
  std::filesystem::remove_all(out);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * cap.frames.size()));
  state.counters["heap_bytes_per_call"] = bytes_per_call;
  state.counters["packets"] = static_cast<double>(cap.frames.size());
}

void BM_PipelineNullSink(benchmark::State& state) { run_pipeline(state, false); }
void BM_PipelineWavTmpfs(benchmark::State& state) { run_pipeline(state, true); }

// (calls in total, calls at once); 20 s of audio per call.
BENCHMARK(BM_PipelineNullSink)
    ->Args({200, 100})
    ->Args({2000, 1000})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_PipelineWavTmpfs)
    ->Args({200, 100})
    ->Args({2000, 1000})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
