#include "services/converter/job_recovery.h"

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "services/converter/artifact.h"
#include "support/test_paths.h"
#include "unit/services/converter/job_fixtures.h"

namespace rwkv::converter {
namespace {

namespace fs = std::filesystem;

using testing::MakeJob;

class JobRecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = rwkv::testing::MakeTempDir("recovery");
    fs::create_directories(root_ / "models");
    fs::create_directories(root_ / "staging");
  }
  // Publishes models/<id>.gguf as job `publisher` would have, sidecars included.
  void Publish(const Job& job, const std::string& publisher,
               std::optional<QuantizationQuality> quality = std::nullopt) {
    const fs::path staged = root_ / "staging" / (job.id + ".gguf");
    std::ofstream(staged) << "artifact bytes of " << job.id;
    Job owner = job;
    owner.id = publisher;
    ASSERT_TRUE(PublishArtifact(owner, ExecuteResult{11, 0, 7, std::move(quality)}, 1.0,
                                root_ / "staging", staged, root_ / job.spec.output)
                    .ok());
  }
  RecoveryOutcome Recover(Job& job, uint32_t max_attempts = 3,
                          const std::string& verified_sha256 = "") {
    return RecoverJob(root_, job, absl::Now(), RecoveryOptions{max_attempts, verified_sha256});
  }
  fs::path root_;
};

TEST_F(JobRecoveryTest, InterruptedJobIsQueuedAgain) {
  Job job = MakeJob("j-run", JobState::kRunning);
  job.attempts = 1;
  job.started_at = absl::Now();
  job.progress.tensors_done = 3;
  const RecoveryOutcome outcome = Recover(job);
  EXPECT_TRUE(outcome.changed);
  EXPECT_NE(outcome.note.find("attempt 1 of 3"), std::string::npos) << outcome.note;
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_EQ(job.attempts, 1u);
  EXPECT_EQ(job.started_at, absl::InfinitePast());
  EXPECT_EQ(job.finished_at, absl::InfinitePast());
  EXPECT_EQ(job.progress.tensors_done, 0u);
  EXPECT_TRUE(job.error.empty());
}

TEST_F(JobRecoveryTest, JournalWithoutAttemptsCountsTheInterruptedRunAsOne) {
  Job job = MakeJob("j-old", JobState::kRunning);
  ASSERT_EQ(job.attempts, 0u);
  EXPECT_TRUE(Recover(job, 2).changed);
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_EQ(job.attempts, 1u);
}

TEST_F(JobRecoveryTest, JobInterruptedOnItsLastAttemptFails) {
  Job job = MakeJob("j-last", JobState::kRunning);
  job.attempts = 3;
  EXPECT_TRUE(Recover(job, 3).changed);
  EXPECT_EQ(job.state, JobState::kFailed);
  EXPECT_EQ(job.error_code, absl::StatusCode::kAborted);
  EXPECT_EQ(job.error,
            "interrupted by restart on attempt 3 of 3 (--max-job-attempts); not run again");
  EXPECT_NE(job.finished_at, absl::InfinitePast());

  Job once = MakeJob("j-once", JobState::kRunning);
  once.attempts = 1;
  Recover(once, 1);
  EXPECT_EQ(once.state, JobState::kFailed);
}

TEST_F(JobRecoveryTest, InterruptedJobWhoseCancelWasRequestedStaysCancelled) {
  Job job = MakeJob("j-cancel", JobState::kRunning);
  job.attempts = 1;
  job.cancel_requested = true;
  EXPECT_TRUE(Recover(job).changed);
  EXPECT_EQ(job.state, JobState::kCancelled);
  EXPECT_EQ(job.error_code, absl::StatusCode::kCancelled);
  EXPECT_EQ(job.error, "cancelled by client");
}

TEST_F(JobRecoveryTest, AdoptsTheArtifactTheJobPublishedBeforeTheCrash) {
  Job job = MakeJob("j-pub", JobState::kRunning);
  job.attempts = 3;  // adopting does not depend on attempts left
  Publish(job, job.id);
  EXPECT_TRUE(Recover(job).changed);
  ASSERT_EQ(job.state, JobState::kSucceeded) << job.error;
  ASSERT_TRUE(job.artifact.has_value());
  EXPECT_EQ(job.artifact->path, "models/j-pub.gguf");
  EXPECT_EQ(job.artifact->size_bytes, fs::file_size(root_ / "models/j-pub.gguf"));
  EXPECT_EQ(job.artifact->sha256.size(), 64u);
  EXPECT_EQ(job.artifact->tensor_count, 7u);
  EXPECT_EQ(job.artifact->input_bytes, 11u);
  EXPECT_EQ(job.artifact->manifest_path, "models/j-pub.gguf.manifest.json");
  EXPECT_TRUE(job.error.empty());
}

TEST_F(JobRecoveryTest, AdoptedArtifactKeepsItsQualityAndTheVerifiedChecksum) {
  QuantizationQuality quality;
  quality.eval_text = "eval/text.txt";
  quality.ctx = 128;
  quality.chunks = 2;
  quality.tokens_scored = 126;
  quality.ppl_source = 12.5;
  quality.ppl_result = 12.75;
  quality.mean_kld = 0.0125;
  quality.same_top_fraction = 0.875;
  Job job = MakeJob("j-q", JobState::kRunning);
  job.attempts = 1;
  Publish(job, job.id, quality);
  const fs::path artifact = root_ / "models/j-q.gguf";
  absl::StatusOr<std::string> sha = ReconcileSidecars(artifact, root_ / "staging");
  ASSERT_TRUE(sha.ok()) << sha.status();
  ASSERT_EQ(sha->size(), 64u);

  Job with_wrong_sha = job;
  Recover(with_wrong_sha, 3, std::string(64, '0'));
  EXPECT_EQ(with_wrong_sha.state, JobState::kQueued);

  Recover(job, 3, *sha);
  ASSERT_EQ(job.state, JobState::kSucceeded) << job.error;
  EXPECT_EQ(job.artifact->sha256, *sha);
  ASSERT_TRUE(job.artifact->quality.has_value());
  EXPECT_EQ(job.artifact->quality->eval_text, "eval/text.txt");
  EXPECT_EQ(job.artifact->quality->tokens_scored, 126u);
  EXPECT_DOUBLE_EQ(job.artifact->quality->ppl_result, 12.75);
  EXPECT_DOUBLE_EQ(job.artifact->quality->mean_kld, 0.0125);
  EXPECT_DOUBLE_EQ(job.artifact->quality->same_top_fraction, 0.875);
}

TEST_F(JobRecoveryTest, DoesNotAdoptAnotherJobsArtifact) {
  Job job = MakeJob("j-over", JobState::kRunning);
  job.spec.overwrite = true;
  job.attempts = 1;
  Publish(job, "j-earlier");
  Recover(job);
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_FALSE(job.artifact.has_value());
}

TEST_F(JobRecoveryTest, DoesNotAdoptAnArtifactWhoseSidecarsDoNotMatch) {
  Job job = MakeJob("j-half", JobState::kRunning);
  job.attempts = 1;
  Publish(job, job.id);
  std::ofstream(root_ / "models/j-half.gguf", std::ios::app) << "more";
  Recover(job);
  EXPECT_EQ(job.state, JobState::kQueued);

  fs::remove(root_ / "models/j-half.gguf.manifest.json");
  Job again = MakeJob("j-half", JobState::kRunning);
  Recover(again);
  EXPECT_EQ(again.state, JobState::kQueued);
}

TEST_F(JobRecoveryTest, KeepsQueuedAndFinishedJobs) {
  for (JobState state : {JobState::kQueued, JobState::kFailed, JobState::kCancelled}) {
    Job job = MakeJob("j-x", state);
    EXPECT_FALSE(Recover(job).changed);
    EXPECT_EQ(job.state, state);
  }
}

TEST_F(JobRecoveryTest, KeepsSucceededJobWithItsArtifact) {
  std::ofstream(root_ / "models" / "ok.gguf") << "12345";
  Job job = MakeJob("ok", JobState::kSucceeded);
  job.artifact = Artifact{"models/ok.gguf", 5, "", "", 0, 0};
  EXPECT_FALSE(Recover(job).changed);
  EXPECT_EQ(job.state, JobState::kSucceeded);
}

TEST_F(JobRecoveryTest, NeverReportsSuccessForMissingOrWrongArtifact) {
  Job missing = MakeJob("gone", JobState::kSucceeded);
  missing.artifact = Artifact{"models/gone.gguf", 5, "", "", 0, 0};
  EXPECT_TRUE(Recover(missing).changed);
  EXPECT_EQ(missing.state, JobState::kFailed);
  EXPECT_FALSE(missing.artifact.has_value());

  std::ofstream(root_ / "models" / "short.gguf") << "12";
  Job truncated = MakeJob("short", JobState::kSucceeded);
  truncated.artifact = Artifact{"models/short.gguf", 5, "", "", 0, 0};
  EXPECT_TRUE(Recover(truncated).changed);
  EXPECT_EQ(truncated.state, JobState::kFailed);
}

}  // namespace
}  // namespace rwkv::converter
