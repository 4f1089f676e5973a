#include "services/converter/artifact.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "support/test_paths.h"

namespace rwkv::converter {
namespace {

namespace fs = std::filesystem;

std::string Read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ArtifactTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = rwkv::testing::MakeTempDir("artifact");
    tmp_ = root_ / ".tmp" / "j-1";
    fs::create_directories(tmp_);
    fs::create_directories(root_ / "models");
    job_.id = "j-1";
    job_.spec = {JobKind::kQuantize, "models/in.gguf", "models/out.gguf"};
    job_.spec.quant_type = "Q8_0";
    job_.spec.overwrite = true;
  }
  fs::path Staged(const std::string& contents) {
    const fs::path path = tmp_ / "out.gguf";
    std::ofstream(path) << contents;
    return path;
  }
  // An older artifact with its own matching sidecars.
  void PublishOld() {
    Job old = job_;
    old.id = "j-0";
    fs::create_directories(root_ / ".tmp" / "j-0");
    const fs::path staged = root_ / ".tmp" / "j-0" / "out.gguf";
    std::ofstream(staged) << "old artifact";
    ASSERT_TRUE(PublishArtifact(old, {1, 12, 1}, 1, root_ / ".tmp" / "j-0", staged, Final()).ok());
  }
  fs::path Final() const { return root_ / "models" / "out.gguf"; }
  fs::path Sha() const { return root_ / "models" / "out.gguf.sha256"; }
  fs::path Manifest() const { return root_ / "models" / "out.gguf.manifest.json"; }

  fs::path root_;
  fs::path tmp_;
  Job job_;
};

TEST_F(ArtifactTest, PublishesArtifactWithMatchingSidecarsInNewFolders) {
  const fs::path final_path = root_ / "models" / "a" / "b" / "out.gguf";
  job_.spec.output = "models/a/b/out.gguf";
  absl::StatusOr<Artifact> artifact =
      PublishArtifact(job_, {1, 3, 1}, 1, tmp_, Staged("new"), final_path);
  ASSERT_TRUE(artifact.ok()) << artifact.status();
  EXPECT_EQ(Read(final_path), "new");
  absl::StatusOr<std::string> sha = Sha256OfFile(final_path);
  ASSERT_TRUE(sha.ok());
  EXPECT_EQ(artifact->sha256, *sha);
  EXPECT_EQ(Read(final_path.string() + ".sha256"), *sha + "  out.gguf\n");
  EXPECT_NE(Read(final_path.string() + ".manifest.json").find(*sha), std::string::npos);
  EXPECT_TRUE(SidecarsMatch(final_path));
}

TEST_F(ArtifactTest, FailedPublishKeepsTheOldArtifactsSidecars) {
  PublishOld();
  const std::string old_sha = Read(Sha());
  const std::string old_manifest = Read(Manifest());
  // The artifact cannot be renamed over a non-empty folder; the old sidecars must survive.
  const fs::path blocked = root_ / "models" / "blocked.gguf";
  fs::create_directories(blocked / "inside");
  fs::copy_file(Sha(), blocked.string() + ".sha256");
  fs::copy_file(Manifest(), blocked.string() + ".manifest.json");
  EXPECT_FALSE(PublishArtifact(job_, {1, 3, 1}, 1, tmp_, Staged("new"), blocked).ok());
  EXPECT_EQ(Read(blocked.string() + ".sha256"), old_sha);
  EXPECT_EQ(Read(blocked.string() + ".manifest.json"), old_manifest);
}

TEST_F(ArtifactTest, WithoutOverwriteAnExistingArtifactIsNeverReplaced) {
  job_.spec.overwrite = false;
  // Another converter on the same storage published this one after the job was checked.
  std::ofstream(Final()) << "written elsewhere";
  absl::StatusOr<Artifact> artifact =
      PublishArtifact(job_, {1, 3, 1}, 1, tmp_, Staged("new"), Final());
  EXPECT_EQ(artifact.status().code(), absl::StatusCode::kAlreadyExists) << artifact.status();
  EXPECT_EQ(Read(Final()), "written elsewhere");
  EXPECT_FALSE(fs::exists(Sha()));
  EXPECT_FALSE(fs::exists(Manifest()));
}

TEST_F(ArtifactTest, CancelledPublishLeavesNothing) {
  std::atomic<bool> cancel{true};
  absl::StatusOr<Artifact> artifact =
      PublishArtifact(job_, {1, 3, 1}, 1, tmp_, Staged("new"), Final(), &cancel);
  EXPECT_EQ(artifact.status().code(), absl::StatusCode::kCancelled) << artifact.status();
  EXPECT_FALSE(fs::exists(Final()));
  EXPECT_FALSE(fs::exists(Sha()));
  EXPECT_EQ(Sha256OfFile(tmp_ / "out.gguf", &cancel).status().code(), absl::StatusCode::kCancelled);
}

TEST_F(ArtifactTest, ReconcileRemovesSidecarsOfAnotherArtifact) {
  PublishOld();
  // A crash between publishing the new artifact and its sidecars.
  std::ofstream(Final(), std::ios::trunc) << "new artifact";
  EXPECT_FALSE(SidecarsMatch(Final()));
  ASSERT_TRUE(ReconcileSidecars(Final(), tmp_).ok());
  EXPECT_TRUE(fs::exists(Final()));
  EXPECT_FALSE(fs::exists(Sha()));
  EXPECT_FALSE(fs::exists(Manifest()));
}

TEST_F(ArtifactTest, ReconcileCompletesSidecarsStagedForTheArtifact) {
  PublishOld();
  // Stage a new publish by hand up to the artifact's rename, as a crash would leave it.
  const fs::path staged = Staged("new artifact");
  absl::StatusOr<std::string> sha = Sha256OfFile(staged);
  ASSERT_TRUE(sha.ok());
  std::ofstream(tmp_ / "out.gguf.sha256") << *sha << "  out.gguf\n";
  std::ofstream(tmp_ / "out.gguf.manifest.json") << ManifestJson(job_, {1, 12, 1}, *sha, 1);
  fs::rename(staged, Final());
  ASSERT_TRUE(ReconcileSidecars(Final(), tmp_).ok());
  EXPECT_TRUE(SidecarsMatch(Final()));
  EXPECT_EQ(Read(Sha()), *sha + "  out.gguf\n");
}

TEST_F(ArtifactTest, ReconcileRemovesSidecarsWithoutArtifact) {
  PublishOld();
  fs::remove(Final());
  ASSERT_TRUE(ReconcileSidecars(Final(), tmp_).ok());
  EXPECT_FALSE(fs::exists(Sha()));
  EXPECT_FALSE(fs::exists(Manifest()));
}

TEST_F(ArtifactTest, ReconcileKeepsMatchingSidecars) {
  PublishOld();
  const std::string sha = Read(Sha());
  ASSERT_TRUE(ReconcileSidecars(Final(), tmp_).ok());
  EXPECT_EQ(Read(Sha()), sha);
  EXPECT_TRUE(SidecarsMatch(Final()));
}

}  // namespace
}  // namespace rwkv::converter
