// The OpenAI HTTP API as pure functions over rwkv.v1 messages: request bodies of
// /v1/completions and /v1/chat/completions to a GenerateRequest (with RWKV's chat prompt
// format), whole responses and stream chunks from the worker's output, the model list, and
// the error object with its HTTP status. No I/O; http_server.cc does the transport.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "rwkv/v1/inference.pb.h"

namespace rwkv::gateway::openai {

enum class Endpoint { kCompletions, kChatCompletions };

struct ParsedRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  rwkv::v1::GenerateRequest generate;
  bool stream = false;
  // stream_options.include_usage: a last chunk with empty choices carries the usage.
  bool include_usage = false;
};

// The request body as a GenerateRequest. INVALID_ARGUMENT for malformed JSON, a field of the
// wrong type or out of range, or a feature this server does not have (n > 1, logprobs,
// echo, tools, ...); the status names the field (ErrorFromStatus puts it in `param`).
// Unknown fields are ignored, as OpenAI clients send many optional ones.
absl::StatusOr<ParsedRequest> ParseRequest(Endpoint endpoint, std::string_view body);

struct ChatMessage {
  std::string role;  // "system" (or "developer"), "user", "assistant"
  std::string content;
};

// RWKV's chat format: "System: …\n\nUser: …\n\nAssistant: …\n\n" turns ending in
// "Assistant:" (or, when the last message is the assistant's, in its unfinished reply, which
// the model continues). Contents are trimmed and blank lines inside them collapse to one
// newline, since "\n\n" separates turns.
std::string ChatPrompt(const std::vector<ChatMessage>& messages);

// Stop string added to every chat request: the model starting the user's next turn.
inline constexpr std::string_view kChatTurnStop = "\n\nUser:";

// Removes the one space a chat reply starts with (the prompt ends in "Assistant:"), across
// stream chunks: the first non-empty chunk loses a leading space, later ones are untouched.
class ReplyStart {
 public:
  std::string Trim(std::string text);

 private:
  bool started_ = false;
};

// What every object of one response shares.
struct ResponseMeta {
  std::string id;       // "cmpl-…" / "chatcmpl-…"
  int64_t created = 0;  // Unix seconds
  std::string model;
};

// "stop", "length", or "" (cancelled / error / unspecified: no OpenAI value).
std::string FinishReasonName(rwkv::v1::FinishReason reason);
nlohmann::json UsageJson(const rwkv::v1::TokenUsage& usage);

// The non-streaming response: text_completion or chat.completion.
nlohmann::json CompletionResponse(Endpoint endpoint, const ResponseMeta& meta,
                                  const std::string& text, const rwkv::v1::FinalInfo& final);

// Stream chunks. With include_usage every chunk carries "usage": null until UsageChunk.
// The chat stream's first chunk: delta {"role": "assistant", "content": ""}.
nlohmann::json RoleChunk(const ResponseMeta& meta, bool include_usage);
nlohmann::json TextChunk(Endpoint endpoint, const ResponseMeta& meta, const std::string& text,
                         bool include_usage);

// The SSE events of one stream's text chunks, equal to SseEvent(TextChunk(…).dump()) but
// without building a JSON object per token: the chunk is rendered once around a marker, and
// each token only has its text escaped into place.
class TextChunkEvents {
 public:
  TextChunkEvents(Endpoint endpoint, const ResponseMeta& meta, bool include_usage);
  std::string Render(const std::string& text) const;

 private:
  std::string prefix_;  // "data: {…" up to the text's opening quote
  std::string suffix_;  // from after the text's closing quote to "}\n\n"
};

nlohmann::json FinishChunk(Endpoint endpoint, const ResponseMeta& meta,
                           const std::string& finish_reason, bool include_usage);
nlohmann::json UsageChunk(Endpoint endpoint, const ResponseMeta& meta,
                          const rwkv::v1::TokenUsage& usage);

// GET /v1/models and GET /v1/models/{id}.
nlohmann::json ModelList(const rwkv::v1::ListModelsResponse& models);
nlohmann::json ModelObject(const rwkv::v1::ModelInfo& model);

// An error as OpenAI sends it: {"error": {"message", "type", "param", "code"}}.
struct ApiError {
  int http_status = 500;
  nlohmann::json body;
};

// INVALID_ARGUMENT naming the request field `param`.
absl::Status FieldError(absl::string_view param, absl::string_view message);

// 400 INVALID_ARGUMENT / OUT_OF_RANGE / FAILED_PRECONDITION, 401 UNAUTHENTICATED,
// 403 PERMISSION_DENIED, 404 NOT_FOUND, 429 RESOURCE_EXHAUSTED, 503 UNAVAILABLE,
// 504 DEADLINE_EXCEEDED, 499 CANCELLED, 500 otherwise.
ApiError ErrorFromStatus(const absl::Status& status);

}  // namespace rwkv::gateway::openai
