// The server side of one Inference.Generate call: validates and submits the request to the
// scheduler, then streams its chunks with one write in flight and a bounded queue behind it
// (when the queue is full, new chunks are merged into the last queued message, so a slow
// reader costs memory proportional to its tokens, never blocks the engine thread). OnCancel
// (client cancel, disconnect or deadline) raises the request's cancel flag; the scheduler
// then ends it within one step and the call finishes. Never blocks.
#pragma once

#include <memory>

#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "rwkv/v1/inference.pb.h"
#include "services/worker/model_host.h"
#include "services/worker/request.h"

namespace rwkv::worker {

class GenerateReactor : public grpc::ServerWriteReactor<rwkv::v1::GenerateResponse> {
 public:
  // Messages queued behind the one being written before chunks are merged.
  static constexpr size_t kMaxQueuedMessages = 8;

  // Returns the reactor for the call; it deletes itself in OnDone. `host` and `metrics`
  // must outlive the call.
  static GenerateReactor* Start(grpc::CallbackServerContext* context,
                                const rwkv::v1::GenerateRequest* request, ModelHost& host,
                                WorkerMetrics& metrics);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  struct Shared;

 private:
  explicit GenerateReactor(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

  std::shared_ptr<Shared> shared_;
};

}  // namespace rwkv::worker
