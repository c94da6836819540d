#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "decode/sequencer.h"

namespace cv {
namespace {

// The item carried through the sequencer is the 16-bit sequence number it was
// inserted with, so tests can see which packet came out.
template <size_t Capacity>
struct Harness {
  using Seq = RtpSequencer<int, Capacity>;
  Seq seq;
  std::vector<typename Seq::Released> out;

  // Inserts and then pops until the sequencer has nothing in order, the way
  // the pipeline uses it.
  SequencerInsert push(uint16_t s) {
    const SequencerInsert r = seq.insert(s, s);
    pop_all();
    return r;
  }
  void pop_all() {
    while (auto r = seq.pop()) out.push_back(*r);
  }
  void flush_all() {
    while (auto r = seq.flush()) out.push_back(*r);
  }
  [[nodiscard]] std::vector<int> items() const {
    std::vector<int> v;
    for (const auto& r : out) v.push_back(r.item);
    return v;
  }
  [[nodiscard]] std::vector<uint32_t> lost() const {
    std::vector<uint32_t> v;
    for (const auto& r : out) v.push_back(r.lost_before);
    return v;
  }
};

using Items = std::vector<int>;
using Lost = std::vector<uint32_t>;

// --- The worked examples of the header comment, one test each. ---

TEST(Sequencer, InOrderReleasedAtOnce) {
  Harness<8> h;
  EXPECT_EQ(h.push(10), SequencerInsert::kAccepted);
  EXPECT_EQ(h.items(), (Items{10}));
  EXPECT_EQ(h.push(11), SequencerInsert::kAccepted);
  EXPECT_EQ(h.push(12), SequencerInsert::kAccepted);
  EXPECT_EQ(h.items(), (Items{10, 11, 12}));
  EXPECT_EQ(h.lost(), (Lost{0, 0, 0}));
  EXPECT_EQ(h.seq.held(), 0u);
}

TEST(Sequencer, ReorderWaitsForTheHole) {
  Harness<8> h;
  h.push(10);
  EXPECT_EQ(h.push(12), SequencerInsert::kAccepted);
  EXPECT_EQ(h.items(), (Items{10}));
  EXPECT_EQ(h.seq.held(), 1u);
  EXPECT_EQ(h.push(11), SequencerInsert::kAccepted);
  EXPECT_EQ(h.items(), (Items{10, 11, 12}));
  EXPECT_EQ(h.lost(), (Lost{0, 0, 0}));
  EXPECT_EQ(h.seq.lost(), 0u);
}

TEST(Sequencer, DuplicateAfterReleaseIsDropped) {
  Harness<8> h;
  h.push(10);
  h.push(11);
  EXPECT_EQ(h.push(11), SequencerInsert::kDuplicate);
  EXPECT_EQ(h.items(), (Items{10, 11}));
  EXPECT_EQ(h.seq.duplicates(), 1u);
  EXPECT_EQ(h.seq.too_old(), 0u);
}

TEST(Sequencer, DuplicateWhileHeldIsDropped) {
  Harness<8> h;
  h.push(10);
  h.push(12);
  EXPECT_EQ(h.push(12), SequencerInsert::kDuplicate);
  EXPECT_EQ(h.seq.held(), 1u);
  h.push(11);
  EXPECT_EQ(h.items(), (Items{10, 11, 12}));
  EXPECT_EQ(h.seq.duplicates(), 1u);
}

TEST(Sequencer, DuplicateOlderThanTheRingIsTooOld) {
  Harness<8> h;
  for (int s = 10; s <= 30; ++s) h.push(static_cast<uint16_t>(s));
  EXPECT_EQ(h.push(23), SequencerInsert::kDuplicate);  // 8 back: still remembered
  EXPECT_EQ(h.push(22), SequencerInsert::kTooOld);     // 9 back: forgotten
}

TEST(Sequencer, WrapKeepsOrderAndExtendsTheNumber) {
  Harness<8> h;
  for (int s : {65534, 65535, 0, 1}) EXPECT_EQ(h.push(static_cast<uint16_t>(s)), SequencerInsert::kAccepted);
  EXPECT_EQ(h.items(), (Items{65534, 65535, 0, 1}));
  ASSERT_EQ(h.out.size(), 4u);
  EXPECT_EQ(h.out[0].extended_seq, 65534u);
  EXPECT_EQ(h.out[1].extended_seq, 65535u);
  EXPECT_EQ(h.out[2].extended_seq, 65536u);
  EXPECT_EQ(h.out[3].extended_seq, 65537u);
}

TEST(Sequencer, LossGivenUpWhenTheRingWouldOverflow) {
  Harness<8> h;
  h.push(10);
  h.push(11);
  h.push(13);
  EXPECT_EQ(h.items(), (Items{10, 11}));  // 13 waits for 12
  for (int s = 14; s <= 19; ++s) h.push(static_cast<uint16_t>(s));
  EXPECT_EQ(h.items(), (Items{10, 11}));  // 13..19 fill the window 12..19
  EXPECT_EQ(h.seq.held(), 7u);
  h.push(20);  // 12 + 8: the ring would overflow, 12 is given up
  EXPECT_EQ(h.items(), (Items{10, 11, 13, 14, 15, 16, 17, 18, 19, 20}));
  EXPECT_EQ(h.lost(), (Lost{0, 0, 1, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(h.seq.lost(), 1u);
  EXPECT_EQ(h.push(12), SequencerInsert::kTooOld);  // late: already given up
  EXPECT_EQ(h.seq.too_old(), 1u);
}

TEST(Sequencer, FlushReleasesAcrossHoles) {
  Harness<8> h;
  h.push(10);
  h.push(13);
  h.push(16);
  EXPECT_EQ(h.items(), (Items{10}));
  h.flush_all();
  EXPECT_EQ(h.items(), (Items{10, 13, 16}));
  EXPECT_EQ(h.lost(), (Lost{0, 2, 2}));
  EXPECT_EQ(h.seq.held(), 0u);
  EXPECT_EQ(h.seq.lost(), 4u);
  EXPECT_FALSE(h.seq.flush().has_value());
  EXPECT_FALSE(h.seq.pop().has_value());
  // The stream can go on after a flush; the holes stay given up.
  EXPECT_EQ(h.push(12), SequencerInsert::kTooOld);
  EXPECT_EQ(h.push(17), SequencerInsert::kAccepted);
  EXPECT_EQ(h.items().back(), 17);
}

TEST(Sequencer, LongLossMovesTheWindowOnlyAsFarAsNeeded) {
  Harness<8> h;
  h.push(10);
  h.push(11);
  EXPECT_EQ(h.push(30), SequencerInsert::kAccepted);  // window 23..30, 12..22 given up
  EXPECT_EQ(h.items(), (Items{10, 11}));
  EXPECT_EQ(h.push(25), SequencerInsert::kAccepted);  // still inside the window
  EXPECT_EQ(h.push(20), SequencerInsert::kTooOld);
  h.push(31);  // gives up 23
  h.push(32);  // gives up 24, releases 25
  EXPECT_EQ(h.items(), (Items{10, 11, 25}));
  EXPECT_EQ(h.lost(), (Lost{0, 0, 13}));
  h.flush_all();
  EXPECT_EQ(h.items(), (Items{10, 11, 25, 30, 31, 32}));
  EXPECT_EQ(h.lost(), (Lost{0, 0, 13, 4, 0, 0}));
  EXPECT_EQ(h.seq.lost(), 17u);
}

TEST(Sequencer, OverflowWhilePacketsWaitParksTheNewest) {
  Harness<8> h;
  h.push(10);
  h.push(12);
  EXPECT_EQ(h.seq.insert(21, 21), SequencerInsert::kAccepted);
  EXPECT_EQ(h.seq.held(), 2u);  // 12 in the ring, 21 parked
  h.pop_all();
  EXPECT_EQ(h.items(), (Items{10, 12}));
  EXPECT_EQ(h.lost(), (Lost{0, 1}));
  EXPECT_EQ(h.seq.held(), 1u);  // 21 now waits in the window 14..21
  EXPECT_EQ(h.push(13), SequencerInsert::kTooOld);
  for (int s = 14; s <= 20; ++s) h.push(static_cast<uint16_t>(s));
  EXPECT_EQ(h.items(), (Items{10, 12, 14, 15, 16, 17, 18, 19, 20, 21}));
  EXPECT_EQ(h.seq.lost(), 2u);
}

TEST(Sequencer, ParkedDuplicateIsDropped) {
  Harness<8> h;
  h.push(10);
  h.push(12);
  EXPECT_EQ(h.seq.insert(21, 21), SequencerInsert::kAccepted);
  EXPECT_EQ(h.seq.insert(21, 21), SequencerInsert::kDuplicate);
  EXPECT_EQ(h.seq.held(), 2u);
}

TEST(Sequencer, SecondParkWithoutPoppingAsksForADrain) {
  Harness<8> h;
  h.push(10);
  h.push(12);
  EXPECT_EQ(h.seq.insert(21, 21), SequencerInsert::kAccepted);
  // The caller did not pop: a second packet beyond the window cannot be kept.
  EXPECT_EQ(h.seq.insert(23, 23), SequencerInsert::kReset);
  EXPECT_EQ(h.seq.held(), 2u);
  h.flush_all();
  EXPECT_EQ(h.items(), (Items{10, 12, 21}));
  EXPECT_EQ(h.push(23), SequencerInsert::kAccepted);
  h.flush_all();
  EXPECT_EQ(h.items(), (Items{10, 12, 21, 23}));
  EXPECT_EQ(h.seq.resets(), 0u);
}

TEST(Sequencer, LateBeforeNextExpectedIsTooOld) {
  Harness<8> h;
  h.push(100);
  EXPECT_EQ(h.push(99), SequencerInsert::kTooOld);  // before the first packet
  h.push(101);
  h.push(103);
  h.flush_all();
  EXPECT_EQ(h.push(102), SequencerInsert::kTooOld);  // given up by the flush
  EXPECT_EQ(h.seq.too_old(), 2u);
}

// --- Resets. ---

TEST(Sequencer, ResetForwardWithNothingHeld) {
  Harness<8> h;
  h.push(100);
  h.push(101);
  EXPECT_EQ(h.push(101 + 1 + 3000), SequencerInsert::kAccepted);  // exactly kResetDistance: a loss
  EXPECT_EQ(h.seq.resets(), 0u);
  h.flush_all();
  const uint16_t restart = 101 + 1 + 3000 + 1 + 3001;
  EXPECT_EQ(h.push(restart), SequencerInsert::kReset);
  EXPECT_EQ(h.seq.resets(), 1u);
  EXPECT_EQ(h.items().back(), restart);
  EXPECT_EQ(h.out.back().lost_before, 0u);  // a new sequence, not a loss
  h.push(restart + 1);
  EXPECT_EQ(h.items().back(), restart + 1);
}

TEST(Sequencer, ResetBackwardWithNothingHeld) {
  Harness<8> h;
  h.push(20000);
  h.push(20001);
  EXPECT_EQ(h.push(20002 - 3000), SequencerInsert::kTooOld);  // exactly kResetDistance back
  EXPECT_EQ(h.push(5000), SequencerInsert::kReset);
  EXPECT_EQ(h.items(), (Items{20000, 20001, 5000}));
  EXPECT_EQ(h.out.back().lost_before, 0u);
  h.push(5002);
  h.push(5001);
  EXPECT_EQ(h.items(), (Items{20000, 20001, 5000, 5001, 5002}));
  EXPECT_EQ(h.seq.resets(), 1u);
  EXPECT_EQ(h.seq.lost(), 0u);
}

TEST(Sequencer, ResetBackwardNearZeroKeepsTheExtendedNumberSmall) {
  Harness<8> h;
  h.push(100);
  EXPECT_EQ(h.push(60000), SequencerInsert::kReset);  // 5637 back through the wrap
  EXPECT_EQ(h.out.back().extended_seq, 60000u);
  h.push(60001);
  EXPECT_EQ(h.out.back().extended_seq, 60001u);
}

TEST(Sequencer, ResetWhileHeldIsNotStoredUntilDrained) {
  Harness<8> h;
  h.push(100);
  h.push(102);
  h.push(104);
  ASSERT_EQ(h.seq.held(), 2u);
  EXPECT_EQ(h.push(40000), SequencerInsert::kReset);  // forward by far more than 3000
  EXPECT_EQ(h.seq.held(), 2u);                        // not stored
  EXPECT_EQ(h.seq.resets(), 0u);
  h.flush_all();
  EXPECT_EQ(h.items(), (Items{100, 102, 104}));
  EXPECT_EQ(h.lost(), (Lost{0, 1, 1}));
  EXPECT_EQ(h.push(40000), SequencerInsert::kReset);  // now stored as the new start
  EXPECT_EQ(h.seq.resets(), 1u);
  h.push(40001);
  EXPECT_EQ(h.items(), (Items{100, 102, 104, 40000, 40001}));
  EXPECT_EQ(h.lost(), (Lost{0, 1, 1, 0, 0}));
}

TEST(Sequencer, ResetBackwardWhileHeld) {
  Harness<8> h;
  h.push(9000);
  h.push(9002);
  EXPECT_EQ(h.push(100), SequencerInsert::kReset);
  EXPECT_EQ(h.seq.held(), 1u);
  h.flush_all();
  EXPECT_EQ(h.push(100), SequencerInsert::kReset);
  h.push(102);
  h.push(101);
  EXPECT_EQ(h.items(), (Items{9000, 9002, 100, 101, 102}));
  EXPECT_EQ(h.seq.resets(), 1u);
  EXPECT_EQ(h.seq.lost(), 1u);
}

TEST(Sequencer, ResetForgetsReleasedHistory) {
  Harness<8> h;
  h.push(100);
  h.push(101);
  h.push(10000);  // reset
  // 101 was released in the old sequence; in the new one it is just far away.
  EXPECT_EQ(h.push(101), SequencerInsert::kReset);
  EXPECT_EQ(h.seq.resets(), 2u);
}

// --- Wraparound. ---

TEST(Sequencer, ReorderAcrossTheWrap) {
  Harness<8> h;
  h.push(65533);
  h.push(0);
  h.push(65535);
  h.push(2);
  h.push(65534);
  EXPECT_EQ(h.items(), (Items{65533, 65534, 65535, 0}));
  h.push(1);
  EXPECT_EQ(h.items(), (Items{65533, 65534, 65535, 0, 1, 2}));
  std::vector<uint32_t> ext;
  for (const auto& r : h.out) ext.push_back(r.extended_seq);
  EXPECT_EQ(ext, (std::vector<uint32_t>{65533, 65534, 65535, 65536, 65537, 65538}));
  EXPECT_EQ(h.seq.lost(), 0u);
}

TEST(Sequencer, DuplicatesAcrossTheWrap) {
  Harness<8> h;
  h.push(65534);
  h.push(1);
  EXPECT_EQ(h.push(1), SequencerInsert::kDuplicate);  // held, after the wrap
  h.push(65535);
  EXPECT_EQ(h.push(65535), SequencerInsert::kDuplicate);  // released, before the wrap
  h.push(0);
  EXPECT_EQ(h.push(65534), SequencerInsert::kDuplicate);  // released before the wrap
  EXPECT_EQ(h.push(0), SequencerInsert::kDuplicate);
  EXPECT_EQ(h.items(), (Items{65534, 65535, 0, 1}));
  EXPECT_EQ(h.seq.duplicates(), 4u);
}

TEST(Sequencer, LossAcrossTheWrap) {
  Harness<4> h;
  h.push(65530);
  h.push(2);  // 65531..65535, 0, 1 missing: 7 ahead of 65531, more than the ring
  h.push(3);
  h.push(4);
  h.push(5);
  EXPECT_EQ(h.items(), (Items{65530, 2, 3, 4, 5}));
  EXPECT_EQ(h.lost(), (Lost{0, 7, 0, 0, 0}));
  EXPECT_EQ(h.out[1].extended_seq, 65538u);
}

TEST(Sequencer, ManyWrapsInOrder) {
  Harness<16> h;
  uint16_t s = 65000;
  for (int i = 0; i < 3 * 65536; ++i) h.push(s++);
  ASSERT_EQ(h.out.size(), 3u * 65536u);
  EXPECT_EQ(h.out.back().extended_seq, 65000u + 3u * 65536u - 1u);
  EXPECT_EQ(h.seq.lost(), 0u);
  EXPECT_EQ(h.seq.held(), 0u);
}

// --- Long loss. ---

TEST(Sequencer, LossLongerThanTheRing) {
  Harness<8> h;
  for (int s = 1000; s < 1010; ++s) h.push(static_cast<uint16_t>(s));
  // 1010..1109 lost: 100 numbers, far more than the 8 slots.
  for (int s = 1110; s < 1130; ++s) h.push(static_cast<uint16_t>(s));
  h.flush_all();
  ASSERT_EQ(h.out.size(), 30u);
  EXPECT_EQ(h.out[10].item, 1110);
  EXPECT_EQ(h.out[10].lost_before, 100u);
  EXPECT_EQ(h.seq.lost(), 100u);
  for (size_t i = 1; i < h.out.size(); ++i) EXPECT_GT(h.out[i].extended_seq, h.out[i - 1].extended_seq);
}

TEST(Sequencer, HeldPacketsSurviveALongLossAfterThem) {
  Harness<8> h;
  h.push(10);
  h.push(12);  // waits for 11
  h.push(13);
  h.push(500);  // parked; 12 and 13 must leave first
  EXPECT_EQ(h.items(), (Items{10, 12, 13}));
  h.flush_all();
  EXPECT_EQ(h.items(), (Items{10, 12, 13, 500}));
  EXPECT_EQ(h.lost(), (Lost{0, 1, 0, 486}));
}

// --- Random: reordering within a window, drops and duplicates. ---

struct RandomCase {
  size_t packets;
  uint32_t max_displacement;  // a packet arrives at most this many places late or early
  double drop;
  double duplicate;
};

template <size_t Capacity>
void run_random(std::mt19937& rng, const RandomCase& c) {
  Harness<Capacity> h;
  const auto start = static_cast<uint16_t>(rng());
  // Arrival order: sort by index + random displacement.
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<std::pair<double, uint32_t>> arrivals;
  std::set<uint32_t> sent;
  for (uint32_t i = 0; i < c.packets; ++i) {
    if (unit(rng) < c.drop) continue;
    sent.insert(i);
    arrivals.emplace_back(i + unit(rng) * c.max_displacement, i);
    if (unit(rng) < c.duplicate) arrivals.emplace_back(i + unit(rng) * 3 * c.max_displacement, i);
  }
  std::sort(arrivals.begin(), arrivals.end());

  size_t accepted = 0;
  for (const auto& [when, i] : arrivals) {
    const SequencerInsert r = h.push(static_cast<uint16_t>(start + i));
    ASSERT_NE(r, SequencerInsert::kReset);
    if (r == SequencerInsert::kAccepted) ++accepted;
  }
  h.flush_all();
  ASSERT_EQ(h.seq.held(), 0u);
  ASSERT_EQ(h.seq.resets(), 0u);
  ASSERT_EQ(accepted, h.out.size()) << "every accepted packet comes out, once";
  ASSERT_EQ(accepted + h.seq.duplicates() + h.seq.too_old(), arrivals.size());

  std::set<uint32_t> delivered;
  uint64_t lost = 0;
  for (size_t k = 0; k < h.out.size(); ++k) {
    const auto& r = h.out[k];
    const uint32_t index = static_cast<uint16_t>(r.item - start);
    ASSERT_TRUE(sent.count(index)) << "delivered something never sent";
    ASSERT_TRUE(delivered.insert(index).second) << "delivered twice";
    ASSERT_EQ(static_cast<uint16_t>(r.extended_seq), static_cast<uint16_t>(r.item));
    if (k > 0) {
      ASSERT_GT(r.extended_seq, h.out[k - 1].extended_seq);
      ASSERT_EQ(r.lost_before, r.extended_seq - h.out[k - 1].extended_seq - 1);
    } else {
      ASSERT_EQ(r.lost_before, 0u);
    }
    lost += r.lost_before;
  }
  ASSERT_EQ(lost, h.seq.lost());
  if (!h.out.empty()) {
    ASSERT_EQ(lost + h.out.size(), h.out.back().extended_seq - h.out.front().extended_seq + 1);
  }
  // Reordering that fits the ring, without drops, loses nothing after the
  // first arrival (which starts the sequence: anything older is too old).
  if (c.drop == 0.0 && c.max_displacement < Capacity && !arrivals.empty()) {
    const std::set<uint32_t> expected(sent.lower_bound(arrivals.front().second), sent.end());
    ASSERT_EQ(delivered, expected);
    ASSERT_EQ(lost, 0u);
  }
}

TEST(Sequencer, RandomReorderDropDuplicate) {
  std::mt19937 rng(20240531);
  const RandomCase cases[] = {
      {500, 5, 0.0, 0.0},  {500, 15, 0.0, 0.1}, {500, 15, 0.05, 0.05},
      {500, 40, 0.1, 0.1}, {2000, 3, 0.3, 0.2}, {300, 100, 0.02, 0.3},
  };
  for (int run = 0; run < 200; ++run) {
    for (const auto& c : cases) {
      run_random<16>(rng, c);
      if (HasFatalFailure()) return;
      run_random<64>(rng, c);
      if (HasFatalFailure()) return;
    }
  }
}

TEST(Sequencer, RandomStartsNearTheWrap) {
  std::mt19937 rng(7);
  for (int run = 0; run < 500; ++run) {
    Harness<32> h;
    const auto start = static_cast<uint16_t>(65536 - 1 - (rng() % 64));
    std::vector<uint16_t> order;
    for (int i = 0; i < 128; ++i) order.push_back(static_cast<uint16_t>(start + i));
    // Swap neighbours at random: reordering by one or two places. The first
    // stays first: it starts the sequence.
    for (size_t i = 1; i + 1 < order.size(); ++i) {
      if (rng() % 3 == 0) std::swap(order[i], order[i + 1]);
    }
    for (uint16_t s : order) h.push(s);
    h.flush_all();
    ASSERT_EQ(h.out.size(), 128u);
    for (size_t i = 0; i < h.out.size(); ++i) {
      ASSERT_EQ(h.out[i].extended_seq, uint32_t{start} + i);
      ASSERT_EQ(h.out[i].lost_before, 0u);
    }
  }
}

// The ring holds move-only or non-trivial items too; released slots let go.
TEST(Sequencer, ItemsAreMovedOut) {
  RtpSequencer<std::vector<int>, 4> s;
  s.insert(1, std::vector<int>{1, 2, 3});
  auto r = s.pop();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->item, (std::vector<int>{1, 2, 3}));
}

}  // namespace
}  // namespace cv

namespace cv {
namespace {

// Regression for a hang found by fuzz_sequencer (tests/fuzz/regressions/
// fuzz_sequencer/timeout-flush-parked-behind-window): a caller that flushes
// and inserts without popping let the window pass a parked packet, and the
// next flush() walked ~2^32 sequence numbers back to it.
TEST(Sequencer, ParkedPacketReachedByTheWindowIsReleasedInOrder) {
  RtpSequencer<int, 4> seq;
  std::vector<uint32_t> out;
  auto take = [&](std::optional<RtpSequencer<int, 4>::Released> r) {
    ASSERT_TRUE(r.has_value());
    out.push_back(r->extended_seq);
  };
  EXPECT_EQ(seq.insert(0, 0), SequencerInsert::kAccepted);
  EXPECT_EQ(seq.insert(5, 5), SequencerInsert::kAccepted);  // beyond the window: parked
  take(seq.flush());                                        // 0
  EXPECT_EQ(seq.insert(4, 4), SequencerInsert::kAccepted);
  take(seq.flush());                                        // 4 (1..3 given up)
  EXPECT_EQ(seq.insert(6, 6), SequencerInsert::kAccepted);  // the window now holds 5's place
  take(seq.flush());
  take(seq.flush());
  EXPECT_FALSE(seq.flush().has_value());
  EXPECT_EQ(out, (std::vector<uint32_t>{0, 4, 5, 6}));
  EXPECT_EQ(seq.held(), 0u);
}

}  // namespace
}  // namespace cv
