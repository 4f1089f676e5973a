#include "gateway/rendezvous.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace rwkv::gateway {
namespace {

std::vector<std::string> Workers(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back("10.0.0." + std::to_string(i + 1) + ":50052");
  return out;
}

TEST(RendezvousTest, RankingIsAPermutationIndependentOfInputOrder) {
  std::vector<std::string> workers = Workers(5);
  const std::vector<std::string> ranking = RendezvousRanking("session-1", workers);
  ASSERT_EQ(ranking.size(), workers.size());
  std::vector<std::string> reversed(workers.rbegin(), workers.rend());
  EXPECT_EQ(RendezvousRanking("session-1", reversed), ranking);
  std::vector<std::string> sorted = ranking;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, workers);
}

TEST(RendezvousTest, WeightIsStableAcrossCalls) {
  // A fixed value: replicas and releases must agree on the hash.
  EXPECT_EQ(RendezvousWeight("abc", "10.0.0.1:50052"), RendezvousWeight("abc", "10.0.0.1:50052"));
  EXPECT_NE(RendezvousWeight("ab", "c10.0.0.1:50052"), RendezvousWeight("abc", "10.0.0.1:50052"));
}

TEST(RendezvousTest, RemovingAWorkerMovesOnlyItsKeys) {
  const std::vector<std::string> all = Workers(4);
  std::vector<std::string> without = all;
  const std::string removed = without[2];
  without.erase(without.begin() + 2);
  int moved = 0;
  for (int k = 0; k < 2000; ++k) {
    const std::string key = "key-" + std::to_string(k);
    const std::vector<std::string> before = RendezvousRanking(key, all);
    const std::vector<std::string> after = RendezvousRanking(key, without);
    if (before[0] == removed) {
      ++moved;
      EXPECT_EQ(after[0], before[1]) << key;  // the next in the ranking takes over
    } else {
      EXPECT_EQ(after[0], before[0]) << key;
    }
  }
  EXPECT_GT(moved, 0);
}

TEST(RendezvousTest, SpreadsKeysEvenly) {
  const std::vector<std::string> workers = Workers(4);
  std::map<std::string, int> owners;
  constexpr int kKeys = 8000;
  for (int k = 0; k < kKeys; ++k) {
    ++owners[RendezvousRanking("user-" + std::to_string(k), workers)[0]];
  }
  ASSERT_EQ(owners.size(), workers.size());
  for (const auto& [worker, count] : owners) {
    EXPECT_GT(count, kKeys / 4 * 8 / 10) << worker;
    EXPECT_LT(count, kKeys / 4 * 12 / 10) << worker;
  }
}

}  // namespace
}  // namespace rwkv::gateway
