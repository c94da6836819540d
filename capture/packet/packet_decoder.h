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
  size_t max_datagrams = 4096;          // datagrams being reassembled at once
  size_t max_bytes = 64 * 1024 * 1024;  // buffer capacity held across them
  int64_t timeout_ns = 30 * kNsPerSec;  // RFC 791 suggests 15-120 s
  // Separate runs of bytes one datagram may hold before it is complete. A
  // 64 KiB datagram cut at the IPv4 minimum MTU of 576 has 118 fragments, and
  // any arrival order leaves at most half of them as separate runs.
  size_t max_pieces = 128;
};

struct FragmentStats {
  uint64_t fragments = 0;       // fragments received
  uint64_t reassembled = 0;     // datagrams completed
  uint64_t evicted = 0;         // datagrams dropped because a limit was hit
  uint64_t timed_out = 0;       // datagrams dropped because they never completed
  uint64_t dropped = 0;         // datagrams dropped as malformed (overlap, bad or too large)
  uint64_t datagrams_held = 0;  // datagrams being reassembled now
  uint64_t bytes_held = 0;      // buffer capacity they hold now
};

enum class DecodeStatus : uint8_t {
  kOk,              // `out` holds a UDP or TCP packet
  kNotInteresting,  // valid, but neither UDP nor TCP (ARP, ICMP, ...)
  kFragmentHeld,    // an IP fragment was stored; nothing to deliver yet
  kMalformed,       // `anomaly` says what was wrong
};
// A rejected fragment is never stored. kFragmentOverlap, kFragmentTooLarge,
// kFragmentTooManyPieces, kFragmentTableFull and a disagreeing end
// (kFragmentBad) also drop the datagram it belonged to: its other fragments
// start over and will time out unless resent.

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
  // `out.payload` is valid until the next call. The fragment that completes a
  // datagram returns kOk with the whole datagram (out.reassembled set).
  // Only fragments allocate (bounded, pooled); other frames decode in place.
  DecodeResult decode(LinkType link, Timestamp ts, uint64_t frame_number, Bytes frame, DecodedPacket& out);

  // Drops fragment state older than the timeout relative to `now` (packet
  // time). decode() also calls it for every frame; that costs one comparison
  // with the oldest datagram unless something is due.
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
