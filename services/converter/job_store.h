// JobStore: what the Jobs gRPC service needs from the converter. The service is a thin adapter
// over this interface; JobRunner implements it, tests may fake it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "services/converter/job.h"

namespace rwkv::converter {

struct ListFilter {
  std::vector<JobState> states;  // empty = any
  std::optional<JobKind> kind;   // nullopt = any
  size_t limit = 100;
};

// Receives a snapshot of the watched job, or Unavailable when the store shuts down. After a
// snapshot with a final state, or an error, it is not called again.
using WatchFn = std::function<void(const absl::StatusOr<Job>& update)>;
using WatchId = uint64_t;

class JobStore {
 public:
  virtual ~JobStore() = default;

  // Validates and queues; the error codes are those of Jobs.Submit in jobs.proto.
  virtual absl::StatusOr<Job> Submit(JobSpec spec) = 0;
  // NotFound for an unknown id.
  virtual absl::StatusOr<Job> Get(const std::string& id) const = 0;
  // Newest first.
  virtual std::vector<Job> List(const ListFilter& filter) const = 0;
  // NotFound; FailedPrecondition for a succeeded or failed job; see Jobs.Cancel.
  virtual absl::StatusOr<Job> Cancel(const std::string& id) = 0;
  // Calls `fn` with the current snapshot before returning, then on every change. Returns an id
  // for Unwatch (0 when `fn` already got its last call). NotFound for an unknown id (fn is
  // not called). `fn` runs with the store's lock held: it must not call back into the store.
  virtual absl::StatusOr<WatchId> Watch(const std::string& id, WatchFn fn) = 0;
  // After Unwatch returns, `fn` is never called again. Unknown ids are ignored.
  virtual void Unwatch(WatchId id) = 0;
};

}  // namespace rwkv::converter
