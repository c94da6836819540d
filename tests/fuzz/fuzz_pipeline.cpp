// libFuzzer target for the stateful part of the pipeline: SIP dialogs, SDP
// media binding, RTP correlation and the call recorder (sequencer, decoders,
// mix window), fed with a sequence of UDP datagrams between a few endpoints
// so that signalling and media meet. Audio goes to a sink that only checks
// what it is given.
//
// Input: records of [1 byte: endpoints (src index low nibble, dst high)]
// [1 byte: time step in 10 ms units] [2 bytes: length] [payload].
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "capture/call/call_tracker.h"
#include "decode/call_recorder.h"

namespace {

class CheckingSink final : public cv::AudioSink {
 public:
  explicit CheckingSink(uint32_t rate) : rate_(rate) {}
  bool write(const int16_t* interleaved, size_t frames) override {
    // Touch every sample so ASan sees any read past the mix window.
    int64_t sum = 0;
    for (size_t i = 0; i < 2 * frames; ++i) sum += interleaved[i];
    frames_ += frames;
    return sum != INT64_MIN;
  }
  bool change_rate(uint32_t from, uint32_t to) override {
    if (from != rate_ || to <= from) __builtin_trap();
    frames_ = frames_ * to / from;
    rate_ = to;
    return true;
  }
  cv::FinishedAudio finish() override {
    cv::FinishedAudio f;
    f.ok = true;
    return f;
  }
  void abandon() override {}

 private:
  uint32_t rate_;
  uint64_t frames_ = 0;
};

class Sinks final : public cv::AudioSinkFactory {
 public:
  std::unique_ptr<cv::AudioSink> open(const cv::CallInfo&, uint32_t rate, std::string&) override {
    if (rate != 8000 && rate != 16000) __builtin_trap();
    return std::make_unique<CheckingSink>(rate);
  }
};

class Recordings final : public cv::RecordingSink {
 public:
  void on_recording(const cv::CallRecording& r) override {
    if (r.call == nullptr) __builtin_trap();
  }
};

cv::Endpoint endpoint(unsigned i) {
  // Four addresses x four ports, including the SIP port, so that SDP written
  // by the fuzzer can name addresses that later RTP uses.
  static const uint16_t kPorts[4] = {5060, 4000, 4002, 20000};
  uint8_t ip[4] = {10, 0, 0, static_cast<uint8_t>(1 + (i & 3))};
  return cv::Endpoint{cv::IpAddress::v4(ip), kPorts[(i >> 2) & 3]};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cv::AnomalyCounters anomalies;
  Sinks sinks;
  Recordings out;
  cv::CallRecorderConfig rc;
  cv::CallRecorder recorder(rc, sinks, out, anomalies);
  cv::CallTrackerConfig tc;
  tc.max_calls = 4;
  tc.max_media_addresses = 16;
  tc.dialog_timeout_ns = 30 * cv::kNsPerSec;
  cv::CallTracker tracker(tc, recorder);
  int64_t now = 1'700'000'000LL * cv::kNsPerSec;
  size_t pos = 0;
  while (pos + 4 <= size) {
    const uint8_t eps = data[pos], step = data[pos + 1];
    const size_t len = static_cast<size_t>(data[pos + 2]) << 8 | data[pos + 3];
    pos += 4;
    const size_t take = len < size - pos ? len : size - pos;
    cv::DecodedPacket p;
    now += int64_t{step} * 10 * cv::kNsPerMs;
    p.ts = cv::Timestamp{now};
    p.src = endpoint(eps & 15);
    p.dst = endpoint(eps >> 4);
    p.payload = cv::Bytes(reinterpret_cast<const std::byte*>(data + pos), take);
    tracker.on_packet(p, anomalies);
    tracker.advance_time(p.ts);
    pos += take;
  }
  tracker.finish();
  if (recorder.open_calls() != 0) __builtin_trap();
  return 0;
}
