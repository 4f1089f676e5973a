#include "services/converter/job_recovery.h"

#include <algorithm>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "services/converter/artifact.h"
#include "services/converter/job_spec.h"

namespace rwkv::converter {
namespace {

RecoveryOutcome Fail(Job& job, std::string message, absl::StatusCode code, absl::Time now) {
  job.state = JobState::kFailed;
  job.error = std::move(message);
  job.error_code = code;
  job.finished_at = now;
  job.artifact.reset();
  return {true, absl::StrCat("failed: ", job.error)};
}

RecoveryOutcome RecoverRunning(const std::filesystem::path& root, Job& job, absl::Time now,
                               const RecoveryOptions& options) {
  // A journal written before attempts were counted says 0 for a job that did start.
  const uint32_t attempts = std::max<uint32_t>(job.attempts, 1);
  job.attempts = attempts;
  job.progress = JobProgress{};
  if (absl::StatusOr<JobPaths> paths = ResolveJobPaths(root, job.spec); paths.ok()) {
    absl::StatusOr<Artifact> published =
        ReadPublishedArtifact(paths->output, job.spec, job.id, options.verified_sha256);
    if (published.ok()) {
      job.state = JobState::kSucceeded;
      job.artifact = *std::move(published);
      job.error.clear();
      job.error_code = absl::StatusCode::kOk;
      job.finished_at = now;
      return {true, absl::StrCat("succeeded: its artifact ", job.spec.output,
                                 " was published before the restart")};
    }
  }
  if (job.cancel_requested) {
    job.state = JobState::kCancelled;
    job.error = "cancelled by client";
    job.error_code = absl::StatusCode::kCancelled;
    job.finished_at = now;
    job.artifact.reset();
    return {true, "cancelled: its cancel was requested before the restart"};
  }
  const uint32_t max_attempts = std::max<uint32_t>(options.max_attempts, 1);
  if (attempts >= max_attempts) {
    return Fail(job,
                absl::StrCat("interrupted by restart on attempt ", attempts, " of ", max_attempts,
                             " (--max-job-attempts); not run again"),
                absl::StatusCode::kAborted, now);
  }
  job.state = JobState::kQueued;
  job.started_at = absl::InfinitePast();
  job.finished_at = absl::InfinitePast();
  job.error.clear();
  job.error_code = absl::StatusCode::kOk;
  job.artifact.reset();
  return {true, absl::StrCat("interrupted by restart on attempt ", attempts, " of ", max_attempts,
                             "; queued again")};
}

}  // namespace

RecoveryOutcome RecoverJob(const std::filesystem::path& root, Job& job, absl::Time now,
                           const RecoveryOptions& options) {
  switch (job.state) {
    case JobState::kQueued:
    case JobState::kFailed:
    case JobState::kCancelled:
      return {};
    case JobState::kRunning:
      return RecoverRunning(root, job, now, options);
    case JobState::kSucceeded: {
      if (!job.artifact.has_value()) {
        return Fail(job, "artifact record missing after restart", absl::StatusCode::kAborted, now);
      }
      std::error_code ec;
      const std::filesystem::path path = root / job.artifact->path;
      const uintmax_t size = std::filesystem::file_size(path, ec);
      if (ec) {
        return Fail(job, absl::StrCat("artifact ", job.artifact->path, " is missing"),
                    absl::StatusCode::kAborted, now);
      }
      if (size != job.artifact->size_bytes) {
        return Fail(job,
                    absl::StrCat("artifact ", job.artifact->path, " has ", size,
                                 " bytes, journal says ", job.artifact->size_bytes),
                    absl::StatusCode::kAborted, now);
      }
      return {};
    }
  }
  return {};
}

}  // namespace rwkv::converter
