// IPv4 and IPv6 fragment reassembly with bounded state (cf. DPDK's
// rte_ip_frag and Suricata's defrag).
//
// The network layer hands over each fragment's fragmentable part; the
// reassembler stores it at its offset and hands back the whole datagram when
// the last missing piece arrives. Everything is bounded: the number of
// datagrams, the buffer capacity they hold, the separate pieces per datagram,
// and their age in packet time. Hitting a bound evicts the oldest datagram and
// counts it, so a flood of fragments costs at most the configured memory.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "capture/packet/packet_decoder.h"
#include "common/anomaly.h"
#include "common/bytes.h"
#include "common/endpoint.h"
#include "common/lru_slots.h"
#include "common/time.h"

namespace cv {

// What ties the fragments of one datagram together: RFC 791 keys on source,
// destination, protocol and identification; RFC 8200 on source, destination
// and identification.
struct FragmentKey {
  IpAddress src;
  IpAddress dst;
  uint32_t id = 0;
  uint8_t protocol = 0;  // IPv4 protocol; always 0 for IPv6
  friend bool operator==(const FragmentKey&, const FragmentKey&) = default;
};

struct Fragment {
  FragmentKey key;
  uint32_t offset = 0;  // bytes into the fragmentable part
  bool more = false;    // MF (IPv4) or M (IPv6): more fragments follow
  // Protocol of the fragmentable part: the IPv4 protocol, or the Next Header
  // of the IPv6 fragment header. Taken from the fragment at offset 0.
  uint8_t next_protocol = 0;
  // Header bytes that count towards the 65535-byte limit of the rebuilt
  // datagram: IPv4 header, or the IPv6 extension headers before the fragment
  // header.
  uint32_t header_length = 0;
  Bytes data;  // the fragment's share of the fragmentable part
};

struct Reassembled {
  uint8_t protocol = 0;
  Bytes data;  // the fragmentable part, valid until release_delivered()
};

class IpReassembler {
 public:
  explicit IpReassembler(const FragmentLimits& limits);

  // Stores one fragment. kFragmentHeld when the datagram is still incomplete;
  // kOk with `done` filled when this fragment completed it; kMalformed when the
  // fragment (and, for overlap or size violations, its whole datagram) was
  // dropped.
  DecodeResult add(Timestamp ts, const Fragment& fragment, Reassembled& done);

  // Drops datagrams whose first fragment is at least the timeout older than
  // `now`. Cheap when nothing is due: only the oldest datagram is looked at.
  void expire(Timestamp now);

  // Takes back the buffers of datagrams handed out by add(); the decoder calls
  // it at the start of each frame, which is what bounds `done.data`'s life.
  void release_delivered();

  [[nodiscard]] const FragmentStats& stats() const { return stats_; }
  [[nodiscard]] const AnomalyCounters& background_anomalies() const { return background_; }

 private:
  static constexpr uint32_t kNoSlot = UINT32_MAX;  // = LruSlots::kNone

  // A run of bytes [begin, end) of the fragmentable part already held.
  struct Piece {
    uint32_t begin = 0;
    uint32_t end = 0;
  };

  struct Datagram {
    FragmentKey key;
    uint64_t hash = 0;
    Timestamp first_seen;
    uint32_t older = kNoSlot;  // age list, oldest first
    uint32_t newer = kNoSlot;
    std::vector<std::byte> data;  // sized to the furthest byte received
    std::vector<Piece> pieces;    // sorted, disjoint and not touching
    uint32_t total = 0;           // fragmentable length, once the last fragment came
    bool total_known = false;
    uint8_t protocol = 0;
    bool live = false;
  };

  [[nodiscard]] uint64_t hash_key(const FragmentKey& key) const;
  [[nodiscard]] uint32_t find(const FragmentKey& key, uint64_t hash) const;
  uint32_t create(const FragmentKey& key, uint64_t hash, Timestamp ts);
  bool grow(uint32_t slot, size_t end);
  void evict(uint32_t slot);
  void drop(uint32_t slot);
  void release(uint32_t slot);
  void put_spare(std::vector<std::byte>& buffer);
  void index_insert(uint32_t slot);
  void index_erase(uint32_t slot);

  FragmentLimits limits_;
  uint64_t seed_;
  LruSlots<Datagram> slots_;     // grows up to limits_.max_datagrams; oldest first seen first
  std::vector<uint32_t> index_;  // open addressing (linear probing) into slots_
  size_t index_mask_ = 0;
  // Buffers kept for reuse so steady fragment traffic does not allocate.
  std::vector<std::vector<std::byte>> spare_;
  // Completed datagrams handed out during the current frame: the outer
  // datagram and, for IP-in-IP, the inner one.
  std::array<std::vector<std::byte>, 2> delivered_;
  size_t delivered_count_ = 0;
  FragmentStats stats_;
  AnomalyCounters background_;
};

}  // namespace cv
