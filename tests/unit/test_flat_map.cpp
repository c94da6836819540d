// FlatMap against std::unordered_map under random inserts, erases and lookups.
#include <gtest/gtest.h>

#include <random>
#include <unordered_map>

#include "common/endpoint.h"
#include "common/flat_map.h"

namespace cv {
namespace {

struct BadHash {  // everything collides into few buckets: long probe runs
  size_t operator()(uint32_t k) const { return k % 7; }
};

template <typename Hash>
void random_ops(uint64_t seed, uint32_t key_space) {
  FlatMap<uint32_t, uint64_t, Hash> m(8);
  std::unordered_map<uint32_t, uint64_t> ref;
  std::mt19937_64 rng(seed);
  for (int step = 0; step < 20000; ++step) {
    const auto k = static_cast<uint32_t>(rng() % key_space);
    switch (rng() % 3) {
      case 0:
        m.insert(k, step);
        ref[k] = static_cast<uint64_t>(step);
        break;
      case 1:
        EXPECT_EQ(m.erase(k), ref.erase(k) == 1);
        break;
      default: {
        const uint64_t* v = m.find(k);
        auto it = ref.find(k);
        ASSERT_EQ(v != nullptr, it != ref.end()) << "key " << k << " step " << step;
        if (v) {
          EXPECT_EQ(*v, it->second);
        }
      }
    }
    ASSERT_EQ(m.size(), ref.size());
  }
  for (const auto& [k, v] : ref) {
    ASSERT_NE(m.find(k), nullptr);
    EXPECT_EQ(*m.find(k), v);
  }
}

TEST(FlatMap, MatchesUnorderedMapWithAGoodHash) {
  for (uint64_t seed = 1; seed <= 5; ++seed) random_ops<std::hash<uint32_t>>(seed, 300);
}

TEST(FlatMap, MatchesUnorderedMapWithHeavyCollisions) {
  for (uint64_t seed = 1; seed <= 5; ++seed) random_ops<BadHash>(seed, 100);
}

TEST(FlatMap, EndpointsAsKeys) {
  FlatMap<Endpoint, int, EndpointHash> m;
  Endpoint a{*IpAddress::parse("10.0.0.1"), 4000}, b{*IpAddress::parse("::1"), 4000};
  m.insert(a, 1);
  m.insert(b, 2);
  EXPECT_EQ(*m.find(a), 1);
  EXPECT_EQ(*m.find(b), 2);
  EXPECT_TRUE(m.erase(a));
  EXPECT_EQ(m.find(a), nullptr);
  EXPECT_EQ(*m.find(b), 2);
}

}  // namespace
}  // namespace cv
