// Per-packet costs on the media path: RTP header validation and G.711
// expansion of a 20 ms (160-byte) payload, the work done for every RTP packet.
#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "capture/rtp/rtp_header.h"
#include "decode/g711.h"
#include "decode/sequencer.h"

namespace {

std::vector<std::byte> rtp_packet() {
  std::vector<std::byte> p = {std::byte{0x80}, std::byte{0x00}, std::byte{0x12}, std::byte{0x34},
                              std::byte{0x00}, std::byte{0x00}, std::byte{0x10}, std::byte{0x00},
                              std::byte{0xDE}, std::byte{0xAD}, std::byte{0xBE}, std::byte{0xEF}};
  for (int i = 0; i < 160; ++i) p.push_back(std::byte(i * 37));
  return p;
}

void BM_ParseRtp(benchmark::State& state) {
  const auto packet = rtp_packet();
  cv::RtpHeader h;
  for (auto _ : state) {
    auto status = cv::parse_rtp(cv::Bytes(packet.data(), packet.size()), h);
    benchmark::DoNotOptimize(status);
    benchmark::DoNotOptimize(h);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseRtp);

void BM_ExpandUlaw160(benchmark::State& state) {
  const auto packet = rtp_packet();
  const cv::Bytes payload(packet.data() + 12, 160);
  std::array<int16_t, 160> out{};
  for (auto _ : state) {
    cv::expand_ulaw(payload, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * 160);
}
BENCHMARK(BM_ExpandUlaw160);

void BM_SequencerInOrder(benchmark::State& state) {
  cv::RtpSequencer<uint32_t, 64> seq;
  uint16_t s = 0;
  for (auto _ : state) {
    seq.insert(s, s);
    ++s;
    while (auto r = seq.pop()) benchmark::DoNotOptimize(r->item);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SequencerInOrder);

}  // namespace
