// Benchmark captures: many concurrent G.711 calls, streamed straight to the
// pcap file in time order with bounded memory (per active call: a few
// words of state; no allocation per RTP packet).
#pragma once

#include <cstdint>
#include <string>

namespace cv::gen {

struct BenchOptions {
  int calls = 1000;                    // calls in total
  int concurrent = 100;                // calls in progress at once (steady state)
  double seconds = 10.0;               // audio per call
  std::string out;                     // pcap path
  int64_t start_epoch_s = 1709287200;  // first INVITE (default 2024-03-01T10:00:00Z)
};

struct BenchStats {
  uint64_t frames = 0;
  uint64_t rtp_packets = 0;
  uint64_t sip_messages = 0;
  uint64_t bytes = 0;
};

BenchStats write_bench(const BenchOptions& opt);

}  // namespace cv::gen
