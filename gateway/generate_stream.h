// A relayed Generate stream read by a thread that blocks: the HTTP front's side of a
// GenerateProxy, with no gRPC server call in between. The proxy's flow control holds: the next
// message is sent only once the reader has taken the previous one, and what the worker sends
// meanwhile merges into one waiting message.
#pragma once

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "gateway/generate_proxy.h"

namespace rwkv::gateway {

class GenerateStream : private GenerateSink {
 public:
  // Starts the relay; the caller has already counted it (AdmitStream). No deadline.
  GenerateStream(const rwkv::v1::GenerateRequest& request, ProxyDeps& deps, Protocol protocol);
  // Cancels the stream if it has not ended, waits for the end and releases the relay.
  ~GenerateStream() override;

  GenerateStream(const GenerateStream&) = delete;
  GenerateStream& operator=(const GenerateStream&) = delete;

  // Waits for the next message: true with it in `message`; false once the stream has ended,
  // with its status in status(). One reader at a time.
  bool Next(rwkv::v1::GenerateResponse* message);
  // Valid once Next has returned false.
  const grpc::Status& status() const { return status_; }
  // The client is gone (or the gateway stops): cancels the worker call; the stream then ends
  // with CANCELLED. Thread-safe, any number of times.
  void Cancel();

 private:
  void Send(rwkv::v1::GenerateResponse* message) override;
  void End(const grpc::Status& status) override;
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return pending_ != nullptr || ended_; }

  GenerateProxy* proxy_ = nullptr;
  absl::Mutex mu_;
  rwkv::v1::GenerateResponse* pending_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  // Written under mu_ before ended_; read by the reader after it saw ended_.
  grpc::Status status_;
};

}  // namespace rwkv::gateway
