#include "services/common/flags.h"

#include <map>

#include "gtest/gtest.h"

namespace rwkv::services {
namespace {

class FlagSetTest : public ::testing::Test {
 protected:
  FlagSetTest() : flags_("rwkv-test", "test") {
    flags_.AddString("storage-root", &root_, "root");
    flags_.AddInt("max-queue", &max_queue_, "queue");
    flags_.AddDuration("drain-timeout", &drain_, "drain");
    flags_.AddBool("verbose", &verbose_, "verbose");
  }
  absl::Status Parse(std::vector<std::string> args) {
    return flags_.Parse(args, [this](const std::string& var) -> std::optional<std::string> {
      auto it = env_.find(var);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    });
  }
  FlagSet flags_;
  std::map<std::string, std::string> env_;
  std::string root_ = "default";
  int64_t max_queue_ = 16;
  absl::Duration drain_ = absl::Seconds(30);
  bool verbose_ = false;
};

TEST_F(FlagSetTest, NamesEnvironmentVariables) {
  EXPECT_EQ(FlagSet::EnvName("storage-root"), "RWKV_STORAGE_ROOT");
  EXPECT_EQ(FlagSet::EnvName("max-concurrent-jobs"), "RWKV_MAX_CONCURRENT_JOBS");
}

TEST_F(FlagSetTest, KeepsDefaultsWithoutFlagsOrEnvironment) {
  ASSERT_TRUE(Parse({}).ok());
  EXPECT_EQ(root_, "default");
  EXPECT_EQ(max_queue_, 16);
}

TEST_F(FlagSetTest, FallsBackToEnvironment) {
  env_["RWKV_STORAGE_ROOT"] = "/data";
  env_["RWKV_DRAIN_TIMEOUT"] = "1m";
  ASSERT_TRUE(Parse({}).ok());
  EXPECT_EQ(root_, "/data");
  EXPECT_EQ(drain_, absl::Minutes(1));
}

TEST_F(FlagSetTest, CommandLineWinsOverEnvironment) {
  env_["RWKV_STORAGE_ROOT"] = "/data";
  env_["RWKV_MAX_QUEUE"] = "3";
  ASSERT_TRUE(Parse({"--storage-root=/cli", "--max-queue", "5", "--verbose"}).ok());
  EXPECT_EQ(root_, "/cli");
  EXPECT_EQ(max_queue_, 5);
  EXPECT_TRUE(verbose_);
}

TEST_F(FlagSetTest, AcceptsPlainSecondsForDurations) {
  ASSERT_TRUE(Parse({"--drain-timeout", "2.5"}).ok());
  EXPECT_EQ(drain_, absl::Milliseconds(2500));
}

TEST_F(FlagSetTest, RejectsUnknownFlagsAndBadNumbers) {
  EXPECT_EQ(Parse({"--nope"}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Parse({"--max-queue", "many"}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Parse({"--max-queue"}).code(), absl::StatusCode::kInvalidArgument);
  env_["RWKV_MAX_QUEUE"] = "x";
  EXPECT_EQ(Parse({}).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace rwkv::services
