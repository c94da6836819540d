#include "storage/call_summary.h"

#include <cstdio>

namespace cv {

std::string format_ssrc(uint32_t ssrc) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", ssrc);
  return buf;
}

nlohmann::ordered_json call_summary_json(const CallRecording& rec, const std::string& uuid,
                                         const std::string& sensor, CallDirection direction) {
  const CallInfo& call = *rec.call;
  nlohmann::ordered_json j;
  j["uuid"] = uuid;
  j["sensor"] = sensor;
  j["sip_call_id"] = call.call_id;
  j["start"] = to_iso8601(call.invite_time);
  j["end"] = to_iso8601(call.end_time);
  j["caller"] = call.caller;
  j["callee"] = call.callee;
  j["direction"] = direction_name(direction);
  j["codecs"] = rec.codecs;
  auto streams = nlohmann::ordered_json::array();
  for (const StreamSummary& s : rec.streams) {
    nlohmann::ordered_json o;
    o["ssrc"] = format_ssrc(s.ssrc);
    o["src"] = s.src.to_string();
    o["dst"] = s.dst.to_string();
    o["codec"] = s.codec != Codec::kUnknown ? std::string(codec_info(s.codec).name)
                 : s.unknown_codec.empty()  ? std::string("unknown")
                                            : s.unknown_codec;
    o["payload_types"] = s.payload_types;
    o["packets"] = s.packets;
    o["lost"] = s.lost;
    o["duplicates"] = s.duplicates;
    o["late"] = s.late;
    o["channel"] = channel_name(s.channel);
    o["decoded"] = s.decoded;
    o["first_packet"] = to_iso8601(s.first_packet);
    o["offset_samples"] = s.offset_samples;
    streams.push_back(std::move(o));
  }
  j["streams"] = std::move(streams);
  auto dtmf = nlohmann::ordered_json::array();
  for (const DtmfEvent& d : rec.dtmf) {
    dtmf.push_back({{"digit", std::string(1, d.digit)},
                    {"at", to_iso8601(d.at)},
                    {"duration_ms", d.duration_ms},
                    {"channel", channel_name(d.channel)},
                    {"source", d.source}});
  }
  j["dtmf"] = std::move(dtmf);
  if (rec.has_audio) {
    j["audio"] = rec.audio.relative_path;
    j["sample_rate"] = rec.sample_rate;
    j["duration_s"] = rec.sample_rate ? static_cast<double>(rec.frames) / rec.sample_rate : 0.0;
    j["sha256"] = rec.audio.sha256;
    j["audio_start"] = to_iso8601(rec.audio_start);
  } else {
    j["audio"] = nullptr;
    j["sample_rate"] = nullptr;
    j["duration_s"] = static_cast<double>(call.end_time.ns - call.invite_time.ns) / kNsPerSec;
    j["sha256"] = nullptr;
    j["audio_start"] = nullptr;
  }
  if (!rec.audio_error.empty()) j["audio_error"] = rec.audio_error;
  j["answered"] = call.answer_time.ns != 0 || call.joined_mid_call;
  j["joined_mid_call"] = call.joined_mid_call;
  j["final_status"] = call.final_status;
  j["end_reason"] = end_reason_name(call.end_reason);
  return j;
}

namespace {
std::string codec_label(const StreamSummary& s) {
  if (s.codec != Codec::kUnknown) return std::string(codec_info(s.codec).name);
  return s.unknown_codec.empty() ? "unknown" : s.unknown_codec;
}
}  // namespace

IndexedCall indexed_call(const CallRecording& rec, const std::string& uuid, const std::string& sensor,
                         const std::string& session, CallDirection direction) {
  const CallInfo& call = *rec.call;
  IndexedCall c;
  c.uuid = uuid;
  c.sensor = sensor;
  c.session = session;
  c.sip_call_id = call.call_id;
  c.start_ns = call.invite_time.ns;
  c.answer_ns = call.answer_time.ns;
  c.end_ns = call.end_time.ns;
  c.caller = call.caller;
  c.callee = call.callee;
  c.direction = direction_name(direction);
  c.codecs = rec.codecs;
  c.answered = call.answer_time.ns != 0 || call.joined_mid_call;
  c.joined_mid_call = call.joined_mid_call;
  c.final_status = call.final_status;
  c.end_reason = end_reason_name(call.end_reason);
  if (rec.has_audio) {
    c.duration_s = rec.sample_rate ? static_cast<double>(rec.frames) / rec.sample_rate : 0.0;
    c.audio_path = rec.audio.relative_path;
    c.audio_bytes = rec.audio.bytes;
    c.audio_sha256 = rec.audio.sha256;
    c.sample_rate = rec.sample_rate;
    c.audio_start_ns = rec.audio_start.ns;
  } else {
    c.duration_s = static_cast<double>(call.end_time.ns - call.invite_time.ns) / kNsPerSec;
  }
  c.audio_error = rec.audio_error;
  for (const StreamSummary& s : rec.streams) {
    IndexedStream o;
    o.ssrc = s.ssrc;
    o.src_ip = s.src.ip.to_string();
    o.src_port = s.src.port;
    o.dst_ip = s.dst.ip.to_string();
    o.dst_port = s.dst.port;
    o.codec = codec_label(s);
    o.payload_types = s.payload_types;
    o.packets = s.packets;
    o.lost = s.lost;
    o.duplicates = s.duplicates;
    o.late = s.late;
    o.channel = channel_name(s.channel);
    o.decoded = s.decoded;
    o.first_packet_ns = s.first_packet.ns;
    o.offset_samples = s.offset_samples;
    c.streams.push_back(std::move(o));
  }
  for (const DtmfEvent& d : rec.dtmf)
    c.dtmf.push_back({d.digit, d.at.ns, d.duration_ms, channel_name(d.channel), d.source});
  return c;
}

}  // namespace cv
