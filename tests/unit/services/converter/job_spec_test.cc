#include "services/converter/job_spec.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "support/test_paths.h"

namespace rwkv::converter {
namespace {

namespace fs = std::filesystem;

class JobSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = rwkv::testing::MakeTempDir("job-spec");
    for (const char* dir : {"models", "checkpoints", "states"}) fs::create_directories(root_ / dir);
    std::ofstream(root_ / "checkpoints" / "m.pth") << "x";
    std::ofstream(root_ / "checkpoints" / "rwkv_vocab_v20230424.txt") << "x";
    std::ofstream(root_ / "models" / "m.gguf") << "x";
  }
  absl::StatusCode Check(JobSpec spec) { return PrepareJobSpec(root_, spec).status().code(); }
  fs::path root_;
};

TEST_F(JobSpecTest, AcceptsEachKindAndFillsDefaults) {
  JobSpec convert{JobKind::kConvertCheckpoint, "checkpoints/m.pth", "models/out.gguf"};
  ASSERT_TRUE(PrepareJobSpec(root_, convert).ok());
  EXPECT_EQ(convert.vocab, kDefaultVocab);
  EXPECT_EQ(convert.outtype, "f16");
  EXPECT_EQ(Check({JobKind::kQuantize, "models/m.gguf", "models/q.gguf", "", "", "Q8_0"}),
            absl::StatusCode::kOk);
  EXPECT_EQ(Check({JobKind::kConvertState, "checkpoints/m.pth", "states/s.bin"}),
            absl::StatusCode::kOk);
}

TEST_F(JobSpecTest, RejectsWrongFoldersAndExtensions) {
  EXPECT_EQ(Check({JobKind::kConvertCheckpoint, "models/m.gguf", "models/o.gguf"}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Check({JobKind::kConvertCheckpoint, "checkpoints/m.pth", "states/o.bin"}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Check({JobKind::kQuantize, "checkpoints/m.pth", "models/q.gguf", "", "", "Q8_0"}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Check({JobKind::kConvertState, "checkpoints/m.pth", "models/s.gguf"}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Check({JobKind::kConvertState, "checkpoints/m.pth", "states/.bin"}),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(JobSpecTest, RejectsTraversal) {
  EXPECT_EQ(Check({JobKind::kConvertState, "checkpoints/../../etc/x.pth", "states/s.bin"}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Check({JobKind::kConvertState, "/checkpoints/m.pth", "states/s.bin"}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Check({JobKind::kConvertState, "checkpoints/m.pth", "states/../../s.bin"}),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(JobSpecTest, EvalTextForQuantizeJobsOnly) {
  fs::create_directories(root_ / "eval");
  std::ofstream(root_ / "eval" / "t.txt") << "text";
  JobSpec q{JobKind::kQuantize, "models/m.gguf", "models/q.gguf", "", "", "Q8_0"};
  q.eval_text = "eval/t.txt";
  JobSpec ok = q;
  absl::StatusOr<JobPaths> paths = PrepareJobSpec(root_, ok);
  ASSERT_TRUE(paths.ok()) << paths.status();
  EXPECT_EQ(ok.eval_ctx, kDefaultEvalCtx);
  EXPECT_EQ(paths->eval_text, root_ / "eval" / "t.txt");

  JobSpec missing = q;
  missing.eval_text = "eval/none.txt";
  EXPECT_EQ(Check(missing), absl::StatusCode::kNotFound);
  JobSpec escape = q;
  escape.eval_text = "../t.txt";
  EXPECT_EQ(Check(escape), absl::StatusCode::kInvalidArgument);
  JobSpec absolute = q;
  absolute.eval_text = (root_ / "eval" / "t.txt").string();
  EXPECT_EQ(Check(absolute), absl::StatusCode::kInvalidArgument);
  JobSpec small = q;
  small.eval_ctx = 3;
  EXPECT_EQ(Check(small), absl::StatusCode::kInvalidArgument);
  JobSpec big = q;
  big.eval_ctx = kMaxEvalCtx + 1;
  EXPECT_EQ(Check(big), absl::StatusCode::kInvalidArgument);
  JobSpec ctx_only{JobKind::kQuantize, "models/m.gguf", "models/q.gguf", "", "", "Q8_0"};
  ctx_only.eval_chunks = 2;
  EXPECT_EQ(Check(ctx_only), absl::StatusCode::kInvalidArgument);
  JobSpec state{JobKind::kConvertState, "checkpoints/m.pth", "states/s.bin"};
  state.eval_text = "eval/t.txt";
  EXPECT_EQ(Check(state), absl::StatusCode::kInvalidArgument);
}

TEST_F(JobSpecTest, RejectsBadParameters) {
  EXPECT_EQ(Check({JobKind::kConvertCheckpoint, "checkpoints/m.pth", "models/o.gguf", "", "q4"}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Check({JobKind::kQuantize, "models/m.gguf", "models/q.gguf"}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Check({JobKind::kQuantize, "models/m.gguf", "models/m.gguf", "", "", "Q8_0"}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Check({JobKind::kConvertState, "checkpoints/m.pth", "states/s.bin", "", "f16"}),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(JobSpecTest, ReportsMissingInputAndExistingOutput) {
  EXPECT_EQ(Check({JobKind::kConvertState, "checkpoints/none.pth", "states/s.bin"}),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Check({JobKind::kConvertCheckpoint, "checkpoints/m.pth", "models/o.gguf",
                   "checkpoints/none.txt"}),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Check({JobKind::kQuantize, "models/m.gguf", "models/m2.gguf", "", "", "Q8_0"}),
            absl::StatusCode::kOk);
  std::ofstream(root_ / "states" / "s.bin") << "x";
  EXPECT_EQ(Check({JobKind::kConvertState, "checkpoints/m.pth", "states/s.bin"}),
            absl::StatusCode::kAlreadyExists);
  JobSpec overwrite{JobKind::kConvertState, "checkpoints/m.pth", "states/s.bin"};
  overwrite.overwrite = true;
  EXPECT_EQ(Check(overwrite), absl::StatusCode::kOk);
}

}  // namespace
}  // namespace rwkv::converter
