// rwkv.v1.Worker on the worker: load snapshots for the gateway. WatchStatus streams are
// served by one ticker thread that wakes every 50 ms, sends a snapshot to every stream whose
// status changed (slots, queue depth, accepting) once its min_interval passed, and a
// heartbeat after 5 s without one. One write in flight per stream; never blocks a gRPC
// thread. Shutdown() (drain) ends every stream with UNAVAILABLE.
#pragma once

#include <cstdint>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "rwkv/v1/worker.grpc.pb.h"
#include "services/worker/model_host.h"

namespace rwkv::worker {

class WorkerStatusService : public rwkv::v1::Worker::CallbackService {
 public:
  // `host` must outlive the service. `version` goes into WorkerStatus.version.
  WorkerStatusService(ModelHost& host, std::string version);
  ~WorkerStatusService() override;

  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* context,
                                      const rwkv::v1::GetStatusRequest* request,
                                      rwkv::v1::WorkerStatus* response) override;
  grpc::ServerWriteReactor<rwkv::v1::WorkerStatus>* WatchStatus(
      grpc::CallbackServerContext* context, const rwkv::v1::WatchStatusRequest* request) override;

  // Ends every WatchStatus stream with UNAVAILABLE and refuses new ones.
  void Shutdown();

  // The status now, and a number that changes whenever the routing-relevant part does.
  rwkv::v1::WorkerStatus Snapshot(uint64_t* version = nullptr) const;

 private:
  class Watch;
  void Tick();

  ModelHost& host_;
  const std::string version_;
  absl::Mutex mu_;
  absl::flat_hash_set<Watch*> watches_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread ticker_;
};

}  // namespace rwkv::worker
