// The rwkv CLI on the Vulkan backend: `rwkv devices` lists the device and what the kernels use,
// `logits --backend vulkan` agrees with the CPU backend, and a missing driver or device index
// fails with one line saying so. Skips when there is no Vulkan device or CLI.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "rwkv/engine/synth.h"
#include "support/test_paths.h"
#include "support/vulkan_test_device.h"

namespace rwkv::testing {
namespace {

namespace fs = std::filesystem;

class VulkanCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string reason;
    if (OpenVulkanForTest(&reason) == nullptr) GTEST_SKIP() << reason;
    cli_ = BinDir() + "/rwkv";
    if (!fs::exists(cli_)) GTEST_SKIP() << "no rwkv CLI at " << cli_;
    dir_ = MakeTempDir("vulkan-cli");
    engine::SynthOptions synth;
    synth.output_path = dir_ + "/model.gguf";
    synth.n_embd = 64;
    synth.n_layer = 1;
    synth.head_size = 32;
    synth.seed = 9;
    synth.type = engine::GgmlType::kQ5_1;
    ASSERT_TRUE(engine::WriteSyntheticModel(synth).ok());
    model_ = synth.output_path;
  }

  std::vector<float> ReadFloats(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<float> out(bytes.size() / 4);
    std::memcpy(out.data(), bytes.data(), out.size() * 4);
    return out;
  }

  std::string cli_, dir_, model_;
};

TEST_F(VulkanCliTest, DevicesListsTheDeviceAndTheKernelFeatures) {
  std::string out;
  ASSERT_EQ(RunCommand(cli_ + " devices", &out), 0) << out;
  EXPECT_NE(out.find("\nvulkan 0: "), std::string::npos) << out;
  EXPECT_NE(out.find("kernels use: f32 arithmetic"), std::string::npos) << out;
}

TEST_F(VulkanCliTest, LogitsMatchTheCpuBackend) {
  const std::string args = " logits -m " + model_ + " --tokens 1,2,3,250 -o ";
  std::string out;
  ASSERT_EQ(RunCommand(cli_ + args + dir_ + "/vk.f32 --backend vulkan --device 0", &out), 0) << out;
  EXPECT_EQ(out.find("vulkan validation error"), std::string::npos) << out;
  ASSERT_EQ(RunCommand(cli_ + args + dir_ + "/cpu.f32 --backend cpu-scalar", &out), 0) << out;
  const std::vector<float> vk = ReadFloats(dir_ + "/vk.f32"), cpu = ReadFloats(dir_ + "/cpu.f32");
  ASSERT_EQ(vk.size(), 4u * 256u);
  ASSERT_EQ(vk.size(), cpu.size());
  double worst = 0;
  for (size_t i = 0; i < vk.size(); ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(vk[i]) - cpu[i]));
  }
  EXPECT_LE(worst, 1e-4);  // f32 on the same dequantized weights, another summation order
}

TEST_F(VulkanCliTest, MissingDriverOrDeviceFailsWithOneLine) {
  const std::string logits = " logits -m " + model_ + " --tokens 1 -o " + dir_ + "/x.f32";
  std::string out;
  // No ICD: the loader's instance creation fails (VK_ERROR_INCOMPATIBLE_DRIVER).
  EXPECT_NE(RunCommand("VK_ICD_FILENAMES=" + dir_ + "/none.json VK_DRIVER_FILES=" + dir_ +
                           "/none.json " + cli_ + logits + " --backend vulkan",
                       &out),
            0);
  EXPECT_NE(out.find("no Vulkan driver"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;

  EXPECT_NE(RunCommand(cli_ + logits + " --backend vulkan --device 7", &out), 0);
  EXPECT_NE(out.find("no device 7"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_FALSE(fs::exists(dir_ + "/x.f32"));
}

}  // namespace
}  // namespace rwkv::testing
