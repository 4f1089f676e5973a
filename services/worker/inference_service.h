// rwkv.v1.Inference on the worker: a thin callback-API adapter over ModelHost. Generate is
// a GenerateReactor; Tokenize, Detokenize and ListModels answer inline. Every method answers
// UNAVAILABLE while the model is loading.
#pragma once

#include "rwkv/v1/inference.grpc.pb.h"
#include "services/worker/metrics.h"
#include "services/worker/model_host.h"

namespace rwkv::worker {

class InferenceService : public rwkv::v1::Inference::CallbackService {
 public:
  // `host` and `metrics` must outlive the service.
  InferenceService(ModelHost& host, WorkerMetrics& metrics) : host_(host), metrics_(metrics) {}

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

 private:
  ModelHost& host_;
  WorkerMetrics& metrics_;
};

}  // namespace rwkv::worker
