// Per-stream RTP packet sequencer: a small jitter buffer that puts packets
// back into sequence-number order (cf. rtpengine lib/codeclib.c,
// packet_sequencer_insert).
//
// A power-of-two ring of `Capacity` slots indexed by the low bits of the
// extended (32-bit, wrap-counted) sequence number. The ring is a window of
// Capacity sequence numbers starting at the next expected one. Use: after
// every insert(), call pop() until it returns nullopt. Worked examples:
//  - in order 10, 11, 12: each is released at once.
//  - reorder 10, 12, 11: 12 waits in its slot; 11 releases 11 then 12.
//  - duplicate 10, 11, 11: the second 11 is kDuplicate and dropped. Released
//    packets are remembered for Capacity sequence numbers back, so a copy that
//    comes after its original was released is a duplicate too; older copies
//    are kTooOld.
//  - wrap 65534, 65535, 0, 1: extended numbers 65534..65537, still in order.
//  - loss 10, 11, 13 ... : 13 waits; when the ring would overflow (the
//    newest is Capacity ahead of the next expected), the hole at 12 is given up:
//    pop() releases 13 with lost = 1. flush() at stream end does the same for
//    everything held. Holes are given up only as far as the newest packet
//    needs: with Capacity 8, after 10, 11 the packet 30 moves the window to
//    23..30 (12..22 given up) and waits there, so 23..29 may still arrive;
//    31 then gives up 23, and so on.
//  - overflow while packets wait: with Capacity 8, 10, 12, 21: 21 does not fit
//    the window 11..18; it needs 14..21, but 12 is still held, so 21 is
//    accepted and parked outside the ring. pop() gives up 11, releases 12
//    (lost 1), gives up 13 and moves 21 into the ring, where it waits for
//    14..20. One packet can be parked; a caller that pops after every insert
//    never needs more.
//  - reset: a jump of more than `kResetDistance` forward or backward (the sender
//    restarted, or a new SSRC reuses the stream): what is held is flushed (by
//    the caller, see insert()) and the sequence restarts at the new number,
//    whose first release has lost_before 0; counted in resets(). A jump of
//    up to kResetDistance is reordering or loss, never a reset.
//  - late: a packet older than the next expected one (already given up) is
//    kTooOld and dropped.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

namespace cv {

enum class SequencerInsert : uint8_t { kAccepted, kDuplicate, kTooOld, kReset };

template <typename T, size_t Capacity>
class RtpSequencer {
  static_assert(Capacity >= 2 && (Capacity & (Capacity - 1)) == 0, "Capacity must be a power of two");

 public:
  static constexpr uint32_t kResetDistance = 3000;
  static_assert(Capacity < kResetDistance, "a jump the ring can absorb must not count as a reset");

  struct Released {
    T item;
    uint32_t extended_seq;  // wrap-counted sequence number
    uint32_t lost_before;   // sequence numbers skipped since the previous release
  };

  // Inserts a packet. kReset with nothing held: the sequence restarted at
  // `seq` and the packet was stored. kReset while packets are held: the packet
  // was NOT stored; the caller drains the old sequence with flush() until it
  // returns nullopt and inserts the packet again (it is then stored as the
  // start of the new sequence, returning kReset with nothing held; resets()
  // counts the restart once). So held() before the call tells whether a kReset
  // packet was stored. The same not-stored kReset is returned when a packet
  // would need parking while one is already parked, which only happens to a
  // caller that does not pop() after every insert. Duplicate and too-old
  // packets are not stored.
  SequencerInsert insert(uint16_t seq, T item) {
    if (!started_) {
      restart(seq);
      store(seq, std::move(item));
      return SequencerInsert::kAccepted;
    }
    // The window may have reached the parked packet (a caller that flushed
    // or inserted without popping): put it in its slot before anything can
    // claim that slot.
    if (parked_.used && distance(parked_.ext, next_) < static_cast<int32_t>(Capacity)) unpark();
    // The 16-bit difference read as signed picks the extended number nearest
    // to the expected one, which is what makes the wrap at 65535 invisible.
    const int32_t delta = static_cast<int16_t>(static_cast<uint16_t>(seq - static_cast<uint16_t>(next_)));
    if (delta > static_cast<int32_t>(kResetDistance) || delta < -static_cast<int32_t>(kResetDistance)) {
      if (held_ > 0) return SequencerInsert::kReset;
      ++resets_;
      int64_t start = int64_t{next_} + delta;
      if (start < 0) start += 0x10000;  // a backward restart near 0 stays in the first cycle
      restart(static_cast<uint32_t>(start));
      store(static_cast<uint32_t>(start), std::move(item));
      return SequencerInsert::kReset;
    }
    const uint32_t ext = next_ + static_cast<uint32_t>(delta);
    if (delta < 0) {
      if (-delta <= static_cast<int32_t>(Capacity) && released_[ext & kMask]) {
        ++duplicates_;
        return SequencerInsert::kDuplicate;
      }
      ++too_old_;
      return SequencerInsert::kTooOld;
    }
    if (delta < static_cast<int32_t>(Capacity)) {
      // Inside the window a used slot can only hold this very number.
      if (slots_[ext & kMask].used) {
        ++duplicates_;
        return SequencerInsert::kDuplicate;
      }
      store(ext, std::move(item));
      return SequencerInsert::kAccepted;
    }
    // Beyond the window: the numbers [next_, window_start) must leave it.
    if (parked_.used) {
      if (parked_.ext == ext) {
        ++duplicates_;
        return SequencerInsert::kDuplicate;
      }
      return SequencerInsert::kReset;
    }
    const uint32_t window_start = ext - static_cast<uint32_t>(Capacity) + 1;
    if (first_held_before(window_start)) {
      // Held packets must be released first, and only pop() releases.
      parked_.used = true;
      parked_.ext = ext;
      parked_.item = std::move(item);
      ++held_;
      return SequencerInsert::kAccepted;
    }
    give_up_until(window_start);
    store(ext, std::move(item));
    return SequencerInsert::kAccepted;
  }

  // Releases the next packet if it is in order, or if the ring is full and
  // the gap has to be given up. nullopt when the caller must wait.
  std::optional<Released> pop() {
    for (;;) {
      if (parked_.used && distance(parked_.ext, next_) < static_cast<int32_t>(Capacity)) unpark();
      if (slots_[next_ & kMask].used) return release_next();
      if (!parked_.used) return std::nullopt;
      // The parked packet does not fit: give up the hole up to the next held
      // packet, or as far as the parked one needs.
      const uint32_t window_start = parked_.ext - static_cast<uint32_t>(Capacity) + 1;
      give_up_until(first_held_before(window_start).value_or(window_start));
    }
  }

  // Releases the next held packet regardless of gaps (end of stream).
  std::optional<Released> flush() {
    if (held_ == 0) return std::nullopt;
    // A parked packet the window has reached belongs in the ring first, or
    // the ring's later packets would be released before it.
    if (parked_.used && distance(parked_.ext, next_) < static_cast<int32_t>(Capacity)) unpark();
    if (auto p = first_held_before(next_ + static_cast<uint32_t>(Capacity))) {
      give_up_until(*p);
    } else {
      give_up_until(parked_.ext);
      unpark();
    }
    return release_next();
  }

  // True when a packet with `seq` would be stored and released by the very
  // next pop(): the common in-order case, in which a caller may skip copying
  // the packet's bytes somewhere that outlives the current call.
  [[nodiscard]] bool releases_at_once(uint16_t seq) const {
    return started_ && held_ == 0 && static_cast<uint16_t>(next_) == seq;
  }

  [[nodiscard]] size_t held() const { return held_; }
  [[nodiscard]] uint64_t duplicates() const { return duplicates_; }
  [[nodiscard]] uint64_t too_old() const { return too_old_; }
  [[nodiscard]] uint64_t resets() const { return resets_; }
  [[nodiscard]] uint64_t lost() const { return lost_; }

 private:
  static constexpr uint32_t kMask = static_cast<uint32_t>(Capacity) - 1;

  struct Slot {
    bool used = false;
    uint32_t ext = 0;
    T item{};
  };

  // Signed distance a - b of extended numbers, correct across 2^32.
  static int32_t distance(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b); }

  void restart(uint32_t ext) {
    started_ = true;
    next_ = ext;
    resume_ = ext;
    released_.fill(false);
  }

  void store(uint32_t ext, T&& item) {
    Slot& s = slots_[ext & kMask];
    s.used = true;
    s.ext = ext;
    s.item = std::move(item);
    ++held_;
  }

  void unpark() {
    Slot& s = slots_[parked_.ext & kMask];
    s.used = true;
    s.ext = parked_.ext;
    s.item = std::move(parked_.item);
    parked_.used = false;
    parked_.item = T{};
  }

  // The first held ring packet in [next_, end), if any.
  std::optional<uint32_t> first_held_before(uint32_t end) const {
    for (uint32_t p = next_; distance(end, p) > 0 && distance(p, next_) < static_cast<int32_t>(Capacity);
         ++p) {
      if (slots_[p & kMask].used) return p;
    }
    return std::nullopt;
  }

  // Moves the expected number forward over empty slots, forgetting them; the
  // skipped numbers are reported as lost_before by the next release.
  void give_up_until(uint32_t target) {
    if (distance(target, next_) >= static_cast<int32_t>(Capacity)) {
      released_.fill(false);
    } else {
      for (uint32_t p = next_; p != target; ++p) released_[p & kMask] = false;
    }
    next_ = target;
  }

  Released release_next() {
    Slot& s = slots_[next_ & kMask];
    Released r{std::move(s.item), next_, next_ - resume_};
    s.used = false;
    s.item = T{};
    --held_;
    lost_ += r.lost_before;
    released_[next_ & kMask] = true;
    resume_ = ++next_;
    return r;
  }

  std::array<Slot, Capacity> slots_{};  // window [next_, next_ + Capacity)
  // Whether each of the Capacity numbers before next_ was released (rather
  // than given up): tells a late duplicate from a late packet.
  std::array<bool, Capacity> released_{};
  Slot parked_{};  // one packet beyond the window, waiting for it to move
  bool started_ = false;
  uint32_t next_ = 0;    // extended seq expected next
  uint32_t resume_ = 0;  // extended seq after the last release: lost_before is measured from it
  size_t held_ = 0;
  uint64_t duplicates_ = 0, too_old_ = 0, resets_ = 0, lost_ = 0;
};

}  // namespace cv
