#include "gateway/openai_api.h"

#include <chrono>
#include <ctime>
#include <random>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gateway/openai_mapping.h"
#include "gateway/sse.h"
#include "services/common/status_mapping.h"

namespace rwkv::gateway {

namespace v1 = ::rwkv::v1;
using nlohmann::json;
using openai::Endpoint;

namespace {

// Text from the worker is valid UTF-8, but a prompt echoed in an error message need not be.
std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

void ReplyJson(HttpExchange& exchange, int status, const json& body) {
  exchange.Reply(status, "application/json", Dump(body));
}

void ReplyError(HttpExchange& exchange, const absl::Status& status) {
  const openai::ApiError error = openai::ErrorFromStatus(status);
  ReplyJson(exchange, error.http_status, error.body);
}

// "cmpl-" / "chatcmpl-" and 24 random hex digits.
std::string NewId(const char* prefix) {
  thread_local std::mt19937_64 engine(std::random_device{}());
  return absl::StrFormat("%s%016x%08x", prefix, engine(), static_cast<uint32_t>(engine()));
}

}  // namespace

OpenAiApi::OpenAiApi(ProxyDeps& deps, TokenAuthenticator* auth, int max_streams,
                     std::function<bool()> ready)
    : deps_(deps),
      auth_(auth),
      max_streams_(max_streams),
      metrics_(deps.metrics),
      ready_(std::move(ready)) {}

std::shared_ptr<GenerateStream> OpenAiApi::OpenStream(const v1::GenerateRequest& request) {
  auto* stream = new GenerateStream(request, deps_, Protocol::kHttp);
  {
    absl::MutexLock lock(&streams_mu_);
    streams_.insert(stream);
    if (cancel_all_) stream->Cancel();
  }
  return std::shared_ptr<GenerateStream>(stream, [this](GenerateStream* done) {
    {
      absl::MutexLock lock(&streams_mu_);
      streams_.erase(done);
    }
    delete done;
  });
}

void OpenAiApi::CancelStreams() {
  absl::MutexLock lock(&streams_mu_);
  cancel_all_ = true;
  for (GenerateStream* stream : streams_) stream->Cancel();
}

void OpenAiApi::Handle(HttpExchange& exchange) {
  const std::string& path = exchange.path();
  const bool generate = path == "/v1/completions" || path == "/v1/chat/completions";
  constexpr absl::string_view kModelPrefix = "/v1/models/";
  const bool model = absl::StartsWith(path, kModelPrefix) && path.size() > kModelPrefix.size();
  const bool known =
      generate || model || path == "/v1/models" || path == "/healthz" || path == "/readyz";
  if (!known) {
    ReplyError(exchange, absl::NotFoundError(absl::StrCat("no route ", exchange.method(), " ", path,
                                                          " (see /v1/models)")));
    return;
  }
  if (exchange.method() != (generate ? "POST" : "GET")) {
    const openai::ApiError error = openai::ErrorFromStatus(absl::InvalidArgumentError(
        absl::StrCat(path, " takes ", generate ? "POST" : "GET", ", not ", exchange.method())));
    ReplyJson(exchange, 405, error.body);
    return;
  }
  if (path == "/healthz") {
    ReplyJson(exchange, 200, {{"status", "ok"}});
    return;
  }
  if (path == "/readyz") {
    const bool ready = !draining_.load() && ready_();
    ReplyJson(exchange, ready ? 200 : 503,
              {{"status", draining_.load() ? "draining"
                          : ready          ? "ready"
                                           : "no healthy worker"}});
    return;
  }
  if (auth_ != nullptr) {
    if (absl::Status s = auth_->Check(exchange.Header("Authorization")); !s.ok()) {
      if (generate) metrics_.RequestFinished(Protocol::kHttp, "", "", grpc::UNAUTHENTICATED);
      ReplyError(exchange, s);
      return;
    }
  }
  if (path == "/v1/models" || model) {
    ListModels(exchange, model ? path.substr(kModelPrefix.size()) : std::string());
    return;
  }
  if (draining_.load()) {
    metrics_.RequestFinished(Protocol::kHttp, "", "", grpc::UNAVAILABLE);
    ReplyError(exchange, absl::UnavailableError("gateway is draining"));
    return;
  }
  Generate(exchange, path == "/v1/chat/completions");
}

void OpenAiApi::Refused(HttpExchange& exchange) {
  const std::string& path = exchange.path();
  if (path == "/v1/completions" || path == "/v1/chat/completions") {
    metrics_.RequestFinished(Protocol::kHttp, "", "", grpc::INVALID_ARGUMENT);
  }
  const int status = exchange.status() == 0 ? 400 : exchange.status();
  std::string message =
      status == 413 ? absl::StrCat("the request body is larger than ", kMaxBodyBytes, " bytes")
                    : absl::StrCat("the server cannot serve this request (HTTP ", status, ")");
  const absl::Status error =
      status >= 500 ? absl::InternalError(message) : absl::InvalidArgumentError(message);
  ReplyJson(exchange, status, openai::ErrorFromStatus(error).body);
}

void OpenAiApi::ListModels(HttpExchange& exchange, const std::string& id) {
  if (draining_.load()) {
    ReplyError(exchange, absl::UnavailableError("gateway is draining"));
    return;
  }
  v1::ListModelsResponse models;
  for (v1::ModelInfo& model : deps_.registry.HealthyModels()) {
    *models.add_models() = std::move(model);
  }
  if (id.empty()) {
    ReplyJson(exchange, 200, openai::ModelList(models));
    return;
  }
  for (const v1::ModelInfo& m : models.models()) {
    if (m.name() == id) {
      ReplyJson(exchange, 200, openai::ModelObject(m));
      return;
    }
  }
  ReplyError(exchange,
             absl::NotFoundError(absl::StrCat("model '", id, "' is not served by any worker")));
}

void OpenAiApi::Generate(HttpExchange& exchange, bool chat) {
  const Endpoint endpoint = chat ? Endpoint::kChatCompletions : Endpoint::kCompletions;
  absl::StatusOr<openai::ParsedRequest> request = openai::ParseRequest(endpoint, exchange.body());
  if (!request.ok()) {
    metrics_.RequestFinished(Protocol::kHttp, "", "", grpc::INVALID_ARGUMENT);
    ReplyError(exchange, request.status());
    return;
  }
  const openai::ResponseMeta meta{NewId(chat ? "chatcmpl-" : "cmpl-"),
                                  static_cast<int64_t>(std::time(nullptr)),
                                  request->generate.model()};
  request->generate.set_request_id(meta.id);

  if (grpc::Status s = AdmitStream(deps_, max_streams_, Protocol::kHttp); !s.ok()) {
    ReplyError(exchange, services::FromGrpcStatus(s));
    return;
  }
  std::shared_ptr<GenerateStream> call = OpenStream(request->generate);
  v1::GenerateResponse message;
  // Nothing is sent before the first message, so a request that cannot start (unknown model,
  // no worker) gets its HTTP status.
  if (!call->Next(&message)) {
    const grpc::Status status = call->status();
    ReplyError(exchange, status.ok() ? absl::InternalError("the stream ended without a message")
                                     : services::FromGrpcStatus(status));
    return;
  }

  if (!request->stream) {
    openai::ReplyStart reply_start;
    v1::FinalInfo final;
    std::string text;
    do {
      text += message.text();
      if (message.has_final()) final = message.final();
    } while (call->Next(&message));
    const grpc::Status status = call->status();
    if (!status.ok()) {
      ReplyError(exchange, services::FromGrpcStatus(status));
    } else if (final.finish_reason() == v1::FINISH_REASON_ERROR) {
      ReplyError(exchange, absl::InternalError(final.error_message()));
    } else {
      if (chat) text = reply_start.Trim(std::move(text));
      ReplyJson(exchange, 200, openai::CompletionResponse(endpoint, meta, text, final));
    }
    return;
  }

  exchange.StreamReply(
      "text/event-stream",
      [call, meta, endpoint, chat, usage = request->include_usage,
       message = std::move(message)](const HttpExchange::ChunkWriter& write) mutable {
        openai::ReplyStart reply_start;
        v1::FinalInfo final;
        bool connected = true;
        auto send = [&](const json& event) {
          if (connected) connected = write(SseEvent(Dump(event)));
        };
        if (chat) send(openai::RoleChunk(meta, usage));
        const openai::TextChunkEvents text_events(endpoint, meta, usage);
        do {
          std::string text = chat ? reply_start.Trim(message.text()) : message.text();
          if (!text.empty() && connected) connected = write(text_events.Render(text));
          if (message.has_final()) final = message.final();
        } while (connected && call->Next(&message));
        // A client that is gone leaves the stream to GenerateStream's destructor, which
        // cancels it (and with it the worker call).
        if (!connected) return;
        const grpc::Status status = call->status();
        if (!status.ok() || final.finish_reason() == v1::FINISH_REASON_ERROR) {
          // Mid-stream failures arrive as an error event, as OpenAI sends them; no [DONE].
          const absl::Status error = !status.ok() ? services::FromGrpcStatus(status)
                                                  : absl::InternalError(final.error_message());
          send(openai::ErrorFromStatus(error).body);
        } else {
          send(openai::FinishChunk(endpoint, meta, openai::FinishReasonName(final.finish_reason()),
                                   usage));
          if (usage) send(openai::UsageChunk(endpoint, meta, final.usage()));
          if (connected) write(kSseDone);
        }
      });
}

}  // namespace rwkv::gateway
