// The gateway side of one Inference.Generate call, over gRPC or from the HTTP front: routes the
// request (WorkerPicker over the WorkerRegistry snapshot), opens the same call on the chosen worker
// and relays its stream.
//
// Flow control: one read from the worker and one write to the client in flight at a time;
// what arrives while a write is in flight merges into one waiting message, so a slow client
// slows only its own stream and costs memory proportional to its tokens, as at the worker.
// Cancellation and deadlines reach the worker: the worker call gets the client's deadline and
// OnCancel cancels it. The client side is a GenerateSink, so the HTTP front relays without a
// gRPC hop of its own. A worker call that fails before any message is retried once on another
// worker (a session moves to the next worker in its ranking); a failure after that ends the stream
// with UNAVAILABLE naming the worker; nothing is ever duplicated or dropped silently. The final
// message gets served_by (and session_restarted). Never blocks.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "gateway/metrics.h"
#include "gateway/picker.h"
#include "gateway/worker_registry.h"
#include "grpcpp/client_context.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "rwkv/v1/inference.pb.h"

namespace rwkv::gateway {

// What every proxied call uses; must outlive all calls.
struct ProxyDeps {
  WorkerRegistry& registry;
  WorkerPicker& picker;
  GatewayMetrics& metrics;
  // Upper bound applied to max_tokens (0 = none); 0 in a request means the server default.
  uint32_t max_tokens_cap = 0;
  // Pool of requests that name neither a pool nor a backend (ApplyDefaultPool); empty = any.
  std::string default_pool;
  // Generate streams open now (admission control); decremented when a call is done.
  std::atomic<int> open_streams{0};
  // Worker calls whose objects still exist; shutdown waits for 0 before tearing down.
  std::atomic<int> live_attempts{0};
};

// Counts a new Generate stream in deps.open_streams against `max_streams` (0 = unlimited):
// OK, or RESOURCE_EXHAUSTED (counted in the metrics, not in open_streams) when it is full.
grpc::Status AdmitStream(ProxyDeps& deps, int max_streams, Protocol protocol);

// Server default for max_tokens = 0 (inference.proto).
inline constexpr uint32_t kDefaultMaxTokens = 256;

// Where a relayed stream goes: a gRPC client's call (GenerateReactor below) or an HTTP reply
// (generate_stream.h). Called from gRPC's threads.
class GenerateSink {
 public:
  virtual ~GenerateSink() = default;
  // Sends `message`; the sink may take its contents. At most one send is in flight: the next
  // comes after GenerateProxy::OnWriteDone.
  virtual void Send(rwkv::v1::GenerateResponse* message) = 0;
  // Ends the stream, once, with no send in flight. GenerateProxy::Done follows when the sink
  // is finished with the proxy.
  virtual void End(const grpc::Status& status) = 0;
};

// The relay itself, independent of how the client is connected.
class GenerateProxy {
 public:
  // Starts the call (End may come before this returns). The caller has already counted the
  // stream in deps.open_streams (AdmitStream). `deadline` is the client's (max() = none);
  // `protocol` labels its metrics. `sink` must stay valid until Done.
  static GenerateProxy* Start(GenerateSink* sink, const rwkv::v1::GenerateRequest& request,
                              std::chrono::system_clock::time_point deadline, ProxyDeps& deps,
                              Protocol protocol);

  // The send in flight is done; ok = false when the client is gone.
  void OnWriteDone(bool ok);
  // The client cancelled: the worker call is cancelled, End follows.
  void OnCancel();
  // After End: records the request's metrics, releases its open_streams count and deletes
  // the proxy.
  void Done();

  class Attempt;

 private:
  GenerateProxy(GenerateSink* sink, std::chrono::system_clock::time_point deadline, ProxyDeps& deps,
                Protocol protocol);
  ~GenerateProxy();

  struct State;
  // Routes and starts an attempt; false (with the status in `error`) when nothing fits.
  bool Route(grpc::Status* error);
  void OnAttemptMessage(Attempt* attempt);
  void OnAttemptDone(Attempt* attempt, const grpc::Status& status);
  // Calls End when the attempt is over and nothing is left to write.
  void MaybeFinish();

  GenerateSink* const sink_;
  const std::chrono::system_clock::time_point deadline_;
  ProxyDeps& deps_;
  const Protocol protocol_;
  std::unique_ptr<State> state_;
};

// Inference.Generate at the gateway's gRPC service: a GenerateProxy writing to the call.
class GenerateReactor : public grpc::ServerWriteReactor<rwkv::v1::GenerateResponse>,
                        private GenerateSink {
 public:
  // Starts the call; the reactor deletes itself in OnDone. The caller has already counted
  // the stream (AdmitStream).
  GenerateReactor(grpc::CallbackServerContext* context, const rwkv::v1::GenerateRequest& request,
                  ProxyDeps& deps, Protocol protocol);

  void OnWriteDone(bool ok) override { proxy_->OnWriteDone(ok); }
  void OnCancel() override { proxy_->OnCancel(); }
  void OnDone() override;

 private:
  void Send(rwkv::v1::GenerateResponse* message) override { StartWrite(message); }
  void End(const grpc::Status& status) override { Finish(status); }

  GenerateProxy* proxy_ = nullptr;
};

}  // namespace rwkv::gateway
