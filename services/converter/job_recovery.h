// What happens to a job read back from the journal when rwkv-converter starts. A job that was
// running when the previous process stopped without a drain (crash, kill -9) is re-run, unless
// it had already published its artifact, its cancel had been requested, or it ran out of
// attempts.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "absl/time/time.h"
#include "services/converter/job.h"

namespace rwkv::converter {

struct RecoveryOptions {
  // Starts a job gets in all; a job interrupted on its last one fails.
  uint32_t max_attempts = 3;
  // The SHA-256 of the job's published artifact when ReconcileSidecars has just verified it
  // ("" = unknown: recovery reads the artifact to check it).
  std::string verified_sha256;
};

struct RecoveryOutcome {
  bool changed = false;  // the job must be journaled again
  std::string note;      // one line for the log; empty when unchanged
};

// Applies the restart rules to `job` (the sidecars of a running job's output must have been
// reconciled first, see ReconcileSidecars):
//   queued               -> stays queued (the runner queues it again),
//   running, its artifact published with matching sidecars whose manifest names this job
//                        -> succeeded (adopted; a cancel that came too late loses, as it
//                           does while the converter runs),
//   running, cancel requested -> cancelled,
//   running, attempts >= max_attempts -> failed (Aborted), naming the limit,
//   running, otherwise   -> queued again (progress and start time cleared),
//   succeeded            -> failed when the artifact is missing or its size differs,
//   failed / cancelled   -> unchanged.
RecoveryOutcome RecoverJob(const std::filesystem::path& root, Job& job, absl::Time now,
                           const RecoveryOptions& options);

}  // namespace rwkv::converter
