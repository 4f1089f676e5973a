// The OpenAI-compatible endpoints of the HTTP front: POST /v1/completions and
// /v1/chat/completions (JSON or server-sent events), GET /v1/models[/{id}], and the probes
// GET /healthz (the process runs) and GET /readyz (a worker is in the rotation, not draining).
//
// Generate calls are GenerateProxy relays read by the HTTP thread (GenerateStream, labelled
// Protocol::kHttp), so routing, retries, sessions, --max-streams and metrics are the gRPC
// path's own, without a gRPC hop in between. The bearer token is checked here. A streaming client
// that disconnects is noticed at the next write and its call is cancelled, which cancels the worker
// call, also when that happens before the reply's headers are out. Errors are OpenAI error
// objects (openai_mapping.h).
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "gateway/generate_proxy.h"
#include "gateway/generate_stream.h"
#include "gateway/http_server.h"
#include "gateway/token_auth.h"

namespace rwkv::gateway {

class OpenAiApi {
 public:
  // Largest request body: a 4 MiB prompt (the Generate limit) with room for JSON escaping.
  static constexpr size_t kMaxBodyBytes = 16 << 20;

  // `deps` and `auth` (null = no authentication) must outlive this; `max_streams` (0 =
  // unlimited) counts over deps.open_streams like the gRPC service; `ready` says whether a
  // worker is in the rotation.
  OpenAiApi(ProxyDeps& deps, TokenAuthenticator* auth, int max_streams,
            std::function<bool()> ready);

  // Serves one HTTP request; thread-safe.
  void Handle(HttpExchange& exchange);
  // Writes the OpenAI error object for a request the HTTP server refused by itself (its
  // status is set: 413 for a body over kMaxBodyBytes, 400 for a malformed request).
  void Refused(HttpExchange& exchange);

  // New generation requests get 503 and /readyz fails; open streams continue.
  void StartDraining() { draining_.store(true); }
  // Cancels the open streams and every one started from now on (the drain deadline passed).
  void CancelStreams();

 private:
  void Generate(HttpExchange& exchange, bool chat);
  // All models, or the one named `id` (404 when no healthy worker serves it).
  void ListModels(HttpExchange& exchange, const std::string& id);

  // A relay for `request`, known to CancelStreams until released.
  std::shared_ptr<GenerateStream> OpenStream(const rwkv::v1::GenerateRequest& request);

  ProxyDeps& deps_;
  TokenAuthenticator* const auth_;
  const int max_streams_;
  GatewayMetrics& metrics_;
  const std::function<bool()> ready_;
  std::atomic<bool> draining_{false};
  absl::Mutex streams_mu_;
  absl::flat_hash_set<GenerateStream*> streams_ ABSL_GUARDED_BY(streams_mu_);
  bool cancel_all_ ABSL_GUARDED_BY(streams_mu_) = false;
};

}  // namespace rwkv::gateway
