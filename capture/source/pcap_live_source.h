// Live capture from a network interface through libpcap (a mirror/SPAN port).
//
// RAII over a pcap_t made with pcap_create: promiscuous, with the configured
// snap length, kernel ring buffer size, read timeout and BPF filter; immediate
// mode off, so the kernel hands over packets in blocks (TPACKET_V3) and one
// pcap_dispatch() call processes a whole block. Frames are views into the
// ring, valid only during the callback: no allocation per packet.
//
// R4: this class only ever reads. It never calls pcap_inject/pcap_sendpacket,
// and no other part of callvault has a send path.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>

#include "capture/source/pcap_source.h"

struct pcap_pkthdr;  // <pcap/pcap.h>

namespace cv {

struct LiveCaptureOptions {
  std::string interface;
  int snaplen = 65535;   // bytes kept per frame
  int buffer_mb = 64;    // kernel ring buffer (pcap_set_buffer_size)
  int timeout_ms = 200;  // longest wait before a partly filled block is handed over
  std::string filter;    // BPF; empty: everything
};

// Cumulative counters since the capture started.
struct LiveCaptureStats {
  uint64_t received = 0;         // ps_recv: packets the kernel handed to the socket
  uint64_t kernel_drops = 0;     // ps_drop: ring full, the recorder did not read fast enough
  uint64_t interface_drops = 0;  // ps_ifdrop + growth of the interface's rx_dropped
};

// Checks a BPF filter's syntax without an interface (configuration checks).
// False and `error` (libpcap's reason) when it does not compile.
bool valid_capture_filter(const std::string& filter, std::string& error);

// Checks an interface name's form (not whether it exists): 1-15 characters,
// no '/', no whitespace, not "." or "..".
bool valid_interface_name(const std::string& name);

class PcapLiveSource {
 public:
  // Opens and activates the capture. Returns nullptr and sets `error` to a
  // message naming the interface and the problem: no such interface, the
  // interface is down, no permission (CAP_NET_RAW), a bad filter, ...
  static std::unique_ptr<PcapLiveSource> open(const LiveCaptureOptions& options, std::string& error);
  ~PcapLiveSource();
  PcapLiveSource(const PcapLiveSource&) = delete;
  PcapLiveSource& operator=(const PcapLiveSource&) = delete;

  // Waits up to the timeout (or a signal) for a block of frames, then one
  // non-blocking pcap_dispatch hands over what the kernel holds and
  // calls `on_frame(const CapturedFrame&)` for each. Returns the number of
  // frames (0: timeout or interrupted by break_loop()), -1 on a capture error
  // (error() says which).
  template <typename F>
  int dispatch(F&& on_frame) {
    return dispatch_raw(&thunk<F>, &on_frame);
  }
  // Makes a dispatch in progress return; safe to call from a signal handler.
  void break_loop();

  // Replaces the BPF filter (SIGHUP). False and `error` on a bad filter; the
  // old filter then stays in force.
  bool set_filter(const std::string& filter, std::string& error);

  // Reads the counters (pcap_stats and the interface's rx_dropped) into
  // `out`, which must be the struct of the previous call (32-bit wraps).
  bool stats(LiveCaptureStats& out, std::string& error);

  [[nodiscard]] LinkType link_type() const { return link_; }
  [[nodiscard]] int raw_link_type() const { return raw_link_; }
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] const std::string& interface() const { return options_.interface; }

 private:
  using FrameFn = void (*)(void* ctx, const CapturedFrame& frame);
  template <typename F>
  static void thunk(void* ctx, const CapturedFrame& frame) {
    (*static_cast<std::remove_reference_t<F>*>(ctx))(frame);
  }
  int dispatch_raw(FrameFn fn, void* ctx);
  static void on_packet(unsigned char* user, const ::pcap_pkthdr* hdr, const unsigned char* data);

  PcapLiveSource() = default;
  struct PcapCloser {
    void operator()(void* p) const;
  };
  std::unique_ptr<void, PcapCloser> handle_;
  LiveCaptureOptions options_;
  LinkType link_ = LinkType::kEthernet;
  int raw_link_ = 0;
  uint64_t count_ = 0;
  int fd_ = -1;                       // libpcap's descriptor (owned by the pcap_t), polled with the timeout
  int64_t rx_dropped_at_start_ = -1;  // the interface's rx_dropped when capture started
  std::string error_;
  FrameFn fn_ = nullptr;
  void* ctx_ = nullptr;
  CapturedFrame frame_;
};

}  // namespace cv
