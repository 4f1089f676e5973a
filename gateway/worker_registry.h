// The gateway's view of its workers: one WorkerWatch per discovered worker, reconnecting with
// back-off; the routing snapshot (WorkerView per worker); and the gateway's own accounting
// of the streams it sends, which the lagging status stream has not reported yet.
//
// A worker is in the rotation while its health watch says SERVING, its status stream is up
// and its last status says accepting. It leaves at once when either stream ends (unreachable,
// killed, draining) or when no status arrived for `stale_after` (a silent network), and
// returns when both streams are up again. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gateway/metrics.h"
#include "gateway/worker_view.h"
#include "gateway/worker_watch.h"
#include "grpcpp/channel.h"
#include "rwkv/v1/worker.pb.h"

namespace rwkv::gateway {

class WorkerRegistry : private WorkerWatchEvents {
 public:
  struct Options {
    // min_interval_ms asked of WatchStatus.
    uint32_t status_interval_ms = 100;
    // A worker without a status message for this long leaves the rotation (heartbeats come
    // at least every 5 s).
    absl::Duration stale_after = absl::Seconds(15);
    // Reconnect back-off after a watch ends: doubles from min to max, reset by a status.
    absl::Duration min_backoff = absl::Milliseconds(200);
    absl::Duration max_backoff = absl::Seconds(2);
  };
  // Called with true when the first worker enters the rotation and false when the last leaves.
  using HealthListener = std::function<void(bool any_healthy)>;

  // `metrics` may be null; otherwise it must outlive the registry.
  WorkerRegistry(Options options, GatewayMetrics* metrics);
  // Cancels every watch and waits, without a bound, until their calls are done.
  ~WorkerRegistry() override;

  // Cancels every watch and waits until gRPC has released them all or `deadline` passes;
  // false when some are still held by gRPC then (the registry must then outlive them).
  bool StopWatches(absl::Time deadline);

  // Replaces the listener and calls it with the current state. After it returns, the previous
  // listener is never called again.
  void SetHealthListener(HealthListener listener);
  // Adds watches for new addresses and drops workers no longer listed.
  void SetWorkers(const std::vector<std::string>& addresses);
  // Restarts watches whose back-off passed, expires silent workers, updates age metrics.
  // Call every few hundred milliseconds.
  void Maintain();

  std::vector<WorkerView> Snapshot() const;
  // Models served by workers in the rotation, each with the union of their backends and pools.
  std::vector<rwkv::v1::ModelInfo> HealthyModels() const;
  // The channel to `address`; null for an unknown worker.
  std::shared_ptr<grpc::Channel> Channel(const std::string& address) const;

  // Accounting of this gateway's streams, for routing before the status catches up.
  void StreamStarted(const std::string& address, uint64_t max_tokens);
  void TokensReceived(const std::string& address, uint64_t count);
  void StreamEnded(const std::string& address, uint64_t tokens_not_received);

 private:
  struct Entry {
    WorkerView view;
    rwkv::v1::ModelInfo model_info;
    std::shared_ptr<grpc::Channel> channel;
    std::shared_ptr<WorkerWatch> watch;
    uint64_t generation = 0;
    bool serving = false;
    bool status_up = false;
    bool accepting = false;
    absl::Time status_time = absl::InfinitePast();
    absl::Time restart_at = absl::InfinitePast();
    absl::Duration backoff;
  };

  void OnStatus(const std::string& address, uint64_t generation,
                const rwkv::v1::WorkerStatus& status) override;
  void OnServing(const std::string& address, uint64_t generation, bool serving) override;
  void OnWatchEnded(const std::string& address, uint64_t generation,
                    const std::string& why) override;
  void OnWatchReleased() override;

  // Recomputes `entry.view.healthy`, logging a change with `why`.
  void UpdateHealthLocked(Entry& entry, const std::string& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Tells the listener and the metrics about the healthy set; call without mu_ held.
  void Publish();
  // Starts watches for `due` (address, generation) pairs outside the lock.
  void StartWatches(const std::vector<std::pair<std::string, uint64_t>>& due);

  const Options options_;
  GatewayMetrics* const metrics_;
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> workers_ ABSL_GUARDED_BY(mu_);
  int live_watches_ ABSL_GUARDED_BY(mu_) = 0;
  HealthListener listener_ ABSL_GUARDED_BY(mu_);
  absl::Mutex publish_mu_;
  int published_any_healthy_ ABSL_GUARDED_BY(publish_mu_) = -1;
};

}  // namespace rwkv::gateway
