// The OpenAI JSON <-> rwkv.v1 mapping: request fields, RWKV's chat prompt, response and chunk
// shapes, errors with their HTTP status and param.
#include "gateway/openai_mapping.h"

#include <string>

#include "gateway/sse.h"
#include "gtest/gtest.h"

namespace rwkv::gateway::openai {
namespace {

namespace v1 = ::rwkv::v1;
using nlohmann::json;

ParsedRequest MustParse(Endpoint endpoint, const json& body) {
  auto parsed = ParseRequest(endpoint, body.dump());
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *std::move(parsed) : ParsedRequest{};
}

// The error a body gets: HTTP status and the error object.
ApiError ErrorOf(Endpoint endpoint, const std::string& body) {
  auto parsed = ParseRequest(endpoint, body);
  EXPECT_FALSE(parsed.ok()) << body;
  return parsed.ok() ? ApiError{} : ErrorFromStatus(parsed.status());
}

TEST(OpenAiMappingTest, CompletionFieldsMapToTheGenerateRequest) {
  ParsedRequest r =
      MustParse(Endpoint::kCompletions, {{"model", "demo"},
                                         {"prompt", "Once upon"},
                                         {"max_tokens", 12},
                                         {"temperature", 0.5},
                                         {"top_p", 0.9},
                                         {"top_k", 40},
                                         {"min_p", 0.05},
                                         {"presence_penalty", 0.25},
                                         {"frequency_penalty", -0.5},
                                         {"seed", 7},
                                         {"stop", {"\n", "The end"}},
                                         {"n", 1},
                                         {"user", "u-1"},
                                         {"logprobs", nullptr},
                                         {"stream", true},
                                         {"stream_options", {{"include_usage", true}}},
                                         {"state", "persona"},
                                         {"session_id", "s-1"},
                                         {"pool", "alpha"},
                                         {"ignore_eos", true},
                                         {"some_future_field", {1, 2}}});
  const v1::GenerateRequest& g = r.generate;
  EXPECT_EQ(g.model(), "demo");
  EXPECT_EQ(g.text(), "Once upon");
  EXPECT_EQ(g.max_tokens(), 12u);
  EXPECT_FLOAT_EQ(g.sampling().temperature(), 0.5f);
  EXPECT_FLOAT_EQ(g.sampling().top_p(), 0.9f);
  EXPECT_EQ(g.sampling().top_k(), 40u);
  EXPECT_FLOAT_EQ(g.sampling().min_p(), 0.05f);
  EXPECT_FLOAT_EQ(g.sampling().presence_penalty(), 0.25f);
  EXPECT_FLOAT_EQ(g.sampling().frequency_penalty(), -0.5f);
  ASSERT_TRUE(g.sampling().has_seed());
  EXPECT_EQ(g.sampling().seed(), 7u);
  ASSERT_EQ(g.stop_size(), 2);
  EXPECT_EQ(g.stop(0), "\n");
  EXPECT_EQ(g.stop(1), "The end");
  EXPECT_EQ(g.initial_state(), "persona");
  EXPECT_EQ(g.session_id(), "s-1");
  EXPECT_EQ(g.placement().pool(), "alpha");
  EXPECT_TRUE(g.ignore_eos());
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
}

TEST(OpenAiMappingTest, DefaultsLeaveTheServerDefaults) {
  ParsedRequest r = MustParse(Endpoint::kCompletions, {{"model", "demo"}, {"prompt", "x"}});
  EXPECT_EQ(r.generate.max_tokens(), 0u);
  EXPECT_FALSE(r.generate.sampling().has_temperature());
  EXPECT_FALSE(r.generate.sampling().has_seed());
  EXPECT_EQ(r.generate.stop_size(), 0);
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.include_usage);
  // JSON null is "not set", as OpenAI's clients send it.
  r = MustParse(Endpoint::kCompletions,
                {{"model", "demo"}, {"prompt", "x"}, {"temperature", nullptr}, {"stop", nullptr}});
  EXPECT_FALSE(r.generate.sampling().has_temperature());
}

TEST(OpenAiMappingTest, PromptForms) {
  EXPECT_EQ(
      MustParse(Endpoint::kCompletions, {{"model", "m"}, {"prompt", {"one"}}}).generate.text(),
      "one");
  v1::GenerateRequest ids =
      MustParse(Endpoint::kCompletions, {{"model", "m"}, {"prompt", {1, 2, 300}}}).generate;
  ASSERT_TRUE(ids.has_tokens());
  EXPECT_EQ(std::vector<uint32_t>(ids.tokens().ids().begin(), ids.tokens().ids().end()),
            (std::vector<uint32_t>{1, 2, 300}));
  ids = MustParse(Endpoint::kCompletions, {{"model", "m"}, {"prompt", {{5, 6}}}}).generate;
  EXPECT_EQ(ids.tokens().ids_size(), 2);
  EXPECT_EQ(ErrorOf(Endpoint::kCompletions, R"({"model":"m","prompt":["a","b"]})").http_status,
            400);
  EXPECT_EQ(ErrorOf(Endpoint::kCompletions, R"({"model":"m","prompt":[1,-2]})").http_status, 400);
  EXPECT_EQ(ErrorOf(Endpoint::kCompletions, R"({"model":"m","prompt":7})").http_status, 400);
}

TEST(OpenAiMappingTest, MaxCompletionTokensWinsOverMaxTokens) {
  ParsedRequest r =
      MustParse(Endpoint::kChatCompletions, {{"model", "m"},
                                             {"messages", {{{"role", "user"}, {"content", "hi"}}}},
                                             {"max_tokens", 5},
                                             {"max_completion_tokens", 9}});
  EXPECT_EQ(r.generate.max_tokens(), 9u);
}

TEST(OpenAiMappingTest, ChatUsesRwkvsFormatAndStopsAtTheNextUserTurn) {
  ParsedRequest r = MustParse(
      Endpoint::kChatCompletions,
      {{"model", "m"},
       {"messages",
        {{{"role", "system"}, {"content", "You are terse.\n\nVery terse."}},
         {{"role", "user"}, {"content", "  Hello!  "}},
         {{"role", "assistant"}, {"content", "Hi."}},
         {{"role", "user"},
          {"content",
           {{{"type", "text"}, {"text", "Who "}}, {{"type", "text"}, {"text", "are you?"}}}}}}},
       {"stop", "###"}});
  EXPECT_EQ(r.generate.text(),
            "System: You are terse.\nVery terse.\n\nUser: Hello!\n\nAssistant: Hi.\n\n"
            "User: Who are you?\n\nAssistant:");
  ASSERT_EQ(r.generate.stop_size(), 2);
  EXPECT_EQ(r.generate.stop(0), "###");
  EXPECT_EQ(r.generate.stop(1), kChatTurnStop);
}

TEST(OpenAiMappingTest, ChatPromptDeveloperRoleAndUnfinishedReply) {
  EXPECT_EQ(ChatPrompt({{"system", "Be kind."}, {"user", "Hi"}, {"assistant", "Well,"}}),
            "System: Be kind.\n\nUser: Hi\n\nAssistant: Well,");
  ParsedRequest r = MustParse(
      Endpoint::kChatCompletions,
      {{"model", "m"},
       {"messages",
        {{{"role", "developer"}, {"content", "Rules."}}, {{"role", "user"}, {"content", "Go"}}}}});
  EXPECT_EQ(r.generate.text(), "System: Rules.\n\nUser: Go\n\nAssistant:");
}

TEST(OpenAiMappingTest, BadFieldsAre400NamingTheParam) {
  struct Case {
    Endpoint endpoint;
    std::string body;
    std::string param;
  };
  const Case cases[] = {
      {Endpoint::kCompletions, R"({"prompt":"x"})", "model"},
      {Endpoint::kCompletions, R"({"model":3,"prompt":"x"})", "model"},
      {Endpoint::kCompletions, R"({"model":"m"})", "prompt"},
      {Endpoint::kCompletions, R"({"model":"m","prompt":"x","max_tokens":0})", "max_tokens"},
      {Endpoint::kCompletions, R"({"model":"m","prompt":"x","max_tokens":"5"})", "max_tokens"},
      {Endpoint::kCompletions, R"({"model":"m","prompt":"x","max_tokens":1.5})", "max_tokens"},
      {Endpoint::kCompletions, R"({"model":"m","prompt":"x","temperature":3})", "temperature"},
      {Endpoint::kCompletions, R"({"model":"m","prompt":"x","temperature":"hot"})", "temperature"},
      {Endpoint::kCompletions, R"({"model":"m","prompt":"x","top_p":1.5})", "top_p"},
      {Endpoint::kCompletions, R"({"model":"m","prompt":"x","top_k":-1})", "top_k"},
      {Endpoint::kCompletions, R"({"model":"m","prompt":"x","presence_penalty":2.5})",
       "presence_penalty"},
      {Endpoint::kCompletions, R"({"model":"m","prompt":"x","stop":[1]})", "stop"},
      {Endpoint::kCompletions, R"({"model":"m","prompt":"x","n":2})", "n"},
      {Endpoint::kCompletions, R"({"model":"m","prompt":"x","logprobs":2})", "logprobs"},
      {Endpoint::kCompletions, R"({"model":"m","prompt":"x","echo":true})", "echo"},
      {Endpoint::kCompletions, R"({"model":"m","prompt":"x","stream":"yes"})", "stream"},
      {Endpoint::kCompletions, R"({"model":"m","prompt":"x","session_id":5})", "session_id"},
      {Endpoint::kChatCompletions, R"({"model":"m","messages":[]})", "messages"},
      {Endpoint::kChatCompletions, R"({"model":"m","messages":[{"role":"tool","content":"x"}]})",
       "messages"},
      {Endpoint::kChatCompletions,
       R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]})",
       "messages"},
      {Endpoint::kChatCompletions,
       R"({"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":true})", "logprobs"},
      {Endpoint::kChatCompletions,
       R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]})",
       "tools"},
  };
  for (const Case& c : cases) {
    const ApiError error = ErrorOf(c.endpoint, c.body);
    EXPECT_EQ(error.http_status, 400) << c.body;
    EXPECT_EQ(error.body["error"]["type"], "invalid_request_error") << c.body;
    EXPECT_EQ(error.body["error"]["param"], c.param) << c.body;
    EXPECT_FALSE(error.body["error"]["message"].get<std::string>().empty()) << c.body;
  }
}

TEST(OpenAiMappingTest, MalformedJsonIs400WithoutParam) {
  for (const std::string body : {"{", "", "[1,2]", "\"text\"", "{\"model\":\"m\",}"}) {
    const ApiError error = ErrorOf(Endpoint::kCompletions, body);
    EXPECT_EQ(error.http_status, 400) << body;
    EXPECT_TRUE(error.body["error"]["param"].is_null()) << body;
  }
}

TEST(OpenAiMappingTest, StatusCodesMapToHttpStatuses) {
  EXPECT_EQ(ErrorFromStatus(absl::UnauthenticatedError("no token")).http_status, 401);
  EXPECT_EQ(ErrorFromStatus(absl::NotFoundError("model 'x' is not served")).http_status, 404);
  EXPECT_EQ(ErrorFromStatus(absl::ResourceExhaustedError("limit")).http_status, 429);
  EXPECT_EQ(ErrorFromStatus(absl::UnavailableError("no worker")).http_status, 503);
  EXPECT_EQ(ErrorFromStatus(absl::InternalError("boom")).http_status, 500);
  const ApiError error = ErrorFromStatus(absl::UnavailableError("no worker"));
  EXPECT_EQ(error.body["error"]["message"], "no worker");
  EXPECT_EQ(error.body["error"]["type"], "server_error");
  EXPECT_TRUE(error.body["error"].contains("param"));
  EXPECT_TRUE(error.body["error"].contains("code"));
}

v1::FinalInfo Final(v1::FinishReason reason, uint32_t prompt, uint32_t generated) {
  v1::FinalInfo final;
  final.set_finish_reason(reason);
  final.mutable_usage()->set_prompt_tokens(prompt);
  final.mutable_usage()->set_generated_tokens(generated);
  return final;
}

TEST(OpenAiMappingTest, WholeResponsesAreShapedAsOpenAis) {
  const ResponseMeta meta{"cmpl-1", 1700000000, "demo"};
  json completion = CompletionResponse(Endpoint::kCompletions, meta, "text",
                                       Final(v1::FINISH_REASON_LENGTH, 3, 4));
  EXPECT_EQ(completion["id"], "cmpl-1");
  EXPECT_EQ(completion["object"], "text_completion");
  EXPECT_EQ(completion["created"], 1700000000);
  EXPECT_EQ(completion["model"], "demo");
  ASSERT_EQ(completion["choices"].size(), 1u);
  EXPECT_EQ(completion["choices"][0]["text"], "text");
  EXPECT_EQ(completion["choices"][0]["index"], 0);
  EXPECT_EQ(completion["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(completion["usage"],
            json({{"prompt_tokens", 3}, {"completion_tokens", 4}, {"total_tokens", 7}}));

  json chat = CompletionResponse(Endpoint::kChatCompletions, {"chatcmpl-1", 1, "demo"}, "Hi",
                                 Final(v1::FINISH_REASON_STOP, 1, 2));
  EXPECT_EQ(chat["object"], "chat.completion");
  EXPECT_EQ(chat["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(chat["choices"][0]["message"]["content"], "Hi");
  EXPECT_EQ(chat["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(chat["usage"]["total_tokens"], 3);
}

TEST(OpenAiMappingTest, StreamChunks) {
  const ResponseMeta meta{"chatcmpl-2", 5, "demo"};
  json role = RoleChunk(meta, /*include_usage=*/true);
  EXPECT_EQ(role["object"], "chat.completion.chunk");
  EXPECT_EQ(role["choices"][0]["delta"], json({{"role", "assistant"}, {"content", ""}}));
  EXPECT_TRUE(role["choices"][0]["finish_reason"].is_null());
  ASSERT_TRUE(role.contains("usage"));
  EXPECT_TRUE(role["usage"].is_null());

  json text = TextChunk(Endpoint::kChatCompletions, meta, "abc", /*include_usage=*/false);
  EXPECT_EQ(text["choices"][0]["delta"], json({{"content", "abc"}}));
  EXPECT_FALSE(text.contains("usage"));
  json finish = FinishChunk(Endpoint::kChatCompletions, meta, "length", false);
  EXPECT_EQ(finish["choices"][0]["delta"], json::object());
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "length");

  json plain = TextChunk(Endpoint::kCompletions, meta, "abc", false);
  EXPECT_EQ(plain["object"], "text_completion");
  EXPECT_EQ(plain["choices"][0]["text"], "abc");

  v1::TokenUsage usage;
  usage.set_prompt_tokens(2);
  usage.set_generated_tokens(5);
  json last = UsageChunk(Endpoint::kCompletions, meta, usage);
  EXPECT_TRUE(last["choices"].empty());
  EXPECT_EQ(last["usage"]["completion_tokens"], 5);
  EXPECT_EQ(last["usage"]["total_tokens"], 7);
}

TEST(OpenAiMappingTest, PreRenderedTextEventsEqualTheJsonChunks) {
  const std::string texts[] = {"",
                               "abc",
                               " quote\" and back\\slash",
                               "new\nline\r\ttab",
                               "\x01\x02\x03",
                               "caf\xc3\xa9 \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80",
                               "broken \xff\xfe utf-8 \xc3",
                               "</script>\u2028"};
  // A model name holding the renderer's marker must not move the text.
  const ResponseMeta metas[] = {{"cmpl-1", 7, "demo"}, {"chatcmpl-9", 0, "m\x01\x02\x03x"}};
  for (const ResponseMeta& meta : metas) {
    for (Endpoint endpoint : {Endpoint::kCompletions, Endpoint::kChatCompletions}) {
      for (bool usage : {false, true}) {
        const TextChunkEvents events(endpoint, meta, usage);
        for (const std::string& text : texts) {
          const std::string expected =
              SseEvent(TextChunk(endpoint, meta, text, usage)
                           .dump(-1, ' ', false, json::error_handler_t::replace));
          EXPECT_EQ(events.Render(text), expected)
              << "text " << json(text).dump(-1, ' ', false, json::error_handler_t::replace);
        }
      }
    }
  }
}

TEST(OpenAiMappingTest, FinishReasons) {
  EXPECT_EQ(FinishReasonName(v1::FINISH_REASON_STOP), "stop");
  EXPECT_EQ(FinishReasonName(v1::FINISH_REASON_LENGTH), "length");
  EXPECT_EQ(FinishReasonName(v1::FINISH_REASON_CANCELLED), "");
}

TEST(OpenAiMappingTest, ReplyStartDropsOneLeadingSpaceOnce) {
  ReplyStart start;
  EXPECT_EQ(start.Trim(""), "");
  EXPECT_EQ(start.Trim("  Hi"), " Hi");
  EXPECT_EQ(start.Trim(" there"), " there");
  ReplyStart other;
  EXPECT_EQ(other.Trim("No space"), "No space");
}

TEST(OpenAiMappingTest, ModelList) {
  v1::ListModelsResponse models;
  models.add_models()->set_name("demo");
  models.add_models()->set_name("other");
  json list = ModelList(models);
  EXPECT_EQ(list["object"], "list");
  ASSERT_EQ(list["data"].size(), 2u);
  EXPECT_EQ(list["data"][0]["id"], "demo");
  EXPECT_EQ(list["data"][0]["object"], "model");
  EXPECT_EQ(list["data"][1]["id"], "other");
}

}  // namespace
}  // namespace rwkv::gateway::openai
