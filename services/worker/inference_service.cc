#include "services/worker/inference_service.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/common/status_mapping.h"
#include "services/worker/generate_reactor.h"
#include "services/worker/request_convert.h"

namespace rwkv::worker {
namespace {

namespace v1 = ::rwkv::v1;

grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* context, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(services::ToGrpcStatus(status));
  return reactor;
}

// OK when the model is loaded and `model` names it.
absl::Status CheckModel(const ModelHost& host, const std::string& model) {
  if (!host.ready()) {
    return absl::UnavailableError(absl::StrCat("model '", host.model_name(), "' is still loading"));
  }
  if (model.empty()) return absl::InvalidArgumentError("model is required");
  if (model != host.model_name()) {
    return absl::NotFoundError(absl::StrCat(
        "model '", model, "' is not served here (this worker serves '", host.model_name(), "')"));
  }
  return absl::OkStatus();
}

}  // namespace

grpc::ServerWriteReactor<v1::GenerateResponse>* InferenceService::Generate(
    grpc::CallbackServerContext* context, const v1::GenerateRequest* request) {
  return GenerateReactor::Start(context, request, host_, metrics_);
}

grpc::ServerUnaryReactor* InferenceService::Tokenize(grpc::CallbackServerContext* context,
                                                     const v1::TokenizeRequest* request,
                                                     v1::TokenizeResponse* response) {
  if (absl::Status s = CheckModel(host_, request->model()); !s.ok()) return Done(context, s);
  if (request->text().size() > kMaxPromptBytes) {
    return Done(context, absl::InvalidArgumentError(absl::StrCat("text is ", request->text().size(),
                                                                 " bytes, more than the limit of ",
                                                                 kMaxPromptBytes)));
  }
  for (int32_t id : host_.tokenizer().Encode(request->text())) {
    response->add_ids(static_cast<uint32_t>(id));
  }
  return Done(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::Detokenize(grpc::CallbackServerContext* context,
                                                       const v1::DetokenizeRequest* request,
                                                       v1::DetokenizeResponse* response) {
  if (absl::Status s = CheckModel(host_, request->model()); !s.ok()) return Done(context, s);
  if (static_cast<size_t>(request->ids_size()) > kMaxPromptTokens) {
    return Done(context, absl::InvalidArgumentError(
                             absl::StrCat("ids has ", request->ids_size(),
                                          " entries, more than the limit of ", kMaxPromptTokens)));
  }
  const int32_t n_vocab = host_.tokenizer().vocab_size();
  std::vector<int32_t> ids;
  ids.reserve(static_cast<size_t>(request->ids_size()));
  for (uint32_t id : request->ids()) {
    if (id >= static_cast<uint32_t>(n_vocab)) {
      return Done(context, absl::InvalidArgumentError(absl::StrCat(
                               "token id ", id, " is out of range (n_vocab ", n_vocab, ")")));
    }
    ids.push_back(static_cast<int32_t>(id));
  }
  absl::StatusOr<std::string> text = host_.tokenizer().Decode(ids);
  if (!text.ok()) {
    return Done(context, absl::InvalidArgumentError(std::string(text.status().message())));
  }
  response->set_text(*std::move(text));
  return Done(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ListModels(grpc::CallbackServerContext* context,
                                                       const v1::ListModelsRequest* /*request*/,
                                                       v1::ListModelsResponse* response) {
  // A loading worker lists nothing yet rather than failing: the gateway polls this.
  if (host_.ready()) FillModelInfo(host_, *response->add_models());
  return Done(context, absl::OkStatus());
}

}  // namespace rwkv::worker
