#include "gateway/picker.h"

#include <algorithm>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/rendezvous.h"

namespace rwkv::gateway {
namespace {

namespace v1 = ::rwkv::v1;

bool Contains(absl::Span<const std::string> list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

bool FitsPlacement(const WorkerView& w, const RouteRequest& r) {
  return (r.pool.empty() || w.pool == r.pool) &&
         (r.backend == v1::BACKEND_UNSPECIFIED || w.backend == r.backend);
}

// Names the constraint that nothing healthy satisfies, with what exists instead.
absl::Status NothingFits(const RouteRequest& r, const std::vector<const WorkerView*>& serving) {
  std::set<std::string> pools, backends;
  for (const WorkerView* w : serving) {
    pools.insert(w->pool.empty() ? "\"\"" : w->pool);
    backends.insert(BackendLabel(w->backend));
  }
  std::string wanted;
  if (!r.pool.empty()) absl::StrAppend(&wanted, " in pool '", r.pool, "'");
  if (r.backend != v1::BACKEND_UNSPECIFIED) {
    absl::StrAppend(&wanted, " with backend ", BackendLabel(r.backend));
  }
  return absl::UnavailableError(absl::StrCat("no healthy worker", wanted, " serves model '",
                                             r.model,
                                             "' (healthy pools: ", absl::StrJoin(pools, ", "),
                                             "; backends: ", absl::StrJoin(backends, ", "), ")"));
}

}  // namespace

std::string BackendLabel(v1::Backend backend) {
  switch (backend) {
    case v1::BACKEND_CPU:
      return "cpu";
    case v1::BACKEND_CUDA:
      return "cuda";
    case v1::BACKEND_VULKAN:
      return "vulkan";
    default:
      return "any";
  }
}

double ExpectedWaitSeconds(const WorkerView& worker, double fallback_rate) {
  const double reported =
      static_cast<double>(worker.slots_busy) + worker.queue_depth + worker.own_unreported;
  const double ahead = std::max(reported, static_cast<double>(worker.own_streams));
  const double per_request =
      worker.own_streams > 0
          ? static_cast<double>(worker.own_outstanding_tokens) / worker.own_streams
          : kDefaultTokensPerRequest;
  const double rate = worker.tokens_per_second > 0 ? worker.tokens_per_second : fallback_rate;
  return ahead * per_request / std::max(rate, 1e-3);
}

absl::StatusOr<RouteDecision> ExpectedWaitPicker::Pick(const RouteRequest& r,
                                                       absl::Span<const WorkerView> workers,
                                                       absl::Span<const std::string> exclude) {
  if (r.model.empty()) return absl::InvalidArgumentError("model is required");
  std::vector<const WorkerView*> known, healthy, eligible;
  for (const WorkerView& w : workers) {
    if (w.model != r.model) continue;
    known.push_back(&w);
    if (!w.healthy) continue;
    healthy.push_back(&w);
    if (FitsPlacement(w, r)) eligible.push_back(&w);
  }
  if (known.empty()) {
    std::set<std::string> models;
    for (const WorkerView& w : workers) {
      if (!w.model.empty()) models.insert(w.model);
    }
    if (models.empty()) {
      return absl::UnavailableError(absl::StrCat("no healthy worker (", workers.size(),
                                                 " known) to serve model '", r.model, "'"));
    }
    return absl::NotFoundError(
        absl::StrCat("model '", r.model,
                     "' is not served by any worker (served: ", absl::StrJoin(models, ", "), ")"));
  }
  if (healthy.empty()) {
    return absl::UnavailableError(absl::StrCat("no healthy worker serves model '", r.model, "' (",
                                               known.size(), " unhealthy or draining)"));
  }
  if (eligible.empty()) return NothingFits(r, healthy);

  std::vector<const WorkerView*> candidates;
  for (const WorkerView* w : eligible) {
    if (!Contains(exclude, w->address)) candidates.push_back(w);
  }
  if (candidates.empty()) {
    return absl::UnavailableError(absl::StrCat("no other healthy worker serves model '", r.model,
                                               "' (tried ", absl::StrJoin(exclude, ", "), ")"));
  }

  if (!r.session_id.empty()) {
    // The ranking covers unhealthy workers of the pool too: a worker that is only briefly
    // out must keep its sessions when it returns.
    std::vector<std::string> addresses;
    for (const WorkerView* w : known) {
      if (FitsPlacement(*w, r)) addresses.push_back(w->address);
    }
    const std::vector<std::string> ranking = RendezvousRanking(r.session_id, addresses);
    for (const std::string& address : ranking) {
      for (const WorkerView* w : candidates) {
        if (w->address == address) return RouteDecision{address, address != ranking.front()};
      }
    }
  }

  double rate_sum = 0;
  int rated = 0;
  for (const WorkerView* w : candidates) {
    if (w->tokens_per_second > 0) {
      rate_sum += w->tokens_per_second;
      ++rated;
    }
  }
  const double fallback_rate = rated > 0 ? rate_sum / rated : 1.0;
  double best = 0;
  std::vector<const WorkerView*> tied;
  for (const WorkerView* w : candidates) {
    const double wait = ExpectedWaitSeconds(*w, fallback_rate);
    // Relative tolerance: equal loads must tie despite rounding in the rate arithmetic.
    if (tied.empty() || wait < best * (1 - 1e-9)) {
      best = wait;
      tied.assign(1, w);
    } else if (wait <= best * (1 + 1e-9)) {
      tied.push_back(w);
    }
  }
  const WorkerView* chosen = tied[tied.size() == 1 ? 0 : random_() % tied.size()];
  return RouteDecision{chosen->address, false};
}

void ApplyDefaultPool(RouteRequest& request, const std::string& default_pool) {
  if (request.pool.empty() && request.backend == rwkv::v1::BACKEND_UNSPECIFIED) {
    request.pool = default_pool;
  }
}

}  // namespace rwkv::gateway
