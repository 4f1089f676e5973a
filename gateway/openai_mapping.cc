#include "gateway/openai_mapping.h"

#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace rwkv::gateway::openai {

namespace v1 = ::rwkv::v1;
using json = nlohmann::json;

namespace {

// The status payload that carries the offending field's name.
constexpr absl::string_view kParamPayload = "type.rwkv.dev/openai.param";

// The field, or null when it is absent or JSON null (OpenAI treats both as "not set").
const json* Find(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::Status CheckString(const json& v, const char* name) {
  return v.is_string() ? absl::OkStatus()
                       : FieldError(name, absl::StrCat(name, " must be a string"));
}

// A number in [lo, hi] as float.
absl::StatusOr<float> Number(const json& v, const char* name, double lo, double hi) {
  if (!v.is_number()) return FieldError(name, absl::StrCat(name, " must be a number"));
  const double x = v.get<double>();
  if (!(x >= lo && x <= hi)) {
    return FieldError(name, absl::StrCat(name, " must be in [", lo, ", ", hi, "], got ", x));
  }
  return static_cast<float>(x);
}

// An integer in [lo, hi].
absl::StatusOr<int64_t> Integer(const json& v, const char* name, int64_t lo, int64_t hi) {
  if (!v.is_number_integer()) return FieldError(name, absl::StrCat(name, " must be an integer"));
  const bool in_range = v.is_number_unsigned()
                            ? v.get<uint64_t>() <= static_cast<uint64_t>(hi) &&
                                  (lo <= 0 || v.get<uint64_t>() >= static_cast<uint64_t>(lo))
                            : v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
  if (!in_range) return FieldError(name, absl::StrCat(name, " must be in [", lo, ", ", hi, "]"));
  return v.get<int64_t>();
}

absl::StatusOr<std::vector<uint32_t>> TokenIds(const json& array, const char* name) {
  std::vector<uint32_t> ids;
  for (const json& id : array) {
    auto x = Integer(id, name, 0, std::numeric_limits<uint32_t>::max());
    if (!x.ok()) return FieldError(name, absl::StrCat(name, " token ids must be integers >= 0"));
    ids.push_back(static_cast<uint32_t>(*x));
  }
  return ids;
}

// prompt: a string, an array of one string, an array of token ids, or an array of one array
// of token ids. Several prompts in one request (a batch) are not supported.
absl::Status ParsePrompt(const json& body, v1::GenerateRequest& out) {
  const json* prompt = Find(body, "prompt");
  if (prompt == nullptr) return FieldError("prompt", "prompt is required");
  if (prompt->is_string()) {
    out.set_text(prompt->get<std::string>());
    return absl::OkStatus();
  }
  if (!prompt->is_array()) {
    return FieldError("prompt", "prompt must be a string or an array of token ids");
  }
  if (prompt->empty() || (*prompt)[0].is_number()) {
    auto ids = TokenIds(*prompt, "prompt");
    if (!ids.ok()) return ids.status();
    out.mutable_tokens()->mutable_ids()->Assign(ids->begin(), ids->end());
    return absl::OkStatus();
  }
  if (prompt->size() != 1) {
    return FieldError("prompt", "only one prompt per request is supported");
  }
  const json& only = (*prompt)[0];
  if (only.is_string()) {
    out.set_text(only.get<std::string>());
    return absl::OkStatus();
  }
  if (only.is_array()) {
    auto ids = TokenIds(only, "prompt");
    if (!ids.ok()) return ids.status();
    out.mutable_tokens()->mutable_ids()->Assign(ids->begin(), ids->end());
    return absl::OkStatus();
  }
  return FieldError("prompt", "prompt must be a string or an array of token ids");
}

// A message's content: a string or an array of {"type": "text", "text": …} parts.
absl::StatusOr<std::string> MessageContent(const json& message) {
  const json* content = Find(message, "content");
  if (content == nullptr) return std::string();
  if (content->is_string()) return content->get<std::string>();
  if (!content->is_array()) {
    return FieldError("messages", "message content must be a string or an array of parts");
  }
  std::string text;
  for (const json& part : *content) {
    const json* type = part.is_object() ? Find(part, "type") : nullptr;
    const json* part_text = part.is_object() ? Find(part, "text") : nullptr;
    if (type == nullptr || *type != "text" || part_text == nullptr || !part_text->is_string()) {
      return FieldError("messages", "only text content parts are supported");
    }
    text += part_text->get<std::string>();
  }
  return text;
}

absl::StatusOr<std::vector<ChatMessage>> ParseMessages(const json& body) {
  const json* messages = Find(body, "messages");
  if (messages == nullptr) return FieldError("messages", "messages is required");
  if (!messages->is_array() || messages->empty()) {
    return FieldError("messages", "messages must be a non-empty array");
  }
  std::vector<ChatMessage> out;
  for (const json& m : *messages) {
    const json* role = m.is_object() ? Find(m, "role") : nullptr;
    if (role == nullptr || !role->is_string()) {
      return FieldError("messages", "every message needs a string role");
    }
    std::string name = role->get<std::string>();
    if (name == "developer") name = "system";
    if (name != "system" && name != "user" && name != "assistant") {
      return FieldError("messages", absl::StrCat("unsupported message role '", name,
                                                 "' (system, developer, user, assistant)"));
    }
    auto content = MessageContent(m);
    if (!content.ok()) return content.status();
    out.push_back({std::move(name), *std::move(content)});
  }
  return out;
}

absl::Status ParseStop(const json& body, v1::GenerateRequest& out) {
  const json* stop = Find(body, "stop");
  if (stop == nullptr) return absl::OkStatus();
  if (stop->is_string()) {
    out.add_stop(stop->get<std::string>());
    return absl::OkStatus();
  }
  if (!stop->is_array()) return FieldError("stop", "stop must be a string or an array of strings");
  for (const json& s : *stop) {
    if (!s.is_string()) return FieldError("stop", "stop must be a string or an array of strings");
    out.add_stop(s.get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status ParseSampling(const json& body, v1::SamplingParams& sampling) {
  if (const json* v = Find(body, "temperature")) {
    auto x = Number(*v, "temperature", 0, 2);
    if (!x.ok()) return x.status();
    sampling.set_temperature(*x);
  }
  if (const json* v = Find(body, "top_p")) {
    auto x = Number(*v, "top_p", 0, 1);
    if (!x.ok()) return x.status();
    sampling.set_top_p(*x);
  }
  if (const json* v = Find(body, "top_k")) {
    auto x = Integer(*v, "top_k", 0, std::numeric_limits<uint32_t>::max());
    if (!x.ok()) return x.status();
    sampling.set_top_k(static_cast<uint32_t>(*x));
  }
  if (const json* v = Find(body, "min_p")) {
    auto x = Number(*v, "min_p", 0, 1);
    if (!x.ok()) return x.status();
    sampling.set_min_p(*x);
  }
  if (const json* v = Find(body, "presence_penalty")) {
    auto x = Number(*v, "presence_penalty", -2, 2);
    if (!x.ok()) return x.status();
    sampling.set_presence_penalty(*x);
  }
  if (const json* v = Find(body, "frequency_penalty")) {
    auto x = Number(*v, "frequency_penalty", -2, 2);
    if (!x.ok()) return x.status();
    sampling.set_frequency_penalty(*x);
  }
  if (const json* v = Find(body, "seed")) {
    auto x = Integer(*v, "seed", std::numeric_limits<int64_t>::min(),
                     std::numeric_limits<int64_t>::max());
    if (!x.ok()) return x.status();
    sampling.set_seed(static_cast<uint64_t>(*x));
  }
  return absl::OkStatus();
}

// Fields whose non-default values ask for something this server does not do.
absl::Status RejectUnsupported(Endpoint endpoint, const json& body) {
  if (const json* n = Find(body, "n"); n != nullptr && *n != 1) {
    return FieldError("n", "only n = 1 is supported");
  }
  if (const json* b = Find(body, "best_of"); b != nullptr && *b != 1) {
    return FieldError("best_of", "only best_of = 1 is supported");
  }
  if (const json* l = Find(body, "logprobs"); l != nullptr && *l != false && *l != 0) {
    return FieldError("logprobs", "logprobs are not supported");
  }
  if (const json* t = Find(body, "top_logprobs"); t != nullptr && *t != 0) {
    return FieldError("top_logprobs", "logprobs are not supported");
  }
  if (const json* e = Find(body, "echo"); e != nullptr && *e != false) {
    return FieldError("echo", "echo is not supported");
  }
  if (const json* s = Find(body, "suffix"); s != nullptr && *s != "") {
    return FieldError("suffix", "suffix is not supported");
  }
  if (const json* b = Find(body, "logit_bias"); b != nullptr && !b->empty()) {
    return FieldError("logit_bias", "logit_bias is not supported");
  }
  if (endpoint == Endpoint::kChatCompletions) {
    for (const char* name : {"tools", "functions"}) {
      if (const json* t = Find(body, name); t != nullptr && !t->empty()) {
        return FieldError(name, absl::StrCat(name, " are not supported"));
      }
    }
    if (const json* f = Find(body, "response_format")) {
      const json* type = f->is_object() ? Find(*f, "type") : nullptr;
      if (type == nullptr || *type != "text") {
        return FieldError("response_format", "only response_format {\"type\": \"text\"}");
      }
    }
  }
  return absl::OkStatus();
}

// Collapses blank lines and trims, so a message never contains the turn separator.
std::string NormalizeContent(std::string text) {
  text = absl::StrReplaceAll(text, {{"\r\n", "\n"}});
  while (text.find("\n\n") != std::string::npos) {
    text = absl::StrReplaceAll(text, {{"\n\n", "\n"}});
  }
  return std::string(absl::StripAsciiWhitespace(text));
}

const char* RoleLabel(const std::string& role) {
  if (role == "system") return "System";
  if (role == "assistant") return "Assistant";
  return "User";
}

json ChunkBase(Endpoint endpoint, const ResponseMeta& meta, bool include_usage) {
  json chunk = {{"id", meta.id},
                {"object", endpoint == Endpoint::kChatCompletions ? "chat.completion.chunk"
                                                                  : "text_completion"},
                {"created", meta.created},
                {"model", meta.model},
                {"system_fingerprint", nullptr}};
  if (include_usage) chunk["usage"] = nullptr;
  return chunk;
}

json Choice(Endpoint endpoint, json delta_or_text, json finish_reason) {
  if (endpoint == Endpoint::kChatCompletions) {
    return {{"index", 0},
            {"delta", std::move(delta_or_text)},
            {"logprobs", nullptr},
            {"finish_reason", std::move(finish_reason)}};
  }
  return {{"index", 0},
          {"text", std::move(delta_or_text)},
          {"logprobs", nullptr},
          {"finish_reason", std::move(finish_reason)}};
}

json FinishReasonJson(const std::string& reason) {
  return reason.empty() ? json(nullptr) : json(reason);
}

}  // namespace

absl::Status FieldError(absl::string_view param, absl::string_view message) {
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kParamPayload, absl::Cord(param));
  return status;
}

absl::StatusOr<ParsedRequest> ParseRequest(Endpoint endpoint, std::string_view body_text) {
  json body = json::parse(body_text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    return absl::InvalidArgumentError("the request body is not valid JSON");
  }
  if (!body.is_object())
    return absl::InvalidArgumentError("the request body must be a JSON object");
  ParsedRequest out;
  out.endpoint = endpoint;
  v1::GenerateRequest& g = out.generate;

  const json* model = Find(body, "model");
  if (model == nullptr) return FieldError("model", "model is required");
  if (absl::Status s = CheckString(*model, "model"); !s.ok()) return s;
  g.set_model(model->get<std::string>());
  if (g.model().empty()) return FieldError("model", "model must not be empty");

  if (absl::Status s = RejectUnsupported(endpoint, body); !s.ok()) return s;
  if (endpoint == Endpoint::kCompletions) {
    if (absl::Status s = ParsePrompt(body, g); !s.ok()) return s;
  } else {
    auto messages = ParseMessages(body);
    if (!messages.ok()) return messages.status();
    g.set_text(ChatPrompt(*messages));
  }

  // max_completion_tokens is the newer name (chat); it wins when both are given.
  for (const char* name : {"max_tokens", "max_completion_tokens"}) {
    if (const json* v = Find(body, name)) {
      auto x = Integer(*v, name, 1, 65536);
      if (!x.ok()) return x.status();
      g.set_max_tokens(static_cast<uint32_t>(*x));
    }
  }
  if (absl::Status s = ParseSampling(body, *g.mutable_sampling()); !s.ok()) return s;
  if (absl::Status s = ParseStop(body, g); !s.ok()) return s;
  if (endpoint == Endpoint::kChatCompletions) g.add_stop(std::string(kChatTurnStop));
  if (const json* user = Find(body, "user")) {
    if (absl::Status s = CheckString(*user, "user"); !s.ok()) return s;
  }

  if (const json* v = Find(body, "stream")) {
    if (!v->is_boolean()) return FieldError("stream", "stream must be a boolean");
    out.stream = v->get<bool>();
  }
  if (const json* options = Find(body, "stream_options")) {
    if (!options->is_object())
      return FieldError("stream_options", "stream_options must be an object");
    if (const json* usage = Find(*options, "include_usage")) {
      if (!usage->is_boolean()) {
        return FieldError("stream_options", "stream_options.include_usage must be a boolean");
      }
      out.include_usage = usage->get<bool>();
    }
  }

  // RWKV extensions.
  if (const json* state = Find(body, "state")) {
    if (absl::Status s = CheckString(*state, "state"); !s.ok()) return s;
    g.set_initial_state(state->get<std::string>());
  }
  if (const json* session = Find(body, "session_id")) {
    if (absl::Status s = CheckString(*session, "session_id"); !s.ok()) return s;
    g.set_session_id(session->get<std::string>());
  }
  if (const json* ignore = Find(body, "ignore_eos")) {
    if (!ignore->is_boolean()) return FieldError("ignore_eos", "ignore_eos must be a boolean");
    g.set_ignore_eos(ignore->get<bool>());
  }
  if (const json* pool = Find(body, "pool")) {
    if (absl::Status s = CheckString(*pool, "pool"); !s.ok()) return s;
    g.mutable_placement()->set_pool(pool->get<std::string>());
  }
  return out;
}

std::string ChatPrompt(const std::vector<ChatMessage>& messages) {
  std::string prompt;
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    const std::string content = NormalizeContent(m.content);
    const bool last = i + 1 == messages.size();
    if (last && m.role == "assistant") {
      // An unfinished reply: the model continues it.
      absl::StrAppend(&prompt, "Assistant:", content.empty() ? "" : " ", content);
      return prompt;
    }
    absl::StrAppend(&prompt, RoleLabel(m.role), ": ", content, "\n\n");
  }
  absl::StrAppend(&prompt, "Assistant:");
  return prompt;
}

std::string ReplyStart::Trim(std::string text) {
  if (started_ || text.empty()) return text;
  started_ = true;
  if (text[0] == ' ') text.erase(0, 1);
  return text;
}

std::string FinishReasonName(v1::FinishReason reason) {
  switch (reason) {
    case v1::FINISH_REASON_LENGTH:
      return "length";
    case v1::FINISH_REASON_STOP:
      return "stop";
    default:
      return "";
  }
}

json UsageJson(const v1::TokenUsage& usage) {
  return {
      {"prompt_tokens", usage.prompt_tokens()},
      {"completion_tokens", usage.generated_tokens()},
      {"total_tokens", static_cast<uint64_t>(usage.prompt_tokens()) + usage.generated_tokens()}};
}

json CompletionResponse(Endpoint endpoint, const ResponseMeta& meta, const std::string& text,
                        const v1::FinalInfo& final) {
  const json finish = FinishReasonJson(FinishReasonName(final.finish_reason()));
  json choice;
  if (endpoint == Endpoint::kChatCompletions) {
    choice = {{"index", 0},
              {"message", {{"role", "assistant"}, {"content", text}, {"refusal", nullptr}}},
              {"logprobs", nullptr},
              {"finish_reason", finish}};
  } else {
    choice = {{"index", 0}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", finish}};
  }
  return {
      {"id", meta.id},
      {"object", endpoint == Endpoint::kChatCompletions ? "chat.completion" : "text_completion"},
      {"created", meta.created},
      {"model", meta.model},
      {"system_fingerprint", nullptr},
      {"choices", json::array({std::move(choice)})},
      {"usage", UsageJson(final.usage())}};
}

json RoleChunk(const ResponseMeta& meta, bool include_usage) {
  json chunk = ChunkBase(Endpoint::kChatCompletions, meta, include_usage);
  chunk["choices"] = json::array(
      {Choice(Endpoint::kChatCompletions, {{"role", "assistant"}, {"content", ""}}, nullptr)});
  return chunk;
}

json TextChunk(Endpoint endpoint, const ResponseMeta& meta, const std::string& text,
               bool include_usage) {
  json chunk = ChunkBase(endpoint, meta, include_usage);
  json delta = endpoint == Endpoint::kChatCompletions ? json{{"content", text}} : json(text);
  chunk["choices"] = json::array({Choice(endpoint, std::move(delta), nullptr)});
  return chunk;
}

namespace {

// Dumps as OpenAiApi sends JSON: compact, invalid UTF-8 replaced by U+FFFD.
std::string DumpCompact(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

TextChunkEvents::TextChunkEvents(Endpoint endpoint, const ResponseMeta& meta, bool include_usage) {
  // Object keys dump in sorted order and "choices" sorts first, so the first occurrence of the
  // escaped marker is the text's even if the model name holds the same characters.
  const std::string marker = "\x01\x02\x03";
  const std::string rendered = DumpCompact(TextChunk(endpoint, meta, marker, include_usage));
  const std::string escaped_marker = DumpCompact(json(marker));
  const size_t at = rendered.find(escaped_marker);
  prefix_ = "data: " + rendered.substr(0, at);
  suffix_ = rendered.substr(at + escaped_marker.size()) + "\n\n";
}

std::string TextChunkEvents::Render(const std::string& text) const {
  std::string event = prefix_;
  event += DumpCompact(json(text));
  event += suffix_;
  return event;
}

json FinishChunk(Endpoint endpoint, const ResponseMeta& meta, const std::string& finish_reason,
                 bool include_usage) {
  json chunk = ChunkBase(endpoint, meta, include_usage);
  json empty = endpoint == Endpoint::kChatCompletions ? json::object() : json("");
  chunk["choices"] =
      json::array({Choice(endpoint, std::move(empty), FinishReasonJson(finish_reason))});
  return chunk;
}

json UsageChunk(Endpoint endpoint, const ResponseMeta& meta, const v1::TokenUsage& usage) {
  json chunk = ChunkBase(endpoint, meta, /*include_usage=*/false);
  chunk["choices"] = json::array();
  chunk["usage"] = UsageJson(usage);
  return chunk;
}

json ModelObject(const v1::ModelInfo& model) {
  return {{"id", model.name()}, {"object", "model"}, {"created", 0}, {"owned_by", "rwkv"}};
}

json ModelList(const v1::ListModelsResponse& models) {
  json data = json::array();
  for (const v1::ModelInfo& m : models.models()) data.push_back(ModelObject(m));
  return {{"object", "list"}, {"data", std::move(data)}};
}

ApiError ErrorFromStatus(const absl::Status& status) {
  ApiError error;
  const char* type = "invalid_request_error";
  json code = nullptr;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
      error.http_status = 400;
      break;
    case absl::StatusCode::kUnauthenticated:
      error.http_status = 401;
      type = "authentication_error";
      code = "invalid_api_key";
      break;
    case absl::StatusCode::kPermissionDenied:
      error.http_status = 403;
      type = "permission_error";
      break;
    case absl::StatusCode::kNotFound:
      error.http_status = 404;
      code = "not_found";
      break;
    case absl::StatusCode::kResourceExhausted:
      error.http_status = 429;
      type = "rate_limit_error";
      code = "rate_limit_exceeded";
      break;
    case absl::StatusCode::kUnavailable:
      error.http_status = 503;
      type = "server_error";
      code = "service_unavailable";
      break;
    case absl::StatusCode::kDeadlineExceeded:
      error.http_status = 504;
      type = "server_error";
      code = "timeout";
      break;
    case absl::StatusCode::kCancelled:
      error.http_status = 499;
      type = "server_error";
      code = "cancelled";
      break;
    default:
      error.http_status = 500;
      type = "server_error";
      break;
  }
  json param = nullptr;
  if (auto p = status.GetPayload(kParamPayload)) param = std::string(*p);
  const std::string message = status.message().empty() ? absl::StatusCodeToString(status.code())
                                                       : std::string(status.message());
  error.body = {
      {"error", {{"message", message}, {"type", type}, {"param", param}, {"code", code}}}};
  return error;
}

}  // namespace rwkv::gateway::openai
