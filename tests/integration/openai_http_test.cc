// rwkv-gateway --http-listen end to end: a real worker and gateway on 127.0.0.1 serving a tiny
// synthetic byte-vocabulary model ("demo"), driven with curl (raw SSE framing, errors,
// disconnects, HTTPS) and with the official openai client library (tests/openai, installed by
// scripts/install-deps.sh).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "integration/gateway_harness.h"
#include "nlohmann/json.hpp"
#include "rwkv/engine/synth.h"

namespace rwkv::testing {
namespace {

namespace v1 = ::rwkv::v1;
namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::seconds;

constexpr char kToken[] = "http-secret";

// The HTTP port from the gateway's "serving HTTP on ... (port N)" log line; 0 until then.
int HttpPort(const ServerProcess& gateway) {
  const std::string log = gateway.Log();
  const size_t at = log.find("serving HTTP on ");
  if (at == std::string::npos) return 0;
  const size_t port = log.find("(port ", at);
  return port == std::string::npos ? 0 : std::atoi(log.c_str() + port + 6);
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct HttpReply {
  int status = 0;  // 0: no HTTP reply (connection refused, TLS failure, ...)
  std::string headers;
  std::string body;
  json Json() const { return json::parse(body, nullptr, false); }
};

// curl -i with `args`; the body (if any) is sent from a file, so it reaches the server byte
// for byte.
HttpReply Curl(const std::string& url, const std::string& args, const std::string& body = "",
               const std::string& token = kToken) {
  std::string command = "curl -sS -i -N --max-time 60 " + args;
  if (!token.empty()) command += " -H " + ShellQuote("Authorization: Bearer " + token);
  if (!body.empty()) {
    const std::string file = MakeTempDir("openai-body") + "/body.json";
    std::ofstream(file, std::ios::binary) << body;
    command += " -H 'Content-Type: application/json' --data-binary @" + file;
  }
  command += " " + ShellQuote(url) + " 2>/dev/null";
  std::string output;
  RunCommand(command, &output);
  HttpReply reply;
  const size_t end = output.find("\r\n\r\n");
  if (output.rfind("HTTP/", 0) != 0 || end == std::string::npos) return reply;
  reply.status = std::atoi(output.c_str() + output.find(' ') + 1);
  reply.headers = output.substr(0, end);
  reply.body = output.substr(end + 4);
  return reply;
}

// The "data:" payloads of an event stream, checking that every event is "data: ...\n\n".
std::vector<std::string> SseEvents(const std::string& body) {
  std::vector<std::string> events;
  size_t at = 0;
  while (at < body.size()) {
    const size_t end = body.find("\n\n", at);
    EXPECT_NE(end, std::string::npos) << "unterminated event at " << at << ":\n" << body;
    if (end == std::string::npos) break;
    const std::string event = body.substr(at, end - at);
    EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
    EXPECT_EQ(event.find('\n'), std::string::npos) << event;
    events.push_back(event.substr(6));
    at = end + 2;
  }
  return events;
}

// A streaming curl left running: its output is read as it comes; Kill() drops the connection.
class CurlStream {
 public:
  CurlStream(const std::string& url, const std::string& body) {
    const std::string file = MakeTempDir("openai-stream") + "/body.json";
    std::ofstream(file, std::ios::binary) << body;
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    std::vector<std::string> argv = {"curl",
                                     "-sS",
                                     "-N",
                                     "--max-time",
                                     "120",
                                     "-H",
                                     std::string("Authorization: Bearer ") + kToken,
                                     "-H",
                                     "Content-Type: application/json",
                                     "--data-binary",
                                     "@" + file,
                                     url};
    std::vector<char*> cargv;
    for (std::string& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    if (posix_spawnp(&pid_, "curl", &actions, nullptr, cargv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    out_ = fds[0];
  }
  ~CurlStream() {
    Kill();
    close(out_);
  }
  // Reads until `text` has arrived; false when the stream ends first.
  bool ReadUntil(const std::string& text) {
    char buffer[4096];
    while (seen_.find(text) == std::string::npos) {
      const ssize_t n = read(out_, buffer, sizeof(buffer));
      if (n <= 0) return false;
      seen_.append(buffer, static_cast<size_t>(n));
    }
    return true;
  }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string seen_;
};

struct HttpFleet {
  std::string root;
  std::unique_ptr<WorkerProcess> worker;
  std::unique_ptr<GatewayProcess> gateway;
  std::string base;  // http://127.0.0.1:PORT
};
HttpFleet* setup = nullptr;

std::vector<std::string> WorkerArgs(const std::string& root, int max_sequences) {
  return {"--model",   "demo", "--storage-root",  root,
          "--threads", "1",    "--max-sequences", std::to_string(max_sequences)};
}

class OpenAiHttpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    setup = new HttpFleet;
    setup->root = MakeTempDir("openai-http");
    fs::create_directories(setup->root + "/models");
    engine::SynthOptions synth;
    synth.output_path = setup->root + "/models/demo.gguf";
    synth.n_embd = 64;
    synth.n_layer = 2;
    synth.vocab = "bytes";
    synth.seed = 1;
    ASSERT_TRUE(engine::WriteSyntheticModel(synth).ok());
    std::ofstream(setup->root + "/tokens") << std::string(kToken) << "\n";
    setup->worker = std::make_unique<WorkerProcess>(setup->root, WorkerArgs(setup->root, 4));
    ASSERT_TRUE(setup->worker->WaitServing());
    setup->gateway = std::make_unique<GatewayProcess>(
        setup->root,
        std::vector<std::string>{"--workers", setup->worker->address(), "--http-listen",
                                 "127.0.0.1:0", "--auth-token-file", setup->root + "/tokens"});
    ASSERT_TRUE(setup->gateway->WaitServing());
    ASSERT_TRUE(setup->gateway->WaitHealthy("default", 1));
    const int port = HttpPort(*setup->gateway);
    ASSERT_GT(port, 0) << setup->gateway->Log();
    setup->base = "http://127.0.0.1:" + std::to_string(port);
  }
  static void TearDownTestSuite() {
    delete setup;
    setup = nullptr;
  }

  static std::string Url(const std::string& path) { return setup->base + path; }

  // The same request over gRPC straight to the worker, for comparison.
  static StreamResult Grpc(const std::string& prompt, uint32_t max_tokens) {
    return Generate(*setup->worker->Inference(), Greedy(prompt, max_tokens));
  }
};

TEST_F(OpenAiHttpTest, ProbesAndModels) {
  EXPECT_EQ(Curl(Url("/healthz"), "", "", "").status, 200);
  HttpReply ready = Curl(Url("/readyz"), "", "", "");
  EXPECT_EQ(ready.status, 200) << ready.body;
  HttpReply models = Curl(Url("/v1/models"), "");
  ASSERT_EQ(models.status, 200) << models.body;
  json list = models.Json();
  EXPECT_EQ(list["object"], "list");
  ASSERT_EQ(list["data"].size(), 1u) << models.body;
  EXPECT_EQ(list["data"][0]["id"], "demo");
  EXPECT_EQ(list["data"][0]["object"], "model");
  HttpReply one = Curl(Url("/v1/models/demo"), "");
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(one.Json()["id"], "demo");
  EXPECT_EQ(Curl(Url("/v1/models/other"), "").status, 404);
}

TEST_F(OpenAiHttpTest, CompletionMatchesTheGrpcPath) {
  HttpReply reply = Curl(Url("/v1/completions"), "",
                         R"({"model":"demo","prompt":"Hello, HTTP","max_tokens":16,)"
                         R"("temperature":0,"ignore_eos":true,"user":"u1","n":1})");
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_NE(reply.headers.find("Content-Type: application/json"), std::string::npos);
  json body = reply.Json();
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_EQ(body["model"], "demo");
  EXPECT_EQ(body["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  StreamResult grpc = Grpc("Hello, HTTP", 16);
  ASSERT_TRUE(grpc.status.ok()) << grpc.status.error_message();
  EXPECT_EQ(body["choices"][0]["text"], grpc.text);
  EXPECT_EQ(body["usage"]["completion_tokens"], 16);
  EXPECT_EQ(body["usage"]["prompt_tokens"], grpc.final.usage().prompt_tokens());
  EXPECT_EQ(body["usage"]["total_tokens"], 16 + grpc.final.usage().prompt_tokens());
}

TEST_F(OpenAiHttpTest, CompletionStreamIsServerSentEventsEndingInDone) {
  HttpReply reply = Curl(Url("/v1/completions"), "",
                         R"({"model":"demo","prompt":"Hello, HTTP","max_tokens":16,)"
                         R"("temperature":0,"ignore_eos":true,"stream":true,)"
                         R"("stream_options":{"include_usage":true}})");
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_NE(reply.headers.find("Content-Type: text/event-stream"), std::string::npos)
      << reply.headers;
  std::vector<std::string> events = SseEvents(reply.body);
  ASSERT_GE(events.size(), 4u) << reply.body;
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  std::string id;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    json chunk = json::parse(events[i], nullptr, false);
    ASSERT_FALSE(chunk.is_discarded()) << events[i];
    EXPECT_EQ(chunk["object"], "text_completion");
    if (id.empty()) id = chunk["id"];
    EXPECT_EQ(chunk["id"], id);  // one id for the whole stream
    ASSERT_TRUE(chunk.contains("usage")) << events[i];
    if (i + 2 < events.size()) {
      EXPECT_TRUE(chunk["usage"].is_null()) << events[i];
      ASSERT_EQ(chunk["choices"].size(), 1u) << events[i];
      text += chunk["choices"][0]["text"].get<std::string>();
      const bool last_choice = i + 3 == events.size();
      EXPECT_EQ(chunk["choices"][0]["finish_reason"].is_null(), !last_choice) << events[i];
      if (last_choice) {
        EXPECT_EQ(chunk["choices"][0]["finish_reason"], "length");
      }
    } else {  // the usage chunk
      EXPECT_TRUE(chunk["choices"].empty()) << events[i];
      EXPECT_EQ(chunk["usage"]["completion_tokens"], 16) << events[i];
    }
  }
  EXPECT_EQ(text, Grpc("Hello, HTTP", 16).text);
}

TEST_F(OpenAiHttpTest, ChatStreamStartsWithTheRoleAndMatchesTheWholeReply) {
  const std::string request =
      R"({"model":"demo","messages":[{"role":"system","content":"Be brief."},)"
      R"({"role":"user","content":"Hi"}],"max_completion_tokens":12,"temperature":0,)"
      R"("ignore_eos":true)";
  HttpReply whole = Curl(Url("/v1/chat/completions"), "", request + "}");
  ASSERT_EQ(whole.status, 200) << whole.body;
  json body = whole.Json();
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["choices"][0]["message"]["role"], "assistant");
  const std::string content = body["choices"][0]["message"]["content"];
  // RWKV's chat prompt, and the reply without the space after "Assistant:".
  StreamResult grpc = Grpc("System: Be brief.\n\nUser: Hi\n\nAssistant:", 12);
  std::string expected = grpc.text;
  if (!expected.empty() && expected[0] == ' ') expected.erase(0, 1);
  EXPECT_EQ(content, expected);

  HttpReply stream = Curl(Url("/v1/chat/completions"), "", request + R"(,"stream":true})");
  ASSERT_EQ(stream.status, 200) << stream.body;
  std::vector<std::string> events = SseEvents(stream.body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  json first = json::parse(events[0]);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  EXPECT_FALSE(first.contains("usage"));  // include_usage not asked for
  std::string streamed;
  for (size_t i = 1; i + 1 < events.size(); ++i) {
    json chunk = json::parse(events[i]);
    if (chunk["choices"][0]["delta"].contains("content")) {
      streamed += chunk["choices"][0]["delta"]["content"].get<std::string>();
    }
  }
  EXPECT_EQ(streamed, content);
  EXPECT_EQ(json::parse(events[events.size() - 2])["choices"][0]["finish_reason"], "length");
}

TEST_F(OpenAiHttpTest, ErrorsAreOpenAiErrorObjects) {
  struct Case {
    std::string path;
    std::string args;
    std::string body;
    std::string token;
    int status;
    std::string param;  // "" = null
  };
  const Case cases[] = {
      {"/v1/completions", "", "{not json", kToken, 400, ""},
      {"/v1/completions", "", R"({"model":"demo","prompt":"x","max_tokens":-3})", kToken, 400,
       "max_tokens"},
      {"/v1/chat/completions", "", R"({"model":"demo","messages":"hi"})", kToken, 400, "messages"},
      {"/v1/completions", "", R"({"model":"demo","prompt":"x","n":3})", kToken, 400, "n"},
      {"/v1/completions", "", R"({"model":"demo","prompt":"x"})", "", 401, ""},
      {"/v1/completions", "", R"({"model":"demo","prompt":"x"})", "wrong", 401, ""},
      {"/v1/models", "", "", "", 401, ""},
      {"/v1/completions", "", R"({"model":"no-such-model","prompt":"x"})", kToken, 404, ""},
      {"/v1/completions", "", R"({"model":"demo","prompt":"x","state":"no-such-state"})", kToken,
       404, ""},
      {"/v1/completions", "", R"({"model":"demo","prompt":"x","pool":"no-such-pool"})", kToken, 503,
       ""},
      {"/v1/embeddings", "", R"({"model":"demo","input":"x"})", kToken, 404, ""},
      {"/v1/completions", "-X GET", "", kToken, 405, ""},
  };
  for (const Case& c : cases) {
    HttpReply reply = Curl(Url(c.path), c.args, c.body, c.token);
    EXPECT_EQ(reply.status, c.status) << c.path << " " << c.body << "\n" << reply.body;
    json error = reply.Json();
    ASSERT_TRUE(error.contains("error")) << reply.body;
    EXPECT_FALSE(error["error"]["message"].get<std::string>().empty()) << reply.body;
    EXPECT_TRUE(error["error"]["type"].is_string()) << reply.body;
    if (c.param.empty()) {
      EXPECT_TRUE(error["error"]["param"].is_null()) << reply.body;
    } else {
      EXPECT_EQ(error["error"]["param"], c.param) << reply.body;
    }
  }
  EXPECT_GE(setup->gateway->Metric("rwkv_gateway_requests_total",
                                   "code=\"UNAUTHENTICATED\",model=\"unknown\",pool=\"none\","
                                   "protocol=\"http\""),
            2);
}

TEST_F(OpenAiHttpTest, DisconnectMidStreamFreesTheWorkerSlot) {
  const double cancelled_before = setup->gateway->Metric(
      "rwkv_gateway_requests_total",
      "code=\"CANCELLED\",model=\"demo\",pool=\"default\",protocol=\"http\"");
  {
    CurlStream stream(Url("/v1/completions"),
                      R"({"model":"demo","prompt":"forever","max_tokens":65536,)"
                      R"("ignore_eos":true,"stream":true})");
    ASSERT_TRUE(stream.ReadUntil("\"text_completion\""));
    ASSERT_TRUE(WaitWorkerStatus(*setup->worker,
                                 [](const v1::WorkerStatus& s) { return s.slots_busy() == 1; }));
    stream.Kill();
  }
  EXPECT_TRUE(WaitWorkerStatus(*setup->worker, [](const v1::WorkerStatus& s) {
    return s.slots_busy() == 0;
  })) << "the worker still generates for a client that is gone";
  const auto end = std::chrono::steady_clock::now() + seconds(30);
  double cancelled = 0;
  while (std::chrono::steady_clock::now() < end) {
    cancelled = setup->gateway->Metric(
        "rwkv_gateway_requests_total",
        "code=\"CANCELLED\",model=\"demo\",pool=\"default\",protocol=\"http\"");
    if (cancelled > std::max(cancelled_before, 0.0)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(cancelled, std::max(cancelled_before, 0.0) + 1);
  EXPECT_EQ(setup->gateway->Metric("rwkv_gateway_streams_in_flight", "protocol=\"http\""), 0);
}

TEST_F(OpenAiHttpTest, StreamLimitIs429AndNoWorkerIs503) {
  const std::string dir = MakeTempDir("openai-limit");
  auto solo = std::make_unique<WorkerProcess>(setup->root, WorkerArgs(setup->root, 2));
  ASSERT_TRUE(solo->WaitServing());
  GatewayProcess gateway(
      dir, {"--workers", solo->address(), "--http-listen", "127.0.0.1:0", "--max-streams", "1"});
  ASSERT_TRUE(gateway.WaitServing());
  const std::string base = "http://127.0.0.1:" + std::to_string(HttpPort(gateway));
  {
    CurlStream open(base + "/v1/completions",
                    R"({"model":"demo","prompt":"hold","max_tokens":65536,"ignore_eos":true,)"
                    R"("stream":true})");
    ASSERT_TRUE(open.ReadUntil("data: "));
    HttpReply refused = Curl(base + "/v1/completions", "", R"({"model":"demo","prompt":"x"})");
    EXPECT_EQ(refused.status, 429) << refused.body;
    EXPECT_EQ(refused.Json()["error"]["type"], "rate_limit_error") << refused.body;
  }
  solo->Kill();
  const auto end = std::chrono::steady_clock::now() + seconds(60);
  int ready = 0;
  while (std::chrono::steady_clock::now() < end) {
    ready = Curl(base + "/readyz", "", "", "").status;
    if (ready == 503) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(ready, 503);
  HttpReply unavailable =
      Curl(base + "/v1/completions", "", R"({"model":"demo","prompt":"x","max_tokens":2})");
  EXPECT_EQ(unavailable.status, 503) << unavailable.body;
  EXPECT_EQ(unavailable.Json()["error"]["type"], "server_error") << unavailable.body;
}

TEST_F(OpenAiHttpTest, DrainsOnSigterm) {
  const std::string dir = MakeTempDir("openai-drain");
  GatewayProcess gateway(dir, {"--workers", setup->worker->address(), "--http-listen",
                               "127.0.0.1:0", "--drain-timeout", "120s"});
  ASSERT_TRUE(gateway.WaitServing());
  const std::string base = "http://127.0.0.1:" + std::to_string(HttpPort(gateway));
  CurlStream open(base + "/v1/completions",
                  R"({"model":"demo","prompt":"drain","max_tokens":65536,"ignore_eos":true,)"
                  R"("stream":true})");
  ASSERT_TRUE(open.ReadUntil("data: "));
  gateway.Terminate();
  // While the stream is open the gateway drains: not ready, new requests refused.
  const auto end = std::chrono::steady_clock::now() + seconds(60);
  int ready = 0;
  while (ready != 503 && std::chrono::steady_clock::now() < end) {
    ready = Curl(base + "/readyz", "", "", "").status;
    if (ready != 503) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(ready, 503);
  HttpReply refused = Curl(base + "/v1/completions", "", R"({"model":"demo","prompt":"x"})");
  EXPECT_EQ(refused.status, 503) << refused.body;
  // The last stream ends (its client goes): the gateway exits cleanly.
  open.Kill();
  EXPECT_EQ(gateway.Wait(), 0) << gateway.Log();
}

TEST_F(OpenAiHttpTest, DrainDeadlineCancelsOpenStreams) {
  const std::string dir = MakeTempDir("openai-drain-deadline");
  GatewayProcess gateway(dir, {"--workers", setup->worker->address(), "--http-listen",
                               "127.0.0.1:0", "--drain-timeout", "1s"});
  ASSERT_TRUE(gateway.WaitServing());
  const std::string base = "http://127.0.0.1:" + std::to_string(HttpPort(gateway));
  CurlStream open(base + "/v1/completions",
                  R"({"model":"demo","prompt":"deadline","max_tokens":65536,"ignore_eos":true,)"
                  R"("stream":true})");
  ASSERT_TRUE(open.ReadUntil("data: "));
  gateway.Terminate();
  // The client keeps reading: the stream is cancelled at the deadline, ends with an error
  // event, and the gateway exits cleanly.
  EXPECT_TRUE(open.ReadUntil("\"error\""));
  EXPECT_FALSE(open.ReadUntil("[DONE]"));
  EXPECT_EQ(gateway.Wait(), 0) << gateway.Log();
  EXPECT_TRUE(WaitWorkerStatus(*setup->worker, [](const v1::WorkerStatus& s) {
    return s.slots_busy() == 0;
  })) << "the worker still generates for a stream the gateway cancelled";
}

TEST_F(OpenAiHttpTest, ExitsWhenTheGrpcPortIsTakenAfterHttpStarted) {
  // A port held by a socket without SO_REUSEPORT: gRPC cannot listen there.
  const int held = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(held, 0);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(bind(held, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(held, 1), 0);
  ASSERT_EQ(getsockname(held, reinterpret_cast<sockaddr*>(&address), &length), 0);
  // The HTTP listener starts first; the gateway must stop it and exit, not hang.
  GatewayProcess gateway(MakeTempDir("openai-port-taken"),
                         {"--workers", setup->worker->address(), "--http-listen", "127.0.0.1:0",
                          "--listen", "127.0.0.1:" + std::to_string(ntohs(address.sin_port))});
  EXPECT_EQ(gateway.Wait(), 1) << gateway.Log();
  EXPECT_NE(gateway.Log().find("serving HTTP on"), std::string::npos) << gateway.Log();
  close(held);
}

// A self-signed certificate for localhost and 127.0.0.1 in dir/cert.pem and dir/key.pem;
// false (with openssl's output) when openssl cannot make one.
bool MakeCertificate(const std::string& dir, const std::string& name, std::string* output) {
  return RunCommand(
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-days 1 -subj /CN=localhost "
             "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " +
                 dir + "/" + name + "key.pem -out " + dir + "/" + name + "cert.pem 2>&1",
             output) == 0;
}

TEST_F(OpenAiHttpTest, ServesHttpsWithTheGatewayCertificate) {
  const std::string dir = MakeTempDir("openai-https");
  std::string output;
  if (!MakeCertificate(dir, "", &output)) {
    GTEST_SKIP() << "openssl cannot make a test certificate: " << output;
  }
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFileOrDie(dir + "/cert.pem");
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  GatewayProcess gateway(dir,
                         {"--workers", setup->worker->address(), "--http-listen", "127.0.0.1:0",
                          "--tls-cert", dir + "/cert.pem", "--tls-key", dir + "/key.pem"},
                         grpc::SslCredentials(ssl), args);
  ASSERT_TRUE(gateway.WaitServing());
  ASSERT_TRUE(gateway.WaitHealthy("default", 1));
  const int port = HttpPort(gateway);
  ASSERT_GT(port, 0) << gateway.Log();
  EXPECT_NE(gateway.Log().find("with TLS"), std::string::npos) << gateway.Log();
  const std::string https = "https://127.0.0.1:" + std::to_string(port);
  const std::string trust = "--cacert " + ShellQuote(dir + "/cert.pem");

  HttpReply reply = Curl(https + "/v1/completions", trust,
                         R"({"model":"demo","prompt":"Hello, TLS","max_tokens":12,)"
                         R"("temperature":0,"ignore_eos":true,"stream":true})");
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_NE(reply.headers.find("Content-Type: text/event-stream"), std::string::npos)
      << reply.headers;
  std::vector<std::string> events = SseEvents(reply.body);
  ASSERT_GE(events.size(), 3u) << reply.body;
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    json chunk = json::parse(events[i], nullptr, false);
    ASSERT_FALSE(chunk.is_discarded()) << events[i];
    text += chunk["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(text, Grpc("Hello, TLS", 12).text);

  // Without the certificate curl does not trust the server; plaintext HTTP to the HTTPS port
  // gets no HTTP reply, and the port keeps serving HTTPS afterwards.
  EXPECT_EQ(Curl(https + "/healthz", "", "", "").status, 0);
  EXPECT_EQ(Curl("http://127.0.0.1:" + std::to_string(port) + "/healthz", "", "", "").status, 0);
  EXPECT_EQ(Curl(https + "/healthz", trust, "", "").status, 200);
  gateway.Terminate();
  EXPECT_EQ(gateway.Wait(), 0) << gateway.Log();
}

TEST_F(OpenAiHttpTest, UnusableTlsFilesAreOneClearError) {
  const std::string dir = MakeTempDir("openai-tls-files");
  std::string output;
  if (!MakeCertificate(dir, "", &output) || !MakeCertificate(dir, "other-", &output)) {
    GTEST_SKIP() << "openssl cannot make a test certificate: " << output;
  }
  std::ofstream(dir + "/garbage.pem") << "not a certificate\n";
  struct Case {
    std::string cert, key, message;
  };
  const std::vector<Case> cases = {
      {dir + "/missing.pem", dir + "/key.pem", "--tls-cert: cannot read " + dir + "/missing.pem"},
      {dir + "/garbage.pem", dir + "/key.pem",
       "--tls-cert: " + dir + "/garbage.pem holds no PEM certificate"},
      {dir + "/cert.pem", dir + "/missing.pem", "--tls-key: cannot read " + dir + "/missing.pem"},
      {dir + "/cert.pem", dir + "/garbage.pem",
       "--tls-key: " + dir + "/garbage.pem holds no unencrypted PEM private key"},
      {dir + "/cert.pem", dir + "/other-key.pem",
       "--tls-key: " + dir + "/other-key.pem does not match the certificate in " + dir +
           "/cert.pem"},
  };
  for (const Case& c : cases) {
    GatewayProcess gateway(MakeTempDir("openai-tls-case"),
                           {"--workers", setup->worker->address(), "--http-listen", "127.0.0.1:0",
                            "--tls-cert", c.cert, "--tls-key", c.key});
    EXPECT_EQ(gateway.Wait(), 1) << gateway.Log();
    EXPECT_NE(gateway.Log().find(c.message), std::string::npos) << gateway.Log();
    EXPECT_EQ(gateway.Log().find("serving HTTP"), std::string::npos) << gateway.Log();
  }
}

TEST_F(OpenAiHttpTest, OfficialOpenAiClientLibrary) {
  const fs::path package = fs::path(FixtureDir()).parent_path() / "openai";
  std::string output;
  if (RunCommand("node --version", &output) != 0) {
    GTEST_SKIP() << "node is not installed (scripts/install-deps.sh installs it)";
  }
  if (!fs::exists(package / "node_modules/openai/package.json")) {
    GTEST_SKIP() << "the openai npm package is not installed in " << package
                 << " (scripts/install-deps.sh runs npm ci there)";
  }
  const int rc = RunCommand("timeout 300 node " + (package / "client_check.mjs").string() + " " +
                                setup->base + "/v1 " + kToken + " demo 2>&1",
                            &output);
  ASSERT_EQ(rc, 0) << output;
  json r = json::parse(output.substr(output.find('{')), nullptr, false);
  ASSERT_FALSE(r.is_discarded()) << output;

  StreamResult grpc = Grpc("Hello", 12);
  EXPECT_EQ(r["completion"]["object"], "text_completion");
  EXPECT_EQ(r["completion"]["text"], grpc.text);
  EXPECT_EQ(r["completion"]["finish_reason"], "length");
  EXPECT_EQ(r["completion"]["usage"]["completion_tokens"], 12);
  EXPECT_EQ(r["completion_stream"]["text"], grpc.text);
  EXPECT_EQ(r["completion_stream"]["finish_reason"], "length");
  EXPECT_EQ(r["completion_stream"]["usage"]["completion_tokens"], 12);
  EXPECT_GE(r["completion_stream"]["chunks"], 3);

  EXPECT_EQ(r["chat"]["object"], "chat.completion");
  EXPECT_EQ(r["chat"]["role"], "assistant");
  EXPECT_EQ(r["chat"]["finish_reason"], "length");
  EXPECT_EQ(r["chat"]["usage"]["completion_tokens"], 10);
  EXPECT_EQ(r["chat_stream"]["role"], "assistant");
  EXPECT_EQ(r["chat_stream"]["content"], r["chat"]["content"]);
  EXPECT_EQ(r["chat_stream"]["finish_reason"], "length");
  EXPECT_EQ(r["chat_stream"]["usage"]["completion_tokens"], 10);

  EXPECT_EQ(r["models"], json::array({"demo"}));
  EXPECT_EQ(r["unknown_model"]["status"], 404) << output;
  EXPECT_EQ(r["bad_field"]["status"], 400) << output;
  EXPECT_EQ(r["wrong_key"]["status"], 401) << output;
}

}  // namespace
}  // namespace rwkv::testing
