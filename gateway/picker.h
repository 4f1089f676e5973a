// Routing: which worker gets a request. The decision is a pure function of a snapshot of
// WorkerViews (see worker_view.h), so it is unit-tested with tables of cases.
//
// ExpectedWaitPicker filters by model, placement pool and backend, then
//  * without a session: takes the worker with the least expected time to first token,
//    (tokens queued and in flight) / (measured tokens per second), random among ties;
//  * with a session: takes the first healthy worker in the session's rendezvous ranking over
//    the eligible workers (healthy or not), so gateway replicas agree without sharing state.
//    When that is not the ranking's first worker (the owner is gone or failed), the decision
//    says so: the chosen worker starts a fresh session.
// Status codes: INVALID_ARGUMENT without a model; NOT_FOUND when no known worker serves the
// model; UNAVAILABLE naming the model, pool or backend when no healthy worker fits.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "gateway/worker_view.h"

namespace rwkv::gateway {

struct RouteRequest {
  std::string model;
  // Empty = any pool; BACKEND_UNSPECIFIED = any backend.
  std::string pool;
  rwkv::v1::Backend backend = rwkv::v1::BACKEND_UNSPECIFIED;
  // Empty = no session.
  std::string session_id;
};

// The gateway's --default-pool: a request that names neither a pool nor a backend goes to
// `default_pool` (when not empty); one that names either keeps what it asked for.
void ApplyDefaultPool(RouteRequest& request, const std::string& default_pool);

struct RouteDecision {
  std::string address;
  // The session's owner was passed over; the chosen worker starts the session afresh.
  bool session_restarted = false;
};

class WorkerPicker {
 public:
  virtual ~WorkerPicker() = default;
  // Chooses among the healthy `workers` whose address is not in `exclude` (workers already
  // tried for this request). Thread-safe.
  virtual absl::StatusOr<RouteDecision> Pick(const RouteRequest& request,
                                             absl::Span<const WorkerView> workers,
                                             absl::Span<const std::string> exclude) = 0;
};

// Assumed generation length of a request whose length is unknown (the server default).
inline constexpr double kDefaultTokensPerRequest = 256;

// Expected seconds until a new request gets its first token on `worker`: the requests ahead
// (its reported busy slots and queue plus what this gateway sent since, or this gateway's own
// open streams if more) times their expected tokens, over the worker's measured rate
// (`fallback_rate` when it has none).
double ExpectedWaitSeconds(const WorkerView& worker, double fallback_rate);

// "cpu", "cuda", "vulkan", "any".
std::string BackendLabel(rwkv::v1::Backend backend);

class ExpectedWaitPicker : public WorkerPicker {
 public:
  // `random` breaks ties (uniform 64-bit values); must be thread-safe.
  explicit ExpectedWaitPicker(std::function<uint64_t()> random) : random_(std::move(random)) {}

  absl::StatusOr<RouteDecision> Pick(const RouteRequest& request,
                                     absl::Span<const WorkerView> workers,
                                     absl::Span<const std::string> exclude) override;

 private:
  std::function<uint64_t()> random_;
};

}  // namespace rwkv::gateway
