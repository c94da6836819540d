// LruSlots: the slot pool with its age list shared by the IP fragment and
// TCP connection tables. Checked against a plain model (a std::list of live
// slots, least recent first) through random operations.
#include <gtest/gtest.h>

#include <algorithm>
#include <list>
#include <random>
#include <set>
#include <vector>

#include "common/lru_slots.h"

namespace cv {
namespace {

struct Entry {
  uint32_t older = LruSlots<Entry>::kNone;
  uint32_t newer = LruSlots<Entry>::kNone;
  int value = 0;
};

std::vector<uint32_t> oldest_first(const LruSlots<Entry>& pool) {
  std::vector<uint32_t> out;
  for (uint32_t s = pool.oldest(); s != LruSlots<Entry>::kNone; s = pool[s].newer) out.push_back(s);
  return out;
}

std::vector<uint32_t> newest_first(const LruSlots<Entry>& pool) {
  std::vector<uint32_t> out;
  for (uint32_t s = pool.newest(); s != LruSlots<Entry>::kNone; s = pool[s].older) out.push_back(s);
  return out;
}

TEST(LruSlots, EmptyPoolHasNoOldestOrNewest) {
  LruSlots<Entry> pool;
  EXPECT_EQ(pool.oldest(), LruSlots<Entry>::kNone);
  EXPECT_EQ(pool.newest(), LruSlots<Entry>::kNone);
}

TEST(LruSlots, ReleasedSlotsAreReusedBeforeTheVectorGrows) {
  LruSlots<Entry> pool;
  const uint32_t a = pool.acquire(), b = pool.acquire(), c = pool.acquire();
  EXPECT_EQ((std::vector<uint32_t>{a, b, c}), oldest_first(pool));
  pool.release(b);
  EXPECT_EQ((std::vector<uint32_t>{a, c}), oldest_first(pool));
  EXPECT_EQ(pool.acquire(), b);  // reused, linked as the newest
  EXPECT_EQ((std::vector<uint32_t>{a, c, b}), oldest_first(pool));
  EXPECT_EQ(pool.acquire(), 3u);  // no free slot left: a new one
}

TEST(LruSlots, TouchMovesASlotToTheNewestEnd) {
  LruSlots<Entry> pool;
  const uint32_t a = pool.acquire(), b = pool.acquire(), c = pool.acquire();
  pool.touch(a);
  EXPECT_EQ((std::vector<uint32_t>{b, c, a}), oldest_first(pool));
  pool.touch(a);  // already the newest
  EXPECT_EQ((std::vector<uint32_t>{b, c, a}), oldest_first(pool));
  pool.touch(c);
  EXPECT_EQ((std::vector<uint32_t>{b, a, c}), oldest_first(pool));
}

TEST(LruSlots, RandomOperationsMatchAModelList) {
  std::mt19937 rng(7);
  LruSlots<Entry> pool;
  std::list<uint32_t> model;  // live slots, least recent first
  std::set<uint32_t> ever;
  size_t peak_live = 0;
  for (int step = 0; step < 20000; ++step) {
    const int op = static_cast<int>(rng() % 4);
    if (op == 0 || model.empty()) {
      const uint32_t s = pool.acquire();
      ASSERT_EQ(std::find(model.begin(), model.end(), s), model.end()) << "slot handed out twice";
      model.push_back(s);
      ever.insert(s);
      peak_live = std::max(peak_live, model.size());
    } else {
      auto it = model.begin();
      std::advance(it, rng() % model.size());
      const uint32_t s = *it;
      model.erase(it);
      if (op == 1) {
        model.push_back(s);
        pool.touch(s);
      } else {
        pool.release(s);
      }
    }
    ASSERT_EQ(std::vector<uint32_t>(model.begin(), model.end()), oldest_first(pool)) << "step " << step;
    auto reversed = newest_first(pool);
    std::reverse(reversed.begin(), reversed.end());
    ASSERT_EQ(oldest_first(pool), reversed) << "step " << step;
  }
  // Released slots are reused: the pool never grew beyond the most slots live at once.
  EXPECT_EQ(ever.size(), peak_live);
  EXPECT_EQ(*ever.rbegin() + 1, peak_live);
}

}  // namespace
}  // namespace cv
