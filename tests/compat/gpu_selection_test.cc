// Backend selection on the command line: `rwkv devices` lists every compiled-in backend,
// `--backend cuda` without a usable GPU fails with one line (never a crash), `-ngl N` picks
// the GPU when one is present and says on stderr what it runs on, and an unknown backend is
// refused by name. Holds on machines with and without a GPU.
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "support/test_paths.h"

namespace rwkv {
namespace {

using rwkv::testing::BinDir;
using rwkv::testing::ReferenceDir;
using rwkv::testing::RunCommand;

std::string Model() { return ReferenceDir() + "/tiny-rwkv6/tiny-rwkv6-q8_0.gguf"; }

// Runs `command` and returns its exit status, with only its stderr in *err.
int RunForStderr(const std::string& command, std::string* err) {
  return RunCommand("{ " + command + " 2>&1 >/dev/null; }", err);
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

class GpuSelectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(BinDir() + "/rwkv")) GTEST_SKIP() << "rwkv not built";
    if (!std::filesystem::exists(Model())) GTEST_SKIP() << "reference model not found";
  }
};

TEST_F(GpuSelectionTest, DevicesListsEveryBackend) {
  std::string out;
  ASSERT_EQ(RunCommand(BinDir() + "/rwkv devices 2>&1", &out), 0) << out;
  const std::vector<std::string> lines = Lines(out);
  ASSERT_FALSE(lines.empty());
  EXPECT_TRUE(absl::StartsWith(lines[0], "cpu: ")) << out;
  for (const std::string& line : lines) {
    EXPECT_TRUE(absl::StartsWith(line, "cpu: ") || absl::StartsWith(line, "cuda: ") ||
                absl::StartsWith(line, "vulkan"))
        << line;
  }
}

TEST_F(GpuSelectionTest, CudaWithoutGpuFailsWithOneLine) {
  const std::string dir = rwkv::testing::MakeTempDir("gpu-selection");
  std::string devices;
  ASSERT_EQ(RunCommand(BinDir() + "/rwkv devices 2>&1", &devices), 0);
  const bool gpu = absl::StrContains(devices, "cuda: 0: ");
  std::string err;
  const int rc = RunForStderr(absl::StrCat(BinDir(), "/rwkv logits -m ", Model(),
                                           " --tokens 1,2 --backend cuda -o ", dir, "/out.bin"),
                              &err);
  if (gpu) {
    EXPECT_EQ(rc, 0) << err;
    EXPECT_EQ(std::filesystem::file_size(dir + "/out.bin"), 2u * 65536u * 4u);
    return;
  }
  EXPECT_EQ(rc, 1) << err;
  const std::vector<std::string> lines = Lines(err);
  ASSERT_EQ(lines.size(), 1u) << err;
  EXPECT_TRUE(absl::StartsWith(lines[0], "rwkv logits: ")) << err;
  EXPECT_TRUE(absl::StrContains(lines[0], "cuda")) << err;
}

TEST_F(GpuSelectionTest, NglSaysWhereItRuns) {
  std::string err;
  ASSERT_EQ(RunForStderr(absl::StrCat(BinDir(), "/rwkv generate -m ", Model(),
                                      " -p hi -n 2 --temp 0 -t 2 -ngl 99"),
                         &err),
            0)
      << err;
  const std::vector<std::string> lines = Lines(err);
  ASSERT_FALSE(lines.empty());
  EXPECT_TRUE(absl::StartsWith(lines[0], "rwkv generate: -ngl 99: ")) << err;
  EXPECT_TRUE(absl::StrContains(lines[0], "running every layer on cuda") ||
              absl::StrContains(lines[0], "running on the cpu"))
      << err;
  // Without -ngl nothing is said about devices.
  ASSERT_EQ(
      RunForStderr(
          absl::StrCat(BinDir(), "/rwkv generate -m ", Model(), " -p hi -n 2 --temp 0 -t 2"), &err),
      0);
  EXPECT_FALSE(absl::StrContains(err, "-ngl")) << err;
}

TEST_F(GpuSelectionTest, UnknownBackendIsRefusedByName) {
  std::string err;
  EXPECT_EQ(RunForStderr(absl::StrCat(BinDir(), "/rwkv bench -m ", Model(),
                                      " -p 4 -n 2 --bandwidth-mib 16 --backend tpu"),
                         &err),
            1);
  EXPECT_TRUE(absl::StrContains(err, "backend 'tpu' is not compiled into this build")) << err;
}

}  // namespace
}  // namespace rwkv
