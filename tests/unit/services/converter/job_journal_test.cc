#include "services/converter/job_journal.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "support/test_paths.h"

namespace rwkv::converter {
namespace {

namespace fs = std::filesystem;

Job MakeJob(const std::string& id, JobState state) {
  Job job;
  job.id = id;
  job.spec.kind = JobKind::kQuantize;
  job.spec.input = "models/in.gguf";
  job.spec.output = "models/" + id + ".gguf";
  job.spec.quant_type = "Q8_0";
  job.state = state;
  job.created_at = absl::FromUnixSeconds(1700000000);
  return job;
}

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
