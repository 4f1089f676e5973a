// The OpenAI-compatible endpoints of the HTTP front: POST /v1/completions and
// /v1/chat/completions (JSON or server-sent events), GET /v1/models[/{id}], and the probes
// GET /healthz (the process runs) and GET /readyz (a worker is in the rotation, not draining).
//
// Generate calls go through an in-process channel to the gateway's Inference service built for
// HTTP (InferenceProxy with Protocol::kHttp), so routing, retries, sessions, --max-streams and
// metrics are the gRPC path's own. The bearer token is checked here. A streaming client that
// disconnects is noticed at the next write and its call is cancelled, which cancels the worker
// call, also when that happens before the reply's headers are out. Errors are OpenAI error
// objects (openai_mapping.h).
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "gateway/http_server.h"
#include "gateway/metrics.h"
#include "gateway/token_auth.h"
#include "grpcpp/channel.h"
#include "rwkv/v1/inference.grpc.pb.h"

namespace rwkv::gateway {

class OpenAiApi {
 public:
  // Largest request body: a 4 MiB prompt (the Generate limit) with room for JSON escaping.
  static constexpr size_t kMaxBodyBytes = 16 << 20;

  // `auth` (null = no authentication) and `metrics` must outlive this; `ready` says whether a
  // worker is in the rotation.
  OpenAiApi(std::shared_ptr<grpc::Channel> inference, TokenAuthenticator* auth,
            GatewayMetrics& metrics, std::function<bool()> ready);

  // Serves one HTTP request; thread-safe.
  void Handle(HttpExchange& exchange);
  // Writes the OpenAI error object for a request the HTTP server refused by itself (its
  // status is set: 413 for a body over kMaxBodyBytes, 400 for a malformed request).
  void Refused(HttpExchange& exchange);

  // New generation requests get 503 and /readyz fails; open streams continue.
  void StartDraining() { draining_.store(true); }

 private:
  void Generate(HttpExchange& exchange, bool chat);
  // All models, or the one named `id` (404 when no healthy worker serves it).
  void ListModels(HttpExchange& exchange, const std::string& id);

  std::unique_ptr<rwkv::v1::Inference::Stub> stub_;
  TokenAuthenticator* const auth_;
  GatewayMetrics& metrics_;
  const std::function<bool()> ready_;
  std::atomic<bool> draining_{false};
};

}  // namespace rwkv::gateway
