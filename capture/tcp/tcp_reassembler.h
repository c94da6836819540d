// TCP stream reassembly for the protocols callvault reads over TCP (SIP).
//
// Segments are put back in order per connection and direction (sequence
// numbers modulo 2^32): retransmissions and overlaps are trimmed (the bytes
// seen first win, as in Suricata's default policy), out-of-order segments are
// held until the hole before them fills, and the contiguous bytes are handed
// to a TcpStreamConsumer, which frames messages and says how many bytes it
// used. What it leaves is kept and offered again with the next bytes.
//
// The reassembler knows nothing of SIP: it tells the consumer whether the
// stream is synchronised (it started at a SYN, or the consumer found a message
// start since). After a mid-stream pickup (capture started during the
// connection) or a gap (bytes the capture never saw: the peer acknowledged
// them, or a limit forced the hole to be skipped), the consumer must find the
// next message start itself.
//
// Everything is bounded, like IpReassembler: bytes buffered per connection
// (unconsumed + out of order), out-of-order segments per connection, live
// connections and bytes in total. Each overflow is counted as an anomaly and
// evicts the oldest (data within the connection; the least recently active
// connection in the table). Connections idle for the timeout (packet time)
// are delivered what they hold and forgotten. In order, a segment the consumer
// uses completely is never copied; buffers come from a small pool.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "capture/packet/packet.h"
#include "common/anomaly.h"
#include "common/bytes.h"
#include "common/endpoint.h"
#include "common/flat_map.h"
#include "common/lru_slots.h"
#include "common/time.h"

namespace cv {

struct TcpLimits {
  size_t max_connections = 16384;             // connections tracked at once
  size_t max_bytes = 64 * 1024 * 1024;        // bytes held across all connections
  size_t max_connection_bytes = 256 * 1024;   // bytes held by one connection (both directions)
  size_t max_connection_segments = 64;        // out-of-order segments held by one connection
  int64_t idle_timeout_ns = 600 * kNsPerSec;  // a connection silent this long is forgotten
};

struct TcpStats {
  uint64_t segments = 0;             // segments of tracked connections
  uint64_t connections = 0;          // connections created
  uint64_t connections_closed = 0;   // FIN both ways or RST
  uint64_t connections_expired = 0;  // idle past the timeout
  uint64_t connections_evicted = 0;  // dropped for a table or memory limit
  uint64_t mid_stream_pickups = 0;   // directions first seen without their SYN
  uint64_t bytes_delivered = 0;      // in-order bytes handed to the consumer
  uint64_t copied_bytes = 0;         // of those, bytes that had to be buffered first
  uint64_t out_of_order = 0;         // segments held because a hole came before them
  uint64_t retransmitted = 0;        // segments whose bytes had all been seen
  uint64_t overlaps_trimmed = 0;     // segments partly seen before, trimmed
  uint64_t gaps = 0;                 // holes skipped (bytes never captured)
  uint64_t gap_bytes = 0;            // bytes in those holes
  uint64_t bytes_dropped = 0;        // held bytes thrown away (limits, close, expiry)
  uint64_t connections_held = 0;     // live now
  uint64_t bytes_held = 0;           // held now
};

// One direction's contiguous bytes, offered to the consumer.
struct TcpDelivery {
  Endpoint src;  // sender of these bytes
  Endpoint dst;
  Timestamp ts;        // time of the packet that made them available
  uint64_t frame = 0;  // its frame number (0 when delivered by expiry or finish)
  Bytes data;          // unconsumed bytes, oldest first; valid during the call only
  // False after a mid-stream pickup or a gap, until the consumer reports
  // that it found the start of a message.
  bool synchronized = true;
};

struct TcpConsumed {
  size_t bytes = 0;           // from the front of `data`: used or skipped for good
  bool synchronized = false;  // the stream is now at a message boundary
};

class TcpStreamConsumer {
 public:
  virtual ~TcpStreamConsumer() = default;
  // Frames what it can; must not call back into the reassembler.
  virtual TcpConsumed on_stream_data(const TcpDelivery& delivery, AnomalyCounters& anomalies) = 0;
};

class TcpStreamReassembler {
 public:
  TcpStreamReassembler(const TcpLimits& limits, TcpStreamConsumer& consumer);
  ~TcpStreamReassembler();
  TcpStreamReassembler(const TcpStreamReassembler&) = delete;
  TcpStreamReassembler& operator=(const TcpStreamReassembler&) = delete;

  // Takes one TCP segment (packet.transport == kTcp). A connection not yet
  // tracked is created only when `may_create` (the caller decides what is
  // worth following: a SIP port, or a payload that starts like SIP) and the
  // segment carries data or a SYN. Returns whether the segment belonged to a
  // tracked connection.
  bool on_segment(const DecodedPacket& packet, bool may_create, AnomalyCounters& anomalies);

  // Expires connections idle for the timeout; what they hold after a hole is
  // delivered first. Cheap when nothing is due: looks at the oldest only.
  void expire(Timestamp now);

  // End of input: every connection delivers what it holds (skipping holes)
  // and is forgotten.
  void finish();

  [[nodiscard]] const TcpStats& stats() const { return stats_; }
  [[nodiscard]] const TcpLimits& limits() const { return limits_; }
  // Anomalies found while expiring or finishing, outside any packet.
  [[nodiscard]] const AnomalyCounters& background_anomalies() const { return background_; }

 private:
  static constexpr uint32_t kNoSlot = UINT32_MAX;  // = LruSlots::kNone

  struct ConnKey {
    Endpoint a;  // the lower endpoint: direction 0 is a -> b
    Endpoint b;
    friend bool operator==(const ConnKey&, const ConnKey&) = default;
  };
  struct ConnKeyHash {
    size_t operator()(const ConnKey& k) const {
      return static_cast<size_t>(mix64(EndpointHash{}(k.a) ^ mix64(EndpointHash{}(k.b) + 0x9e37)));
    }
  };
  struct Held {
    uint32_t seq = 0;
    std::vector<std::byte> data;
  };
  struct Direction {
    bool seq_known = false;
    bool synchronized = false;
    bool syn_seen = false;
    bool fin_seen = false;
    bool done = false;  // FIN reached in order: nothing more to deliver
    uint32_t isn = 0;
    uint32_t next_seq = 0;  // sequence number of the next byte to deliver
    uint32_t fin_seq = 0;
    std::vector<std::byte> buffer;  // unconsumed bytes are buffer[head, size)
    size_t head = 0;
    std::vector<Held> held;  // out of order, sorted by sequence from next_seq
    [[nodiscard]] size_t buffered() const { return buffer.size() - head; }
  };
  struct Connection {
    ConnKey key;
    Direction dir[2];
    Timestamp last_seen;
    size_t bytes = 0;     // buffered + held, both directions
    size_t segments = 0;  // held, both directions
    uint32_t older = kNoSlot;
    uint32_t newer = kNoSlot;
    bool live = false;
  };
  struct Context {
    uint32_t slot;
    int d;  // direction index
    Timestamp ts;
    uint64_t frame;
    AnomalyCounters* anomalies;
  };

  uint32_t create(const ConnKey& key, Timestamp ts, AnomalyCounters& anomalies);
  void release(uint32_t slot);
  void evict(uint32_t slot, Anomaly why, AnomalyCounters& anomalies);
  void reset_direction(Connection& c, Direction& d);
  void add_data(const Context& ctx, uint32_t seq, Bytes payload);
  void hold(const Context& ctx, uint32_t seq, Bytes payload);
  void deliver(const Context& ctx, Bytes payload);
  void drain(const Context& ctx);
  void skip_gap(const Context& ctx, uint32_t to);
  void flush(const Context& ctx);  // skips every hole and delivers what is held
  void enforce_connection_limits(const Context& ctx);
  void enforce_total_limit(uint32_t keep, AnomalyCounters& anomalies);
  void account(Connection& c, ptrdiff_t bytes);
  std::vector<std::byte> take_buffer(size_t at_least);
  void put_spare(std::vector<std::byte>& buffer);

  TcpLimits limits_;
  TcpStreamConsumer& consumer_;
  LruSlots<Connection> slots_;  // grows up to max_connections; least recently active first
  FlatMap<ConnKey, uint32_t, ConnKeyHash> index_;
  std::vector<std::vector<std::byte>> spare_;
  TcpStats stats_;
  AnomalyCounters background_;
};

}  // namespace cv
