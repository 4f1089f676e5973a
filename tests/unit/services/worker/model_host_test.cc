#include "services/worker/model_host.h"

#include <string>

#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "rwkv/engine/synth.h"
#include "support/test_paths.h"

namespace rwkv::worker {
namespace {

class ModelHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dir = rwkv::testing::MakeTempDir("model_host");
    engine::SynthOptions synth;
    synth.output_path = dir + "/demo.gguf";
    synth.n_embd = 64;
    synth.n_layer = 1;
    synth.threads = 1;
    ASSERT_TRUE(engine::WriteSyntheticModel(synth).ok());
    config_.model = synth.output_path;
    config_.threads = 1;
    config_.scheduler.max_sequences = 1;
  }

  WorkerConfig config_;
  prometheus::Registry registry_;
  WorkerMetrics metrics_{registry_, "demo", "cpu", "p"};
};

TEST_F(ModelHostTest, LoadServes) {
  ModelHost host(config_, *ResolveModel(config_.model, ""), metrics_);
  ASSERT_TRUE(host.Load().ok());
  EXPECT_TRUE(host.ready());
  host.Drain(absl::Now() + absl::Seconds(30));
}

TEST_F(ModelHostTest, LoadThatEndsAfterTheDrainBeganDoesNotServe) {
  ModelHost host(config_, *ResolveModel(config_.model, ""), metrics_);
  // The signal arrives while the model loads: the drain runs before the load is done.
  host.Drain(absl::Now() + absl::Seconds(30));
  const absl::Status loaded = host.Load();
  EXPECT_TRUE(absl::IsCancelled(loaded)) << loaded;
  EXPECT_FALSE(host.ready());
}

}  // namespace
}  // namespace rwkv::worker
