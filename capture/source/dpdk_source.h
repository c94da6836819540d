// Live capture from a DPDK port (a NIC bound to a poll-mode driver, or a
// virtual device such as net_pcap reading a capture file).
//
// RAII over the EAL (initialised once per process), one mbuf pool and one
// started port with N receive queues (RSS spreads the mirror traffic over
// them when the device has more than one). One thread polls every queue in
// turn with rte_eth_rx_burst and hands each frame to the callback as a view
// into the mbuf's data: no copy for a single-segment mbuf; a frame chained
// over several mbufs (jumbo frames with scattered receive) is copied once
// into a buffer allocated when the port opened. No allocation and no system
// call per packet; an idle port is polled with short sleeps, never spun on.
//
// This header names no DPDK type, so only dpdk_source.cpp is compiled with
// DPDK's headers and flags, and a build without DPDK keeps the same API
// (open() then says that the build has no DPDK support).
//
// R4: this class only ever receives. The port is configured with no transmit
// queue where the driver allows it (see dpdk_source.cpp), and nothing ever
// calls rte_eth_tx_burst.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "capture/source/pcap_live_source.h"
#include "capture/source/pcap_source.h"

namespace cv {

struct DpdkCaptureOptions {
  // EAL arguments as one string, split like a shell would on whitespace
  // (single and double quotes group, no expansion), e.g.
  // "-l 0 --no-huge --no-pci --in-memory --vdev net_pcap0,rx_pcap=/tmp/x.pcap".
  std::string eal_args;
  // The port: a port id ("0"), or a device name as DPDK knows it ("net_pcap0",
  // a PCI address "0000:03:00.0"). Empty: the only port there is.
  std::string port;
  int queues = 4;            // receive queues wanted; fewer when the device has fewer
  int snaplen = 65535;       // bytes of a frame handed on
  std::string filter;        // BPF (applied in user space with libpcap); empty: everything
  int idle_sleep_us = 1000;  // sleep between polls once the port has been idle for a while
};

// How frames are stamped.
enum class DpdkClock : uint8_t {
  kWall,    // the wall clock, read once per burst (no usable device timestamps)
  kDevice,  // the driver's rx timestamp (net_pcap: the capture file's own times)
};

// Validates the form of a port name for [capture] interface with the dpdk
// backend: 1-63 characters, no whitespace, no '/'.
bool valid_dpdk_port_name(const std::string& name);

// Splits EAL arguments like a shell (whitespace, '...' and "..." group, \ escapes
// in double quotes and bare words). False and `error` on an unterminated quote.
bool split_eal_args(const std::string& text, std::vector<std::string>& out, std::string& error);

// True when this build has the DPDK backend (CALLVAULT_HAVE_DPDK).
bool dpdk_available();

class DpdkSource {
 public:
  // Initialises the EAL (first call only: DPDK cannot be initialised twice in
  // one process), finds and starts the port. Returns nullptr and sets `error`
  // (naming the port, the EAL arguments or the device's limit that failed).
  static std::unique_ptr<DpdkSource> open(const DpdkCaptureOptions& options, std::string& error);
  ~DpdkSource();
  DpdkSource(const DpdkSource&) = delete;
  DpdkSource& operator=(const DpdkSource&) = delete;

  // One burst from every queue; `on_frame(const CapturedFrame&)` for each
  // frame that passes the filter. Returns the number of frames received
  // (before the filter); 0 when every queue was empty (after a short sleep
  // once the port has been idle for a while).
  template <typename F>
  int dispatch(F&& on_frame) {
    return dispatch_raw(&thunk<F>, &on_frame);
  }
  // Nothing blocks for long (the idle sleep is short): a signal handler only
  // sets its flag and the loop sees it after the current burst.
  void break_loop() {}

  // Replaces the BPF filter (SIGHUP). False and `error` on a bad filter; the
  // old filter then stays in force.
  bool set_filter(const std::string& filter, std::string& error);

  // rte_eth_stats_get: received = ipackets; kernel_drops = imissed + rx_nombuf
  // (frames the port could not hand over because callvault did not empty the
  // rings in time or ran out of mbufs); interface_drops = ierrors (bad frames).
  bool stats(LiveCaptureStats& out, std::string& error);

  [[nodiscard]] LinkType link_type() const { return LinkType::kEthernet; }
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] const std::string& port_name() const { return port_name_; }
  [[nodiscard]] uint16_t port_id() const { return port_id_; }
  [[nodiscard]] int queues() const { return queues_; }
  [[nodiscard]] const std::string& driver() const { return driver_; }
  [[nodiscard]] DpdkClock clock() const { return clock_; }
  // Frames handed to the callback so far (after the filter).
  [[nodiscard]] uint64_t frames() const { return count_; }
  // Frames that arrived as mbuf chains and were copied (jumbo frames).
  [[nodiscard]] uint64_t chained_frames() const { return chained_; }
  // Timestamp of the latest frame (device clock), 0 before the first.
  [[nodiscard]] Timestamp last_frame_time() const { return last_ts_; }

 private:
  using FrameFn = void (*)(void* ctx, const CapturedFrame& frame);
  template <typename F>
  static void thunk(void* ctx, const CapturedFrame& frame) {
    (*static_cast<std::remove_reference_t<F>*>(ctx))(frame);
  }
  int dispatch_raw(FrameFn fn, void* ctx);

  DpdkSource() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string port_name_;
  std::string driver_;
  std::string error_;
  uint16_t port_id_ = 0;
  int queues_ = 0;
  DpdkClock clock_ = DpdkClock::kWall;
  uint64_t count_ = 0;
  [[maybe_unused]] uint64_t idle_polls_ = 0;  // only the DPDK build polls
  uint64_t chained_ = 0;
  Timestamp last_ts_{};
  CapturedFrame frame_;
};

}  // namespace cv
