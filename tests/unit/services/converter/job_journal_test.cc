#include "services/converter/job_journal.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "support/test_paths.h"
#include "unit/services/converter/job_fixtures.h"

namespace rwkv::converter {
namespace {

namespace fs = std::filesystem;

using testing::MakeJob;

class JobJournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = rwkv::testing::MakeTempDir("journal");
    fs::create_directories(root_ / "models");
  }
  fs::path root_;
};

TEST_F(JobJournalTest, RoundTripsAJob) {
  Job job = MakeJob("j-1", JobState::kSucceeded);
  job.spec.overwrite = true;
  job.started_at = absl::FromUnixMillis(1700000001500);
  job.finished_at = absl::FromUnixSeconds(1700000009);
  job.artifact = Artifact{"models/j-1.gguf", 1234, "ab", "models/j-1.gguf.manifest.json", 7, 99};
  absl::StatusOr<Job> back = JobFromJson(JobToJson(job));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->id, "j-1");
  EXPECT_EQ(back->state, JobState::kSucceeded);
  EXPECT_EQ(back->spec.kind, JobKind::kQuantize);
  EXPECT_EQ(back->spec.quant_type, "Q8_0");
  EXPECT_TRUE(back->spec.overwrite);
  EXPECT_EQ(back->created_at, job.created_at);
  EXPECT_EQ(back->started_at, job.started_at);
  EXPECT_EQ(back->finished_at, job.finished_at);
  ASSERT_TRUE(back->artifact.has_value());
  EXPECT_EQ(back->artifact->size_bytes, 1234u);
  EXPECT_EQ(back->artifact->tensor_count, 7u);
}

TEST_F(JobJournalTest, RoundTripsAttemptsAndACancelRequest) {
  Job job = MakeJob("j-2", JobState::kRunning);
  job.attempts = 2;
  job.cancel_requested = true;
  absl::StatusOr<Job> back = JobFromJson(JobToJson(job));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->attempts, 2u);
  EXPECT_TRUE(back->cancel_requested);
}

TEST_F(JobJournalTest, ReadsOutOfRangeNumbersWithoutOverflow) {
  absl::StatusOr<Job> job = JobFromJson(
      R"({"id":"j","kind":"quantize","state":"running","attempts":1e300,"error_code":-4})");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->attempts, UINT32_MAX);
  EXPECT_EQ(job->error_code, absl::StatusCode::kOk);
}

TEST_F(JobJournalTest, RoundTripsEvalTextAndQuality) {
  Job job = MakeJob("j-q", JobState::kSucceeded);
  job.spec.eval_text = "eval/wiki.txt";
  job.spec.eval_ctx = 256;
  job.spec.eval_chunks = 3;
  job.artifact = Artifact{"models/j-q.gguf", 10, "ab", "models/j-q.gguf.manifest.json", 7, 99};
  QuantizationQuality q;
  q.eval_text = "eval/wiki.txt";
  q.ctx = 256;
  q.chunks = 3;
  q.tokens_scored = 381;
  q.ppl_source = 12.5;
  q.ppl_source_error = 0.25;
  q.ppl_result = 12.75;
  q.ppl_result_error = 0.3;
  q.mean_kld = 0.0123;
  q.mean_kld_error = 0.0004;
  q.kld_p99 = 0.08;
  q.same_top_fraction = 0.97;
  job.artifact->quality = q;
  absl::StatusOr<Job> back = JobFromJson(JobToJson(job));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->spec.eval_text, "eval/wiki.txt");
  EXPECT_EQ(back->spec.eval_ctx, 256u);
  EXPECT_EQ(back->spec.eval_chunks, 3u);
  ASSERT_TRUE(back->artifact.has_value());
  ASSERT_TRUE(back->artifact->quality.has_value());
  const QuantizationQuality& b = *back->artifact->quality;
  EXPECT_EQ(b.eval_text, q.eval_text);
  EXPECT_EQ(b.ctx, q.ctx);
  EXPECT_EQ(b.chunks, q.chunks);
  EXPECT_EQ(b.tokens_scored, q.tokens_scored);
  EXPECT_DOUBLE_EQ(b.ppl_source, q.ppl_source);
  EXPECT_DOUBLE_EQ(b.ppl_result_error, q.ppl_result_error);
  EXPECT_DOUBLE_EQ(b.mean_kld, q.mean_kld);
  EXPECT_DOUBLE_EQ(b.kld_p99, q.kld_p99);
  EXPECT_DOUBLE_EQ(b.same_top_fraction, q.same_top_fraction);
  // A job without an evaluation has none after the round trip.
  Job plain = MakeJob("j-p", JobState::kSucceeded);
  plain.artifact = Artifact{"models/j-p.gguf", 10, "ab", "m", 7, 99};
  absl::StatusOr<Job> plain_back = JobFromJson(JobToJson(plain));
  ASSERT_TRUE(plain_back.ok());
  EXPECT_FALSE(plain_back->artifact->quality.has_value());
  EXPECT_TRUE(plain_back->spec.eval_text.empty());
}

TEST_F(JobJournalTest, RejectsMalformedRecords) {
  EXPECT_FALSE(JobFromJson("{not json").ok());
  EXPECT_FALSE(JobFromJson("{\"id\":\"j\",\"kind\":\"bake\",\"state\":\"queued\"}").ok());
}

TEST_F(JobJournalTest, WritesAndLoadsSkippingGarbage) {
  JobJournal journal(root_ / "jobs");
  ASSERT_TRUE(journal.Init().ok());
  ASSERT_TRUE(journal.Write(MakeJob("j-a", JobState::kQueued)).ok());
  ASSERT_TRUE(journal.Write(MakeJob("j-b", JobState::kFailed)).ok());
  std::ofstream(root_ / "jobs" / "broken.json") << "{";
  std::ofstream(root_ / "jobs" / ".j-c.json.tmp") << "{";
  ASSERT_TRUE(journal.Init().ok());
  EXPECT_FALSE(fs::exists(root_ / "jobs" / ".j-c.json.tmp"));
  std::vector<std::string> errors;
  std::vector<Job> jobs = journal.LoadAll(&errors);
  EXPECT_EQ(jobs.size(), 2u);
  EXPECT_EQ(errors.size(), 1u);
}

}  // namespace
}  // namespace rwkv::converter
