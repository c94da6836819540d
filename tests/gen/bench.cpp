#include "tests/gen/bench.h"

#include <array>
#include <cstdio>
#include <queue>
#include <stdexcept>
#include <vector>

#include "tests/gen/audio.h"
#include "tests/gen/codecs.h"
#include "tests/gen/net.h"

namespace cv::gen {

namespace {

constexpr int kPayloads = 50;  // one second of tone, 20 ms each

enum class Step : uint8_t { kInvite, kOk, kAck, kRtp, kRtpBack, kBye, kByeOk, kDone };

struct CallState {
  int64_t t = 0;  // time of the next step
  Step step = Step::kInvite;
  uint32_t packet = 0;  // 20 ms packets sent each way
};

struct Event {
  int64_t t;
  uint32_t call;
  bool operator>(const Event& o) const { return t != o.t ? t > o.t : call > o.call; }
};

Ep caller_ep(uint32_t i, uint16_t port) {
  Ip ip;
  ip.family = 4;
  ip.b[0] = 10;
  ip.b[1] = static_cast<uint8_t>(64 + ((i >> 16) & 63));
  ip.b[2] = static_cast<uint8_t>(i >> 8);
  ip.b[3] = static_cast<uint8_t>(i);
  return {ip, port};
}
Ep pbx_ep(uint16_t port) { return Ep::parse("10.0.0.1", port); }
uint16_t pbx_port(uint32_t i) { return static_cast<uint16_t>(10000 + 2 * (i % 25000)); }

class BenchWriter {
 public:
  explicit BenchWriter(const BenchOptions& opt) : opt_(opt), pcap_(opt.out) {
    const Signal a = tone(440.0, 8000, 1.0), b = tone(1020.0, 8000, 1.0);
    for (int k = 0; k < kPayloads; ++k) {
      for (int s = 0; s < 160; ++s) {
        payload_[0][k][s] = linear_to_ulaw((*a)[k * 160 + s]);
        payload_[1][k][s] = linear_to_ulaw((*b)[k * 160 + s]);
      }
    }
    rtp_.resize(12 + 160);
    frame_.reserve(2048);
    sip_.reserve(2048);
  }

  BenchStats run() {
    const auto calls = static_cast<uint32_t>(opt_.calls);
    const auto packets = static_cast<uint32_t>(opt_.seconds * 50);
    const int64_t spacing = static_cast<int64_t>(opt_.seconds * 1e6) / std::max(1, opt_.concurrent);
    std::vector<CallState> state(calls);
    std::priority_queue<Event, std::vector<Event>, std::greater<>> heap;
    uint32_t next_start = 0;
    const int64_t t0 = opt_.start_epoch_s * 1000000;
    auto start_time = [&](uint32_t i) { return t0 + static_cast<int64_t>(i) * spacing; };
    while (next_start < calls || !heap.empty()) {
      if (next_start < calls && (heap.empty() || start_time(next_start) <= heap.top().t)) {
        state[next_start].t = start_time(next_start);
        heap.push({state[next_start].t, next_start});
        ++next_start;
        continue;
      }
      const Event e = heap.top();
      heap.pop();
      CallState& c = state[e.call];
      step(e.call, c, packets);
      if (c.step != Step::kDone) heap.push({c.t, e.call});
    }
    pcap_.close();
    return stats_;
  }

 private:
  void step(uint32_t i, CallState& c, uint32_t packets) {
    const Ep caller_sip = caller_ep(i, 5060), pbx_sip = pbx_ep(5060);
    const Ep caller_rtp = caller_ep(i, 16000), pbx_rtp = pbx_ep(pbx_port(i));
    switch (c.step) {
      case Step::kInvite: {
        char sdp[256];
        const int n = std::snprintf(sdp, sizeof sdp,
                                    "v=0\r\no=- %u 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
                                    "m=audio 16000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n",
                                    i, caller_sip.ip.str().c_str(), caller_sip.ip.str().c_str());
        sip(c.t, caller_sip, pbx_sip, i, "INVITE sip:%u@10.0.0.1 SIP/2.0", "1 INVITE",
            std::string_view(sdp, n));
        advance(c, Step::kOk, 100000);
        break;
      }
      case Step::kOk: {
        char sdp[256];
        const int n = std::snprintf(sdp, sizeof sdp,
                                    "v=0\r\no=- %u 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
                                    "m=audio %u RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n",
                                    i, static_cast<unsigned>(pbx_port(i)));
        sip(c.t, pbx_sip, caller_sip, i, "SIP/2.0 200 OK", "1 INVITE", std::string_view(sdp, n));
        advance(c, Step::kAck, 10000);
        break;
      }
      case Step::kAck:
        sip(c.t, caller_sip, pbx_sip, i, "ACK sip:%u@10.0.0.1 SIP/2.0", "1 ACK", {});
        advance(c, packets > 0 ? Step::kRtp : Step::kBye, 10000);
        break;
      case Step::kRtp:
        rtp(c.t, caller_rtp, pbx_rtp, 0x10000000u + i, c.packet, 0);
        advance(c, Step::kRtpBack, 1000);
        break;
      case Step::kRtpBack:
        rtp(c.t, pbx_rtp, caller_rtp, 0x20000000u + i, c.packet, 1);
        ++c.packet;
        advance(c, c.packet < packets ? Step::kRtp : Step::kBye, 19000);
        break;
      case Step::kBye:
        sip(c.t, caller_sip, pbx_sip, i, "BYE sip:%u@10.0.0.1 SIP/2.0", "2 BYE", {});
        advance(c, Step::kByeOk, 15000);
        break;
      case Step::kByeOk:
        sip(c.t, pbx_sip, caller_sip, i, "SIP/2.0 200 OK", "2 BYE", {});
        c.step = Step::kDone;
        break;
      case Step::kDone:
        break;
    }
  }

  static void advance(CallState& c, Step next, int64_t after_us) {
    c.step = next;
    c.t += after_us;
  }

  void sip(int64_t t, const Ep& src, const Ep& dst, uint32_t i, const char* first_line, const char* cseq,
           std::string_view body) {
    char line[128];
    std::snprintf(line, sizeof line, first_line, 5000000u + i);
    char head[1024];
    const int n =
        std::snprintf(head, sizeof head,
                      "%s\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKb%u%s\r\nFrom: <sip:%u@%s>;tag=a%u\r\n"
                      "To: <sip:%u@10.0.0.1>%s\r\nCall-ID: bench-%u@callvault\r\nCSeq: %s\r\n"
                      "Max-Forwards: 70\r\n%sContent-Length: %zu\r\n\r\n",
                      line, src.str().c_str(), i, cseq, 1000000u + i, caller_ep(i, 5060).ip.str().c_str(), i,
                      5000000u + i, line[0] == 'I' ? "" : ";tag=b1", i, cseq,
                      body.empty() ? "" : "Content-Type: application/sdp\r\n", body.size());
    sip_.assign(head, head + n);
    sip_.insert(sip_.end(), body.begin(), body.end());
    emit(t, src, dst, sip_);
    ++stats_.sip_messages;
  }

  void rtp(int64_t t, const Ep& src, const Ep& dst, uint32_t ssrc, uint32_t k, int side) {
    const auto seq = static_cast<uint16_t>(ssrc * 7 + k);
    const uint32_t ts = ssrc * 13 + k * 160;
    rtp_[0] = 0x80;
    rtp_[1] = static_cast<uint8_t>(k == 0 ? 0x80 : 0x00);
    rtp_[2] = static_cast<uint8_t>(seq >> 8);
    rtp_[3] = static_cast<uint8_t>(seq);
    for (int s = 0; s < 4; ++s) {
      rtp_[4 + s] = static_cast<uint8_t>(ts >> (24 - 8 * s));
      rtp_[8 + s] = static_cast<uint8_t>(ssrc >> (24 - 8 * s));
    }
    const auto& p = payload_[side][k % kPayloads];
    std::copy(p.begin(), p.end(), rtp_.begin() + 12);
    emit(t, src, dst, rtp_);
    ++stats_.rtp_packets;
  }

  void emit(int64_t t, const Ep& src, const Ep& dst, ByteSpan payload) {
    build_udp_frame(link_, src, dst, payload, ip_id_++, frame_);
    pcap_.write(t, frame_);
    ++stats_.frames;
    stats_.bytes += frame_.size();
  }

  BenchOptions opt_;
  PcapWriter pcap_;
  Link link_;
  uint32_t ip_id_ = 1;
  std::array<std::array<std::array<uint8_t, 160>, kPayloads>, 2> payload_{};
  std::vector<uint8_t> rtp_, frame_, sip_;
  BenchStats stats_;
};

}  // namespace

BenchStats write_bench(const BenchOptions& opt) {
  if (opt.calls <= 0 || opt.concurrent <= 0 || opt.seconds <= 0)
    throw std::invalid_argument("bench: bad options");
  BenchWriter w(opt);
  return w.run();
}

}  // namespace cv::gen
