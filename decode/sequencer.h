// Per-stream RTP packet sequencer: a small jitter buffer that puts packets
// back into sequence-number order (cf. rtpengine lib/codeclib.c,
// packet_sequencer_insert).
//
// A power-of-two ring of `Capacity` slots indexed by the low bits of the
// extended (32-bit, wrap-counted) sequence number. Worked examples:
//  - in order 10, 11, 12: each is released at once.
//  - reorder 10, 12, 11: 12 waits in its slot; 11 releases 11 then 12.
//  - duplicate 10, 11, 11: the second 11 is kDuplicate and dropped.
//  - wrap 65534, 65535, 0, 1: extended numbers 65534..65537, still in order.
//  - loss 10, 11, 13 ... : 13 waits; when the ring would overflow (the
//    newest is Capacity ahead of the next expected), the hole at 12 is given up:
//    pop() releases 13 with lost = 1. flush() at stream end does the same for
//    everything held.
//  - reset: a jump of more than `kResetDistance` forward or backward (the sender
//    restarted, or a new SSRC reuses the stream) flushes what is held and
//    restarts the sequence at the new number; counted in resets().
//  - late: a packet older than the next expected one (already given up) is
//    kTooOld and dropped.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace cv {

enum class SequencerInsert : uint8_t { kAccepted, kDuplicate, kTooOld, kReset };

template <typename T, size_t Capacity>
class RtpSequencer {
  static_assert(Capacity >= 2 && (Capacity & (Capacity - 1)) == 0, "Capacity must be a power of two");

 public:
  static constexpr uint32_t kResetDistance = 3000;

  struct Released {
    T item;
    uint32_t extended_seq;  // wrap-counted sequence number
    uint32_t lost_before;   // sequence numbers skipped since the previous release
  };

  // Inserts a packet. kReset with nothing held: the sequence restarted at
  // `seq` and the packet was stored. kReset while packets are held: the packet
  // was NOT stored; the caller drains the old sequence with flush() until it
  // returns nullopt and inserts the packet again (it is then accepted as the
  // start of the new sequence). Duplicate and too-old packets are not stored.
  SequencerInsert insert(uint16_t seq, T item);
  // Releases the next packet if it is in order, or if the ring is full and
  // the gap has to be given up. nullopt when the caller must wait.
  std::optional<Released> pop();
  // Releases the next held packet regardless of gaps (end of stream).
  std::optional<Released> flush();

  [[nodiscard]] size_t held() const { return held_; }
  [[nodiscard]] uint64_t duplicates() const { return duplicates_; }
  [[nodiscard]] uint64_t too_old() const { return too_old_; }
  [[nodiscard]] uint64_t resets() const { return resets_; }
  [[nodiscard]] uint64_t lost() const { return lost_; }

 private:
  // implementation provided in this header by the decode module
  struct Slot {
    bool used = false;
    uint32_t ext = 0;
    T item{};
  };
  std::array<Slot, Capacity> slots_{};
  bool started_ = false;
  uint32_t next_ = 0;     // extended seq expected next
  uint32_t highest_ = 0;  // highest extended seq held or released
  size_t held_ = 0;
  uint64_t duplicates_ = 0, too_old_ = 0, resets_ = 0, lost_ = 0;
};

}  // namespace cv
