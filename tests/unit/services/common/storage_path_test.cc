#include "services/common/storage_path.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "support/test_paths.h"

namespace rwkv::services {
namespace {

namespace fs = std::filesystem;

class StoragePathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::canonical(rwkv::testing::MakeTempDir("storage-path"));
    outside_ = fs::canonical(rwkv::testing::MakeTempDir("storage-outside"));
    fs::create_directories(root_ / "models");
    std::ofstream(root_ / "models" / "a.gguf") << "x";
    std::ofstream(outside_ / "secret.gguf") << "x";
  }
  fs::path root_;
  fs::path outside_;
};

TEST_F(StoragePathTest, ResolvesRelativeNameUnderRoot) {
  auto p = ResolveStoragePath(root_, "models/a.gguf");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, root_ / "models" / "a.gguf");
}

TEST_F(StoragePathTest, AcceptsMissingTarget) {
  auto p = ResolveStoragePath(root_, "models/new/b.gguf");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, root_ / "models" / "new" / "b.gguf");
}

TEST_F(StoragePathTest, RejectsAbsoluteEmptyAndDotDot) {
  for (const char* name : {"", "/etc/passwd", "../x.gguf", "models/../../x", "models/./a.gguf",
                           "models//a.gguf", "models\\a.gguf", "models/.."}) {
    auto p = ResolveStoragePath(root_, name);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << name;
  }
}

TEST_F(StoragePathTest, RejectsNulByte) {
  const std::string name("models/a\0b.gguf", 15);
  EXPECT_EQ(ResolveStoragePath(root_, name).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(StoragePathTest, RejectsSymlinkEscapingRoot) {
  fs::create_symlink(outside_, root_ / "models" / "evil");
  fs::create_symlink(outside_ / "secret.gguf", root_ / "models" / "link.gguf");
  EXPECT_EQ(ResolveStoragePath(root_, "models/evil/secret.gguf").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveStoragePath(root_, "models/evil/new.gguf").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveStoragePath(root_, "models/link.gguf").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(StoragePathTest, RejectsDanglingSymlink) {
  fs::create_symlink(outside_ / "nowhere", root_ / "models" / "dangling");
  EXPECT_EQ(ResolveStoragePath(root_, "models/dangling/x.gguf").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveStoragePath(root_, "models/dangling").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(StoragePathTest, FollowsSymlinkInsideRoot) {
  fs::create_symlink(root_ / "models" / "a.gguf", root_ / "models" / "latest.gguf");
  auto p = ResolveStoragePath(root_, "models/latest.gguf");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, root_ / "models" / "a.gguf");
}

TEST_F(StoragePathTest, ReportsMissingRoot) {
  EXPECT_EQ(ResolveStoragePath(root_ / "nope", "models/a.gguf").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace rwkv::services
