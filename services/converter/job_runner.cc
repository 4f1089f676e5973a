#include "services/converter/job_runner.h"

#include <algorithm>
#include <string>
#include <system_error>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/common/log.h"
#include "services/common/storage_path.h"
#include "services/converter/artifact.h"
#include "services/converter/job_recovery.h"

namespace rwkv::converter {
namespace {

constexpr absl::Duration kProgressNotifyInterval = absl::Milliseconds(100);

}  // namespace

JobRunner::JobRunner(RunnerOptions options, JobExecutor& executor, ConverterMetrics& metrics)
    : options_(std::move(options)), executor_(executor), metrics_(metrics) {}

JobRunner::~JobRunner() { Drain(absl::Now()); }

absl::Status JobRunner::Start() {
  absl::StatusOr<std::filesystem::path> root = services::CanonicalStorageRoot(options_.root);
  if (!root.ok()) return root.status();
  root_ = *root;
  tmp_root_ = root_ / ".tmp" / "converter";
  journal_ = JobJournal(root_ / "jobs");
  if (absl::Status s = journal_.Init(); !s.ok()) return s;
  std::vector<std::string> errors;
  std::vector<Job> jobs = journal_.LoadAll(&errors);
  for (const std::string& e : errors) services::LogLine(absl::StrCat("journal: skipping ", e));
  // A job that was running may have stopped between publishing its artifact and its
  // sidecars; its temporary folder may still hold the staged sidecars.
  // What it verifies is kept, so recovery does not hash the artifact a second time.
  std::unordered_map<std::string, std::string> verified_sha256;
  for (const Job& job : jobs) {
    if (job.state != JobState::kRunning) continue;
    absl::StatusOr<JobPaths> paths = ResolveJobPaths(root_, job.spec);
    if (!paths.ok()) continue;
    absl::StatusOr<std::string> sha = ReconcileSidecars(paths->output, tmp_root_ / job.id);
    if (!sha.ok()) {
      services::LogLine(absl::StrCat("job ", job.id, ": ", sha.status().message()));
    } else if (!sha->empty()) {
      verified_sha256[job.id] = *std::move(sha);
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(tmp_root_, ec);
  std::filesystem::create_directories(tmp_root_, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create ", tmp_root_.string(), ": ", ec.message()));
  }
  std::sort(jobs.begin(), jobs.end(),
            [](const Job& a, const Job& b) { return a.created_at < b.created_at; });
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  for (Job& job : jobs) {
    auto verified = verified_sha256.find(job.id);
    const RecoveryOutcome outcome =
        RecoverJob(root_, job, now,
                   RecoveryOptions{options_.max_job_attempts,
                                   verified == verified_sha256.end() ? "" : verified->second});
    if (outcome.changed) {
      services::LogLine(absl::StrCat("job ", job.id, ": ", outcome.note));
      if (absl::Status s = journal_.Write(job); !s.ok()) services::LogLine(s.ToString());
      metrics_.JobEntered(job.spec.kind, job.state);
    }
    auto entry = std::make_unique<Entry>();
    entry->job = std::move(job);
    if (entry->job.state == JobState::kQueued) {
      absl::StatusOr<JobPaths> paths = ResolveJobPaths(root_, entry->job.spec);
      if (paths.ok()) entry->output_path = paths->output;
      queue_.push_back(entry.get());
    }
    jobs_[entry->job.id] = std::move(entry);
  }
  TrimHistoryLocked(nullptr);
  UpdateGaugesLocked();
  started_ = true;
  for (int i = 0; i < std::max(1, options_.max_concurrent_jobs); ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
  return absl::OkStatus();
}

void JobRunner::Drain(absl::Time deadline) {
  if (drained_) return;
  drained_ = true;
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return running_ == 0; };
    mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
    if (running_ > 0) {
      for (auto& [id, entry] : jobs_) {
        if (entry->job.state != JobState::kRunning) continue;
        if (!entry->job.cancel_requested) {
          entry->cancel_reason = "cancelled by shutdown";
          entry->requeue = true;
        }
        entry->cancel.store(true);
      }
      mu_.Await(absl::Condition(&idle));
    }
    stopping_ = true;
    for (auto& [id, watch] : watches_) {
      watch.fn(absl::UnavailableError("converter is shutting down"));
    }
    watches_.clear();
  }
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

absl::StatusOr<Job> JobRunner::Submit(JobSpec spec) {
  {
    absl::MutexLock lock(&mu_);
    if (draining_ || !started_) {
      metrics_.SubmissionRejected("draining");
      return absl::UnavailableError("converter is shutting down; submit to another instance");
    }
  }
  absl::Status valid = executor_.ValidateParams(spec);
  absl::StatusOr<JobPaths> paths =
      valid.ok() ? PrepareJobSpec(root_, spec) : absl::StatusOr<JobPaths>(valid);
  if (!paths.ok()) {
    metrics_.SubmissionRejected("invalid");
    return paths.status();
  }
  absl::MutexLock lock(&mu_);
  // Checked again: a drain may have begun while the spec was checked outside the lock.
  if (draining_) {
    metrics_.SubmissionRejected("draining");
    return absl::UnavailableError("converter is shutting down; submit to another instance");
  }
  size_t active = 0;
  for (const auto& [id, entry] : jobs_) {
    if (IsTerminal(entry->job.state)) continue;
    ++active;
    // Resolved paths: two names may reach one file through a symlinked folder.
    if (entry->output_path == paths->output) {
      metrics_.SubmissionRejected("invalid");
      return absl::AlreadyExistsError(
          absl::StrCat("output ", spec.output, " is already being written by job ", id));
    }
  }
  const size_t capacity = static_cast<size_t>(std::max(1, options_.max_concurrent_jobs)) +
                          static_cast<size_t>(std::max(0, options_.max_queue));
  if (active >= capacity) {
    metrics_.SubmissionRejected("queue_full");
    return absl::ResourceExhaustedError(absl::StrCat(
        "job queue is full (", active, " jobs queued or running, limit ", capacity, ")"));
  }
  auto entry = std::make_unique<Entry>();
  do {
    entry->job.id = NewJobId();
  } while (jobs_.count(entry->job.id) != 0);
  entry->job.spec = std::move(spec);
  entry->output_path = paths->output;
  entry->job.state = JobState::kQueued;
  entry->job.created_at = absl::Now();
  if (absl::Status s = journal_.Write(entry->job); !s.ok()) return s;
  Entry* raw = entry.get();
  jobs_[raw->job.id] = std::move(entry);
  queue_.push_back(raw);
  metrics_.JobEntered(raw->job.spec.kind, JobState::kQueued);
  UpdateGaugesLocked();
  return raw->job;
}

absl::StatusOr<Job> JobRunner::Get(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("job ", id, " not found"));
  return it->second->job;
}

std::vector<Job> JobRunner::List(const ListFilter& filter) const {
  std::vector<Job> out;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, entry] : jobs_) {
      const Job& job = entry->job;
      if (filter.kind.has_value() && job.spec.kind != *filter.kind) continue;
      if (!filter.states.empty() &&
          std::find(filter.states.begin(), filter.states.end(), job.state) == filter.states.end()) {
        continue;
      }
      out.push_back(job);
    }
  }
  std::sort(out.begin(), out.end(), [](const Job& a, const Job& b) {
    return a.created_at != b.created_at ? a.created_at > b.created_at : a.id > b.id;
  });
  if (out.size() > filter.limit) out.resize(filter.limit);
  return out;
}

absl::StatusOr<Job> JobRunner::Cancel(const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("job ", id, " not found"));
  Entry& entry = *it->second;
  switch (entry.job.state) {
    case JobState::kCancelled:
      return entry.job;
    case JobState::kSucceeded:
    case JobState::kFailed:
      return absl::FailedPreconditionError(
          absl::StrCat("job ", id, " already ", StateName(entry.job.state)));
    case JobState::kQueued:
      queue_.erase(std::find(queue_.begin(), queue_.end(), &entry));
      entry.job.state = JobState::kCancelled;
      entry.job.error = "cancelled by client";
      entry.job.error_code = absl::StatusCode::kCancelled;
      entry.job.cancel_requested = true;
      entry.job.finished_at = absl::Now();
      CommitLocked(entry);
      return entry.job;
    case JobState::kRunning:
      entry.cancel_reason = "cancelled by client";
      entry.requeue = false;
      entry.cancel.store(true);
      entry.job.cancel_requested = true;
      // Journaled so that a restart before the job stops does not run it again.
      if (absl::Status s = journal_.Write(entry.job); !s.ok()) {
        services::LogLine(absl::StrCat("journal: job ", id, ": ", s.message()));
      }
      NotifyLocked(entry.job);
      return entry.job;
  }
  return entry.job;
}

absl::StatusOr<WatchId> JobRunner::Watch(const std::string& id, WatchFn fn) {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("job ", id, " not found"));
  fn(it->second->job);
  if (IsTerminal(it->second->job.state)) return WatchId{0};
  if (stopping_) {
    fn(absl::UnavailableError("converter is shutting down"));
    return WatchId{0};
  }
  const WatchId watch_id = next_watch_id_++;
  watches_.emplace(watch_id, Subscription{id, std::move(fn)});
  return watch_id;
}

void JobRunner::Unwatch(WatchId id) {
  absl::MutexLock lock(&mu_);
  watches_.erase(id);
}

void JobRunner::WorkerLoop() {
  while (true) {
    Entry* entry = nullptr;
    std::string id;
    JobSpec spec;
    absl::Time started;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || (!draining_ && !queue_.empty());
      };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      entry = queue_.front();
      queue_.pop_front();
      ++running_;
      started = absl::Now();
      entry->job.state = JobState::kRunning;
      entry->job.started_at = started;
      ++entry->job.attempts;
      metrics_.JobStarted(entry->job.spec.kind,
                          absl::ToDoubleSeconds(started - entry->job.created_at));
      CommitLocked(*entry);
      id = entry->job.id;
      spec = entry->job.spec;
    }
    RunJob(*entry, id, spec, started);
  }
}

void JobRunner::RunJob(Entry& entry, const std::string& id, const JobSpec& spec,
                       absl::Time started) {
  absl::Status status;
  std::optional<Artifact> artifact;
  const std::filesystem::path tmp_dir = tmp_root_ / id;
  absl::StatusOr<JobPaths> paths = ResolveJobPaths(root_, spec);
  std::error_code ec;
  if (!paths.ok()) {
    status = paths.status();
  } else if (std::filesystem::create_directories(tmp_dir, ec); ec) {
    status =
        absl::InternalError(absl::StrCat("cannot create ", tmp_dir.string(), ": ", ec.message()));
  } else {
    const std::filesystem::path tmp_output = tmp_dir / paths->output.filename();
    engine::JobControl control;
    control.cancel = &entry.cancel;
    control.progress = [this, &entry, started](const engine::JobProgress& p) {
      OnProgress(entry, p);
      Throttle(entry, p.bytes_done, started);
    };
    absl::StatusOr<ExecuteResult> result = executor_.Execute(spec, *paths, tmp_output, control);
    if (result.ok() && entry.cancel.load()) result = absl::CancelledError("cancelled");
    if (!result.ok()) {
      status = result.status();
    } else {
      Job snapshot;
      snapshot.id = id;
      snapshot.spec = spec;
      absl::StatusOr<Artifact> published =
          PublishArtifact(snapshot, *result, absl::ToDoubleSeconds(absl::Now() - started), tmp_dir,
                          tmp_output, paths->output, &entry.cancel);
      if (published.ok()) {
        artifact = *std::move(published);
      } else if (absl::IsAlreadyExists(published.status())) {
        status = absl::AlreadyExistsError(
            absl::StrCat("output ", spec.output, " appeared while the job ran"));
      } else {
        status = published.status();
      }
    }
  }
  std::filesystem::remove_all(tmp_dir, ec);
  Finish(entry, status, std::move(artifact));
}

void JobRunner::OnProgress(Entry& entry, const engine::JobProgress& p) {
  absl::MutexLock lock(&mu_);
  JobProgress& progress = entry.job.progress;
  progress.tensors_done = p.tensors_done;
  progress.tensors_total = p.tensors_total;
  progress.bytes_done = p.bytes_done;
  progress.bytes_total = p.bytes_total;
  const absl::Time now = absl::Now();
  const double elapsed = absl::ToDoubleSeconds(now - entry.job.started_at);
  if (p.bytes_done > 0 && p.bytes_total >= p.bytes_done) {
    progress.eta_seconds = elapsed * static_cast<double>(p.bytes_total - p.bytes_done) /
                           static_cast<double>(p.bytes_done);
  } else if (p.tensors_done > 0 && p.tensors_total >= p.tensors_done) {
    progress.eta_seconds = elapsed * static_cast<double>(p.tensors_total - p.tensors_done) /
                           static_cast<double>(p.tensors_done);
  }
  if (now - entry.last_notify >= kProgressNotifyInterval || p.tensors_done == p.tensors_total) {
    entry.last_notify = now;
    NotifyLocked(entry.job);
  }
}

void JobRunner::Throttle(const Entry& entry, uint64_t bytes_done, absl::Time started) const {
  if (options_.write_bytes_per_second <= 0) return;
  const absl::Time target =
      started + absl::Seconds(static_cast<double>(bytes_done) / options_.write_bytes_per_second);
  // Sleep in slices so a cancel is honoured promptly.
  while (!entry.cancel.load()) {
    const absl::Duration left = target - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    absl::SleepFor(std::min(left, absl::Milliseconds(20)));
  }
}

void JobRunner::Finish(Entry& entry, const absl::Status& status, std::optional<Artifact> artifact) {
  absl::MutexLock lock(&mu_);
  Job& job = entry.job;
  --running_;
  if (!status.ok() && entry.requeue && !job.cancel_requested &&
      (entry.cancel.load() || status.code() == absl::StatusCode::kCancelled)) {
    // Stopped by a drain: queued again for the next start; the attempt does not count.
    job.state = JobState::kQueued;
    job.started_at = absl::InfinitePast();
    job.progress = JobProgress{};
    if (job.attempts > 0) --job.attempts;
    entry.cancel.store(false);
    entry.cancel_reason.clear();
    entry.requeue = false;
    queue_.push_back(&entry);
    services::LogLine(absl::StrCat("job ", job.id, " stopped by the drain; queued again"));
    CommitLocked(entry);
    return;
  }
  if (status.ok()) {
    job.state = JobState::kSucceeded;
    job.artifact = std::move(artifact);
    job.error.clear();
    job.error_code = absl::StatusCode::kOk;
  } else if (entry.cancel.load() || status.code() == absl::StatusCode::kCancelled) {
    job.state = JobState::kCancelled;
    job.error = entry.cancel_reason.empty() ? "cancelled" : entry.cancel_reason;
    job.error_code = absl::StatusCode::kCancelled;
  } else {
    job.state = JobState::kFailed;
    job.error = std::string(status.message());
    job.error_code = status.code();
  }
  job.finished_at = absl::Now();
  metrics_.JobFinished(job.spec.kind, job.state,
                       absl::ToDoubleSeconds(job.finished_at - job.started_at),
                       job.artifact.has_value() ? job.artifact->size_bytes : 0);
  services::LogLine(absl::StrCat("job ", job.id, " ", StateName(job.state),
                                 job.error.empty() ? "" : ": ", job.error));
  CommitLocked(entry);
}

void JobRunner::CommitLocked(Entry& entry) {
  if (absl::Status s = journal_.Write(entry.job); !s.ok()) {
    services::LogLine(absl::StrCat("journal: job ", entry.job.id, ": ", s.message()));
  }
  if (IsTerminal(entry.job.state)) TrimHistoryLocked(&entry);
  metrics_.JobEntered(entry.job.spec.kind, entry.job.state);
  UpdateGaugesLocked();
  NotifyLocked(entry.job);
}

void JobRunner::NotifyLocked(const Job& job) {
  const bool last = IsTerminal(job.state);
  for (auto it = watches_.begin(); it != watches_.end();) {
    if (it->second.job_id != job.id) {
      ++it;
      continue;
    }
    it->second.fn(job);
    it = last ? watches_.erase(it) : std::next(it);
  }
}

void JobRunner::TrimHistoryLocked(const Entry* keep) {
  if (options_.max_finished_jobs <= 0) return;
  std::vector<std::pair<absl::Time, std::string>> finished;  // (finished_at, id), not `keep`
  size_t n_finished = 0;
  for (const auto& [id, e] : jobs_) {
    if (!IsTerminal(e->job.state)) continue;
    ++n_finished;
    if (e.get() != keep) finished.emplace_back(e->job.finished_at, id);
  }
  const size_t limit = static_cast<size_t>(options_.max_finished_jobs);
  if (n_finished <= limit) return;
  const size_t drop = std::min(n_finished - limit, finished.size());
  std::partial_sort(finished.begin(), finished.begin() + static_cast<ptrdiff_t>(drop),
                    finished.end());
  for (size_t i = 0; i < drop; ++i) {
    const std::string& id = finished[i].second;
    if (absl::Status s = journal_.Remove(id); !s.ok()) {
      services::LogLine(absl::StrCat("journal: ", s.message()));
    }
    jobs_.erase(id);
  }
}

void JobRunner::UpdateGaugesLocked() {
  metrics_.SetQueued(queue_.size());
  metrics_.SetRunning(running_);
}

}  // namespace rwkv::converter
