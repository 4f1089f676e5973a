#include "services/converter/job_runner.h"

#include <filesystem>
#include <fstream>
#include <functional>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "services/converter/artifact.h"
#include "support/test_paths.h"

namespace rwkv::converter {
namespace {

namespace fs = std::filesystem;

// Writes `tensors` chunks of 16 bytes; waits on `gate` (when set) before finishing so tests
// can observe a running job, and honours the cancel flag between chunks.
class FakeExecutor final : public JobExecutor {
 public:
  absl::Status ValidateParams(const JobSpec& spec) const override {
    if (on_validate) on_validate();
    if (spec.kind == JobKind::kQuantize && spec.quant_type != "Q8_0") {
      return absl::InvalidArgumentError("unknown quant type");
    }
    return absl::OkStatus();
  }
  absl::StatusOr<ExecuteResult> Execute(const JobSpec&, const JobPaths&, const fs::path& tmp_output,
                                        const engine::JobControl& control) override {
    if (!started.HasBeenNotified()) started.Notify();
    std::ofstream out(tmp_output, std::ios::binary);
    for (int i = 0; i < tensors; ++i) {
      out << std::string(16, 'a' + i % 26);
      out.flush();
      control.Report(
          {uint64_t(i + 1), uint64_t(tensors), uint64_t(16 * (i + 1)), uint64_t(16 * tensors)});
      if (i == 0 && gate != nullptr) {
        while (!gate->HasBeenNotified() && !control.cancelled()) {
          absl::SleepFor(absl::Milliseconds(2));
        }
      }
      if (control.cancelled()) return absl::CancelledError("cancelled");
    }
    return ExecuteResult{1, uint64_t(16 * tensors), uint64_t(tensors)};
  }
  int tensors = 4;
  std::function<void()> on_validate;  // runs inside Submit, between its locked sections
  absl::Notification* gate = nullptr;
  absl::Notification started;
};

class JobRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = rwkv::testing::MakeTempDir("runner");
    for (const char* dir : {"models", "checkpoints", "states"}) fs::create_directories(root_ / dir);
    std::ofstream(root_ / "checkpoints" / "s.pth") << "x";
  }
  std::unique_ptr<JobRunner> MakeRunner(int max_jobs, int max_queue, uint32_t max_attempts = 3) {
    RunnerOptions options{root_, max_jobs, max_queue, 0};
    options.max_job_attempts = max_attempts;
    auto runner = std::make_unique<JobRunner>(options, executor_, metrics_);
    EXPECT_TRUE(runner->Start().ok());
    return runner;
  }
  static JobSpec StateJob(const std::string& name) {
    return {JobKind::kConvertState, "checkpoints/s.pth", "states/" + name + ".bin"};
  }
  static Job WaitDone(JobStore& store, const std::string& id) {
    for (int i = 0; i < 2000; ++i) {
      absl::StatusOr<Job> job = store.Get(id);
      if (job.ok() && IsTerminal(job->state)) return *job;
      absl::SleepFor(absl::Milliseconds(5));
    }
    ADD_FAILURE() << "job " << id << " did not finish";
    return {};
  }
  fs::path root_;
  FakeExecutor executor_;
  prometheus::Registry registry_;
  ConverterMetrics metrics_{registry_};
};

TEST_F(JobRunnerTest, PublishesArtifactWithSidecars) {
  auto runner = MakeRunner(1, 4);
  absl::StatusOr<Job> job = runner->Submit(StateJob("a"));
  ASSERT_TRUE(job.ok()) << job.status();
  Job done = WaitDone(*runner, job->id);
  ASSERT_EQ(done.state, JobState::kSucceeded) << done.error;
  ASSERT_TRUE(done.artifact.has_value());
  EXPECT_EQ(done.artifact->size_bytes, 64u);
  EXPECT_EQ(done.artifact->sha256.size(), 64u);
  EXPECT_EQ(fs::file_size(root_ / "states" / "a.bin"), 64u);
  EXPECT_TRUE(fs::exists(root_ / "states" / "a.bin.sha256"));
  EXPECT_TRUE(fs::exists(root_ / "states" / "a.bin.manifest.json"));
  EXPECT_TRUE(fs::exists(root_ / "jobs" / (job->id + ".json")));
  EXPECT_TRUE(fs::is_empty(root_ / ".tmp" / "converter"));
}

TEST_F(JobRunnerTest, RejectsWhenQueueIsFull) {
  absl::Notification gate;
  executor_.gate = &gate;
  auto runner = MakeRunner(1, 1);
  ASSERT_TRUE(runner->Submit(StateJob("a")).ok());
  executor_.started.WaitForNotification();
  ASSERT_TRUE(runner->Submit(StateJob("b")).ok());
  EXPECT_EQ(runner->Submit(StateJob("c")).status().code(), absl::StatusCode::kResourceExhausted);
  gate.Notify();
}

TEST_F(JobRunnerTest, RejectsSecondJobForSameOutput) {
  absl::Notification gate;
  executor_.gate = &gate;
  auto runner = MakeRunner(1, 4);
  ASSERT_TRUE(runner->Submit(StateJob("a")).ok());
  EXPECT_EQ(runner->Submit(StateJob("a")).status().code(), absl::StatusCode::kAlreadyExists);
  gate.Notify();
}

TEST_F(JobRunnerTest, RejectsSecondJobForSameOutputThroughASymlinkedFolder) {
  absl::Notification gate;
  executor_.gate = &gate;
  fs::create_directories(root_ / "states" / "real");
  fs::create_directory_symlink("real", root_ / "states" / "alias");
  auto runner = MakeRunner(1, 4);
  ASSERT_TRUE(runner->Submit(StateJob("real/a")).ok());
  EXPECT_EQ(runner->Submit(StateJob("alias/a")).status().code(), absl::StatusCode::kAlreadyExists);
  gate.Notify();
}

TEST_F(JobRunnerTest, CancelsRunningAndQueuedJobs) {
  absl::Notification gate;
  executor_.gate = &gate;
  auto runner = MakeRunner(1, 4);
  absl::StatusOr<Job> running = runner->Submit(StateJob("a"));
  absl::StatusOr<Job> queued = runner->Submit(StateJob("b"));
  ASSERT_TRUE(running.ok() && queued.ok());
  executor_.started.WaitForNotification();
  absl::StatusOr<Job> c = runner->Cancel(queued->id);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->state, JobState::kCancelled);
  c = runner->Cancel(running->id);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->cancel_requested);
  Job done = WaitDone(*runner, running->id);
  EXPECT_EQ(done.state, JobState::kCancelled);
  EXPECT_FALSE(fs::exists(root_ / "states" / "a.bin"));
  EXPECT_TRUE(fs::is_empty(root_ / ".tmp" / "converter"));
  EXPECT_EQ(runner->Cancel(running->id).status().code(), absl::StatusCode::kOk);
  EXPECT_EQ(runner->Cancel("j-none").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(JobRunnerTest, WatchDeliversSnapshotsUntilFinalState) {
  auto runner = MakeRunner(1, 4);
  absl::Notification gate;
  executor_.gate = &gate;
  absl::StatusOr<Job> job = runner->Submit(StateJob("w"));
  ASSERT_TRUE(job.ok());
  absl::Mutex mu;
  std::vector<JobState> seen;
  absl::StatusOr<WatchId> watch = runner->Watch(job->id, [&](const absl::StatusOr<Job>& u) {
    absl::MutexLock lock(&mu);
    if (u.ok()) seen.push_back(u->state);
  });
  ASSERT_TRUE(watch.ok());
  gate.Notify();
  WaitDone(*runner, job->id);
  {
    absl::MutexLock lock(&mu);
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.back(), JobState::kSucceeded);
  }
  EXPECT_EQ(runner->Watch("j-none", [](const absl::StatusOr<Job>&) {}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(JobRunnerTest, RestartRerunsInterruptedJobThenTheQueuedOne) {
  Job running;
  running.id = "j-running";
  running.spec = StateJob("r");
  running.state = JobState::kRunning;
  running.attempts = 1;
  running.started_at = absl::Now() - absl::Seconds(1);
  running.created_at = absl::Now() - absl::Seconds(2);
  Job queued = running;
  queued.id = "j-queued";
  queued.spec = StateJob("q");
  queued.state = JobState::kQueued;
  queued.attempts = 0;
  queued.created_at = running.created_at + absl::Seconds(1);
  JobJournal journal(root_ / "jobs");
  ASSERT_TRUE(journal.Init().ok());
  ASSERT_TRUE(journal.Write(running).ok());
  ASSERT_TRUE(journal.Write(queued).ok());
  fs::create_directories(root_ / ".tmp" / "converter" / "j-running");
  std::ofstream(root_ / ".tmp" / "converter" / "j-running" / "r.bin") << "partial";

  auto runner = MakeRunner(1, 4);
  const Job rerun = WaitDone(*runner, "j-running");
  EXPECT_EQ(rerun.state, JobState::kSucceeded) << rerun.error;
  EXPECT_EQ(rerun.attempts, 2u);
  EXPECT_EQ(fs::file_size(root_ / "states" / "r.bin"), 64u);
  EXPECT_TRUE(SidecarsMatch(root_ / "states" / "r.bin"));
  const Job after = WaitDone(*runner, "j-queued");
  EXPECT_EQ(after.state, JobState::kSucceeded);
  EXPECT_EQ(after.attempts, 1u);
  EXPECT_LE(rerun.finished_at, after.started_at);
  EXPECT_TRUE(fs::is_empty(root_ / ".tmp" / "converter"));
  // The journal holds the final records.
  std::vector<std::string> errors;
  for (const Job& j : journal.LoadAll(&errors)) EXPECT_EQ(j.state, JobState::kSucceeded) << j.id;
  EXPECT_TRUE(errors.empty());
}

TEST_F(JobRunnerTest, RestartFailsJobInterruptedOnItsLastAttempt) {
  Job running;
  running.id = "j-tired";
  running.spec = StateJob("t");
  running.state = JobState::kRunning;
  running.attempts = 2;
  running.created_at = absl::Now();
  JobJournal journal(root_ / "jobs");
  ASSERT_TRUE(journal.Init().ok());
  ASSERT_TRUE(journal.Write(running).ok());
  auto runner = MakeRunner(1, 4, /*max_attempts=*/2);
  absl::StatusOr<Job> job = runner->Get("j-tired");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state, JobState::kFailed);
  EXPECT_EQ(job->error_code, absl::StatusCode::kAborted);
  EXPECT_NE(job->error.find("--max-job-attempts"), std::string::npos) << job->error;
  EXPECT_FALSE(fs::exists(root_ / "states" / "t.bin"));
  std::vector<Job> journaled = journal.LoadAll(nullptr);
  ASSERT_EQ(journaled.size(), 1u);
  EXPECT_EQ(journaled[0].state, JobState::kFailed);
}

TEST_F(JobRunnerTest, RestartKeepsACancelRequestedBeforeTheCrash) {
  absl::Notification gate;
  executor_.gate = &gate;
  std::string id;
  {
    auto runner = MakeRunner(1, 4);
    absl::StatusOr<Job> job = runner->Submit(StateJob("c"));
    ASSERT_TRUE(job.ok());
    id = job->id;
    executor_.started.WaitForNotification();
    ASSERT_TRUE(runner->Cancel(id).ok());
    // The journal already says so: a crash now must not run the job again.
    std::vector<Job> journaled = JobJournal(root_ / "jobs").LoadAll(nullptr);
    ASSERT_EQ(journaled.size(), 1u);
    EXPECT_TRUE(journaled[0].cancel_requested);
  }
  // Simulate the crash: the record says running with the cancel requested.
  JobJournal journal(root_ / "jobs");
  Job record = journal.LoadAll(nullptr)[0];
  record.state = JobState::kRunning;
  record.cancel_requested = true;
  ASSERT_TRUE(journal.Write(record).ok());
  auto runner = MakeRunner(1, 4);
  EXPECT_EQ(runner->Get(id)->state, JobState::kCancelled);
  EXPECT_FALSE(fs::exists(root_ / "states" / "c.bin"));
}

TEST_F(JobRunnerTest, RestartAdoptsAnArtifactPublishedBeforeTheCrash) {
  std::string id;
  {
    auto runner = MakeRunner(1, 4);
    absl::StatusOr<Job> job = runner->Submit(StateJob("p"));
    ASSERT_TRUE(job.ok());
    id = job->id;
    ASSERT_EQ(WaitDone(*runner, id).state, JobState::kSucceeded);
  }
  // The crash came after the renames but before the journal said succeeded.
  JobJournal journal(root_ / "jobs");
  Job record = journal.LoadAll(nullptr)[0];
  const Artifact published = *record.artifact;
  record.state = JobState::kRunning;
  record.artifact.reset();
  record.finished_at = absl::InfinitePast();
  ASSERT_TRUE(journal.Write(record).ok());
  const auto mtime = fs::last_write_time(root_ / "states" / "p.bin");

  auto runner = MakeRunner(1, 4);
  absl::StatusOr<Job> job = runner->Get(id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state, JobState::kSucceeded) << job->error;
  ASSERT_TRUE(job->artifact.has_value());
  EXPECT_EQ(job->artifact->sha256, published.sha256);
  EXPECT_EQ(job->artifact->size_bytes, published.size_bytes);
  EXPECT_EQ(job->artifact->tensor_count, published.tensor_count);
  EXPECT_EQ(fs::last_write_time(root_ / "states" / "p.bin"), mtime) << "the job ran again";
  EXPECT_EQ(journal.LoadAll(nullptr)[0].state, JobState::kSucceeded);
}

TEST_F(JobRunnerTest, RestartAdoptsAnArtifactWhoseSidecarsWereStillStaged) {
  std::string id;
  {
    auto runner = MakeRunner(1, 4);
    absl::StatusOr<Job> job = runner->Submit(StateJob("s"));
    ASSERT_TRUE(job.ok());
    id = job->id;
    ASSERT_EQ(WaitDone(*runner, id).state, JobState::kSucceeded);
  }
  // The crash came after the artifact's rename, before its sidecars': they are still staged
  // in the job's temporary folder.
  const fs::path staged = root_ / ".tmp" / "converter" / id;
  fs::create_directories(staged);
  fs::rename(root_ / "states" / "s.bin.sha256", staged / "s.bin.sha256");
  fs::rename(root_ / "states" / "s.bin.manifest.json", staged / "s.bin.manifest.json");
  JobJournal journal(root_ / "jobs");
  Job record = journal.LoadAll(nullptr)[0];
  record.state = JobState::kRunning;
  record.artifact.reset();
  ASSERT_TRUE(journal.Write(record).ok());

  auto runner = MakeRunner(1, 4);
  absl::StatusOr<Job> job = runner->Get(id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state, JobState::kSucceeded) << job->error;
  EXPECT_EQ(job->attempts, 1u);
  EXPECT_TRUE(SidecarsMatch(root_ / "states" / "s.bin"));
  EXPECT_TRUE(fs::is_empty(root_ / ".tmp" / "converter"));
}

TEST_F(JobRunnerTest, RestartRemovesSidecarsThatDoNotMatchTheInterruptedJobsArtifact) {
  // A first job publishes states/p.bin; a second one (overwrite) was interrupted after
  // replacing the artifact but before its sidecars.
  {
    auto runner = MakeRunner(1, 4);
    absl::StatusOr<Job> job = runner->Submit(StateJob("p"));
    ASSERT_TRUE(job.ok());
    ASSERT_EQ(WaitDone(*runner, job->id).state, JobState::kSucceeded);
  }
  Job interrupted;
  interrupted.id = "j-interrupted";
  interrupted.spec = StateJob("p");
  interrupted.spec.overwrite = true;
  interrupted.state = JobState::kRunning;
  interrupted.created_at = absl::Now();
  JobJournal journal(root_ / "jobs");
  ASSERT_TRUE(journal.Write(interrupted).ok());
  std::ofstream(root_ / "states" / "p.bin", std::ios::trunc) << "the newer artifact";

  // On its last attempt, so that it is not run again and the sidecars are all that changes.
  auto runner = MakeRunner(1, 4, /*max_attempts=*/1);
  EXPECT_EQ(runner->Get("j-interrupted")->state, JobState::kFailed);
  EXPECT_TRUE(fs::exists(root_ / "states" / "p.bin"));
  EXPECT_FALSE(fs::exists(root_ / "states" / "p.bin.sha256"));
  EXPECT_FALSE(fs::exists(root_ / "states" / "p.bin.manifest.json"));
}

TEST_F(JobRunnerTest, DrainRejectsSubmissionsAndRequeuesTheRunningJobAtDeadline) {
  absl::Notification gate;
  executor_.gate = &gate;
  std::string id;
  {
    auto runner = MakeRunner(1, 4);
    absl::StatusOr<Job> job = runner->Submit(StateJob("d"));
    ASSERT_TRUE(job.ok());
    id = job->id;
    executor_.started.WaitForNotification();
    runner->Drain(absl::Now() + absl::Milliseconds(50));
    absl::StatusOr<Job> drained = runner->Get(id);
    ASSERT_TRUE(drained.ok());
    EXPECT_EQ(drained->state, JobState::kQueued);
    EXPECT_EQ(drained->attempts, 0u);
    EXPECT_EQ(drained->started_at, absl::InfinitePast());
    EXPECT_EQ(runner->Submit(StateJob("e")).status().code(), absl::StatusCode::kUnavailable);
    EXPECT_FALSE(fs::exists(root_ / "states" / "d.bin"));
    EXPECT_TRUE(fs::is_empty(root_ / ".tmp" / "converter"));
    std::vector<Job> journaled = JobJournal(root_ / "jobs").LoadAll(nullptr);
    ASSERT_EQ(journaled.size(), 1u);
    EXPECT_EQ(journaled[0].state, JobState::kQueued);
  }
  gate.Notify();
  auto runner = MakeRunner(1, 4);
  const Job done = WaitDone(*runner, id);
  EXPECT_EQ(done.state, JobState::kSucceeded) << done.error;
  EXPECT_EQ(done.attempts, 1u);
}

TEST_F(JobRunnerTest, DrainEndsAJobWhoseCancelWasRequestedAsCancelled) {
  absl::Notification gate;
  executor_.gate = &gate;
  auto runner = MakeRunner(1, 4);
  absl::StatusOr<Job> job = runner->Submit(StateJob("d"));
  ASSERT_TRUE(job.ok());
  executor_.started.WaitForNotification();
  // Whether the job stops before the drain or during it, it ends cancelled, not queued.
  ASSERT_TRUE(runner->Cancel(job->id).ok());
  runner->Drain(absl::Now() + absl::Milliseconds(50));
  EXPECT_EQ(runner->Get(job->id)->state, JobState::kCancelled);
}

TEST_F(JobRunnerTest, SubmitRacingDrainIsRefused) {
  auto runner = MakeRunner(1, 4);
  // The drain starts while Submit validates the spec outside the runner's lock.
  executor_.on_validate = [&runner] { runner->Drain(absl::Now()); };
  absl::StatusOr<Job> job = runner->Submit(StateJob("late"));
  EXPECT_EQ(job.status().code(), absl::StatusCode::kUnavailable) << job.status();
  EXPECT_TRUE(runner->List({}).empty());
}

TEST_F(JobRunnerTest, RejectsUnknownQuantTypeThroughExecutor) {
  auto runner = MakeRunner(1, 4);
  std::ofstream(root_ / "models" / "m.gguf") << "x";
  JobSpec spec{JobKind::kQuantize, "models/m.gguf", "models/q.gguf", "", "", "Q9_9"};
  EXPECT_EQ(runner->Submit(spec).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace rwkv::converter

namespace rwkv::converter {
namespace {

class JobHistoryTest : public JobRunnerTest {};

TEST_F(JobHistoryTest, ForgetsTheOldestFinishedJobsBeyondTheLimit) {
  std::vector<std::string> ids;
  {
    JobRunner runner(RunnerOptions{root_, 1, 16, 0, 2}, executor_, metrics_);
    ASSERT_TRUE(runner.Start().ok());
    for (int i = 0; i < 4; ++i) {
      absl::StatusOr<Job> job = runner.Submit(StateJob("h" + std::to_string(i)));
      ASSERT_TRUE(job.ok()) << job.status();
      ids.push_back(job->id);
      WaitDone(runner, job->id);
    }
    EXPECT_EQ(runner.Get(ids[0]).status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(runner.Get(ids[1]).status().code(), absl::StatusCode::kNotFound);
    EXPECT_TRUE(runner.Get(ids[2]).ok());
    EXPECT_TRUE(runner.Get(ids[3]).ok());
    EXPECT_EQ(runner.List({}).size(), 2u);
    runner.Drain(absl::Now());
  }
  size_t journal_files = 0;
  for (const auto& f : fs::directory_iterator(root_ / "jobs")) {
    if (f.path().extension() == ".json") ++journal_files;
  }
  EXPECT_EQ(journal_files, 2u);
  // Artifacts stay: history is about job records, not outputs.
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(fs::exists(root_ / "states" / ("h" + std::to_string(i) + ".bin")));
  }
  // A restart with a smaller limit trims the journal it reads.
  JobRunner again(RunnerOptions{root_, 1, 16, 0, 1}, executor_, metrics_);
  ASSERT_TRUE(again.Start().ok());
  EXPECT_EQ(again.List({}).size(), 1u);
  EXPECT_TRUE(again.Get(ids[3]).ok());
  again.Drain(absl::Now());
}

}  // namespace
}  // namespace rwkv::converter
