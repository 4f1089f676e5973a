// Session: reset returns to the initial state, clones evolve independently, and feeding
// in pieces equals feeding at once.
#include "rwkv/engine/session.h"

#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "rwkv/engine/model.h"
#include "support/test_paths.h"

namespace rwkv::engine {
namespace {

std::unique_ptr<Model> LoadReference() {
  const std::string path = rwkv::testing::DataPath("tiny-rwkv6-r/tiny-rwkv6-r-f32.gguf");
  absl::StatusOr<std::unique_ptr<Model>> m = Model::Load(path, {.threads = 2});
  return m.ok() ? std::move(*m) : nullptr;
}

TEST(SessionTest, ResetCloneAndPiecewiseFeeding) {
  std::unique_ptr<Model> model = LoadReference();
  if (model == nullptr) GTEST_SKIP() << "reference model not found";
  const int64_t V = model->config().n_vocab;
  const std::vector<int32_t> a = {72, 101, 108}, b = {108, 111};
  Session s(*model);
  std::vector<float> first(V), again(V), piecewise(V), clone_out(V);
  ASSERT_TRUE(s.Feed(a, first.data()).ok());
  EXPECT_EQ(s.n_past(), 3u);

  Session clone = s.Clone();
  ASSERT_TRUE(clone.Feed(b, clone_out.data()).ok());
  EXPECT_EQ(clone.n_past(), 5u);
  EXPECT_EQ(s.n_past(), 3u);  // the original did not move

  s.Reset();
  EXPECT_EQ(s.n_past(), 0u);
  for (float v : s.state().wkv) ASSERT_EQ(v, 0.0f);
  ASSERT_TRUE(s.Feed(a, again.data()).ok());
  EXPECT_EQ(first, again);

  ASSERT_TRUE(s.Feed(std::span<const int32_t>(b.data(), 1), nullptr).ok());
  ASSERT_TRUE(s.Feed(std::span<const int32_t>(b.data() + 1, 1), piecewise.data()).ok());
  for (int64_t v = 0; v < V; ++v) EXPECT_NEAR(piecewise[v], clone_out[v], 1e-5);
}

TEST(SessionTest, FromStateRejectsAnotherShape) {
  std::unique_ptr<Model> model = LoadReference();
  if (model == nullptr) GTEST_SKIP() << "reference model not found";
  EXPECT_FALSE(Session::FromState(*model, RecurrentState::Zero({1, 64, 32})).ok());
  absl::StatusOr<Session> s = Session::FromState(*model, model->NewState());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->n_past(), 0u);
}

}  // namespace
}  // namespace rwkv::engine
