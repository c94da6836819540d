// Link, network and transport decoding with IP fragment reassembly.
//
// Each layer reads only its own header through ByteReader and hands the rest
// on; the next layer is chosen by the header's type field (EtherType, IP
// protocol, next header). Malformed input yields an Anomaly, never a throw.
// Fragment state is bounded (capacity, age taken from packet timestamps,
// evictions counted), like DPDK's rte_ip_frag.
#pragma once

#include <cstdint>
#include <memory>

#include "capture/packet/packet.h"
#include "common/anomaly.h"

namespace cv {

struct FragmentLimits {
  size_t max_datagrams = 4096;        // datagrams being reassembled at once
  size_t max_bytes = 64 * 1024 * 1024;  // total bytes buffered across them
  int64_t timeout_ns = 30 * kNsPerSec;  // RFC 791 suggests 15-120 s
};

struct FragmentStats {
  uint64_t fragments = 0;      // fragments received
  uint64_t reassembled = 0;    // datagrams completed
  uint64_t evicted = 0;        // datagrams dropped because a limit was hit
  uint64_t timed_out = 0;      // datagrams dropped because they never completed
};

enum class DecodeStatus : uint8_t {
  kOk,            // `out` holds a UDP or TCP packet
  kNotInteresting,  // valid, but neither UDP nor TCP (ARP, ICMP, ...)
  kFragmentHeld,  // an IP fragment was stored; nothing to deliver yet
  kMalformed,     // `anomaly` says what was wrong
};

struct DecodeResult {
  DecodeStatus status = DecodeStatus::kNotInteresting;
  Anomaly anomaly = Anomaly::kNone;
};

class PacketDecoder {
 public:
  explicit PacketDecoder(FragmentLimits limits = {});
  ~PacketDecoder();
  PacketDecoder(const PacketDecoder&) = delete;
  PacketDecoder& operator=(const PacketDecoder&) = delete;

  // Decodes one frame. `frame` is the captured bytes (caplen; a snap length
  // may have cut it short, which shows as a truncation anomaly). On kOk,
  // `out.payload` is valid until the next call.
  DecodeResult decode(LinkType link, Timestamp ts, uint64_t frame_number, Bytes frame, DecodedPacket& out);

  // Drops fragment state older than the timeout relative to `now` (packet
  // time). decode() also calls this periodically.
  void expire(Timestamp now);

  [[nodiscard]] const FragmentStats& fragment_stats() const;
  // Anomalies found while expiring/evicting (timeouts, table full), which do
  // not belong to the frame being decoded.
  [[nodiscard]] const AnomalyCounters& background_anomalies() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cv
