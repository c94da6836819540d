#include "decode/call_recorder.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "decode/g711.h"
#include "decode/g722_decoder.h"
#include "decode/resampler.h"
#include "decode/sequencer.h"

namespace cv {
namespace {

// Payload bytes a held packet can carry: 120 ms of G.711, 60 ms of G.722.
constexpr size_t kMaxHeldPayload = 960;
// HeldPacket::buffer of a packet whose bytes were not copied (in-order fast path).
constexpr uint8_t kNoBuffer = 0xFF;
// Reorder window: 8 packets, 160 ms at the usual 20 ms ptime.
constexpr size_t kSequencerSlots = 8;
// Output beyond this many hours of a call is refused: it can only come from
// broken capture timestamps, and would otherwise fill a disk with silence.
constexpr int64_t kMaxCallHours = 24;
// DTMF digits kept per call (a flood of events must not grow memory).
constexpr size_t kMaxDtmfEvents = 4096;

int16_t saturate(int32_t v) { return static_cast<int16_t>(std::clamp(v, int32_t{-32768}, int32_t{32767})); }

// Samples at `rate` for a packet-time span, rounded to nearest.
int64_t samples_for(int64_t ns, uint32_t rate) {
  __int128 v = static_cast<__int128>(ns) * rate;
  __int128 half = kNsPerSec / 2;
  return static_cast<int64_t>(v >= 0 ? (v + half) / kNsPerSec : -((-v + half) / kNsPerSec));
}

Codec resolve_codec(const CallInfo& call, uint8_t pt) {
  if (const PayloadFormat* f = call.format(pt)) {
    Codec c = codec_from_encoding(std::string_view(f->encoding.data()), f->clock_rate);
    if (c != Codec::kUnknown) return c;
  }
  return pt < 35 ? codec_from_static_payload_type(pt) : Codec::kUnknown;
}

char dtmf_digit(uint8_t event) {
  static constexpr char kDigits[] = "0123456789*#ABCD";
  return event < 16 ? kDigits[event] : 0;
}

}  // namespace

// Named (not anonymous) so that CallAudio, declared in the header, may hold it.
namespace recorder_detail {
// What the sequencer holds: a few words, with the payload bytes parked in the
// stream's buffer pool, so that reordering moves no payload around.
struct HeldPacket {
  Timestamp ts;
  uint32_t rtp_ts = 0;
  uint8_t pt = 0;
  uint8_t buffer = kNoBuffer;  // index into StreamState::pool
  bool oversize = false;       // payload too large to hold: counted, not decoded
  uint16_t len = 0;
  // In-order fast path: the packet is released before on_media returns, so
  // its bytes are read where they are (the capture buffer), not copied.
  const std::byte* direct = nullptr;
};

// Buffers for the sequencer's slots, its parked packet and the one in hand.
constexpr size_t kPoolBuffers = kSequencerSlots + 2;
static_assert(kPoolBuffers <= 16, "free_buffers is a 16-bit mask");

struct StreamState {
  StreamSummary summary;
  RtpSequencer<HeldPacket, kSequencerSlots> sequencer;
  bool anchored = false;
  bool reanchor = false;
  int64_t anchor_pos = 0;
  uint32_t anchor_ts = 0;
  bool unsupported_reported = false;
  std::unique_ptr<G722Decoder> g722;
  std::unique_ptr<Resampler> upsampler;
  bool dtmf_active = false;
  uint32_t dtmf_ts = 0;
  size_t dtmf_index = 0;
  // Payload type -> codec of the last packet: resolving goes through the
  // call's rtpmaps and string compares, so it is done once per change.
  int16_t cached_pt = -1;
  Codec cached_codec = Codec::kUnknown;
  uint32_t cached_sdp_count = 0;
  uint16_t free_buffers = (1u << kPoolBuffers) - 1;
  std::array<std::array<std::byte, kMaxHeldPayload>, kPoolBuffers> pool;

  int take_buffer() {
    if (!free_buffers) return -1;
    int i = std::countr_zero(free_buffers);
    free_buffers = static_cast<uint16_t>(free_buffers & ~(1u << i));
    return i;
  }
  void give_back(uint8_t i) { free_buffers = static_cast<uint16_t>(free_buffers | (1u << i)); }
};
}  // namespace recorder_detail
using recorder_detail::HeldPacket;
using recorder_detail::StreamState;

class CallRecorder::CallAudio {
 public:
  CallAudio(const CallInfo& call, const CallRecorderConfig& config) : info(&call), config(config) {}

  const CallInfo* info;
  const CallRecorderConfig& config;
  std::vector<std::unique_ptr<StreamState>> streams;
  std::vector<DtmfEvent> dtmf;
  std::vector<Codec> codecs_seen;
  bool t0_set = false;
  Timestamp t0;
  uint32_t rate = 0;  // 0 until the first decodable packet
  std::unique_ptr<AudioSink> sink;
  bool sink_failed = false;
  std::string sink_error;
  // Planar: ring[0..window) caller, ring[window..2*window) callee, so that
  // mixing a packet is a contiguous (vectorizable) saturating add; frames
  // are interleaved only on their way out.
  std::vector<int16_t> ring;
  std::vector<int16_t> interleaved;
  int64_t window = 0;
  int64_t written = 0;  // frames handed to the sink
  int64_t max_end = 0;  // one past the last frame any packet covered
  uint64_t late_samples = 0;

  StreamState* stream_for(const MediaPacket& p, uint32_t max_streams, AnomalyCounters& anomalies) {
    // Both directions interleave: one cached stream per channel.
    StreamState*& cached = last_stream[p.channel == Channel::kCaller ? 0 : 1];
    if (cached && cached->summary.ssrc == p.rtp.ssrc && cached->summary.src == p.src &&
        cached->summary.dst == p.dst)
      return cached;
    for (auto& s : streams)
      if (s->summary.ssrc == p.rtp.ssrc && s->summary.src == p.src && s->summary.dst == p.dst)
        return cached = s.get();
    if (streams.size() >= max_streams) {
      anomalies.add(Anomaly::kStreamTableFull);
      return nullptr;
    }
    auto s = std::make_unique<StreamState>();
    s->summary.ssrc = p.rtp.ssrc;
    s->summary.src = p.src;
    s->summary.dst = p.dst;
    s->summary.channel = p.channel;
    s->summary.first_packet = p.ts;
    // The same SSRC on a new address (a re-INVITE moved the media) continues
    // the same RTP clock: keep its timeline instead of re-anchoring it.
    for (auto& prior : streams) {
      if (prior->summary.ssrc == p.rtp.ssrc && prior->summary.channel == p.channel && prior->anchored) {
        s->anchored = true;
        s->anchor_pos = prior->anchor_pos;
        s->anchor_ts = prior->anchor_ts;
      }
    }
    streams.push_back(std::move(s));
    return cached = streams.back().get();
  }
  StreamState* last_stream[2] = {nullptr, nullptr};

  void flush_to(int64_t target) {
    while (written < target) {
      int64_t at = written & (window - 1);
      int64_t chunk = std::min(target - written, window - at);
      int16_t* left = ring.data() + at;
      int16_t* right = left + window;
      if (sink && !sink_failed) {
        interleaved.resize(static_cast<size_t>(2 * chunk));
        for (int64_t i = 0; i < chunk; ++i) {
          interleaved[static_cast<size_t>(2 * i)] = left[i];
          interleaved[static_cast<size_t>(2 * i + 1)] = right[i];
        }
        if (!sink->write(interleaved.data(), static_cast<size_t>(chunk))) sink_failed = true;
      }
      std::fill(left, left + chunk, int16_t{0});
      std::fill(right, right + chunk, int16_t{0});
      written += chunk;
    }
  }

  void place(Channel ch, int64_t pos, const int16_t* s, size_t n) {
    if (pos < 0) {
      size_t skip = static_cast<size_t>(std::min<int64_t>(-pos, static_cast<int64_t>(n)));
      late_samples += skip;
      s += skip;
      n -= skip;
      pos = 0;
    }
    if (n == 0) return;
    int64_t end = pos + static_cast<int64_t>(n);
    if (end - window > written) flush_to(end - window);
    if (pos < written) {
      size_t skip = static_cast<size_t>(std::min<int64_t>(written - pos, static_cast<int64_t>(n)));
      late_samples += skip;
      s += skip;
      n -= skip;
      pos += static_cast<int64_t>(skip);
    }
    int16_t* plane = ring.data() + (ch == Channel::kCaller ? 0 : window);
    // At most two contiguous runs: up to the end of the ring, then from its start.
    size_t at = static_cast<size_t>(pos & (window - 1));
    while (n > 0) {
      size_t run = std::min(n, static_cast<size_t>(window) - at);
      int16_t* cell = plane + at;
      for (size_t i = 0; i < run; ++i) cell[i] = saturate(int32_t{cell[i]} + s[i]);
      s += run;
      n -= run;
      at = 0;
    }
    max_end = std::max(max_end, end);
  }

  void set_rate(uint32_t r) {
    rate = r;
    // A power of two, so that ring positions are a mask, not a division.
    window = static_cast<int64_t>(
        std::bit_ceil(std::max<uint64_t>(64, uint64_t{r} * config.mix_window_ms / 1000)));
    ring.assign(static_cast<size_t>(2 * window), 0);
  }
};

CallRecorder::CallRecorder(CallRecorderConfig config, AudioSinkFactory& sinks, RecordingSink& out,
                           AnomalyCounters& anomalies)
    : config_(config), sinks_(sinks), out_(out), anomalies_(anomalies) {}

CallRecorder::~CallRecorder() = default;

void CallRecorder::on_call_started(const CallInfo& call) {
  auto [it, inserted] = calls_.emplace(call.handle, std::make_unique<CallAudio>(call, config_));
  call.consumer_state = it->second.get();
}

namespace {

// Per-thread scratch for decoded and resampled samples, so that decoding
// allocates nothing per packet.
struct Scratch {
  std::vector<int16_t> pcm = std::vector<int16_t>(2 * kMaxHeldPayload);
  std::vector<int16_t> up;
};

// One per thread, shared by every call the thread decodes (it was two, one
// per entry point).
Scratch& thread_scratch() {
  static thread_local Scratch scratch;
  return scratch;
}

void process_packet(CallRecorder::CallAudio& c, StreamState& s, const HeldPacket& p, Scratch& scratch,
                    AnomalyCounters& anomalies, CallRecorderStats& stats, AudioSinkFactory& sinks);

}  // namespace

void CallRecorder::on_media(const MediaPacket& packet) {
  ++stats_.media_packets;
  auto* audio = static_cast<CallAudio*>(packet.call->consumer_state);
  if (!audio) return;
  CallAudio& c = *audio;
  StreamState* s = c.stream_for(packet, config_.max_streams_per_call, anomalies_);
  if (!s) return;
  HeldPacket held;
  held.ts = packet.ts;
  held.rtp_ts = packet.rtp.timestamp;
  held.pt = packet.rtp.payload_type;
  // A payload larger than any decodable packet (video, L16 stereo) is still
  // sequenced and counted, without its bytes; decoding it is refused below.
  const bool oversize = packet.rtp.payload.size() > kMaxHeldPayload;
  held.oversize = oversize;
  held.len = oversize ? 0 : static_cast<uint16_t>(packet.rtp.payload.size());
  if (s->sequencer.releases_at_once(packet.rtp.sequence)) {
    held.direct = packet.rtp.payload.data();
  } else {
    const int buffer = s->take_buffer();
    if (buffer < 0) {  // cannot happen while the pool outnumbers what the sequencer can hold
      anomalies_.add(Anomaly::kDecodeError);
      return;
    }
    held.buffer = static_cast<uint8_t>(buffer);
    std::memcpy(s->pool[held.buffer].data(), packet.rtp.payload.data(), held.len);
  }

  Scratch& scratch = thread_scratch();
  auto result = s->sequencer.insert(packet.rtp.sequence, held);
  if (result == SequencerInsert::kDuplicate) {
    if (held.buffer != kNoBuffer) s->give_back(held.buffer);
    ++s->summary.duplicates;
    return;
  }
  ++s->summary.packets;
  if (result == SequencerInsert::kTooOld) {
    if (held.buffer != kNoBuffer) s->give_back(held.buffer);
    ++s->summary.late;
    return;
  }
  if (result == SequencerInsert::kReset) {
    // The sender restarted its sequence: play out what belongs to the old
    // one, then start over (new anchor, fresh decoder state).
    if (s->sequencer.held() > 0) {
      while (auto r = s->sequencer.flush())
        process_packet(c, *s, r->item, scratch, anomalies_, stats_, sinks_);
      s->sequencer.insert(packet.rtp.sequence, held);
    }
    s->reanchor = true;
    if (s->g722) s->g722->reset();
  }
  while (auto r = s->sequencer.pop()) process_packet(c, *s, r->item, scratch, anomalies_, stats_, sinks_);
}

namespace {

void open_sink(CallRecorder::CallAudio& c, AudioSinkFactory& sinks, AnomalyCounters& anomalies) {
  if (c.sink || c.sink_failed) return;
  std::string error;
  c.sink = sinks.open(*c.info, c.rate, error);
  if (!c.sink) {
    c.sink_failed = true;
    c.sink_error = error;
    anomalies.add(Anomaly::kOutputError);
  }
}

void upgrade_rate(CallRecorder::CallAudio& c, uint32_t new_rate, CallRecorderStats& stats) {
  // Write out everything mixed so far, convert the file, and continue on a
  // timeline at the new rate.
  c.flush_to(c.max_end);
  const uint32_t old_rate = c.rate;
  if (c.sink && !c.sink_failed && !c.sink->change_rate(old_rate, new_rate)) c.sink_failed = true;
  c.written = c.written * new_rate / old_rate;
  c.max_end = c.written;
  c.set_rate(new_rate);
  for (auto& s : c.streams) s->anchor_pos = s->anchor_pos * new_rate / old_rate;
  ++stats.rate_changes;
}

void process_packet(CallRecorder::CallAudio& c, StreamState& s, const HeldPacket& p, Scratch& scratch,
                    AnomalyCounters& anomalies, CallRecorderStats& stats, AudioSinkFactory& sinks) {
  // The buffer goes back to the pool whatever happens below; its bytes stay
  // valid until the next take_buffer(), which nothing here calls.
  if (p.buffer != kNoBuffer) s.give_back(p.buffer);
  if (s.cached_pt != p.pt || s.cached_sdp_count != c.info->sdp_count) {
    s.cached_pt = p.pt;
    s.cached_sdp_count = c.info->sdp_count;  // a new SDP may map payload types anew
    s.cached_codec = resolve_codec(*c.info, p.pt);
    auto& pts = s.summary.payload_types;
    if (pts.size() < 8 && std::find(pts.begin(), pts.end(), p.pt) == pts.end()) pts.push_back(p.pt);
  }
  const Codec codec = s.cached_codec;
  const CodecInfo& info = codec_info(codec);
  const std::byte* data = p.direct ? p.direct : s.pool[p.buffer].data();
  Bytes payload(data, p.len);

  if (codec == Codec::kTelephoneEvent) {
    // RFC 4733: event, E|R|volume, duration. One event spans packets with
    // the same RTP timestamp; retransmitted end packets repeat it.
    if (p.len < 4) return;
    const char digit = dtmf_digit(static_cast<uint8_t>(data[0]));
    if (!digit) return;
    const uint32_t dur = (static_cast<uint32_t>(data[2]) << 8) | static_cast<uint32_t>(data[3]);
    const uint32_t clock = info.rtp_clock_rate ? info.rtp_clock_rate : 8000;
    if ((!s.dtmf_active || p.rtp_ts != s.dtmf_ts) && c.dtmf.size() < kMaxDtmfEvents) {
      s.dtmf_active = true;
      s.dtmf_ts = p.rtp_ts;
      s.dtmf_index = c.dtmf.size();
      c.dtmf.push_back(DtmfEvent{digit, p.ts, dur * 1000 / clock, s.summary.channel, "rfc4733"});
    } else if (s.dtmf_active && p.rtp_ts == s.dtmf_ts) {
      auto& ev = c.dtmf[s.dtmf_index];
      ev.duration_ms = std::max(ev.duration_ms, dur * 1000 / clock);
    }
    return;
  }
  if (!info.is_audio) {
    if (codec == Codec::kUnknown && s.summary.unknown_codec.empty()) {
      const PayloadFormat* f = c.info->format(p.pt);
      s.summary.unknown_codec = f ? std::string(f->encoding.data()) : "PT" + std::to_string(p.pt);
    }
    if (s.summary.codec == Codec::kUnknown && !s.unsupported_reported) {
      s.unsupported_reported = true;
      anomalies.add(Anomaly::kRtpUnsupportedCodec);
    }
    return;
  }
  if (codec != Codec::kComfortNoise) {
    if (s.summary.codec == Codec::kUnknown || s.summary.codec == Codec::kComfortNoise)
      s.summary.codec = codec;
    if (std::find(c.codecs_seen.begin(), c.codecs_seen.end(), codec) == c.codecs_seen.end())
      c.codecs_seen.push_back(codec);
  } else if (s.summary.codec == Codec::kUnknown) {
    s.summary.codec = codec;
  }
  if (!info.decodable && codec != Codec::kComfortNoise) {
    if (!s.unsupported_reported) {
      s.unsupported_reported = true;
      anomalies.add(Anomaly::kRtpUnsupportedCodec);
    }
    return;
  }
  if (p.oversize && codec != Codec::kComfortNoise) {
    anomalies.add(Anomaly::kDecodeError);
    return;
  }
  if (!c.t0_set) {
    c.t0_set = true;
    c.t0 = p.ts;
  }
  if (codec == Codec::kComfortNoise) return;  // silence: nothing to write

  if (c.rate == 0) {
    c.set_rate(info.audio_rate);
  } else if (info.audio_rate > c.rate) {
    upgrade_rate(c, info.audio_rate, stats);
  }
  open_sink(c, sinks, anomalies);

  // Decode to the codec's own rate.
  size_t n = 0;
  if (codec == Codec::kPcmu) {
    expand_ulaw(payload, scratch.pcm.data());
    n = p.len;
  } else if (codec == Codec::kPcma) {
    expand_alaw(payload, scratch.pcm.data());
    n = p.len;
  } else if (codec == Codec::kG722) {
    if (!s.g722) s.g722 = std::make_unique<G722Decoder>();
    int got = s.g722->decode(payload, scratch.pcm.data(), scratch.pcm.size());
    if (got < 0) {
      anomalies.add(Anomaly::kDecodeError);
      return;
    }
    n = static_cast<size_t>(got);
  }
  const int16_t* samples = scratch.pcm.data();
  if (info.audio_rate < c.rate) {
    // G.711 inside a 16 kHz call: each packet converted on its own, so its
    // length and position stay exact whatever was lost before it.
    if (!s.upsampler)
      s.upsampler = std::make_unique<Resampler>(static_cast<int>(info.audio_rate), static_cast<int>(c.rate));
    scratch.up.clear();
    s.upsampler->process(samples, n, scratch.up);
    s.upsampler->flush(scratch.up);
    samples = scratch.up.data();
    n = scratch.up.size();
  }

  // Place on the call's timeline: anchored at capture time, advanced by the
  // RTP clock, re-anchored when the two disagree by more than a threshold.
  const uint32_t R = c.rate;
  const int64_t capture_pos = samples_for(p.ts.ns - c.t0.ns, R);
  if (capture_pos > kMaxCallHours * 3600 * static_cast<int64_t>(R)) {
    anomalies.add(Anomaly::kAudioBeyondLimit);
    return;
  }
  if (!s.anchored || s.reanchor) {
    s.anchored = true;
    s.reanchor = false;
    s.anchor_pos = capture_pos;
    s.anchor_ts = p.rtp_ts;
  }
  const int64_t clock = info.rtp_clock_rate;
  int64_t pos = s.anchor_pos + static_cast<int64_t>(static_cast<int32_t>(p.rtp_ts - s.anchor_ts)) * R / clock;
  const int64_t threshold = samples_for(c.config.resync_threshold_ns, R);
  if (pos - capture_pos > threshold || capture_pos - pos > threshold) {
    s.anchor_pos = capture_pos;
    s.anchor_ts = p.rtp_ts;
    pos = capture_pos;
  }
  if (s.summary.offset_samples < 0) s.summary.offset_samples = pos;
  s.summary.decoded = true;
  c.place(s.summary.channel, pos, samples, n);
}

}  // namespace

void CallRecorder::on_call_ended(const CallInfo& call) {
  auto it = calls_.find(call.handle);
  if (it == calls_.end()) return;
  CallAudio& c = *it->second;
  Scratch& scratch = thread_scratch();
  for (auto& s : c.streams) {
    while (auto r = s->sequencer.flush()) process_packet(c, *s, r->item, scratch, anomalies_, stats_, sinks_);
    s->summary.lost = s->sequencer.lost();
  }
  CallRecording rec;
  rec.call = &call;
  if (c.rate != 0) {
    c.flush_to(c.max_end);
    rec.sample_rate = c.rate;
    rec.frames = static_cast<uint64_t>(c.max_end);
    rec.audio_start = c.t0;
  }
  if (c.sink) {
    // A sink that failed mid-call (disk full) still finishes what reached the
    // disk; the error travels with the recording.
    rec.audio = c.sink->finish();
    rec.has_audio = rec.audio.ok;
    if (!rec.audio.error.empty()) {
      rec.audio_error = rec.audio.error;
      ++stats_.write_errors;
      anomalies_.add(Anomaly::kOutputError);
    }
  } else if (c.sink_failed) {
    rec.audio_error = c.sink_error;
    ++stats_.write_errors;
  }
  if (rec.has_audio) ++stats_.calls_with_audio;
  if (c.streams.empty()) ++stats_.calls_without_media;
  stats_.late_samples_dropped += c.late_samples;
  for (auto& s : c.streams) rec.streams.push_back(s->summary);
  for (Codec codec : c.codecs_seen) rec.codecs.emplace_back(codec_info(codec).name);
  rec.dtmf = c.dtmf;
  for (const SipDtmf& d : call.sip_dtmf)
    rec.dtmf.push_back(DtmfEvent{d.digit, d.at, d.duration_ms, d.channel, "sip_info"});
  std::stable_sort(rec.dtmf.begin(), rec.dtmf.end(),
                   [](const DtmfEvent& a, const DtmfEvent& b) { return a.at < b.at; });
  out_.on_recording(rec);
  calls_.erase(it);
}

}  // namespace cv
