// The gateway's two watch streams on one worker: rwkv.v1.Worker/WatchStatus (load, identity,
// accepting) and grpc.health.v1.Health/Watch for the whole server. Events go to a
// WorkerWatchEvents sink tagged with the watch's generation, so events of a replaced watch
// can be told apart. When either stream ends the other is cancelled and the sink hears
// OnWatchEnded once; reconnecting (with back-off) is the sink's job.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "grpcpp/channel.h"
#include "rwkv/v1/worker.pb.h"

namespace rwkv::gateway {

class WorkerWatchEvents {
 public:
  virtual ~WorkerWatchEvents() = default;
  virtual void OnStatus(const std::string& address, uint64_t generation,
                        const rwkv::v1::WorkerStatus& status) = 0;
  virtual void OnServing(const std::string& address, uint64_t generation, bool serving) = 0;
  // The first of the two streams ended (`why` says how); called once per watch.
  virtual void OnWatchEnded(const std::string& address, uint64_t generation,
                            const std::string& why) = 0;
  // Both calls of a watch completed; no event of it follows. For shutdown accounting.
  virtual void OnWatchReleased() = 0;
};

class WorkerWatch {
 public:
  // Starts both streams. `events` must outlive the watch's calls (until OnWatchReleased).
  static std::shared_ptr<WorkerWatch> Start(std::shared_ptr<grpc::Channel> channel,
                                            std::string address, uint64_t generation,
                                            uint32_t status_interval_ms, WorkerWatchEvents& events);
  // Cancels both streams; OnWatchEnded follows unless it already came. Thread-safe.
  void Cancel();

  struct Shared;

 private:
  explicit WorkerWatch(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
  std::shared_ptr<Shared> shared_;
};

}  // namespace rwkv::gateway
