#include "tests/gen/sip.h"

#include <functional>

namespace cv::gen {

SdpFormat fmt_pcmu() { return {0, "PCMU/8000", ""}; }
SdpFormat fmt_pcma() { return {8, "PCMA/8000", ""}; }
SdpFormat fmt_g722() { return {9, "G722/8000", ""}; }
SdpFormat fmt_cn() { return {13, "CN/8000", ""}; }
SdpFormat fmt_telephone_event(uint8_t pt) { return {pt, "telephone-event/8000", "0-16"}; }

std::string build_sdp(const std::string& user, uint64_t session_id, uint64_t version, const SdpMedia& m) {
  const std::string net = m.addr.ip.family == 4 ? "IP4" : "IP6";
  const std::string ip = m.addr.ip.str();
  std::string s;
  s += "v=0\r\n";
  s += "o=" + user + " " + std::to_string(session_id) + " " + std::to_string(version) + " IN " + net + " " +
       ip + "\r\n";
  s += "s=callvault-gen\r\n";
  s += "c=IN " + net + " " + ip + "\r\n";
  s += "t=0 0\r\n";
  s += "m=audio " + std::to_string(m.addr.port) + " RTP/AVP";
  for (const auto& f : m.formats) s += " " + std::to_string(f.pt);
  s += "\r\n";
  for (const auto& f : m.formats) {
    if (!f.rtpmap.empty()) s += "a=rtpmap:" + std::to_string(f.pt) + " " + f.rtpmap + "\r\n";
    if (!f.fmtp.empty()) s += "a=fmtp:" + std::to_string(f.pt) + " " + f.fmtp + "\r\n";
  }
  s += "a=ptime:" + std::to_string(m.ptime) + "\r\n";
  for (int i = 0; i < m.padding_lines; ++i) {
    s += "a=x-callvault-padding-" + std::to_string(i) + ":" +
         std::string(60, static_cast<char>('a' + i % 26)) + "\r\n";
  }
  s += "a=" + m.direction + "\r\n";
  return s;
}

SipDialog::SipDialog(std::string call_id, std::string caller_user, std::string callee_user, Ep caller_sip,
                     Ep callee_sip, int instance)
    : call_id_(std::move(call_id)),
      caller_user_(std::move(caller_user)),
      callee_user_(std::move(callee_user)),
      caller_sip_(caller_sip),
      callee_sip_(callee_sip) {
  const size_t h =
      std::hash<std::string>{}(call_id_ + caller_user_ + caller_sip_.str() + std::to_string(instance));
  from_tag_ = "f" + std::to_string(h % 1000000007);
  to_tag_ = "t" + std::to_string((h >> 20) % 1000000009);
}

std::string SipDialog::headers(const SipTxn& txn, bool response, bool with_to_tag) const {
  // From/To follow the request's direction; responses echo them unchanged.
  const bool caller_sends = txn.from_caller;
  const Ep& via = caller_sends ? caller_sip_ : callee_sip_;
  const std::string caller_uri = "sip:" + caller_user_ + "@" + caller_sip_.ip.str();
  const std::string callee_uri = "sip:" + callee_user_ + "@" + callee_sip_.ip.str();
  std::string from, to;
  if (caller_sends) {
    from = "\"" + caller_user_ + "\" <" + caller_uri + ">;tag=" + from_tag_;
    to = "<" + callee_uri + ">" + (with_to_tag ? ";tag=" + to_tag_ : "");
  } else {
    from = "<" + callee_uri + ">;tag=" + to_tag_;
    to = "\"" + caller_user_ + "\" <" + caller_uri + ">;tag=" + from_tag_;
  }
  std::string h;
  const std::string via_host = via.ip.family == 6 ? "[" + via.ip.str() + "]" : via.ip.str();
  h += "Via: SIP/2.0/UDP " + via_host + ":" + std::to_string(via.port) + ";branch=" + txn.branch + "\r\n";
  if (!response) h += "Max-Forwards: 70\r\n";
  h += "From: " + from + "\r\n";
  h += "To: " + to + "\r\n";
  h += "Call-ID: " + call_id_ + "\r\n";
  h += "CSeq: " + std::to_string(txn.cseq) + " " + txn.method + "\r\n";
  return h;
}

namespace {
std::string contact(const std::string& user, const Ep& ep) {
  const std::string host = ep.ip.family == 6 ? "[" + ep.ip.str() + "]" : ep.ip.str();
  return "Contact: <sip:" + user + "@" + host + ":" + std::to_string(ep.port) + ">\r\n";
}
std::string body_headers(const std::string& sdp) {
  std::string h;
  if (!sdp.empty()) h += "Content-Type: application/sdp\r\n";
  h += "Content-Length: " + std::to_string(sdp.size()) + "\r\n\r\n";
  return h + sdp;
}
}  // namespace

std::string SipDialog::request(const std::string& method, bool from_caller, const std::string& sdp,
                               SipTxn& txn, int extra_headers) {
  txn.method = method;
  txn.from_caller = from_caller;
  txn.cseq = from_caller ? ++caller_cseq_ : ++callee_cseq_;
  txn.branch = "z9hG4bK" + call_id_.substr(0, 6) + "-" + std::to_string(++branch_counter_);
  const Ep& target = from_caller ? callee_sip_ : caller_sip_;
  const std::string& target_user = from_caller ? callee_user_ : caller_user_;
  const std::string host = target.ip.family == 6 ? "[" + target.ip.str() + "]" : target.ip.str();
  std::string m =
      method + " sip:" + target_user + "@" + host + ":" + std::to_string(target.port) + " SIP/2.0\r\n";
  m += headers(txn, false, established_);
  m += contact(from_caller ? caller_user_ : callee_user_, from_caller ? caller_sip_ : callee_sip_);
  m += "User-Agent: callvault-gen\r\n";
  for (int i = 0; i < extra_headers; ++i) {
    m += "X-Callvault-Filler-" + std::to_string(i) + ": " + std::string(70, static_cast<char>('A' + i % 26)) +
         "\r\n";
  }
  m += body_headers(sdp);
  return m;
}

std::string SipDialog::request_in(const SipTxn& invite, const std::string& method, SipTxn& txn) {
  txn = invite;
  txn.method = method;
  // CANCEL (and ACK for a failure) belong to the INVITE's transaction; ACK
  // for a 2xx is a transaction of its own.
  if (method == "ACK" && established_) txn.branch += "-ack";
  const Ep& target = invite.from_caller ? callee_sip_ : caller_sip_;
  const std::string& target_user = invite.from_caller ? callee_user_ : caller_user_;
  const std::string host = target.ip.family == 6 ? "[" + target.ip.str() + "]" : target.ip.str();
  std::string m =
      method + " sip:" + target_user + "@" + host + ":" + std::to_string(target.port) + " SIP/2.0\r\n";
  // CANCEL carries the INVITE's To (no tag); ACK for a final response has it.
  m += headers(txn, false, method == "ACK" && established_);
  m += body_headers("");
  return m;
}

std::string SipDialog::response(const SipTxn& txn, int code, const std::string& reason,
                                const std::string& sdp) {
  const bool tag = code != 100;
  if (tag && txn.method == "INVITE") established_ = true;
  std::string m = "SIP/2.0 " + std::to_string(code) + " " + reason + "\r\n";
  m += headers(txn, true, tag);
  if (code >= 180 && code < 300) {
    m += contact(txn.from_caller ? callee_user_ : caller_user_, txn.from_caller ? callee_sip_ : caller_sip_);
  }
  m += body_headers(sdp);
  return m;
}

}  // namespace cv::gen
