// libFuzzer target: RtpSequencer driven by input-derived sequence numbers,
// checking its invariants after every step.
//
// Input: a list of 3-byte operations: op, sequence number (big-endian). The
// op byte's low bits choose insert (most of the time), pop or flush, and
// whether an insert is followed by popping everything (the intended use) or
// not (a careless caller must not break the invariants either).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "decode/sequencer.h"

namespace {

constexpr size_t kCapacity = 16;
using Sequencer = cv::RtpSequencer<uint32_t, kCapacity>;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

struct Model {
  Sequencer seq;
  std::vector<uint8_t> state;  // per insertion id: 0 never stored, 1 held, 2 released
  bool have_last = false;
  uint32_t last_ext = 0;
  uint64_t resets_seen = 0;
  uint64_t lost_sum = 0;
  size_t held = 0;

  void released(const Sequencer::Released& r) {
    check(r.item < state.size() && state[r.item] == 1);  // held, delivered once
    state[r.item] = 2;
    --held;
    check(seq.held() == held);
    // Extended numbers strictly increase within one sequence (between resets).
    if (have_last && resets_seen == seq.resets()) {
      check(static_cast<int32_t>(r.extended_seq - last_ext) > 0);
      check(r.lost_before == r.extended_seq - last_ext - 1);
    } else if (have_last) {
      check(r.lost_before == 0);
    }
    resets_seen = seq.resets();
    have_last = true;
    last_ext = r.extended_seq;
    lost_sum += r.lost_before;
    check(seq.lost() == lost_sum);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Model m;
  uint64_t inserts = 0, accepted = 0, refused_resets = 0;
  for (size_t i = 0; i + 3 <= size; i += 3) {
    const uint8_t op = data[i];
    const auto seq = static_cast<uint16_t>((data[i + 1] << 8) | data[i + 2]);
    switch (op & 0x7) {
      case 0: {
        while (auto r = m.seq.flush()) m.released(*r);
        check(m.seq.held() == 0 && m.held == 0);
        break;
      }
      case 1: {
        if (auto r = m.seq.pop()) m.released(*r);
        break;
      }
      default: {
        const auto id = static_cast<uint32_t>(m.state.size());
        const size_t held_before = m.seq.held();
        const uint64_t resets_before = m.seq.resets();
        const cv::SequencerInsert result = m.seq.insert(seq, id);
        ++inserts;
        const bool stored = result == cv::SequencerInsert::kAccepted ||
                            (result == cv::SequencerInsert::kReset && held_before == 0);
        m.state.push_back(stored ? 1 : 0);
        if (stored) {
          ++accepted;
          ++m.held;
        } else if (result == cv::SequencerInsert::kReset) {
          ++refused_resets;
        }
        check(m.seq.held() == m.held);
        check(m.seq.resets() == resets_before + (result == cv::SequencerInsert::kReset && stored ? 1 : 0));
        // One ring plus one parked packet at most.
        check(m.seq.held() <= kCapacity + 1);
        if (op & 0x80) {
          while (auto r = m.seq.pop()) m.released(*r);
          // After popping nothing is parked and the next slot is empty.
          check(m.seq.held() < kCapacity);
        }
        break;
      }
    }
  }
  while (auto r = m.seq.flush()) m.released(*r);
  check(m.seq.held() == 0);
  check(!m.seq.pop().has_value());
  size_t delivered = 0;
  for (uint8_t s : m.state) {
    check(s != 1);  // nothing left behind
    delivered += s == 2;
  }
  check(delivered == accepted);
  // Every insert is accounted for exactly once.
  check(accepted + m.seq.duplicates() + m.seq.too_old() + refused_resets == inserts);
  return 0;
}
