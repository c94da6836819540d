#include "tests/gen/cases.h"

#include <algorithm>
#include <random>

namespace cv::gen {

namespace {

constexpr int64_t kMs = 1000;
constexpr int64_t kSec = 1000000;
const int64_t kT0 = utc_us(2024, 3, 1, 10, 0, 0);

Ep ep(const char* ip, uint16_t port) { return Ep::parse(ip, port); }

// Who takes part in a call and how they offer and answer media.
struct Parties {
  std::string call_id = "gen-call-1@10.0.0.1";
  std::string caller = "1001", callee = "2002";
  Ep caller_sip = ep("10.0.0.1", 5060), callee_sip = ep("10.0.0.2", 5060);
  Ep caller_media = ep("10.0.0.1", 16000), callee_media = ep("10.0.0.2", 20000);
  std::vector<SdpFormat> offer = {fmt_pcmu(), fmt_telephone_event()};
  std::vector<SdpFormat> answer = {fmt_pcmu(), fmt_telephone_event()};
  int instance = 0;
};

// SIP signalling of one call, sent into a Scenario.
class CallFlow {
 public:
  CallFlow(Scenario& sc, const Parties& p)
      : sc_(sc),
        p_(p),
        dialog_(p.call_id, p.caller, p.callee, p.caller_sip, p.callee_sip, p.instance),
        caller_m_{p.caller_media, p.offer},
        callee_m_{p.callee_media, p.answer} {}

  SdpMedia& caller_media() { return caller_m_; }
  SdpMedia& callee_media() { return callee_m_; }
  [[nodiscard]] size_t index() const { return index_; }

  void invite(int64_t t, int extra_headers = 0, size_t fragment_bytes = 0, bool reverse = false) {
    const std::string msg = dialog_.request("INVITE", true, sdp(true), invite_, extra_headers);
    sc_.sip(t, dialog_, true, msg, fragment_bytes, reverse);
    index_ = sc_.add_call(dialog_, t, "bye");
  }
  void respond(int64_t t, int code, const std::string& reason, bool with_sdp = false) {
    sc_.sip(t, dialog_, false, dialog_.response(invite_, code, reason, with_sdp ? sdp(false) : ""));
  }
  void ack(int64_t t) {
    SipTxn ack;
    sc_.sip(t, dialog_, true, dialog_.request_in(invite_, "ACK", ack));
  }
  // INVITE, 100, 180, 200 with SDP, ACK; returns the time of the ACK.
  int64_t connect(int64_t t, int64_t answer_after = 1500 * kMs) {
    invite(t);
    respond(t + 5 * kMs, 100, "Trying");
    respond(t + 60 * kMs, 180, "Ringing");
    respond(t + answer_after, 200, "OK", true);
    ack(t + answer_after + 10 * kMs);
    return t + answer_after + 10 * kMs;
  }
  void bye(int64_t t, bool from_caller) {
    SipTxn txn;
    sc_.sip(t, dialog_, from_caller, dialog_.request("BYE", from_caller, "", txn));
    sc_.sip(t + 15 * kMs, dialog_, !from_caller, dialog_.response(txn, 200, "OK"));
  }
  void cancel(int64_t t) {
    SipTxn txn;
    sc_.sip(t, dialog_, true, dialog_.request_in(invite_, "CANCEL", txn));
    sc_.sip(t + 5 * kMs, dialog_, false, dialog_.response(txn, 200, "OK"));
    respond(t + 10 * kMs, 487, "Request Terminated");
    ack(t + 15 * kMs);
    sc_.set_end_reason(index_, "cancel");
  }
  void reject(int64_t t, int code, const std::string& reason) {
    respond(t, code, reason);
    ack(t + 5 * kMs);
    sc_.set_end_reason(index_, "rejected");
  }
  // re-INVITE from one side with its current SdpMedia; 200 with the other's; ACK.
  void reinvite(int64_t t, bool from_caller) {
    SipTxn txn;
    sc_.sip(t, dialog_, from_caller, dialog_.request("INVITE", from_caller, sdp(from_caller), txn));
    sc_.sip(t + 20 * kMs, dialog_, !from_caller, dialog_.response(txn, 200, "OK", sdp(!from_caller)));
    SipTxn ack;
    sc_.sip(t + 40 * kMs, dialog_, from_caller, dialog_.request_in(txn, "ACK", ack));
  }

 private:
  std::string sdp(bool caller) {
    const uint64_t version = caller ? ++caller_version_ : ++callee_version_;
    return build_sdp(caller ? p_.caller : p_.callee, caller ? 1111 : 2222, version,
                     caller ? caller_m_ : callee_m_);
  }

  Scenario& sc_;
  Parties p_;
  SipDialog dialog_;
  SipTxn invite_;
  SdpMedia caller_m_, callee_m_;
  uint64_t caller_version_ = 0, callee_version_ = 0;
  size_t index_ = 0;
};

struct Side {
  Channel channel;
  Codec codec;
  uint8_t pt;
  uint32_t ssrc;
  Ep src, dst;
  int64_t t;
  uint16_t seq = 1000;
  uint32_t ts = 160000;
};

RtpStream stream(const Side& s, uint64_t seed = 7) {
  RtpStream::Params p;
  p.codec = s.codec;
  p.pt = s.pt;
  p.ssrc = s.ssrc;
  p.seq = s.seq;
  p.ts = s.ts;
  p.src = s.src;
  p.dst = s.dst;
  p.t_us = s.t;
  p.jitter_us = 3000;
  p.seed = seed ^ s.ssrc;
  p.channel = s.channel;
  return RtpStream(p);
}

Side caller_side(const Parties& p, Codec c, uint8_t pt, uint32_t ssrc, int64_t t) {
  return {Channel::kCaller, c, pt, ssrc, p.caller_media, p.callee_media, t};
}
Side callee_side(const Parties& p, Codec c, uint8_t pt, uint32_t ssrc, int64_t t) {
  return {Channel::kCallee, c, pt, ssrc, p.callee_media, p.caller_media, t};
}

Signal caller_tone(int rate = 8000) { return tone(400.0, rate, 1.0); }
Signal callee_tone(int rate = 8000) { return tone(1000.0, rate, 1.0); }

// A complete two-way call: setup, `packets` 20 ms packets each way, BYE.
void simple_call(Scenario& sc, const Parties& p, int64_t t, Codec codec, uint8_t pt, int packets,
                 const Signal& caller_sig, const Signal& callee_sig, bool bye_from_caller = true) {
  CallFlow call(sc, p);
  const int64_t tm = call.connect(t) + 20 * kMs;
  RtpStream a = stream(caller_side(p, codec, pt, 0x11110000u + static_cast<uint32_t>(p.instance), tm));
  RtpStream b =
      stream(callee_side(p, codec, pt, 0x22220000u + static_cast<uint32_t>(p.instance), tm + 7 * kMs));
  a.audio(caller_sig, packets);
  b.audio(callee_sig, packets);
  sc.add_stream(call.index(), a);
  sc.add_stream(call.index(), b);
  call.bye(std::max(a.now_us(), b.now_us()) + 30 * kMs, bye_from_caller);
}

Scenario basic_pcmu() {
  Scenario sc("basic_pcmu");
  Parties p;
  p.call_id = "basic-pcmu@10.0.0.1";
  simple_call(sc, p, kT0, Codec::kPcmu, 0, 250, caller_tone(), callee_tone());
  return sc;
}

Scenario basic_pcma() {
  Scenario sc("basic_pcma");
  Parties p;
  p.call_id = "basic-pcma@10.0.0.1";
  p.offer = p.answer = {fmt_pcma(), fmt_telephone_event()};
  simple_call(sc, p, kT0, Codec::kPcma, 8, 200,
              speech("callvault records both sides of every call on the network", 8000), callee_tone(),
              false);
  return sc;
}

Scenario loss() {
  Scenario sc("loss");
  Parties p;
  p.call_id = "loss@10.0.0.1";
  CallFlow call(sc, p);
  const int64_t tm = call.connect(kT0) + 20 * kMs;
  RtpStream a = stream(caller_side(p, Codec::kPcmu, 0, 0x0A0B0C0D, tm));
  RtpStream b = stream(callee_side(p, Codec::kPcmu, 0, 0x1A1B1C1D, tm + 5 * kMs));
  a.audio(caller_tone(), 500);
  b.audio(callee_tone(), 500);
  a.drop_random(0.05, 42, 5, 5);
  a.drop_burst(300, 10);
  b.drop(100);
  b.drop(101);
  b.drop(377);
  sc.add_stream(call.index(), a);
  sc.add_stream(call.index(), b);
  call.bye(a.now_us() + 40 * kMs, true);
  return sc;
}

Scenario reorder() {
  Scenario sc("reorder");
  Parties p;
  p.call_id = "reorder@10.0.0.1";
  CallFlow call(sc, p);
  const int64_t tm = call.connect(kT0) + 20 * kMs;
  RtpStream a = stream(caller_side(p, Codec::kPcmu, 0, 0x0BADCAFE, tm));
  RtpStream b = stream(callee_side(p, Codec::kPcmu, 0, 0x0DDBA11A, tm + 9 * kMs));
  a.audio(caller_tone(), 300);
  b.audio(callee_tone(), 300);
  for (size_t i = 10; i < 290; i += 13) a.delay(i, i % 2 == 0 ? 1 : 3);
  for (size_t i = 15; i < 290; i += 40) b.delay(i, 2);
  sc.add_stream(call.index(), a);
  sc.add_stream(call.index(), b);
  call.bye(b.now_us() + 40 * kMs, false);
  return sc;
}

Scenario duplicates() {
  Scenario sc("duplicates");
  Parties p;
  p.call_id = "duplicates@10.0.0.1";
  CallFlow call(sc, p);
  const int64_t tm = call.connect(kT0) + 20 * kMs;
  RtpStream a = stream(caller_side(p, Codec::kPcmu, 0, 0x5A3361B3, tm));
  RtpStream b = stream(callee_side(p, Codec::kPcmu, 0, 0x6B4472C4, tm + 4 * kMs));
  a.audio(caller_tone(), 250);
  b.audio(callee_tone(), 250);
  for (size_t i = 10; i < 240; i += 25) a.duplicate(i, 1);
  a.duplicate(200, 3);
  b.duplicate(50, 1);
  b.duplicate(51, 1);
  sc.add_stream(call.index(), a);
  sc.add_stream(call.index(), b);
  call.bye(a.now_us() + 40 * kMs, true);
  return sc;
}

Scenario silence_suppression() {
  Scenario sc("silence_suppression");
  Parties p;
  p.call_id = "silence@10.0.0.1";
  p.offer = p.answer = {fmt_pcmu(), fmt_cn(), fmt_telephone_event()};
  CallFlow call(sc, p);
  const int64_t tm = call.connect(kT0) + 20 * kMs;
  RtpStream a = stream(caller_side(p, Codec::kPcmu, 0, 0x00C0FFEE, tm));
  RtpStream b = stream(callee_side(p, Codec::kPcmu, 0, 0x00BEEF00, tm + 6 * kMs));
  a.audio(caller_tone(), 50);
  a.comfort_noise(2000);
  a.audio(caller_tone(), 50);
  a.comfort_noise(1500);
  a.audio(caller_tone(), 60);
  b.audio(callee_tone(), 150);
  b.pause(1000);
  b.audio(callee_tone(), 130);
  sc.add_stream(call.index(), a);
  sc.add_stream(call.index(), b);
  call.bye(std::max(a.now_us(), b.now_us()) + 40 * kMs, true);
  return sc;
}

Scenario nat() {
  // A phone behind NAT advertises its private address; its SIP and RTP come
  // from the NAT's public address. The PBX sends RTP back to where the
  // phone's RTP came from (symmetric RTP).
  Scenario sc("nat");
  Parties p;
  p.call_id = "nat-7781@192.168.1.10";
  p.caller = "301";
  p.callee = "0048221234567";
  p.caller_sip = ep("203.0.113.5", 5062);
  p.callee_sip = ep("198.51.100.20", 5060);
  p.caller_media = ep("192.168.1.10", 4000);
  p.callee_media = ep("198.51.100.20", 10000);
  CallFlow call(sc, p);
  const int64_t tm = call.connect(kT0) + 20 * kMs;
  const Ep nat_public = ep("203.0.113.5", 61000);
  RtpStream a = stream({Channel::kCaller, Codec::kPcmu, 0, 0x4E415431, nat_public, p.callee_media, tm});
  RtpStream b =
      stream({Channel::kCallee, Codec::kPcmu, 0, 0x50425831, p.callee_media, nat_public, tm + 40 * kMs});
  a.audio(caller_tone(), 250);
  b.audio(callee_tone(), 248);
  sc.add_stream(call.index(), a);
  sc.add_stream(call.index(), b);
  call.bye(b.now_us() + 40 * kMs, true);
  return sc;
}

Scenario early_media() {
  Scenario sc("early_media");
  Parties p;
  p.call_id = "early-media@10.0.0.1";
  CallFlow call(sc, p);
  const int64_t t = kT0;
  call.invite(t);
  call.respond(t + 5 * kMs, 100, "Trying");
  call.respond(t + 300 * kMs, 183, "Session Progress", true);
  RtpStream b = stream(callee_side(p, Codec::kPcmu, 0, 0x183183AA, t + 350 * kMs));
  b.audio(tone(425.0, 8000, 1.0), 110);  // ringback
  const int64_t answered = b.now_us() + 5 * kMs;
  call.respond(answered, 200, "OK", true);
  call.ack(answered + 10 * kMs);
  b.audio(callee_tone(), 200);
  RtpStream a = stream(caller_side(p, Codec::kPcmu, 0, 0x0AAA0001, answered + 30 * kMs));
  a.audio(caller_tone(), 200);
  sc.add_stream(call.index(), a);
  sc.add_stream(call.index(), b);
  call.bye(std::max(a.now_us(), b.now_us()) + 30 * kMs, true);
  return sc;
}

Scenario reinvite_new_port() {
  Scenario sc("reinvite_new_port");
  Parties p;
  p.call_id = "reinvite@10.0.0.1";
  CallFlow call(sc, p);
  const int64_t tm = call.connect(kT0) + 20 * kMs;
  RtpStream a = stream(caller_side(p, Codec::kPcmu, 0, 0xCA11E500, tm));
  RtpStream b = stream(callee_side(p, Codec::kPcmu, 0, 0xCA11EE00, tm + 8 * kMs));
  a.audio(caller_tone(), 150);
  b.audio(callee_tone(), 150);
  // The callee moves its media to a new port: re-INVITE, 200, ACK; then the
  // caller sends there (same SSRC) and the callee sends from there (new SSRC).
  const Ep moved = ep("10.0.0.2", 20002);
  call.callee_media().addr = moved;
  call.reinvite(a.now_us() - 60 * kMs, false);
  a.move(p.caller_media, moved);
  a.audio(caller_tone(), 150);
  RtpStream b2 = stream({Channel::kCallee, Codec::kPcmu, 0, 0xCA11EE02, moved, p.caller_media,
                         b.now_us() + 20 * kMs, 30000, 4000000});
  b2.audio(callee_tone(), 150);
  sc.add_stream(call.index(), a);
  sc.add_stream(call.index(), b);
  sc.add_stream(call.index(), b2);
  call.bye(std::max(a.now_us(), b2.now_us()) + 30 * kMs, true);
  return sc;
}

Scenario hold() {
  Scenario sc("hold");
  Parties p;
  p.call_id = "hold@10.0.0.1";
  CallFlow call(sc, p);
  const int64_t tm = call.connect(kT0) + 20 * kMs;
  RtpStream a = stream(caller_side(p, Codec::kPcmu, 0, 0x401D0001, tm));
  RtpStream b = stream(callee_side(p, Codec::kPcmu, 0, 0x401D0002, tm + 8 * kMs));
  a.audio(caller_tone(), 150);
  b.audio(callee_tone(), 150);
  // Hold: the caller sends music on hold, the callee stops sending.
  call.caller_media().direction = "sendonly";
  call.callee_media().direction = "recvonly";
  call.reinvite(a.now_us() - 50 * kMs, true);
  a.audio(tone(300.0, 8000, 1.0), 250);
  b.pause(5000);
  // Resume.
  call.caller_media().direction = "sendrecv";
  call.callee_media().direction = "sendrecv";
  call.reinvite(a.now_us() - 50 * kMs, true);
  a.audio(caller_tone(), 150);
  b.audio(callee_tone(), 150);
  sc.add_stream(call.index(), a);
  sc.add_stream(call.index(), b);
  call.bye(std::max(a.now_us(), b.now_us()) + 30 * kMs, true);
  return sc;
}

Scenario ssrc_change() {
  Scenario sc("ssrc_change");
  Parties p;
  p.call_id = "ssrc-change@10.0.0.1";
  CallFlow call(sc, p);
  const int64_t tm = call.connect(kT0) + 20 * kMs;
  RtpStream a = stream(caller_side(p, Codec::kPcmu, 0, 0x55AA0001, tm));
  RtpStream b = stream(callee_side(p, Codec::kPcmu, 0, 0x55AA0002, tm + 8 * kMs));
  a.audio(caller_tone(), 150);
  Side s2 = caller_side(p, Codec::kPcmu, 0, 0x77EE0003, a.now_us());
  s2.seq = 31000;
  s2.ts = 987654321;
  RtpStream a2 = stream(s2);
  a2.audio(caller_tone(), 150);
  b.audio(callee_tone(), 300);
  sc.add_stream(call.index(), a);
  sc.add_stream(call.index(), a2);
  sc.add_stream(call.index(), b);
  call.bye(std::max(a2.now_us(), b.now_us()) + 30 * kMs, true);
  return sc;
}

Scenario callid_reuse() {
  Scenario sc("callid_reuse");
  Parties p;
  p.call_id = "reused-callid@10.0.0.1";
  simple_call(sc, p, kT0, Codec::kPcmu, 0, 150, caller_tone(), callee_tone());
  Parties q = p;
  q.callee = "2003";
  q.instance = 1;
  simple_call(sc, q, kT0 + 600 * kSec, Codec::kPcmu, 0, 120, tone(600.0, 8000, 1.0), tone(1200.0, 8000, 1.0),
              false);
  return sc;
}

Scenario port_reuse() {
  Scenario sc("port_reuse");
  Parties p;
  p.call_id = "port-reuse-1@10.0.0.1";
  CallFlow call(sc, p);
  const int64_t tm = call.connect(kT0) + 20 * kMs;
  RtpStream a = stream(caller_side(p, Codec::kPcmu, 0, 0x9001, tm));
  RtpStream b = stream(callee_side(p, Codec::kPcmu, 0, 0x9002, tm + 5 * kMs));
  a.audio(caller_tone(), 150);
  b.audio(callee_tone(), 150);
  sc.add_stream(call.index(), a);
  sc.add_stream(call.index(), b);
  const int64_t bye = std::max(a.now_us(), b.now_us()) + 10 * kMs;
  call.bye(bye, true);
  // The next call starts right away on the same SIP and RTP addresses.
  Parties q = p;
  q.call_id = "port-reuse-2@10.0.0.1";
  q.callee = "2003";
  CallFlow call2(sc, q);
  const int64_t tm2 = call2.connect(bye + 200 * kMs, 500 * kMs) + 20 * kMs;
  RtpStream c = stream(caller_side(q, Codec::kPcmu, 0, 0x9003, tm2));
  RtpStream d = stream(callee_side(q, Codec::kPcmu, 0, 0x9004, tm2 + 5 * kMs));
  c.audio(tone(600.0, 8000, 1.0), 150);
  d.audio(tone(1200.0, 8000, 1.0), 150);
  sc.add_stream(call2.index(), c);
  sc.add_stream(call2.index(), d);
  call2.bye(std::max(c.now_us(), d.now_us()) + 30 * kMs, false);
  return sc;
}

Scenario g722() {
  Scenario sc("g722");
  Parties p;
  p.call_id = "g722@10.0.0.1";
  p.offer = p.answer = {fmt_g722(), fmt_telephone_event()};
  simple_call(sc, p, kT0, Codec::kG722, 9, 200, speech("wideband audio sounds clearer", 16000),
              callee_tone(16000));
  return sc;
}

Scenario g722_and_g711() {
  Scenario sc("g722_and_g711");
  Parties p;
  p.call_id = "g722-g711@10.0.0.1";
  p.offer = {fmt_g722(), fmt_pcmu(), fmt_telephone_event()};
  p.answer = {fmt_pcmu(), fmt_g722(), fmt_telephone_event()};
  CallFlow call(sc, p);
  const int64_t tm = call.connect(kT0) + 20 * kMs;
  RtpStream a = stream(caller_side(p, Codec::kG722, 9, 0x07220001, tm));
  RtpStream b = stream(callee_side(p, Codec::kPcmu, 0, 0x07110002, tm + 10 * kMs));
  a.audio(speech("one side wideband, the other narrowband", 16000), 200);
  b.audio(callee_tone(), 200);
  sc.add_stream(call.index(), a);
  sc.add_stream(call.index(), b);
  call.bye(std::max(a.now_us(), b.now_us()) + 30 * kMs, true);
  return sc;
}

Scenario dtmf_rfc4733() {
  Scenario sc("dtmf_rfc4733");
  Parties p;
  p.call_id = "dtmf@10.0.0.1";
  CallFlow call(sc, p);
  const int64_t tm = call.connect(kT0) + 20 * kMs;
  RtpStream a = stream(caller_side(p, Codec::kPcmu, 0, 0xD7F00001, tm));
  RtpStream b = stream(callee_side(p, Codec::kPcmu, 0, 0xD7F00002, tm + 6 * kMs));
  a.audio(caller_tone(), 50);
  a.dtmf('1', 100);
  a.audio(caller_tone(), 42);
  a.dtmf('#', 160);
  a.audio(caller_tone(), 42);
  a.dtmf('9', 100);
  a.audio(caller_tone(), 50);
  b.audio(callee_tone(), 250);
  sc.add_stream(call.index(), a);
  sc.add_stream(call.index(), b);
  call.bye(std::max(a.now_us(), b.now_us()) + 30 * kMs, true);
  return sc;
}

// The README's demo: a morning at a town office. An incoming call from a
// mobile, an outgoing call to a supplier and an internal wideband call, with
// spoken audio on both sides and a DTMF digit, so that the table shows every
// direction (with --office-numbers 100-199,4822555*).
Scenario demo() {
  Scenario sc("demo");
  Parties in;
  in.call_id = "demo-incoming@10.0.0.1";
  in.caller = "48600123456";
  in.callee = "101";
  in.offer = in.answer = {fmt_pcma(), fmt_telephone_event()};
  simple_call(sc, in, kT0, Codec::kPcma, 8, 200,
              speech("Good morning, I am calling about my building permit.", 8000),
              speech("Town office, permits desk. How can I help?", 8000), false);
  Parties out;
  out.call_id = "demo-outgoing@10.0.0.1";
  out.caller = "102";
  out.callee = "48227001234";
  out.instance = 1;
  out.caller_media = ep("10.0.0.1", 16010);
  out.callee_media = ep("10.0.0.2", 20010);
  simple_call(sc, out, kT0 + 2000 * kMs, Codec::kPcmu, 0, 150,
              speech("This is the town office. Please deliver the paper on Monday.", 8000),
              speech("Certainly, Monday morning.", 8000));
  Parties internal;
  internal.call_id = "demo-internal@10.0.0.1";
  internal.caller = "103";
  internal.callee = "104";
  internal.instance = 2;
  internal.caller_media = ep("10.0.0.1", 16020);
  internal.callee_media = ep("10.0.0.2", 20020);
  internal.offer = internal.answer = {fmt_g722(), fmt_telephone_event()};
  simple_call(sc, internal, kT0 + 4000 * kMs, Codec::kG722, 9, 150,
              speech("Could you bring the meeting notes to room four?", 16000),
              speech("Yes, in five minutes.", 16000));
  return sc;
}

Scenario tagged(const char* name, Link link) {
  Scenario sc(name, link);
  Parties p;
  p.call_id = std::string(name) + "@10.0.0.1";
  simple_call(sc, p, kT0, Codec::kPcmu, 0, 150, caller_tone(), callee_tone());
  return sc;
}

Scenario fragmented_invite(const char* name, bool v6) {
  Scenario sc(name);
  Parties p;
  p.call_id = std::string(name) + "@callvault.test";
  if (v6) {
    p.caller_sip = ep("2001:db8::10", 5060);
    p.callee_sip = ep("2001:db8::20", 5060);
    p.caller_media = ep("2001:db8::10", 16000);
    p.callee_media = ep("2001:db8::20", 20000);
  }
  CallFlow call(sc, p);
  call.caller_media().padding_lines = v6 ? 12 : 4;
  // IPv6: ~3.9 kB INVITE in 3 fragments; IPv4: ~2.2 kB in 2 fragments.
  call.invite(kT0, v6 ? 25 : 14, v6 ? 1448 : 1480, true);
  call.respond(kT0 + 5 * kMs, 100, "Trying");
  call.respond(kT0 + 60 * kMs, 180, "Ringing");
  call.respond(kT0 + 1500 * kMs, 200, "OK", true);
  call.ack(kT0 + 1510 * kMs);
  const int64_t tm = kT0 + 1530 * kMs;
  RtpStream a = stream(caller_side(p, Codec::kPcmu, 0, 0xF4A60001, tm));
  RtpStream b = stream(callee_side(p, Codec::kPcmu, 0, 0xF4A60002, tm + 6 * kMs));
  a.audio(caller_tone(), 150);
  b.audio(callee_tone(), 150);
  sc.add_stream(call.index(), a);
  sc.add_stream(call.index(), b);
  call.bye(std::max(a.now_us(), b.now_us()) + 30 * kMs, true);
  return sc;
}

// SIP over TCP: every message cut into 200-byte segments sent pairwise out
// of order, with an overlapping retransmission of its first 300 bytes, on a
// connection whose sequence numbers wrap around 2^32 during the INVITE. The
// call, its SDP and its audio must come out as over UDP. A second call on
// port 6060 (not a SIP port) has one segment per message.
}  // namespace

Scenario sip_over_tcp_calls(bool over_tcp) {
  Scenario sc("sip_over_tcp");
  if (over_tcp) sc.use_tcp(TcpPlan{200, true, true});
  Parties p;
  p.call_id = "sip-over-tcp@10.0.0.1";
  simple_call(sc, p, kT0, Codec::kPcma, 8, 150, caller_tone(), callee_tone());
  if (over_tcp) sc.use_tcp(TcpPlan{0, false, false});
  Parties q;
  q.call_id = "sip-over-tcp-6060@10.0.0.3";
  q.caller = "1003";
  q.callee = "2004";
  q.caller_sip = ep("10.0.0.3", 6060);
  q.callee_sip = ep("10.0.0.4", 6060);
  q.caller_media = ep("10.0.0.3", 16100);
  q.callee_media = ep("10.0.0.4", 20100);
  q.instance = 1;
  simple_call(sc, q, kT0 + 500 * kMs, Codec::kPcmu, 0, 100, caller_tone(), callee_tone());
  return sc;
}

namespace {

Scenario sip_over_tcp() { return sip_over_tcp_calls(true); }

Scenario cancelled() {
  Scenario sc("cancelled");
  Parties p;
  p.call_id = "cancelled@10.0.0.1";
  CallFlow call(sc, p);
  call.invite(kT0);
  call.respond(kT0 + 5 * kMs, 100, "Trying");
  call.respond(kT0 + 60 * kMs, 180, "Ringing");
  call.cancel(kT0 + 3 * kSec);
  return sc;
}

Scenario rejected() {
  Scenario sc("rejected");
  Parties p;
  p.call_id = "rejected-busy@10.0.0.1";
  CallFlow busy(sc, p);
  busy.invite(kT0);
  busy.respond(kT0 + 5 * kMs, 100, "Trying");
  busy.reject(kT0 + 200 * kMs, 486, "Busy Here");
  Parties q = p;
  q.call_id = "rejected-decline@10.0.0.1";
  q.callee = "2004";
  CallFlow decline(sc, q);
  const int64_t t = kT0 + 1 * kSec;
  decline.invite(t);
  decline.respond(t + 5 * kMs, 100, "Trying");
  decline.respond(t + 60 * kMs, 180, "Ringing");
  decline.reject(t + 2 * kSec, 603, "Decline");
  return sc;
}

Scenario timeout() {
  // SIP and RTP just stop (no BYE); the capture ends soon after, so the call
  // is still open at the end: end_reason capture_end.
  Scenario sc("timeout");
  Parties p;
  p.call_id = "no-bye@10.0.0.1";
  CallFlow call(sc, p);
  const int64_t tm = call.connect(kT0) + 20 * kMs;
  RtpStream a = stream(caller_side(p, Codec::kPcmu, 0, 0x7100E001, tm));
  RtpStream b = stream(callee_side(p, Codec::kPcmu, 0, 0x7100E002, tm + 5 * kMs));
  a.audio(caller_tone(), 200);
  b.audio(callee_tone(), 200);
  sc.add_stream(call.index(), a);
  sc.add_stream(call.index(), b);
  sc.set_end_reason(call.index(), "capture_end");
  return sc;
}

Scenario wraparound() {
  Scenario sc("wraparound");
  Parties p;
  p.call_id = "wrap@10.0.0.1";
  CallFlow call(sc, p);
  const int64_t tm = call.connect(kT0) + 20 * kMs;
  Side sa = caller_side(p, Codec::kPcmu, 0, 0xFFFF0001, tm);
  sa.seq = 65500;
  sa.ts = 0xFFFFF000u;
  Side sb = callee_side(p, Codec::kPcmu, 0, 0xFFFF0002, tm + 5 * kMs);
  sb.seq = 65530;
  sb.ts = 0xFFFFFF00u;
  RtpStream a = stream(sa);
  RtpStream b = stream(sb);
  a.audio(caller_tone(), 200);
  b.audio(callee_tone(), 200);
  a.drop(40);  // a loss just after the wrap
  sc.add_stream(call.index(), a);
  sc.add_stream(call.index(), b);
  call.bye(std::max(a.now_us(), b.now_us()) + 30 * kMs, true);
  return sc;
}

// Malformed traffic that no parser may turn into calls or audio.
void add_storm(Scenario& sc, const Parties& p, int64_t from, int64_t to, int count) {
  std::mt19937_64 rng(2024);
  auto rnd = [&](uint64_t n) { return rng() % n; };
  std::vector<uint8_t> buf;
  for (int i = 0; i < count; ++i) {
    const int64_t t = from + static_cast<int64_t>(rnd(static_cast<uint64_t>(to - from)));
    const int kind = i % 10;
    std::vector<uint8_t> payload;
    Ep src = p.caller_media, dst = p.callee_media;
    if (i % 20 >= 10) std::swap(src, dst);
    const uint32_t ssrc = 0xBAD00000u | static_cast<uint32_t>(rnd(0xFFFFF));
    auto rtp_header = [&](uint8_t b0, size_t total) {
      payload.assign(total, 0);
      for (auto& x : payload) x = static_cast<uint8_t>(rnd(256));
      payload[0] = b0;
      payload[1] = 0;
      for (int k = 0; k < 4; ++k) payload[8 + k] = static_cast<uint8_t>(ssrc >> (24 - 8 * k));
    };
    switch (kind) {
      case 0: {  // IPv4 header cut by the snap length
        build_udp_frame(sc.link(), src, dst, std::vector<uint8_t>(172, 0x55), 60000 + i, buf);
        const auto orig = static_cast<uint32_t>(buf.size());
        buf.resize(14 + 10);
        sc.frame({t, buf, orig});
        continue;
      }
      case 1: {  // IPv4 total length beyond the frame
        build_udp_frame(sc.link(), src, dst, std::vector<uint8_t>(40, 0x00), 60000 + i, buf);
        buf[14 + 2] = 0x05;
        buf[14 + 3] = 0xDC;
        sc.frame({t, buf, 0});
        continue;
      }
      case 2: {  // UDP length below the header size, or beyond the IP payload
        build_udp_frame(sc.link(), src, dst, std::vector<uint8_t>(60, 0x00), 60000 + i, buf);
        const uint16_t bad = i % 4 == 2 ? 4 : 1400;
        buf[14 + 20 + 4] = static_cast<uint8_t>(bad >> 8);
        buf[14 + 20 + 5] = static_cast<uint8_t>(bad);
        sc.frame({t, buf, 0});
        continue;
      }
      case 3: {  // SIP-looking text without Call-ID/CSeq, or binary junk, on the SIP port
        static const char* junk[] = {"INVITE sip:nobody SIP/2.0\r\nVia: SIP/2.0/UDP x\r\n\r\n",
                                     "SIP/2.0 200 OK\r\nContent-Length: 99999\r\n\r\nv=0\r\n", "BYE\r\n\r\n",
                                     "SIP/2.0\r\n", "INVITE  SIP/2.0 sip: \r\nFrom\r\nTo:\r\n\r\n"};
        const std::string s = junk[rnd(5)];
        if (i % 3 == 0) {
          payload.resize(1 + rnd(300));
          for (auto& x : payload) x = static_cast<uint8_t>(rnd(256));
        } else {
          payload.assign(s.begin(), s.end());
        }
        sc.udp(t, p.caller_sip, p.callee_sip, payload);
        continue;
      }
      case 4:  // RTP version 0, 1 or 3
        rtp_header(static_cast<uint8_t>(std::array<uint8_t, 3>{0x00, 0x40, 0xC0}[rnd(3)]), 172);
        break;
      case 5:  // CSRC count past the end
        rtp_header(0x8F, 12 + 4 * static_cast<size_t>(rnd(15)));
        break;
      case 6:  // padding count past the end
        rtp_header(0xA0, 20 + rnd(40));
        payload.back() = 250;
        break;
      case 7:  // header extension past the end
        rtp_header(0x90, 24);
        payload[12] = 0xBE;
        payload[13] = 0xDE;
        payload[14] = 0x0F;
        payload[15] = 0xFF;
        break;
      case 8:  // shorter than an RTP header
        rtp_header(0x80, 12);
        payload.resize(1 + rnd(11));
        break;
      default:  // random bytes between random hosts and ports (never version 2)
        payload.resize(1 + rnd(400));
        for (auto& x : payload) x = static_cast<uint8_t>(rnd(256));
        payload[0] &= 0x3F;
        src = Ep{Ip::parse("172.16.9.9"), static_cast<uint16_t>(1024 + rnd(60000))};
        dst = Ep{Ip::parse("172.16.9.10"), static_cast<uint16_t>(1024 + rnd(60000))};
        break;
    }
    sc.udp(t, src, dst, payload);
  }
}

Scenario malformed_storm() {
  Scenario sc("malformed_storm");
  Parties p;
  p.call_id = "storm@10.0.0.1";
  CallFlow call(sc, p);
  const int64_t tm = call.connect(kT0) + 20 * kMs;
  RtpStream a = stream(caller_side(p, Codec::kPcmu, 0, 0x57012301, tm));
  RtpStream b = stream(callee_side(p, Codec::kPcmu, 0, 0x57012302, tm + 5 * kMs));
  a.audio(caller_tone(), 500);
  b.audio(callee_tone(), 500);
  sc.add_stream(call.index(), a);
  sc.add_stream(call.index(), b);
  const int64_t end = std::max(a.now_us(), b.now_us()) + 30 * kMs;
  add_storm(sc, p, kT0, end, 4000);
  call.bye(end, true);
  return sc;
}

Scenario many_calls() {
  Scenario sc("many_calls");
  for (int i = 0; i < 200; ++i) {
    Parties p;
    const std::string phone = "10.1." + std::to_string(i / 200) + "." + std::to_string(i % 200 + 1);
    p.call_id = "many-" + std::to_string(i) + "@" + phone;
    p.caller = std::to_string(3000 + i);
    p.callee = "+4822555" + std::to_string(1000 + i);
    p.caller_sip = ep(phone.c_str(), 5060);
    p.callee_sip = ep("10.0.0.100", 5060);
    p.caller_media = ep(phone.c_str(), 16000);
    p.callee_media = ep("10.0.0.100", static_cast<uint16_t>(30000 + 2 * i));
    CallFlow call(sc, p);
    const int64_t tm = call.connect(kT0 + i * 10 * kMs, 500 * kMs) + 20 * kMs;
    RtpStream a = stream(caller_side(p, Codec::kPcmu, 0, 0x30000000u + static_cast<uint32_t>(i), tm));
    RtpStream b =
        stream(callee_side(p, Codec::kPcmu, 0, 0x40000000u + static_cast<uint32_t>(i), tm + 3 * kMs));
    a.audio(tone(300.0 + 5 * i, 8000, 1.0), 150);
    b.audio(tone(1000.0 + 3 * i, 8000, 1.0), 150);
    sc.add_stream(call.index(), a);
    sc.add_stream(call.index(), b);
    call.bye(std::max(a.now_us(), b.now_us()) + 30 * kMs, i % 2 == 0);
  }
  return sc;
}

}  // namespace

const std::vector<CaseInfo>& all_cases() {
  static const std::vector<CaseInfo> cases = {
      {"basic_pcmu", "two-way G.711 mu-law call ended by the caller's BYE", basic_pcmu},
      {"basic_pcma", "two-way G.711 A-law call, speech from the caller, BYE from the callee", basic_pcma},
      {"loss", "5% random seeded loss plus a burst of 10 on the caller's stream", loss},
      {"reorder", "packets arriving 1-3 places late in both directions", reorder},
      {"duplicates", "duplicated packets, one sent four times", duplicates},
      {"silence_suppression", "comfort noise (PT 13) and gaps with marker-bit resumption",
       silence_suppression},
      {"nat", "caller behind NAT: SDP names 192.168.1.10, RTP comes from 203.0.113.5:61000", nat},
      {"early_media", "183 with SDP and ringback audio before the 200", early_media},
      {"reinvite_new_port", "callee re-INVITEs to a new RTP port (new SSRC); caller follows",
       reinvite_new_port},
      {"hold", "re-INVITE sendonly (music on hold, callee silent), then resume", hold},
      {"ssrc_change", "caller changes SSRC, sequence and timestamp mid-call", ssrc_change},
      {"callid_reuse", "the same Call-ID used again for a second call 10 minutes later", callid_reuse},
      {"port_reuse", "a second call on the first call's RTP ports right after it ended", port_reuse},
      {"g722", "G.722 both ways: 16 kHz recording", g722},
      {"g722_and_g711", "caller G.722, callee G.711: 16 kHz, G.711 side resampled", g722_and_g711},
      {"dtmf_rfc4733", "RFC 4733 digits 1 # 9 from the caller", dtmf_rfc4733},
      {"demo", "the README's demo: incoming, outgoing and internal (G.722) calls with speech", demo},
      {"vlan", "802.1Q tagged frames (VLAN 24)",
       [] {
         return tagged("vlan", {Link::Kind::kVlan, 24, 0});
       }},
      {"qinq", "QinQ: 0x88A8 tag 100 then 0x8100 tag 200",
       [] {
         return tagged("qinq", {Link::Kind::kQinQ, 100, 200});
       }},
      {"ipv6_fragmented_invite", "IPv6 call whose 3.9 kB INVITE arrives as 3 fragments in reverse order",
       [] { return fragmented_invite("ipv6_fragmented_invite", true); }},
      {"ipv4_fragmented_invite", "IPv4 call whose 2.2 kB INVITE arrives as 2 fragments in reverse order",
       [] { return fragmented_invite("ipv4_fragmented_invite", false); }},
      {"sip_over_tcp",
       "SIP over TCP: segmented, reordered, retransmitted, sequence wrap; a second call on TCP port 6060",
       sip_over_tcp},
      {"cancelled", "INVITE, 180, CANCEL, 487: no audio", cancelled},
      {"rejected", "one call answered 486 Busy Here, another 603 Decline", rejected},
      {"timeout", "no BYE: SIP and RTP stop, capture ends (capture_end)", timeout},
      {"wraparound", "sequence numbers and RTP timestamps wrap around", wraparound},
      {"malformed_storm", "a call among 4000 malformed frames on its own addresses", malformed_storm},
      {"many_calls", "200 concurrent short calls with distinct numbers", many_calls},
  };
  return cases;
}

const CaseInfo* find_case(std::string_view name) {
  for (const CaseInfo& c : all_cases()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

}  // namespace cv::gen
