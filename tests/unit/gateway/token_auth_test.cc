#include "gateway/token_auth.h"

#include <fstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "support/test_paths.h"

namespace rwkv::gateway {
namespace {

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

TEST(TokenAuthenticatorTest, AcceptsListedBearerTokensOnly) {
  const std::string path = rwkv::testing::MakeTempDir("auth") + "/tokens";
  WriteFile(path, "# operators\nalpha\n\n  beta  \n");
  auto auth = TokenAuthenticator::Load(path);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_TRUE((*auth)->Check("Bearer alpha").ok());
  EXPECT_TRUE((*auth)->Check("bearer beta").ok());
  const absl::Status missing = (*auth)->Check("");
  EXPECT_EQ(missing.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(missing.message().find("missing"), std::string::npos) << missing;
  EXPECT_EQ((*auth)->Check("Bearer gamma").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*auth)->Check("Basic alpha").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*auth)->Check("Bearer # operators").code(), absl::StatusCode::kUnauthenticated);
}

TEST(TokenAuthenticatorTest, RereadsTheFileWhenItChanges) {
  const std::string path = rwkv::testing::MakeTempDir("auth") + "/tokens";
  WriteFile(path, "old\n");
  auto auth = TokenAuthenticator::Load(path);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_TRUE((*auth)->Check("Bearer old").ok());
  WriteFile(path, "new-token\n");  // another size, so the change shows even with equal mtimes
  // Changes are looked for at most once per second; poll rather than sleep a fixed time.
  bool switched = false;
  for (int i = 0; i < 100 && !switched; ++i) {
    switched = (*auth)->Check("Bearer new-token").ok();
    if (!switched) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(switched);
  EXPECT_EQ((*auth)->Check("Bearer old").code(), absl::StatusCode::kUnauthenticated);
}

TEST(TokenAuthenticatorTest, RejectsAnEmptyOrMissingFile) {
  const std::string dir = rwkv::testing::MakeTempDir("auth");
  WriteFile(dir + "/empty", "# nothing\n");
  EXPECT_EQ(TokenAuthenticator::Load(dir + "/empty").status().code(),
            absl::StatusCode::kInvalidArgument);
  auto missing = TokenAuthenticator::Load(dir + "/absent");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("absent"), std::string::npos) << missing.status();
}

}  // namespace
}  // namespace rwkv::gateway
