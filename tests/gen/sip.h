// SIP and SDP text as user agents write it (RFC 3261 / RFC 4566), enough for
// the scenarios: INVITE with an SDP offer, provisional and final responses,
// ACK, BYE, CANCEL, re-INVITE, in either direction of a dialog.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tests/gen/net.h"

namespace cv::gen {

struct SdpFormat {
  uint8_t pt;
  std::string rtpmap;  // "PCMU/8000"; empty: static payload type without rtpmap
  std::string fmtp;    // "0-16" for telephone-event; empty: none
};

// Common payload type sets.
SdpFormat fmt_pcmu();
SdpFormat fmt_pcma();
SdpFormat fmt_g722();
SdpFormat fmt_cn();
SdpFormat fmt_telephone_event(uint8_t pt = 101);

struct SdpMedia {
  Ep addr;  // c= and m= port
  std::vector<SdpFormat> formats;
  int ptime = 20;
  std::string direction = "sendrecv";  // sendrecv, sendonly, recvonly, inactive
  int padding_lines = 0;               // extra a= lines to make the body large
};

std::string build_sdp(const std::string& user, uint64_t session_id, uint64_t version, const SdpMedia& m);

// One transaction's identity, so responses echo the request's headers.
struct SipTxn {
  std::string method;
  uint32_t cseq = 0;
  bool from_caller = true;
  std::string branch;
};

class SipDialog {
 public:
  // `instance` varies the tags of dialogs that reuse a Call-ID.
  SipDialog(std::string call_id, std::string caller_user, std::string callee_user, Ep caller_sip,
            Ep callee_sip, int instance = 0);

  // A request. `from_caller` says which side sends it; `extra_headers` adds
  // that many X- header lines (large messages for fragmentation).
  std::string request(const std::string& method, bool from_caller, const std::string& sdp, SipTxn& txn,
                      int extra_headers = 0);
  // ACK or CANCEL for the initial INVITE transaction (same CSeq number).
  std::string request_in(const SipTxn& invite, const std::string& method, SipTxn& txn);
  std::string response(const SipTxn& txn, int code, const std::string& reason, const std::string& sdp = "");

  [[nodiscard]] const std::string& call_id() const { return call_id_; }
  [[nodiscard]] const std::string& caller_user() const { return caller_user_; }
  [[nodiscard]] const std::string& callee_user() const { return callee_user_; }
  [[nodiscard]] const Ep& sip_ep(bool caller) const { return caller ? caller_sip_ : callee_sip_; }

 private:
  std::string headers(const SipTxn& txn, bool response, bool with_to_tag) const;

  std::string call_id_, caller_user_, callee_user_;
  Ep caller_sip_, callee_sip_;
  std::string from_tag_, to_tag_;
  uint32_t caller_cseq_ = 0, callee_cseq_ = 100;
  uint32_t branch_counter_ = 0;
  bool established_ = false;  // the callee's tag is known (requests carry it)
};

}  // namespace cv::gen
