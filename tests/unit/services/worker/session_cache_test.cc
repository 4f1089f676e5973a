#include "services/worker/session_cache.h"

#include <vector>

#include "gtest/gtest.h"

namespace rwkv::worker {
namespace {

SessionEntry Entry(float value, int32_t pending) {
  SessionEntry e;
  e.state = engine::RecurrentState::Zero({1, 4, 4});  // 8 + 16 floats = 96 bytes
  e.state.wkv[0] = value;
  e.pending_tokens = {pending};
  return e;
}

constexpr uint64_t kEntryBytes = 96 + 4;

TEST(SessionCacheTest, CopiesStateAndAppendsPendingTokens) {
  SessionCache cache(1 << 20, absl::Minutes(1));
  cache.Put("a", Entry(1.5f, 7));
  engine::RecurrentState state;
  std::vector<int32_t> tokens = {1};
  ASSERT_TRUE(cache.CopyTo("a", state, tokens));
  EXPECT_EQ(state.wkv[0], 1.5f);
  EXPECT_EQ(tokens, (std::vector<int32_t>{1, 7}));
  EXPECT_FALSE(cache.CopyTo("b", state, tokens));
  EXPECT_EQ(cache.bytes(), kEntryBytes);
}

TEST(SessionCacheTest, EvictsLeastRecentlyUsedToStayWithinBudget) {
  SessionCache cache(2 * kEntryBytes, absl::Minutes(1));
  cache.Put("a", Entry(1, 1));
  cache.Put("b", Entry(2, 2));
  engine::RecurrentState state;
  std::vector<int32_t> tokens;
  ASSERT_TRUE(cache.CopyTo("a", state, tokens));  // "b" is now the oldest
  EXPECT_EQ(cache.Put("c", Entry(3, 3)), 1u);
  EXPECT_TRUE(cache.Contains("a"));
  EXPECT_FALSE(cache.Contains("b"));
  EXPECT_TRUE(cache.Contains("c"));
  EXPECT_EQ(cache.bytes(), 2 * kEntryBytes);
}

TEST(SessionCacheTest, ReplacingAnEntryKeepsTheByteCount) {
  SessionCache cache(10 * kEntryBytes, absl::Minutes(1));
  cache.Put("a", Entry(1, 1));
  cache.Put("a", Entry(2, 2));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.bytes(), kEntryBytes);
}

TEST(SessionCacheTest, DropsEntriesLargerThanTheBudget) {
  SessionCache cache(kEntryBytes - 1, absl::Minutes(1));
  cache.Put("a", Entry(1, 1));
  EXPECT_FALSE(cache.Contains("a"));
  EXPECT_EQ(cache.bytes(), 0u);
}

TEST(SessionCacheTest, ExpiresIdleEntries) {
  SessionCache cache(1 << 20, absl::Seconds(10));
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  cache.Put("a", Entry(1, 1), t0);
  engine::RecurrentState state;
  std::vector<int32_t> tokens;
  EXPECT_TRUE(cache.CopyTo("a", state, tokens, t0 + absl::Seconds(5)));
  EXPECT_TRUE(cache.Contains("a", t0 + absl::Seconds(14)));  // last use was at +5 s
  EXPECT_FALSE(cache.Contains("a", t0 + absl::Seconds(30)));
  EXPECT_EQ(cache.bytes(), 0u);
}

}  // namespace
}  // namespace rwkv::worker
