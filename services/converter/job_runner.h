// JobRunner: the converter's JobStore. Keeps every job in memory and in the journal, runs at
// most max_concurrent_jobs at a time on its own threads, and holds at most max_queue more
// waiting. Outputs are written under <root>/.tmp/converter/<job id>/ and published with
// PublishArtifact. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "services/converter/job_executor.h"
#include "services/converter/job_journal.h"
#include "services/converter/job_store.h"
#include "services/converter/metrics.h"

namespace rwkv::converter {

struct RunnerOptions {
  std::filesystem::path root;  // storage root, must exist
  int max_concurrent_jobs = 1;
  int max_queue = 16;  // waiting jobs beyond the running ones
  // Output write budget per job in bytes per second (protects shared storage); 0 = unlimited.
  double write_bytes_per_second = 0;
  // Finished jobs kept (in memory and in the journal); the oldest beyond this are forgotten
  // (Get answers NotFound). 0 = keep all.
  int max_finished_jobs = 1000;
  // Starts a job gets when restarts interrupt it (see RecoverJob); >= 1.
  uint32_t max_job_attempts = 3;
};

class JobRunner final : public JobStore {
 public:
  JobRunner(RunnerOptions options, JobExecutor& executor, ConverterMetrics& metrics);
  ~JobRunner() override;

  // Reads the journal, repairs the sidecars of outputs that interrupted jobs were publishing
  // (ReconcileSidecars), applies RecoverJob (an interrupted job is adopted when it had
  // published its artifact, else queued again until max_job_attempts), then the history
  // limit, removes .tmp/converter/, queues the queued jobs and starts the worker threads.
  // InvalidArgument / NotFound for a bad root.
  absl::Status Start();

  // Graceful stop: Submit returns Unavailable, queued jobs stay queued (journaled, re-run on
  // the next start), running jobs may finish until `deadline` and are then stopped and
  // journaled as queued again, without counting the attempt (a job whose cancel a client had
  // requested ends cancelled); watches end with Unavailable. Returns when the worker threads are
  // gone. Idempotent.
  void Drain(absl::Time deadline);

  absl::StatusOr<Job> Submit(JobSpec spec) override;
  absl::StatusOr<Job> Get(const std::string& id) const override;
  std::vector<Job> List(const ListFilter& filter) const override;
  absl::StatusOr<Job> Cancel(const std::string& id) override;
  absl::StatusOr<WatchId> Watch(const std::string& id, WatchFn fn) override;
  void Unwatch(WatchId id) override;

 private:
  struct Entry {
    Job job;
    std::filesystem::path output_path;  // resolved; set while the job is queued or running
    std::atomic<bool> cancel{false};
    std::string cancel_reason;
    bool requeue = false;  // stopped by a drain: back to queued rather than cancelled
    absl::Time last_notify = absl::InfinitePast();
  };
  struct Subscription {
    std::string job_id;
    WatchFn fn;
  };

  void WorkerLoop();
  void RunJob(Entry& entry, const std::string& id, const JobSpec& spec, absl::Time started);
  void OnProgress(Entry& entry, const engine::JobProgress& p);
  void Throttle(const Entry& entry, uint64_t bytes_done, absl::Time started) const;
  void Finish(Entry& entry, const absl::Status& status, std::optional<Artifact> artifact)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Journals, counts and publishes a state change of `entry`.
  void CommitLocked(Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NotifyLocked(const Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateGaugesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets the oldest finished jobs beyond max_finished_jobs, never `keep`.
  void TrimHistoryLocked(const Entry* keep) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RunnerOptions options_;
  JobExecutor& executor_;
  ConverterMetrics& metrics_;
  // Set by Start: the canonical root, <root>/.tmp/converter and the journal in <root>/jobs.
  std::filesystem::path root_;
  std::filesystem::path tmp_root_;
  JobJournal journal_{""};

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> jobs_ ABSL_GUARDED_BY(mu_);
  std::deque<Entry*> queue_ ABSL_GUARDED_BY(mu_);
  size_t running_ ABSL_GUARDED_BY(mu_) = 0;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  WatchId next_watch_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<WatchId, Subscription> watches_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> workers_;
  bool started_ = false;
  bool drained_ = false;
};

}  // namespace rwkv::converter
