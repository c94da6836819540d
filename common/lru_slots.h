// Slots of T for tables keyed by network input (IP fragments, TCP
// connections): released slots are reused through a free list, so the
// vector grows only to the table's limit and a busy table allocates nothing,
// and every live slot sits in one list from least to most recently used, so
// the oldest entry is found at once when the table is full or entries expire.
//
// T carries the list links as `uint32_t older, newer` (intrusive: no node
// allocation). Slot numbers stay valid until released; references into the
// pool do not survive acquire() (the vector may grow).
#pragma once

#include <cstdint>
#include <vector>

namespace cv {

template <typename T>
class LruSlots {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  // A slot, reused or new, linked as the most recent. The caller resets the
  // rest of its fields.
  uint32_t acquire() {
    uint32_t slot;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = static_cast<uint32_t>(slots_.size());
      slots_.emplace_back();
    }
    link_newest(slot);
    return slot;
  }
  // Unlinks the slot and makes it reusable; its fields are left as they are.
  void release(uint32_t slot) {
    unlink(slot);
    free_.push_back(slot);
  }
  // Makes the slot the most recent.
  void touch(uint32_t slot) {
    if (slot == newest_) return;
    unlink(slot);
    link_newest(slot);
  }

  T& operator[](uint32_t slot) { return slots_[slot]; }
  const T& operator[](uint32_t slot) const { return slots_[slot]; }
  [[nodiscard]] uint32_t oldest() const { return oldest_; }
  [[nodiscard]] uint32_t newest() const { return newest_; }

 private:
  void unlink(uint32_t slot) {
    T& s = slots_[slot];
    if (s.older != kNone) slots_[s.older].newer = s.newer;
    if (s.newer != kNone) slots_[s.newer].older = s.older;
    if (oldest_ == slot) oldest_ = s.newer;
    if (newest_ == slot) newest_ = s.older;
    s.older = s.newer = kNone;
  }
  void link_newest(uint32_t slot) {
    T& s = slots_[slot];
    s.older = newest_;
    s.newer = kNone;
    if (newest_ != kNone) slots_[newest_].newer = slot;
    newest_ = slot;
    if (oldest_ == kNone) oldest_ = slot;
  }

  std::vector<T> slots_;
  std::vector<uint32_t> free_;
  uint32_t oldest_ = kNone;
  uint32_t newest_ = kNone;
};

}  // namespace cv
