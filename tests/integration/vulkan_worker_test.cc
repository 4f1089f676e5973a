// rwkv-worker on the Vulkan backend: a real worker process serving a synthetic byte-vocabulary
// model reports BACKEND_VULKAN and its device, streams the same text as `rwkv generate
// --backend vulkan`, serves concurrent (batched) streams like solo ones, and its validation
// layer reports no error. Skips when there is no Vulkan device.
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "integration/worker_harness.h"
#include "rwkv/engine/synth.h"
#include "services/common/utf8.h"
#include "support/vulkan_test_device.h"

namespace rwkv::testing {
namespace {

namespace v1 = ::rwkv::v1;
namespace fs = std::filesystem;

v1::GenerateRequest Request(const std::string& prompt, uint32_t max_tokens, uint64_t seed) {
  v1::GenerateRequest r;
  r.set_model("demo");
  r.set_text(prompt);
  r.set_max_tokens(max_tokens);
  v1::SamplingParams& s = *r.mutable_sampling();
  s.set_temperature(0.8f);
  s.set_top_k(40);
  s.set_top_p(0.95f);
  s.set_min_p(0.05f);
  s.set_seed(seed);
  return r;
}

TEST(VulkanWorkerTest, ServesStreamsOnTheVulkanDevice) {
  std::string reason;
  std::unique_ptr<engine::backend::Device> device = OpenVulkanForTest(&reason);
  if (device == nullptr) GTEST_SKIP() << reason;
  const std::string description = device->description();
  device.reset();

  const std::string root = MakeTempDir("vulkan-worker");
  fs::create_directories(root + "/models");
  engine::SynthOptions synth;
  synth.output_path = root + "/models/demo.gguf";
  synth.n_embd = 64;
  synth.n_layer = 2;
  synth.vocab = "bytes";
  synth.seed = 3;
  synth.type = engine::GgmlType::kQ8_0;
  ASSERT_TRUE(engine::WriteSyntheticModel(synth).ok());

  // The worker inherits RWKV_VULKAN_VALIDATION from this process.
  WorkerProcess worker(root, {"--model", "demo", "--storage-root", root, "--backend", "vulkan",
                              "--device", "0", "--max-sequences", "4", "--pool", "vulkan-test"});
  ASSERT_TRUE(worker.WaitServing(std::chrono::seconds(120)));

  grpc::ClientContext status_context;
  v1::WorkerStatus status;
  ASSERT_TRUE(worker.Worker()->GetStatus(&status_context, {}, &status).ok());
  EXPECT_EQ(status.backend(), v1::BACKEND_VULKAN);
  EXPECT_EQ(status.device(), description);
  EXPECT_EQ(status.pool(), "vulkan-test");

  auto stub = worker.Inference();
  const v1::GenerateRequest first = Request("Hello, vulkan!", 24, 42);
  const StreamResult got = Generate(*stub, first, std::chrono::seconds(120));
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  EXPECT_EQ(got.final.usage().generated_tokens(), 24u);

  const std::string cli = BinDir() + "/rwkv";
  if (fs::exists(cli)) {
    const std::string out = root + "/generate.out";
    const std::string cmd = "(" + cli + " generate -m " + synth.output_path +
                            " -p 'Hello, vulkan!' -n 24 --seed 42 --no-display-prompt "
                            "--backend vulkan >" +
                            out + " 2>/dev/null)";
    ASSERT_EQ(RunCommand(cmd, nullptr), 0);
    EXPECT_EQ(services::ToValidUtf8(ReadFileOrDie(out)), got.text + "\n");
  }

  // Concurrent streams share forward passes; each equals its solo run (the kernels sum each
  // row in the same order whatever else is in the batch).
  std::vector<v1::GenerateRequest> requests;
  for (int i = 0; i < 4; ++i) requests.push_back(Request("s" + std::to_string(i), 12, 7 + i));
  std::vector<StreamResult> solo;
  for (const v1::GenerateRequest& r : requests) {
    solo.push_back(Generate(*stub, r, std::chrono::seconds(120)));
  }
  std::vector<StreamResult> together(requests.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < requests.size(); ++i) {
    threads.emplace_back(
        [&, i] { together[i] = Generate(*stub, requests[i], std::chrono::seconds(120)); });
  }
  for (std::thread& t : threads) t.join();
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(together[i].status.ok()) << together[i].status.error_message();
    EXPECT_EQ(together[i].tokens, solo[i].tokens) << "stream " << i;
  }

  worker.Terminate();
  EXPECT_EQ(worker.Wait(), 0);
  EXPECT_EQ(worker.Log().find("vulkan validation error"), std::string::npos) << worker.Log();
}

}  // namespace
}  // namespace rwkv::testing
