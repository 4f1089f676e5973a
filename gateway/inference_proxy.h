// rwkv.v1.Inference at the gateway, the same service a worker serves: Generate is a
// GenerateProxy, Tokenize and Detokenize are forwarded to a healthy worker serving the model,
// ListModels is answered from the worker view (models of healthy workers, with the union of
// their backends and pools). Before any of that: the bearer token (when configured), the
// drain state (UNAVAILABLE) and, for Generate, --max-streams (RESOURCE_EXHAUSTED).
#pragma once

#include "absl/time/time.h"
#include "gateway/generate_proxy.h"
#include "gateway/token_auth.h"
#include "rwkv/v1/inference.grpc.pb.h"

namespace rwkv::gateway {

class InferenceProxy : public rwkv::v1::Inference::CallbackService {
 public:
  // `deps` and `auth` (null = no authentication) must outlive the service. `max_streams`
  // 0 = unlimited, counted over deps.open_streams (shared by every front). `protocol` labels
  // the metrics of its calls: the HTTP front calls its own instance in process.
  InferenceProxy(ProxyDeps& deps, TokenAuthenticator* auth, int max_streams,
                 Protocol protocol = Protocol::kGrpc)
      : deps_(deps), auth_(auth), max_streams_(max_streams), protocol_(protocol) {}

  grpc::ServerWriteReactor<rwkv::v1::GenerateResponse>* Generate(
      grpc::CallbackServerContext* context, const rwkv::v1::GenerateRequest* request) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const rwkv::v1::TokenizeRequest* request,
                                     rwkv::v1::TokenizeResponse* response) override;
  grpc::ServerUnaryReactor* Detokenize(grpc::CallbackServerContext* context,
                                       const rwkv::v1::DetokenizeRequest* request,
                                       rwkv::v1::DetokenizeResponse* response) override;
  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context,
                                       const rwkv::v1::ListModelsRequest* request,
                                       rwkv::v1::ListModelsResponse* response) override;

  // New calls get UNAVAILABLE from now on; running streams continue.
  void StartDraining() { draining_.store(true); }
  // Waits until no Generate stream is open or `deadline` passes; true when none is open.
  bool WaitForStreams(absl::Time deadline) const;

 private:
  // OK, UNAUTHENTICATED or UNAVAILABLE (draining).
  grpc::Status Admit(const grpc::CallbackServerContext& context);
  // A healthy worker serving `model`, or the routing error.
  absl::StatusOr<std::shared_ptr<grpc::Channel>> AnyWorker(const std::string& model);

  ProxyDeps& deps_;
  TokenAuthenticator* const auth_;
  const int max_streams_;
  const Protocol protocol_;
  std::atomic<bool> draining_{false};
};

}  // namespace rwkv::gateway
