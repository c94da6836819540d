// The decode stage: per call, per RTP stream, packets back in order, decoded,
// and placed on the call's timeline in a bounded stereo mix window that is
// streamed to an AudioSink. Implements CallEventSink, emits one
// CallRecording per finished call to a RecordingSink.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "capture/call/call_events.h"
#include "common/anomaly.h"
#include "decode/audio_sink.h"
#include "decode/codec.h"

namespace cv {

struct StreamSummary {
  uint32_t ssrc = 0;
  Endpoint src;
  Endpoint dst;
  Channel channel = Channel::kCaller;
  Codec codec = Codec::kUnknown;       // the main audio codec seen (kUnknown: none)
  std::string unknown_codec;           // SDP encoding name when `codec` is kUnknown (e.g. "BV32")
  std::vector<uint8_t> payload_types;  // every payload type seen, in order of appearance
  uint64_t packets = 0;                // unique packets (duplicates excluded)
  uint64_t duplicates = 0;
  uint64_t lost = 0;     // sequence numbers never seen
  uint64_t late = 0;     // arrived after their place was given up or written
  bool decoded = false;  // some of its audio went into the file
  Timestamp first_packet;
  int64_t offset_samples = -1;  // file position of its first packet (-1: not placed)
};

struct DtmfEvent {
  char digit = 0;
  Timestamp at;
  uint32_t duration_ms = 0;
  Channel channel = Channel::kCaller;
  const char* source = "rfc4733";  // or "sip_info"
};

struct CallRecording {
  const CallInfo* call = nullptr;
  std::vector<StreamSummary> streams;
  std::vector<DtmfEvent> dtmf;
  std::vector<std::string> codecs;  // names of audio codecs seen, first seen first
  bool has_audio = false;           // a file was written
  FinishedAudio audio;
  uint32_t sample_rate = 0;
  uint64_t frames = 0;      // stereo frames in the file
  Timestamp audio_start;    // T0: capture time of sample 0
  std::string audio_error;  // set when audio existed but could not be written
};

class RecordingSink {
 public:
  virtual ~RecordingSink() = default;
  virtual void on_recording(const CallRecording& recording) = 0;
};

struct CallRecorderConfig {
  // How far (in time) one channel may run ahead of the other before the
  // older samples are written out. Bounds memory per call.
  uint32_t mix_window_ms = 500;
  uint32_t max_streams_per_call = 16;
  // A stream whose RTP clock and capture time disagree by more than this is
  // re-anchored to capture time.
  int64_t resync_threshold_ns = 1 * kNsPerSec;
};

struct CallRecorderStats {
  uint64_t media_packets = 0;
  uint64_t calls_with_audio = 0;
  uint64_t calls_without_media = 0;  // calls that ended with no RTP bound (R1 coverage)
  uint64_t late_samples_dropped = 0;
  uint64_t write_errors = 0;
  uint64_t rate_changes = 0;
};

class CallRecorder final : public CallEventSink {
 public:
  CallRecorder(CallRecorderConfig config, AudioSinkFactory& sinks, RecordingSink& out,
               AnomalyCounters& anomalies);
  ~CallRecorder() override;

  void on_call_started(const CallInfo& call) override;
  void on_media(const MediaPacket& packet) override;
  void on_call_ended(const CallInfo& call) override;

  [[nodiscard]] const CallRecorderStats& stats() const { return stats_; }
  [[nodiscard]] size_t open_calls() const { return calls_.size(); }

  class CallAudio;  // public for the implementation file's helpers

 private:
  CallRecorderConfig config_;
  AudioSinkFactory& sinks_;
  RecordingSink& out_;
  AnomalyCounters& anomalies_;
  CallRecorderStats stats_;
  std::unordered_map<uint64_t, std::unique_ptr<CallAudio>> calls_;
};

}  // namespace cv
