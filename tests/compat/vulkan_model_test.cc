// Whole models on the Vulkan backend: logits against the reference data ($RWKV_REFERENCE_DIR)
// within the CPU backend's tolerances (see logits_compat_test.cc), the same logits as the exact
// scalar CPU backend on synthetic models of every type the model writer produces, and
// token-by-token decode = prompt chunks = one batch of several sequences. Runs with the
// validation layer on; skips when there is no Vulkan device.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "rwkv/engine/ggml_types.h"
#include "rwkv/engine/model.h"
#include "rwkv/engine/state_file.h"
#include "rwkv/engine/synth.h"
#include "support/test_paths.h"
#include "support/vulkan_test_device.h"

namespace rwkv::engine {
namespace {

// Vulkan computes every product in f32 on the dequantized weights, as the scalar CPU backend
// does; only the summation order differs, so whole-model logits (about ±12) agree to f32
// noise: 1e-4, the CPU backend's tolerance for exact arithmetic.
constexpr double kExact = 1e-4;
// Against PyTorch on the same dequantized weights, and PyTorch without llama.cpp's rescale,
// the CPU backend's tolerances (logits_compat_test.cc).
constexpr double kQuantVsDequant = 2e-3;

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    m = std::isnan(d) ? INFINITY : std::max(m, d);
  }
  return m;
}

std::unique_ptr<Model> LoadOrSkipReason(const std::string& path, const std::string& backend,
                                        std::string* reason, int max_step_tokens = 256) {
  if (backend == "vulkan") rwkv::testing::RequestVulkanValidation();
  absl::StatusOr<std::unique_ptr<Model>> m =
      Model::Load(path, {.threads = 2, .backend = backend, .max_step_tokens = max_step_tokens});
  if (!m.ok()) {
    *reason = std::string(m.status().message());
    return nullptr;
  }
  return std::move(*m);
}

class VulkanModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string reason;
    if (rwkv::testing::OpenVulkanForTest(&reason) == nullptr) GTEST_SKIP() << reason;
  }
  void TearDown() override {
    EXPECT_EQ(rwkv::testing::VulkanValidationErrors(), 0) << "the validation layer reported errors";
  }
};

// --- reference data ---

struct ReferenceRun {
  std::string dir, gguf, run, state;
  double tolerance;
};

TEST_F(VulkanModelTest, LogitsMatchReference) {
  const std::string ref = rwkv::testing::ReferenceDir();
  if (ref.empty() || !std::filesystem::exists(ref + "/tiny-rwkv6/logits/index.json")) {
    GTEST_SKIP() << "reference data not found (set RWKV_REFERENCE_DIR)";
  }
  const ReferenceRun runs[] = {
      {"tiny-rwkv6", "tiny-rwkv6-f16.gguf", "torch-fp32-chat", "", kExact},
      {"tiny-rwkv6", "tiny-rwkv6-f16.gguf", "torch-fp32-chat-state",
       "tiny-rwkv6-state.session-v9.bin", kExact},
      {"tiny-rwkv6", "tiny-rwkv6-q8_0.gguf", "torch-fp32-dequant-q8_0-chat", "", kQuantVsDequant},
      {"tiny-rwkv6", "tiny-rwkv6-q5_1.gguf", "torch-fp32-dequant-q5_1-chat", "", kQuantVsDequant},
      {"tiny-rwkv6-r", "tiny-rwkv6-r-f32.gguf", "torch-fp32-rescale-chat", "", kExact},
  };
  int compared = 0;
  for (const ReferenceRun& r : runs) {
    const std::string dir = ref + "/" + r.dir;
    std::ifstream index_file(dir + "/logits/index.json");
    const nlohmann::json index = nlohmann::json::parse(index_file, nullptr, false);
    ASSERT_FALSE(index.is_discarded());
    const nlohmann::json* run = nullptr;
    for (const nlohmann::json& candidate : index["runs"]) {
      if (candidate.value("run", "") == r.run) run = &candidate;
    }
    if (run == nullptr || !run->contains("file") || !(*run)["file"].is_string() ||
        !std::filesystem::exists(dir + "/" + r.gguf)) {
      continue;  // not in this copy of the reference data
    }
    SCOPED_TRACE(r.run + " on " + r.gguf);
    std::string reason;
    std::unique_ptr<Model> model = LoadOrSkipReason(dir + "/" + r.gguf, "vulkan", &reason);
    ASSERT_NE(model, nullptr) << reason;
    RecurrentState state = model->NewState();
    if (!r.state.empty()) {
      absl::StatusOr<StateFile> sf = ReadStateFile(dir + "/" + r.state);
      ASSERT_TRUE(sf.ok()) << sf.status();
      state = std::move(sf->state);
    }
    const std::vector<int32_t> tokens = (*run)["token_ids"].get<std::vector<int32_t>>();
    const int64_t V = model->config().n_vocab;
    std::vector<float> logits(tokens.size() * V);
    ASSERT_TRUE(model->EvaluateAll(state, tokens, logits.data()).ok());
    const std::vector<int64_t> positions = (*run)["positions_stored"].get<std::vector<int64_t>>();
    std::vector<float> want(positions.size() * V), got(positions.size() * V);
    std::ifstream in(dir + "/" + (*run)["file"].get<std::string>(), std::ios::binary);
    in.read(reinterpret_cast<char*>(want.data()), static_cast<std::streamsize>(want.size() * 4));
    ASSERT_TRUE(in.good());
    for (size_t p = 0; p < positions.size(); ++p) {
      std::copy_n(logits.begin() + positions[p] * V, V, got.begin() + p * V);
    }
    EXPECT_LE(MaxAbsDiff(want, got), r.tolerance);
    ++compared;
  }
  EXPECT_GT(compared, 0) << "no reference run found";
}

// --- synthetic models ---

std::string MakeModel(const std::string& type_name) {
  const std::string dir = rwkv::testing::MakeTempDir("vulkan-model");
  SynthOptions o;
  o.output_path = dir + "/model-" + type_name + ".gguf";
  o.n_embd = 128;
  o.n_layer = 2;
  o.head_size = 32;
  o.seed = 5;
  o.type = *GgmlTypeFromName(type_name);
  o.rescale_every = 1;
  o.threads = 2;
  absl::StatusOr<SynthResult> r = WriteSyntheticModel(o);
  EXPECT_TRUE(r.ok()) << r.status();
  return o.output_path;
}

std::vector<int32_t> Tokens(int n, int seed) {
  std::vector<int32_t> t(n);
  uint32_t x = 2654435761u * static_cast<uint32_t>(seed + 1);
  for (int i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    t[i] = static_cast<int32_t>(x >> 24);
  }
  return t;
}

class VulkanSynthTest : public VulkanModelTest,
                        public ::testing::WithParamInterface<const char*> {};

TEST_P(VulkanSynthTest, MatchesScalarCpu) {
  const std::string path = MakeModel(GetParam());
  std::string reason;
  std::unique_ptr<Model> vk = LoadOrSkipReason(path, "vulkan", &reason);
  ASSERT_NE(vk, nullptr) << reason;
  std::unique_ptr<Model> cpu = LoadOrSkipReason(path, "cpu-scalar", &reason);
  ASSERT_NE(cpu, nullptr) << reason;
  const std::vector<int32_t> tokens = Tokens(6, 1);
  const int64_t V = cpu->config().n_vocab;
  RecurrentState sc = cpu->NewState(), sv = vk->NewState();
  std::vector<float> lc(tokens.size() * V), lv(tokens.size() * V);
  ASSERT_TRUE(cpu->EvaluateAll(sc, tokens, lc.data()).ok());
  absl::Status s = vk->EvaluateAll(sv, tokens, lv.data());
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_LE(MaxAbsDiff(lc, lv), kExact);
  EXPECT_LE(MaxAbsDiff(sc.wkv, sv.wkv), kExact);
  EXPECT_LE(MaxAbsDiff(sc.shift, sv.shift), kExact);
}

INSTANTIATE_TEST_SUITE_P(Types, VulkanSynthTest,
                         ::testing::Values("f32", "f16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1",
                                           "q4_0"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.param);
                         });

// Token-by-token decode, prompt chunks (steps of 4 tokens inside one call) and one batch of
// sequences with different lengths all give the same logits and states.
TEST_F(VulkanModelTest, DecodeEqualsChunkedEqualsBatched) {
  const std::string path = MakeModel("q8_0");
  std::string reason;
  std::unique_ptr<Model> model = LoadOrSkipReason(path, "vulkan", &reason, 4);
  ASSERT_NE(model, nullptr) << reason;
  const int64_t V = model->config().n_vocab;
  const std::vector<int32_t> tokens = Tokens(10, 2);

  RecurrentState chunked = model->NewState();
  std::vector<float> all(tokens.size() * V);
  ASSERT_TRUE(model->EvaluateAll(chunked, tokens, all.data()).ok());

  RecurrentState decoded = model->NewState();
  std::vector<float> one_by_one(tokens.size() * V);
  for (size_t i = 0; i < tokens.size(); ++i) {
    ASSERT_TRUE(model
                    ->EvaluateAll(decoded, std::span<const int32_t>(&tokens[i], 1),
                                  one_by_one.data() + i * V)
                    .ok());
  }
  EXPECT_LE(MaxAbsDiff(all, one_by_one), kExact);
  EXPECT_LE(MaxAbsDiff(chunked.wkv, decoded.wkv), kExact);

  // A batch: the same prompt again, a shorter one, and a single token.
  const std::vector<int32_t> shorter = Tokens(3, 3), single = {7};
  std::vector<RecurrentState> states = {model->NewState(), model->NewState(), model->NewState()};
  std::vector<float> b0(tokens.size() * V), b1(V), b2(V);
  SequenceInput batch[3] = {{&states[0], tokens, LogitsMode::kAll, b0.data()},
                            {&states[1], shorter, LogitsMode::kLast, b1.data()},
                            {&states[2], single, LogitsMode::kLast, b2.data()}};
  ASSERT_TRUE(model->Evaluate(batch).ok());
  EXPECT_LE(MaxAbsDiff(all, b0), kExact);
  EXPECT_LE(MaxAbsDiff(chunked.wkv, states[0].wkv), kExact);
  for (const auto& [input, got] : {std::pair{&shorter, &b1}, std::pair{&single, &b2}}) {
    RecurrentState s = model->NewState();
    std::vector<float> last(V);
    const SequenceInput alone{&s, *input, LogitsMode::kLast, last.data()};
    ASSERT_TRUE(model->Evaluate(std::span<const SequenceInput>(&alone, 1)).ok());
    EXPECT_LE(MaxAbsDiff(last, *got), kExact);
  }
}

}  // namespace
}  // namespace rwkv::engine
