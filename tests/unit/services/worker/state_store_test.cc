// Named initial states: read from states/NAME.bin, validated against the model's shape, kept
// within the byte budget with the least recently used dropped first, re-read when dropped or
// changed on disk.
#include "services/worker/state_store.h"

#include <chrono>
#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "rwkv/engine/state_file.h"
#include "support/test_paths.h"

namespace rwkv::worker {
namespace {

const engine::StateShape kShape{1, 4, 4};  // 8 shift + 16 wkv floats = 96 bytes

std::filesystem::path MakeRoot(const std::string& tag) {
  const std::filesystem::path root = rwkv::testing::MakeTempDir(tag);
  std::filesystem::create_directories(root / "states");
  return root;
}

void WriteState(const std::filesystem::path& root, const std::string& name, float value,
                const engine::StateShape& shape = kShape) {
  engine::StateFile f;
  f.state = engine::RecurrentState::Zero(shape);
  f.state.wkv[0] = value;
  ASSERT_TRUE(engine::WriteStateFile((root / "states" / (name + ".bin")).string(), f,
                                     engine::StateFileLayout::kMemoryOnly)
                  .ok());
}

TEST(StateStoreTest, LoadsValidatesAndCaches) {
  const auto root = MakeRoot("state-store-basic");
  WriteState(root, "a", 1.5f);
  WriteState(root, "wide", 1.0f, {1, 8, 4});
  StateStore store(root, kShape, 16);
  auto a = store.Get("a");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ((*a)->state.wkv[0], 1.5f);
  EXPECT_EQ(store.cached_count(), 1u);
  EXPECT_EQ(store.cached_bytes(), 96u);
  auto again = store.Get("a");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->get(), a->get());  // served from the cache
  EXPECT_EQ(store.Get("missing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store.Get("../a").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store.Get("wide").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(StateStoreTest, DropsLeastRecentlyUsedBeyondTheBudget) {
  const auto root = MakeRoot("state-store-lru");
  for (const char* n : {"a", "b", "c"}) WriteState(root, n, 1.0f);
  StateStore store(root, kShape, 16, 2 * 96);
  auto a = store.Get("a");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(store.Get("b").ok());
  ASSERT_TRUE(store.Get("a").ok());  // "b" is now the least recently used
  ASSERT_TRUE(store.Get("c").ok());
  EXPECT_EQ(store.cached_count(), 2u);
  EXPECT_EQ(store.cached_bytes(), 2u * 96);
  auto a_again = store.Get("a");
  ASSERT_TRUE(a_again.ok());
  EXPECT_EQ(a_again->get(), a->get());  // "a" stayed
  auto b = store.Get("b");              // "b" was dropped: read again, "c" goes
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(store.cached_count(), 2u);
  EXPECT_EQ((*a)->state.wkv[0], 1.0f);  // a dropped state stays valid for its holders
}

TEST(StateStoreTest, StateLargerThanTheBudgetIsServedButNotKept) {
  const auto root = MakeRoot("state-store-small");
  WriteState(root, "a", 2.0f);
  StateStore store(root, kShape, 16, 50);
  auto a = store.Get("a");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ((*a)->state.wkv[0], 2.0f);
  EXPECT_EQ(store.cached_count(), 0u);
  EXPECT_EQ(store.cached_bytes(), 0u);
}

TEST(StateStoreTest, ChangedFileIsReadAgain) {
  const auto root = MakeRoot("state-store-changed");
  WriteState(root, "a", 1.0f);
  StateStore store(root, kShape, 16);
  ASSERT_TRUE(store.Get("a").ok());
  WriteState(root, "a", 3.0f);
  std::filesystem::last_write_time(
      root / "states" / "a.bin",
      std::filesystem::file_time_type::clock::now() + std::chrono::seconds(5));
  auto a = store.Get("a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)->state.wkv[0], 3.0f);
  EXPECT_EQ(store.cached_count(), 1u);
  EXPECT_EQ(store.cached_bytes(), 96u);
}

TEST(StateStoreTest, FileReplacedWithTheSameSizeAndMtimeIsReadAgain) {
  const auto root = MakeRoot("state-store-replaced");
  const std::filesystem::path path = root / "states" / "a.bin";
  WriteState(root, "a", 1.0f);
  const auto mtime = std::filesystem::last_write_time(path);
  StateStore store(root, kShape, 16);
  ASSERT_TRUE(store.Get("a").ok());
  // A writer publishes a new version by rename within the filesystem's time granularity:
  // same size, same mtime, another file.
  WriteState(root, "b", 3.0f);
  std::filesystem::last_write_time(root / "states" / "b.bin", mtime);
  std::filesystem::rename(root / "states" / "b.bin", path);
  ASSERT_EQ(std::filesystem::last_write_time(path), mtime);
  auto a = store.Get("a");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ((*a)->state.wkv[0], 3.0f);
}

}  // namespace
}  // namespace rwkv::worker
