// Reference state files against independent data: the PyTorch logits, the state .pth files
// they were converted from, and the layout of later llama.cpp versions.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "rwkv/engine/pth_reader.h"
#include "rwkv/engine/state_file.h"
#include "support/test_paths.h"

namespace rwkv::engine {
namespace {

std::string Ref(const std::string& rel) { return rwkv::testing::DataPath(rel); }

#define SKIP_IF_MISSING(path) \
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "reference data missing: " << (path)

std::vector<float> ReadF32(const std::string& path) {
  const std::string bytes = rwkv::testing::ReadFileOrDie(path);
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

TEST(StateFileCompatTest, SessionLogitsMatchPytorchReference) {
  const std::string session = Ref("tiny-rwkv6/tiny-rwkv6-after-chat.session-v9.bin");
  const std::string torch = Ref("tiny-rwkv6/logits/torch-fp32-chat.f32");
  SKIP_IF_MISSING(session);
  SKIP_IF_MISSING(torch);
  auto f = ReadStateFile(session);
  ASSERT_TRUE(f.ok()) << f.status();
  // torch-fp32-chat stores positions 0, 1, 2, 5, 10; the session holds position 10's logits.
  const std::vector<float> rows = ReadF32(torch);
  ASSERT_EQ(rows.size(), 5u * 65536);
  ASSERT_EQ(f->logits.size(), 65536u);
  float max_diff = 0;
  size_t argmax_session = 0, argmax_torch = 0;
  for (size_t i = 0; i < 65536; ++i) {
    const float want = rows[4 * 65536 + i];
    max_diff = std::max(max_diff, std::abs(f->logits[i] - want));
    if (f->logits[i] > f->logits[argmax_session]) argmax_session = i;
    if (want > rows[4 * 65536 + argmax_torch]) argmax_torch = i;
  }
  EXPECT_LT(max_diff, 2e-5f);
  EXPECT_EQ(argmax_session, argmax_torch);
}

TEST(StateFileCompatTest, TutorialFilesHoldTheTransposedTimeState) {
  for (const std::string model : {"tiny-rwkv6", "tiny-rwkv6-r"}) {
    const std::string bin = Ref(model + "/" + model + "-state.session-v9.bin");
    const std::string pth = Ref(model + "/" + model + "-state.pth");
    SKIP_IF_MISSING(bin);
    auto f = ReadStateFile(bin);
    ASSERT_TRUE(f.ok()) << f.status();
    auto ckpt = PthCheckpoint::Open(pth);
    ASSERT_TRUE(ckpt.ok()) << ckpt.status();
    const StateShape& s = f->state.shape;
    ASSERT_EQ((*ckpt)->tensors().size(), s.n_layer);
    const uint32_t H = s.n_embd / s.head_size, S = s.head_size;
    for (uint32_t l = 0; l < s.n_layer; ++l) {
      auto ts = (*ckpt)->ReadAsFloat32("blocks." + std::to_string(l) + ".att.time_state");
      ASSERT_TRUE(ts.ok()) << ts.status();
      const float* wkv = f->state.wkv.data() + l * s.wkv_floats_per_layer();
      for (uint32_t h = 0; h < H; ++h) {
        for (uint32_t i = 0; i < S; ++i) {
          for (uint32_t j = 0; j < S; ++j) {
            ASSERT_EQ(wkv[(h * S + i) * S + j], (*ts)[(h * S + j) * S + i])
                << model << " layer " << l << " head " << h << " key " << i << " value " << j;
          }
        }
      }
    }
  }
}

TEST(StateFileCompatTest, EveryReferenceFileSurvivesTheNewerLayout) {
  for (const std::string rel : {"tiny-rwkv6/tiny-rwkv6-state.session-v9.bin",
                                "tiny-rwkv6/tiny-rwkv6-after-chat.session-v9.bin",
                                "tiny-rwkv6-r/tiny-rwkv6-r-state.session-v9.bin"}) {
    SKIP_IF_MISSING(Ref(rel));
    auto f = ReadStateFile(Ref(rel));
    ASSERT_TRUE(f.ok()) << f.status();
    const std::string dir = rwkv::testing::MakeTempDir("state_compat");
    ASSERT_TRUE(WriteStateFile(dir + "/new.bin", *f, StateFileLayout::kMemoryOnly).ok());
    auto g = ReadStateFile(dir + "/new.bin");
    ASSERT_TRUE(g.ok()) << g.status();
    EXPECT_EQ(g->layout, StateFileLayout::kMemoryOnly);
    EXPECT_EQ(g->tokens, f->tokens);
    EXPECT_EQ(g->pos, f->pos);
    EXPECT_EQ(g->has_seq_id, f->has_seq_id);
    EXPECT_EQ(g->state.shape, f->state.shape);
    EXPECT_EQ(g->state.shift, f->state.shift);
    EXPECT_EQ(g->state.wkv, f->state.wkv);
  }
}

}  // namespace
}  // namespace rwkv::engine
