// An open-addressing hash map for tables keyed by network input that are
// looked up per packet (the media table): keys and values live inline in one
// array, so a lookup costs one cache miss instead of a node-based map's two.
//
// Linear probing, power-of-two capacity, load kept at or under 1/2, erase by
// backward shifting (no tombstones, so lookups never slow down with churn).
// The owner bounds the number of entries (the table grows up to that size).
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace cv {

template <typename Key, typename Value, typename Hash>
class FlatMap {
 public:
  explicit FlatMap(size_t initial_capacity = 64) { slots_.resize(round_up(initial_capacity)); }

  [[nodiscard]] size_t size() const { return size_; }

  Value* find(const Key& key) {
    if (size_ == 0) return nullptr;
    const size_t mask = slots_.size() - 1;
    for (size_t i = Hash{}(key)&mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (!s.used) return nullptr;
      if (s.key == key) return &s.value;
    }
  }
  const Value* find(const Key& key) const { return const_cast<FlatMap*>(this)->find(key); }
  [[nodiscard]] bool contains(const Key& key) const { return find(key) != nullptr; }

  // Inserts or overwrites; returns the stored value.
  Value& insert(const Key& key, Value value) {
    if (Value* v = find(key)) {
      *v = std::move(value);
      return *v;
    }
    if (2 * (size_ + 1) > slots_.size()) grow();
    return place(key, std::move(value));
  }

  bool erase(const Key& key) {
    if (size_ == 0) return false;
    const size_t mask = slots_.size() - 1;
    size_t i = Hash{}(key)&mask;
    for (;; i = (i + 1) & mask) {
      if (!slots_[i].used) return false;
      if (slots_[i].key == key) break;
    }
    // Backward shift: move later members of the probe run into the hole
    // when their home slot allows it, so no run is ever broken.
    size_t hole = i;
    for (size_t j = (i + 1) & mask; slots_[j].used; j = (j + 1) & mask) {
      const size_t home = Hash{}(slots_[j].key) & mask;
      const bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
      if (movable) {
        slots_[hole] = std::move(slots_[j]);
        hole = j;
      }
    }
    slots_[hole] = Slot{};
    --size_;
    return true;
  }

  template <typename F>
  void for_each(F&& f) {
    for (Slot& s : slots_)
      if (s.used) f(s.key, s.value);
  }

 private:
  struct Slot {
    bool used = false;
    Key key{};
    Value value{};
  };

  static size_t round_up(size_t n) {
    size_t c = 8;
    while (c < n) c <<= 1;
    return c;
  }

  Value& place(const Key& key, Value value) {
    const size_t mask = slots_.size() - 1;
    size_t i = Hash{}(key)&mask;
    while (slots_[i].used) i = (i + 1) & mask;
    slots_[i].used = true;
    slots_[i].key = key;
    slots_[i].value = std::move(value);
    ++size_;
    return slots_[i].value;
  }

  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    size_ = 0;
    for (Slot& s : old)
      if (s.used) place(s.key, std::move(s.value));
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
};

}  // namespace cv
