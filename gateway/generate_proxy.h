// The gateway side of one Inference.Generate call: routes the request (WorkerPicker over the
// WorkerRegistry snapshot), opens the same call on the chosen worker and relays its stream.
//
// Flow control: one read from the worker and one write to the client in flight at a time;
// what arrives while a write is in flight merges into one waiting message, so a slow client
// slows only its own stream and costs memory proportional to its tokens, as at the worker.
// Cancellation and deadlines reach the worker: the worker call gets the client's deadline and
// OnCancel cancels it. A worker call that fails before any message is retried once on another
// worker (a session moves to the next worker in its ranking); a failure after that ends the stream
// with UNAVAILABLE naming the worker; nothing is ever duplicated or dropped silently. The final
// message gets served_by (and session_restarted). Never blocks.
#pragma once

#include <atomic>
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

// A context for a backend call made on behalf of `server_context`: the same deadline.
// (Cancellation is forwarded by the caller's OnCancel.)
std::unique_ptr<grpc::ClientContext> WorkerCallContext(
    const grpc::CallbackServerContext& server_context);

// Server default for max_tokens = 0 (inference.proto).
inline constexpr uint32_t kDefaultMaxTokens = 256;

class GenerateProxy : public grpc::ServerWriteReactor<rwkv::v1::GenerateResponse> {
 public:
  // Starts the call; the reactor deletes itself in OnDone. The caller has already counted
  // the stream in deps.open_streams. `protocol` labels its metrics.
  static GenerateProxy* Start(grpc::CallbackServerContext* context,
                              const rwkv::v1::GenerateRequest& request, ProxyDeps& deps,
                              Protocol protocol);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  class Attempt;

 private:
  GenerateProxy(grpc::CallbackServerContext* context, ProxyDeps& deps, Protocol protocol);

  struct State;
  // Routes and starts an attempt; false (with the status in `error`) when nothing fits.
  bool Route(grpc::Status* error);
  void OnAttemptMessage(Attempt* attempt);
  void OnReadFinished(Attempt* attempt);
  void OnAttemptDone(Attempt* attempt, const grpc::Status& status);
  // Calls Finish when the attempt is over and nothing is left to write.
  void MaybeFinish();

  grpc::CallbackServerContext* const context_;
  ProxyDeps& deps_;
  const Protocol protocol_;
  std::unique_ptr<State> state_;
};

}  // namespace rwkv::gateway
