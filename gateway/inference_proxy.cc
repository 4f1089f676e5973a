#include "gateway/inference_proxy.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gateway/unary_forward.h"
#include "services/common/status_mapping.h"

namespace rwkv::gateway {

namespace v1 = ::rwkv::v1;

namespace {

// A write reactor that only finishes with an error.
class RefusedStream : public grpc::ServerWriteReactor<v1::GenerateResponse> {
 public:
  explicit RefusedStream(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::Status InferenceProxy::Admit(const grpc::CallbackServerContext& context) {
  if (auth_ != nullptr) {
    if (absl::Status s = auth_->Check(context); !s.ok()) return services::ToGrpcStatus(s);
  }
  if (draining_.load()) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "gateway is draining");
  }
  return grpc::Status::OK;
}

grpc::ServerWriteReactor<v1::GenerateResponse>* InferenceProxy::Generate(
    grpc::CallbackServerContext* context, const v1::GenerateRequest* request) {
  if (grpc::Status s = Admit(*context); !s.ok()) {
    deps_.metrics.RequestFinished(protocol_, "", "", s.error_code());
    return new RefusedStream(s);
  }
  if (grpc::Status s = AdmitStream(deps_, max_streams_, protocol_); !s.ok()) {
    return new RefusedStream(s);
  }
  return new GenerateReactor(context, *request, deps_, protocol_);
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> InferenceProxy::AnyWorker(const std::string& model) {
  RouteRequest route;
  route.model = model;
  absl::StatusOr<RouteDecision> decision = deps_.picker.Pick(route, deps_.registry.Snapshot(), {});
  if (!decision.ok()) return decision.status();
  std::shared_ptr<grpc::Channel> channel = deps_.registry.Channel(decision->address);
  if (channel == nullptr) {
    return absl::UnavailableError(absl::StrCat("worker ", decision->address, " is gone"));
  }
  return channel;
}

grpc::ServerUnaryReactor* InferenceProxy::Tokenize(grpc::CallbackServerContext* context,
                                                   const v1::TokenizeRequest* request,
                                                   v1::TokenizeResponse* response) {
  if (grpc::Status s = Admit(*context); !s.ok()) return FinishUnary(context, s);
  auto channel = AnyWorker(request->model());
  if (!channel.ok()) return FinishUnary(context, services::ToGrpcStatus(channel.status()));
  return ForwardUnary<v1::Inference>(
      context, *std::move(channel), request, response,
      [](auto* a, auto* c, auto* q, auto* r, auto d) { a->Tokenize(c, q, r, std::move(d)); });
}

grpc::ServerUnaryReactor* InferenceProxy::Detokenize(grpc::CallbackServerContext* context,
                                                     const v1::DetokenizeRequest* request,
                                                     v1::DetokenizeResponse* response) {
  if (grpc::Status s = Admit(*context); !s.ok()) return FinishUnary(context, s);
  auto channel = AnyWorker(request->model());
  if (!channel.ok()) return FinishUnary(context, services::ToGrpcStatus(channel.status()));
  return ForwardUnary<v1::Inference>(
      context, *std::move(channel), request, response,
      [](auto* a, auto* c, auto* q, auto* r, auto d) { a->Detokenize(c, q, r, std::move(d)); });
}

grpc::ServerUnaryReactor* InferenceProxy::ListModels(grpc::CallbackServerContext* context,
                                                     const v1::ListModelsRequest* /*request*/,
                                                     v1::ListModelsResponse* response) {
  if (grpc::Status s = Admit(*context); !s.ok()) return FinishUnary(context, s);
  for (v1::ModelInfo& model : deps_.registry.HealthyModels()) {
    *response->add_models() = std::move(model);
  }
  return FinishUnary(context, grpc::Status::OK);
}

bool InferenceProxy::WaitForStreams(absl::Time deadline) const {
  while (deps_.open_streams.load() > 0) {
    if (absl::Now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace rwkv::gateway
