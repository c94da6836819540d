#include "tests/gen/scenario.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>

namespace cv::gen {

namespace {

std::string hex_ssrc(uint32_t ssrc) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", ssrc);
  return buf;
}

// round(dt_us * rate / 1e6) for non-negative dt.
int64_t samples_at(int64_t dt_us, int rate) { return (dt_us * rate + 500000) / 1000000; }

char event_digit(uint8_t event) { return "0123456789*#ABCD"[event & 0x0F]; }

}  // namespace

std::string iso8601_ms(int64_t t_us) {
  const time_t secs = static_cast<time_t>(t_us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(t_us % 1000000 / 1000));
  return buf;
}

int64_t utc_us(int year, int month, int day, int hour, int minute, int second) {
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<int64_t>(timegm(&tm)) * 1000000;
}

std::string call_file_hash(const std::string& call_id, int64_t invite_us) {
  uint64_t h = 0xcbf29ce484222325ULL;
  const std::string key = call_id + "|" + std::to_string(invite_us);
  for (unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

void write_wav(const std::string& path, int rate, const std::vector<int16_t>& left,
               const std::vector<int16_t>& right) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw std::runtime_error("cannot create " + path);
  const size_t frames = std::max(left.size(), right.size());
  const auto data_bytes = static_cast<uint32_t>(frames * 4);
  auto le32 = [&](uint32_t v) {
    const char b[4] = {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 24)};
    out.write(b, 4);
  };
  auto le16 = [&](uint16_t v) {
    const char b[2] = {static_cast<char>(v), static_cast<char>(v >> 8)};
    out.write(b, 2);
  };
  out.write("RIFF", 4);
  le32(36 + data_bytes);
  out.write("WAVEfmt ", 8);
  le32(16);
  le16(1);
  le16(2);
  le32(static_cast<uint32_t>(rate));
  le32(static_cast<uint32_t>(rate) * 4);
  le16(4);
  le16(16);
  out.write("data", 4);
  le32(data_bytes);
  std::vector<char> buf(frames * 4);
  for (size_t i = 0; i < frames; ++i) {
    const int16_t l = i < left.size() ? left[i] : 0;
    const int16_t r = i < right.size() ? right[i] : 0;
    buf[4 * i] = static_cast<char>(l);
    buf[4 * i + 1] = static_cast<char>(static_cast<uint16_t>(l) >> 8);
    buf[4 * i + 2] = static_cast<char>(r);
    buf[4 * i + 3] = static_cast<char>(static_cast<uint16_t>(r) >> 8);
  }
  out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
  if (!out) throw std::runtime_error("write failed: " + path);
}

Scenario::Scenario(std::string name, Link link) : name_(std::move(name)), link_(link) {}

void Scenario::sip(int64_t t_us, const SipDialog& d, bool from_caller, const std::string& msg,
                   size_t fragment_bytes, bool reverse_fragments) {
  const Ep& src = d.sip_ep(from_caller);
  const Ep& dst = d.sip_ep(!from_caller);
  const ByteSpan payload(reinterpret_cast<const uint8_t*>(msg.data()), msg.size());
  const uint32_t id = ip_id_++;
  if (tcp_) {
    sip_over_tcp(t_us, src, dst, msg);
  } else if (fragment_bytes == 0) {
    Frame f{t_us, {}, 0};
    build_udp_frame(link_, src, dst, payload, id, f.bytes);
    frames_.push_back(std::move(f));
  } else {
    auto frags = build_fragmented_udp(link_, src, dst, payload, id, fragment_bytes);
    if (reverse_fragments) std::reverse(frags.begin(), frags.end());
    int64_t t = t_us;
    for (auto& bytes : frags) frames_.push_back(Frame{t++, std::move(bytes), 0});
  }
  SipClaim claim{t_us, d.call_id(), "", 0};
  if (msg.rfind("SIP/2.0 ", 0) == 0) {
    claim.status = std::stoi(msg.substr(8, 3));
  } else {
    claim.method = msg.substr(0, msg.find(' '));
  }
  sip_claims_.push_back(std::move(claim));
}

void Scenario::tcp_segment(int64_t t_us, const Ep& src, const Ep& dst, uint32_t seq, uint32_t ack,
                           uint8_t flags, std::string_view payload) {
  Frame f{t_us, {}, 0};
  build_tcp_frame(link_, src, dst, seq, ack, flags,
                  ByteSpan(reinterpret_cast<const uint8_t*>(payload.data()), payload.size()), ip_id_++,
                  f.bytes);
  frames_.push_back(std::move(f));
}

void Scenario::sip_over_tcp(int64_t t_us, const Ep& src, const Ep& dst, const std::string& msg) {
  constexpr uint8_t kSyn = 0x02, kPsh = 0x08, kAck = 0x10;
  TcpConnection* conn = nullptr;
  for (TcpConnection& c : tcp_connections_)
    if ((c.client == src && c.server == dst) || (c.client == dst && c.server == src)) conn = &c;
  if (!conn) {
    // The first sender opens the connection, just before its message.
    TcpConnection c;
    c.client = src;
    c.server = dst;
    // 256 bytes before 2^32: the first message's sequence numbers wrap.
    const uint32_t isn_c = 0xFFFFFF00u + static_cast<uint32_t>(tcp_connections_.size()) * 0x10000u;
    const uint32_t isn_s = 0x40000000u;
    tcp_segment(t_us - 900, src, dst, isn_c, 0, kSyn, {});
    tcp_segment(t_us - 600, dst, src, isn_s, isn_c + 1, kSyn | kAck, {});
    tcp_segment(t_us - 300, src, dst, isn_c + 1, isn_s + 1, kAck, {});
    c.next[0] = isn_c + 1;
    c.next[1] = isn_s + 1;
    tcp_connections_.push_back(c);
    conn = &tcp_connections_.back();
  }
  const int dir = conn->client == src ? 0 : 1;
  const uint32_t base = conn->next[dir];
  const uint32_t peer = conn->next[1 - dir];
  const size_t step = tcp_->segment_bytes == 0 ? msg.size() : tcp_->segment_bytes;
  std::vector<std::pair<size_t, size_t>> segments;  // offset, length
  for (size_t at = 0; at < msg.size(); at += step) segments.emplace_back(at, std::min(step, msg.size() - at));
  if (tcp_->reorder)
    for (size_t i = 0; i + 1 < segments.size(); i += 2) std::swap(segments[i], segments[i + 1]);
  if (tcp_->retransmit && segments.size() > 1)
    segments.emplace_back(0, std::min(msg.size(), step + step / 2));
  int64_t t = t_us;
  for (const auto& [at, len] : segments) {
    tcp_segment(t, src, dst, base + static_cast<uint32_t>(at), peer, kPsh | kAck,
                std::string_view(msg).substr(at, len));
    t += 100 / static_cast<int64_t>(segments.size());
  }
  conn->next[dir] = base + static_cast<uint32_t>(msg.size());
  tcp_segment(t_us + 200, dst, src, peer, conn->next[dir], kAck, {});
}

void Scenario::udp(int64_t t_us, const Ep& src, const Ep& dst, ByteSpan payload) {
  Frame f{t_us, {}, 0};
  build_udp_frame(link_, src, dst, payload, ip_id_++, f.bytes);
  frames_.push_back(std::move(f));
}

void Scenario::frame(Frame f) { frames_.push_back(std::move(f)); }

size_t Scenario::add_call(const SipDialog& d, int64_t invite_us, std::string end_reason) {
  Call c;
  c.call_id = d.call_id();
  c.caller = d.caller_user();
  c.callee = d.callee_user();
  c.invite_us = invite_us;
  c.end_reason = std::move(end_reason);
  calls_.push_back(std::move(c));
  return calls_.size() - 1;
}

void Scenario::emit_stream(const std::vector<RtpPacket>& wire) {
  std::vector<uint8_t> rtp;
  for (const RtpPacket& p : wire) {
    rtp.clear();
    serialize_rtp(p, rtp);
    Frame f{p.t_us, {}, 0};
    build_udp_frame(link_, p.src, p.dst, rtp, ip_id_++, f.bytes);
    frames_.push_back(std::move(f));
  }
}

void Scenario::add_stream(size_t call, const RtpStream& stream) {
  Stream s{stream.params(), stream.wire()};
  if (s.wire.empty()) return;
  emit_stream(s.wire);
  calls_.at(call).streams.push_back(std::move(s));
}

void Scenario::add_unbound_stream(const RtpStream& stream) {
  Stream s{stream.params(), stream.wire()};
  emit_stream(s.wire);
  unbound_.push_back(std::move(s));
}

nlohmann::json Scenario::expect_call(const Call& c, ExpectedAudio& audio) const {
  using nlohmann::json;
  int rate = 8000;
  for (const Stream& s : c.streams) {
    if (s.params.codec == Codec::kG722) rate = 16000;
  }
  // T0: the call's first audio or comfort-noise packet.
  int64_t t0 = INT64_MAX;
  for (const Stream& s : c.streams) {
    for (const RtpPacket& p : s.wire) {
      if (p.kind != RtpPacket::Kind::kEvent) t0 = std::min(t0, p.t_us);
    }
  }
  const bool has_audio = t0 != INT64_MAX;

  json j;
  j["sip_call_id"] = c.call_id;
  j["start"] = iso8601_ms(c.invite_us);
  j["caller"] = c.caller;
  j["callee"] = c.callee;
  j["end_reason"] = c.end_reason;
  std::set<std::string> codecs;
  json streams = json::array();
  json dtmf = json::array();
  std::vector<int32_t> acc[2];
  bool exact[2] = {true, true};
  auto place = [&](Channel ch, int64_t pos, const std::vector<int16_t>& samples) {
    auto& a = acc[ch == Channel::kCaller ? 0 : 1];
    if (pos < 0) throw std::logic_error("sample placed before T0");
    const auto end = static_cast<size_t>(pos) + samples.size();
    if (a.size() < end) a.resize(end, 0);
    for (size_t i = 0; i < samples.size(); ++i) a[static_cast<size_t>(pos) + i] += samples[i];
  };

  for (const Stream& s : c.streams) {
    std::map<uint64_t, const RtpPacket*> unique;
    for (const RtpPacket& p : s.wire) unique.emplace(p.ext_seq, &p);
    const RtpPacket& first = s.wire.front();
    const int64_t offset = has_audio ? samples_at(first.t_us - t0, rate) : 0;
    const std::string codec(codec_name(s.params.codec));
    codecs.insert(codec);
    // callvault (like tshark) counts a stream per (SSRC, source, destination):
    // a sender that follows a re-INVITE to a new address starts a new stream
    // entry, which continues the SSRC's timeline.
    std::vector<std::pair<std::string, std::string>> order;
    std::map<std::pair<std::string, std::string>, std::vector<const RtpPacket*>> wire_by_addr;
    for (const RtpPacket& p : s.wire) {
      auto key = std::make_pair(p.src.str(), p.dst.str());
      if (!wire_by_addr.count(key)) order.push_back(key);
      wire_by_addr[key].push_back(&p);
    }
    for (const auto& key : order) {
      const auto& pkts = wire_by_addr[key];
      std::map<uint64_t, const RtpPacket*> uniq;
      for (const RtpPacket* p : pkts) uniq.emplace(p->ext_seq, p);
      const RtpPacket& gfirst = *pkts.front();
      const uint64_t span = uniq.rbegin()->first - uniq.begin()->first + 1;
      std::set<int> pts;
      for (const auto& [ext, p] : uniq) pts.insert(p->pt);
      const int64_t rtp_off = static_cast<int64_t>(static_cast<int32_t>(gfirst.ts - first.ts));
      json js;
      js["ssrc"] = hex_ssrc(s.params.ssrc);
      js["src"] = key.first;
      js["dst"] = key.second;
      js["codec"] = codec;
      js["payload_types"] = pts;
      js["packets"] = uniq.size();
      js["lost"] = span - uniq.size();
      js["duplicates"] = pkts.size() - uniq.size();
      js["channel"] = channel_name(s.params.channel);
      js["decoded"] = true;
      js["first_packet"] = iso8601_ms(gfirst.t_us);
      js["offset_samples"] = &gfirst == &first ? offset : offset + rtp_off * rate / kRtpClock;
      streams.push_back(js);
    }
    // Audio: decoded delivered packets in sequence order, placed by RTP time.
    auto rtp_offset = [&](const RtpPacket& p) {
      return static_cast<int64_t>(static_cast<int32_t>(p.ts - first.ts));
    };
    G722Decoder g722;
    std::vector<int16_t> local8;  // G.711 in a 16 kHz call: the stream at 8 kHz, resampled at the end
    const bool resample = rate == 16000 && s.params.codec != Codec::kG722;
    std::vector<int16_t> samples;
    for (const auto& [ext, p] : unique) {
      if (p->kind != RtpPacket::Kind::kAudio) continue;
      samples.clear();
      switch (s.params.codec) {
        case Codec::kPcmu:
          for (uint8_t b : p->payload) samples.push_back(ulaw_to_linear(b));
          break;
        case Codec::kPcma:
          for (uint8_t b : p->payload) samples.push_back(alaw_to_linear(b));
          break;
        case Codec::kG722:
          g722.decode(p->payload, samples);
          break;
      }
      if (resample) {
        const auto at = static_cast<size_t>(rtp_offset(*p));
        if (local8.size() < at + samples.size()) local8.resize(at + samples.size(), 0);
        std::copy(samples.begin(), samples.end(), local8.begin() + static_cast<std::ptrdiff_t>(at));
      } else {
        place(s.params.channel, offset + rtp_offset(*p) * rate / kRtpClock, samples);
      }
    }
    if (resample && !local8.empty()) {
      place(s.params.channel, offset, upsample_8k_to_16k(local8));
      exact[s.params.channel == Channel::kCaller ? 0 : 1] = false;
    }

    // RFC 4733 events: one per RTP timestamp.
    std::map<uint32_t, std::pair<int64_t, int>> events;  // ts -> (first capture time, max duration)
    std::map<uint32_t, uint8_t> event_code;
    for (const auto& [ext, p] : unique) {
      if (p->kind != RtpPacket::Kind::kEvent) continue;
      auto [it, fresh] = events.try_emplace(p->ts, p->t_us, 0);
      it->second.first = std::min(it->second.first, p->t_us);
      it->second.second = std::max(it->second.second, p->payload[2] << 8 | p->payload[3]);
      event_code[p->ts] = p->payload[0];
    }
    for (const auto& [ts, ev] : events) {
      json d;
      d["digit"] = std::string(1, event_digit(event_code[ts]));
      d["at"] = iso8601_ms(ev.first);
      d["duration_ms"] = ev.second * 1000 / kRtpClock;
      d["channel"] = channel_name(s.params.channel);
      d["source"] = "rfc4733";
      dtmf.push_back(d);
    }
  }
  std::stable_sort(dtmf.begin(), dtmf.end(), [](const json& a, const json& b) {
    return a["at"].get<std::string>() < b["at"].get<std::string>();
  });
  j["codecs"] = codecs;
  j["streams"] = streams;
  j["dtmf"] = dtmf;

  const size_t frames = std::max(acc[0].size(), acc[1].size());
  audio = ExpectedAudio{};
  if (has_audio && frames > 0) {
    audio.rate = rate;
    audio.left_exact = exact[0];
    audio.right_exact = exact[1];
    for (int ch = 0; ch < 2; ++ch) {
      auto& out = ch == 0 ? audio.left : audio.right;
      out.resize(frames, 0);
      for (size_t i = 0; i < acc[ch].size(); ++i)
        out[i] = static_cast<int16_t>(std::clamp(acc[ch][i], -32768, 32767));
    }
    j["audio"] = true;
    j["sample_rate"] = rate;
    j["samples"] = frames;
    j["duration_s"] = static_cast<double>(frames) / rate;
    j["expected_wav"] = name_ + "." + call_file_hash(c.call_id, c.invite_us) + ".expected.wav";
    j["compare"] = {{"caller", exact[0] ? "exact" : "correlation"},
                    {"callee", exact[1] ? "exact" : "correlation"}};
  } else {
    j["audio"] = nullptr;
    j["sample_rate"] = nullptr;
    j["expected_wav"] = nullptr;
  }
  return j;
}

nlohmann::json Scenario::expected(std::vector<ExpectedAudio>* audio) const {
  using nlohmann::json;
  json j;
  j["case"] = name_;
  j["pcap"] = name_ + ".pcap";
  json calls = json::array();
  for (const Call& c : calls_) {
    ExpectedAudio a;
    calls.push_back(expect_call(c, a));
    if (audio != nullptr) audio->push_back(std::move(a));
  }
  j["calls"] = calls;

  // What any pcap reader must see (checked against tshark): SIP messages per
  // Call-ID and RTP flows per (src, dst, SSRC) with captured packet counts
  // (duplicates included) and the sequence-number span they cover.
  json wire;
  json sip = json::array();
  std::vector<SipClaim> claims = sip_claims_;
  std::stable_sort(claims.begin(), claims.end(),
                   [](const SipClaim& a, const SipClaim& b) { return a.t_us < b.t_us; });
  for (const SipClaim& s : claims) {
    sip.push_back({{"call_id", s.call_id}, {"method", s.method}, {"status", s.status}});
  }
  wire["sip"] = sip;
  struct Flow {
    uint64_t packets = 0, lo = UINT64_MAX, hi = 0;
  };
  std::map<std::tuple<std::string, std::string, uint32_t>, Flow> flows;
  auto count = [&](const Stream& s) {
    for (const RtpPacket& p : s.wire) {
      Flow& f = flows[{p.src.str(), p.dst.str(), p.ssrc}];
      ++f.packets;
      f.lo = std::min(f.lo, p.ext_seq);
      f.hi = std::max(f.hi, p.ext_seq);
    }
  };
  for (const Call& c : calls_) {
    for (const Stream& s : c.streams) count(s);
  }
  for (const Stream& s : unbound_) count(s);
  json rtp = json::array();
  for (const auto& [key, f] : flows) {
    rtp.push_back({{"src", std::get<0>(key)},
                   {"dst", std::get<1>(key)},
                   {"ssrc", hex_ssrc(std::get<2>(key))},
                   {"packets", f.packets},
                   {"expected", f.hi - f.lo + 1}});
  }
  wire["rtp_flows"] = rtp;
  j["wire"] = wire;
  return j;
}

void Scenario::write(const std::string& dir) const {
  std::filesystem::create_directories(dir);
  std::vector<size_t> order(frames_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return frames_[a].t_us < frames_[b].t_us; });
  PcapWriter w(dir + "/" + name_ + ".pcap");
  for (size_t i : order) w.write(frames_[i]);
  w.close();

  std::vector<ExpectedAudio> audio;
  const nlohmann::json j = expected(&audio);
  for (size_t i = 0; i < audio.size(); ++i) {
    if (audio[i].rate == 0) continue;
    write_wav(dir + "/" + j["calls"][i]["expected_wav"].get<std::string>(), audio[i].rate, audio[i].left,
              audio[i].right);
  }
  std::ofstream out(dir + "/" + name_ + ".expected.json");
  out << j.dump(2) << "\n";
  if (!out) throw std::runtime_error("cannot write expected.json");
}

}  // namespace cv::gen
