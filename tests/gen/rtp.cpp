#include "tests/gen/rtp.h"

#include <algorithm>
#include <stdexcept>

namespace cv::gen {

std::string_view codec_name(Codec c) {
  switch (c) {
    case Codec::kPcmu:
      return "PCMU";
    case Codec::kPcma:
      return "PCMA";
    case Codec::kG722:
      return "G722";
  }
  return "?";
}

void serialize_rtp(const RtpPacket& p, std::vector<uint8_t>& out) {
  out.push_back(0x80);
  out.push_back(static_cast<uint8_t>((p.marker ? 0x80 : 0) | (p.pt & 0x7F)));
  out.push_back(static_cast<uint8_t>(p.seq >> 8));
  out.push_back(static_cast<uint8_t>(p.seq));
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(p.ts >> s));
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(p.ssrc >> s));
  out.insert(out.end(), p.payload.begin(), p.payload.end());
}

RtpStream::RtpStream(Params p)
    : p_(p), nominal_us_(p.t_us), ts_(p.ts), src_(p.src), dst_(p.dst), rng_(p.seed) {
  if (p_.codec == Codec::kG722) g722_ = std::make_unique<G722Encoder>();
}

RtpPacket& RtpStream::add(RtpPacket::Kind kind, uint8_t pt, uint32_t ts) {
  RtpPacket& r = gen_.emplace_back();
  dropped_.push_back(false);
  r.kind = kind;
  r.pt = pt;
  r.ts = ts;
  r.ssrc = p_.ssrc;
  r.ext_seq = p_.seq + gen_.size() - 1;
  r.seq = static_cast<uint16_t>(r.ext_seq);
  r.src = src_;
  r.dst = dst_;
  const int64_t jitter =
      p_.jitter_us > 0 ? static_cast<int64_t>(rng_() % static_cast<uint64_t>(p_.jitter_us + 1)) : 0;
  r.t_us = nominal_us_ + jitter;
  r.marker = marker_ && kind != RtpPacket::Kind::kEvent;
  if (kind != RtpPacket::Kind::kEvent) marker_ = false;
  nominal_us_ += 20000;
  return r;
}

void RtpStream::audio(const Signal& signal, int packets) {
  const size_t n = p_.codec == Codec::kG722 ? 320 : 160;
  std::vector<int16_t> pcm(n);
  for (int k = 0; k < packets; ++k) {
    for (size_t i = 0; i < n; ++i) {
      pcm[i] = (*signal)[signal_pos_ % signal->size()];
      ++signal_pos_;
    }
    RtpPacket& r = add(RtpPacket::Kind::kAudio, p_.pt, ts_);
    ts_ += 160;
    switch (p_.codec) {
      case Codec::kPcmu:
        for (int16_t s : pcm) r.payload.push_back(linear_to_ulaw(s));
        break;
      case Codec::kPcma:
        for (int16_t s : pcm) r.payload.push_back(linear_to_alaw(s));
        break;
      case Codec::kG722:
        g722_->encode20ms(pcm, r.payload);
        break;
    }
  }
}

void RtpStream::comfort_noise(int gap_ms) {
  RtpPacket& r = add(RtpPacket::Kind::kComfortNoise, 13, ts_);
  r.payload = {0x40};  // noise level -64 dBov
  ts_ += 160;
  pause(gap_ms);
}

void RtpStream::pause(int gap_ms) {
  nominal_us_ += int64_t{gap_ms} * 1000;
  ts_ += static_cast<uint32_t>(gap_ms * (kRtpClock / 1000));
  signal_pos_ += static_cast<size_t>(gap_ms) * static_cast<size_t>(audio_rate(p_.codec) / 1000);
  marker_ = true;
}

void RtpStream::dtmf(char digit, int duration_ms) {
  static constexpr std::string_view kEvents = "0123456789*#ABCD";
  const size_t event = kEvents.find(digit);
  if (event == std::string_view::npos) throw std::invalid_argument("not a DTMF digit");
  const int steps = duration_ms / 20;
  const uint32_t start = ts_;
  auto event_packet = [&](int duration, bool end, bool first) {
    RtpPacket& r = add(RtpPacket::Kind::kEvent, p_.event_pt, start);
    r.marker = first;
    r.payload = {static_cast<uint8_t>(event), static_cast<uint8_t>((end ? 0x80 : 0) | 10),
                 static_cast<uint8_t>(duration >> 8), static_cast<uint8_t>(duration)};
  };
  for (int k = 1; k <= steps; ++k) event_packet(k * 160, false, k == 1);
  for (int k = 0; k < 3; ++k) event_packet(steps * 160, true, false);
  ts_ += static_cast<uint32_t>((steps + 3) * 160);
  signal_pos_ += static_cast<size_t>(steps + 3) * (p_.codec == Codec::kG722 ? 320 : 160);
}

void RtpStream::move(const Ep& src, const Ep& dst) {
  src_ = src;
  dst_ = dst;
}

void RtpStream::drop(size_t index) { dropped_.at(index) = true; }

void RtpStream::drop_random(double probability, uint64_t seed, size_t keep_head, size_t keep_tail) {
  std::mt19937_64 rng(seed);
  for (size_t i = keep_head; i + keep_tail < gen_.size(); ++i) {
    if (static_cast<double>(rng() % 1000000) < probability * 1e6) dropped_[i] = true;
  }
}

void RtpStream::drop_burst(size_t from, size_t count) {
  for (size_t i = from; i < from + count; ++i) dropped_.at(i) = true;
}

void RtpStream::delay(size_t index, size_t distance) { delays_.emplace_back(index, distance); }

void RtpStream::duplicate(size_t index, int copies) { dups_.emplace_back(index, copies); }

std::vector<RtpPacket> RtpStream::wire() const {
  // Arrival order of generation indices, then each arrival takes the capture
  // time of the slot it lands in, so capture time order is arrival order.
  std::vector<size_t> order(gen_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (auto [index, distance] : delays_) {
    auto it = std::find(order.begin(), order.end(), index);
    const auto pos = static_cast<size_t>(it - order.begin());
    const size_t to = std::min(pos + distance, order.size() - 1);
    order.erase(it);
    order.insert(order.begin() + static_cast<std::ptrdiff_t>(to), index);
  }
  std::vector<RtpPacket> out;
  for (size_t slot = 0; slot < order.size(); ++slot) {
    const size_t i = order[slot];
    if (dropped_[i]) continue;
    RtpPacket p = gen_[i];
    p.t_us = gen_[slot].t_us;
    // Addresses belong to the sending time, not to the arrival slot.
    out.push_back(p);
    for (auto [index, copies] : dups_) {
      if (index != i) continue;
      for (int c = 1; c <= copies; ++c) {
        RtpPacket d = p;
        d.duplicate = true;
        d.t_us = p.t_us + 1000 * c;
        out.push_back(d);
      }
    }
  }
  return out;
}

}  // namespace cv::gen
