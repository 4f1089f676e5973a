// rwkv-gateway end to end: real worker and gateway processes on loopback addresses serving a
// tiny synthetic byte-vocabulary model ("demo").
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "integration/converter_process.h"
#include "integration/gateway_harness.h"
#include "rwkv/engine/synth.h"

namespace rwkv::testing {
namespace {

namespace v1 = ::rwkv::v1;
namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Shared by the non-destructive tests: workers A and B in pool "alpha" (A has 2 slots, so it
// is easy to make busy), C in pool "beta", and a gateway in front of all three.
struct Fleet {
  std::string root;
  std::unique_ptr<WorkerProcess> a, b, c;
  std::unique_ptr<GatewayProcess> gateway;
};
Fleet* fleet = nullptr;

std::vector<std::string> WorkerArgs(const std::string& root, const std::string& pool,
                                    int max_sequences) {
  return {"--model",         "demo",
          "--storage-root",  root,
          "--pool",          pool,
          "--threads",       "1",
          "--max-sequences", std::to_string(max_sequences),
          "--max-queue",     "8"};
}

// Generates until the stream ends; the test's own deadline.
StreamResult Call(ServerProcess& server, const v1::GenerateRequest& r,
                  milliseconds deadline = seconds(60)) {
  return Generate(*server.Inference(), r, deadline);
}

// The worker that serves `session` (asks with a short request).
std::string OwnerOf(ServerProcess& gateway, const std::string& session) {
  StreamResult r = Call(gateway, Greedy("probe", 1, "", session));
  EXPECT_TRUE(r.status.ok()) << r.status.error_message();
  return r.final.served_by();
}

// A session id whose owner is `worker`.
std::string SessionOwnedBy(ServerProcess& gateway, const std::string& worker,
                           const std::string& tag) {
  for (int i = 0; i < 64; ++i) {
    const std::string session = tag + "-" + std::to_string(i);
    if (OwnerOf(gateway, session) == worker) return session;
  }
  ADD_FAILURE() << "no session owned by " << worker;
  return "";
}

// An open stream that has received its first message.
struct OpenStream {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader;
  v1::GenerateResponse first;
};

std::unique_ptr<OpenStream> Open(ServerProcess& server, const v1::GenerateRequest& r,
                                 bool wait_first = true) {
  auto stream = std::make_unique<OpenStream>();
  stream->context.set_deadline(std::chrono::system_clock::now() + seconds(60));
  static std::vector<std::unique_ptr<v1::Inference::Stub>> stubs;  // outlive the readers
  stubs.push_back(server.Inference());
  stream->reader = stubs.back()->Generate(&stream->context, r);
  if (wait_first) {
    EXPECT_TRUE(stream->reader->Read(&stream->first));
  }
  return stream;
}

class GatewayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fleet = new Fleet;
    fleet->root = MakeTempDir("gateway");
    fs::create_directories(fleet->root + "/models");
    engine::SynthOptions synth;
    synth.output_path = fleet->root + "/models/demo.gguf";
    synth.n_embd = 64;
    synth.n_layer = 2;
    synth.vocab = "bytes";
    synth.seed = 1;
    ASSERT_TRUE(engine::WriteSyntheticModel(synth).ok());
    fleet->a = std::make_unique<WorkerProcess>(fleet->root, WorkerArgs(fleet->root, "alpha", 2));
    fleet->b = std::make_unique<WorkerProcess>(fleet->root, WorkerArgs(fleet->root, "alpha", 8));
    fleet->c = std::make_unique<WorkerProcess>(fleet->root, WorkerArgs(fleet->root, "beta", 8));
    ASSERT_TRUE(fleet->a->WaitServing());
    ASSERT_TRUE(fleet->b->WaitServing());
    ASSERT_TRUE(fleet->c->WaitServing());
    fleet->gateway = std::make_unique<GatewayProcess>(
        fleet->root,
        std::vector<std::string>{
            "--workers", Join({fleet->a->address(), fleet->b->address(), fleet->c->address()})});
    ASSERT_TRUE(fleet->gateway->WaitServing());
    ASSERT_TRUE(fleet->gateway->WaitHealthy("alpha", 2));
    ASSERT_TRUE(fleet->gateway->WaitHealthy("beta", 1));
  }
  static void TearDownTestSuite() {
    delete fleet;
    fleet = nullptr;
  }
  static std::string Root() { return fleet->root; }
};

TEST_F(GatewayTest, ServesTheWorkersModelWithPoolsAndBackends) {
  auto stub = fleet->gateway->Inference();
  grpc::ClientContext context;
  v1::ListModelsResponse models;
  ASSERT_TRUE(stub->ListModels(&context, {}, &models).ok());
  ASSERT_EQ(models.models_size(), 1);
  EXPECT_EQ(models.models(0).name(), "demo");
  EXPECT_EQ(models.models(0).n_vocab(), 256u);
  std::set<std::string> pools(models.models(0).pools().begin(), models.models(0).pools().end());
  EXPECT_EQ(pools, (std::set<std::string>{"alpha", "beta"}));
  ASSERT_EQ(models.models(0).backends_size(), 1);
  EXPECT_EQ(models.models(0).backends(0), v1::BACKEND_CPU);

  // The same tokens as the worker itself, and served_by in the final message.
  StreamResult direct = Call(*fleet->c, Greedy("Hello, gateway!", 24));
  StreamResult via = Call(*fleet->gateway, Greedy("Hello, gateway!", 24, "beta"));
  ASSERT_TRUE(via.status.ok()) << via.status.error_message();
  EXPECT_EQ(via.tokens, direct.tokens);
  EXPECT_EQ(via.text, direct.text);
  EXPECT_EQ(via.final.served_by(), fleet->c->address());
  EXPECT_EQ(via.final.usage().generated_tokens(), 24u);

  grpc::ClientContext tokenize_context;
  v1::TokenizeRequest tokenize;
  tokenize.set_model("demo");
  tokenize.set_text("abc");
  v1::TokenizeResponse ids;
  ASSERT_TRUE(stub->Tokenize(&tokenize_context, tokenize, &ids).ok());
  EXPECT_EQ(ids.ids_size(), 3);
  grpc::ClientContext detokenize_context;
  v1::DetokenizeRequest detokenize;
  detokenize.set_model("demo");
  *detokenize.mutable_ids() = ids.ids();
  v1::DetokenizeResponse text;
  ASSERT_TRUE(stub->Detokenize(&detokenize_context, detokenize, &text).ok());
  EXPECT_EQ(text.text(), "abc");

  // The rwkv CLI works against the gateway unchanged.
  const std::string cli = BinDir() + "/rwkv";
  std::string output;
  ASSERT_EQ(RunCommand(cli + " client generate --addr " + fleet->gateway->address() +
                           " -p hello -n 8 2>&1",
                       &output),
            0)
      << output;
}

TEST_F(GatewayTest, HonoursPoolAndBackendConstraints) {
  for (int i = 0; i < 6; ++i) {
    StreamResult beta = Call(*fleet->gateway, Greedy("beta", 2, "beta"));
    ASSERT_TRUE(beta.status.ok()) << beta.status.error_message();
    EXPECT_EQ(beta.final.served_by(), fleet->c->address());
    StreamResult alpha = Call(*fleet->gateway, Greedy("alpha", 2, "alpha"));
    ASSERT_TRUE(alpha.status.ok()) << alpha.status.error_message();
    EXPECT_NE(alpha.final.served_by(), fleet->c->address());
  }
  v1::GenerateRequest cuda = Greedy("x", 2, "alpha");
  cuda.mutable_placement()->set_backend(v1::BACKEND_CUDA);
  StreamResult no_cuda = Call(*fleet->gateway, cuda);
  EXPECT_EQ(no_cuda.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(no_cuda.status.error_message().find("backend cuda"), std::string::npos)
      << no_cuda.status.error_message();
  StreamResult no_pool = Call(*fleet->gateway, Greedy("x", 2, "gamma"));
  EXPECT_EQ(no_pool.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(no_pool.status.error_message().find("pool 'gamma'"), std::string::npos)
      << no_pool.status.error_message();
  v1::GenerateRequest unknown = Greedy("x", 2);
  unknown.set_model("nope");
  StreamResult no_model = Call(*fleet->gateway, unknown);
  EXPECT_EQ(no_model.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(no_model.status.error_message().find("model 'nope'"), std::string::npos)
      << no_model.status.error_message();
  // The worker's own validation passes through.
  StreamResult bad = Call(*fleet->gateway, Greedy("", 2));
  EXPECT_EQ(bad.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << bad.status.error_message();
}

TEST_F(GatewayTest, DefaultPoolTakesRequestsThatNameNoPool) {
  const std::string dir = MakeTempDir("gateway-default-pool");
  GatewayProcess gateway(
      dir, {"--workers", Join({fleet->a->address(), fleet->b->address(), fleet->c->address()}),
            "--default-pool", "beta"});
  ASSERT_TRUE(gateway.WaitServing());
  ASSERT_TRUE(gateway.WaitHealthy("alpha", 2));
  ASSERT_TRUE(gateway.WaitHealthy("beta", 1));
  for (int i = 0; i < 6; ++i) {
    StreamResult plain = Call(gateway, Greedy("x", 2));
    ASSERT_TRUE(plain.status.ok()) << plain.status.error_message();
    EXPECT_EQ(plain.final.served_by(), fleet->c->address());
    // A request naming a pool keeps it.
    StreamResult alpha = Call(gateway, Greedy("x", 2, "alpha"));
    ASSERT_TRUE(alpha.status.ok()) << alpha.status.error_message();
    EXPECT_NE(alpha.final.served_by(), fleet->c->address());
  }
  // One naming only a backend is not narrowed to the default pool.
  int outside_beta = 0;
  for (int i = 0; i < 12; ++i) {
    v1::GenerateRequest cpu = Greedy("x", 2);
    cpu.mutable_placement()->set_backend(v1::BACKEND_CPU);
    StreamResult r = Call(gateway, cpu);
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    if (r.final.served_by() != fleet->c->address()) ++outside_beta;
  }
  EXPECT_GT(outside_beta, 0);
}

TEST(GatewayFlagsTest, RejectsABadDefaultPool) {
  std::string out;
  const int rc =
      RunCommand(BinDir() + "/rwkv-gateway --workers 127.0.0.1:1 --default-pool 'a b' 2>&1", &out);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("--default-pool"), std::string::npos) << out;
}

TEST_F(GatewayTest, SpreadsLoadByExpectedWait) {
  // Worker A: both slots taken and two requests queued, by direct clients.
  std::vector<std::unique_ptr<OpenStream>> load;
  for (int i = 0; i < 4; ++i) {
    load.push_back(Open(*fleet->a, Greedy("busy " + std::to_string(i), 65536), i < 2));
  }
  ASSERT_TRUE(WaitWorkerStatus(*fleet->a, [](const v1::WorkerStatus& s) {
    return s.slots_busy() == 2 && s.queue_depth() == 2;
  }));
  // Wait until the gateway has a status of A taken after that.
  const auto since = std::chrono::steady_clock::now();
  const std::string age_label = "worker=\"" + fleet->a->address() + "\"";
  for (;;) {
    const double age = fleet->gateway->Metric("rwkv_gateway_worker_status_age_seconds", age_label);
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
    if (age >= 0 && age + 0.25 < elapsed) break;  // 0.25 s: the age metric's refresh period
    ASSERT_LT(elapsed, 30) << "no fresh status of the busy worker";
    std::this_thread::sleep_for(milliseconds(20));
  }
  constexpr int kRequests = 8;
  std::vector<StreamResult> results(kRequests);
  std::atomic<int> finished{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kRequests; ++i) {
    threads.emplace_back([&, i] {
      results[i] = Call(*fleet->gateway, Greedy("spread " + std::to_string(i), 8, "alpha"));
      finished.fetch_add(1);
    });
  }
  // A request sent to A would wait behind the direct load: stop waiting after a while, then
  // release the load so every thread ends.
  const auto end = std::chrono::steady_clock::now() + seconds(30);
  while (finished.load() < kRequests && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  for (auto& s : load) s->context.TryCancel();
  for (auto& t : threads) t.join();
  for (auto& s : load) Collect(*s->reader);
  int on_a = 0, on_b = 0;
  for (const StreamResult& r : results) {
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    on_a += r.final.served_by() == fleet->a->address();
    on_b += r.final.served_by() == fleet->b->address();
  }
  EXPECT_EQ(on_a + on_b, kRequests);
  EXPECT_LT(on_a, on_b);
}

TEST_F(GatewayTest, SessionsStayOnTheirWorkerAndResume) {
  std::set<std::string> owners;
  for (int i = 0; i < 12; ++i) {
    const std::string session = "user-" + std::to_string(i);
    const std::string owner = OwnerOf(*fleet->gateway, session);
    owners.insert(owner);
    EXPECT_EQ(OwnerOf(*fleet->gateway, session), owner) << session;
  }
  EXPECT_GE(owners.size(), 2u);  // 12 sessions over 3 workers

  // A resumed session equals one long request.
  StreamResult first = Call(*fleet->gateway, Greedy("Once upon a time", 12, "alpha", "story"));
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  EXPECT_FALSE(first.final.session_restarted());
  StreamResult next = Call(*fleet->gateway, Greedy("", 12, "alpha", "story"));
  ASSERT_TRUE(next.status.ok()) << next.status.error_message();
  EXPECT_EQ(next.final.served_by(), first.final.served_by());
  StreamResult whole = Call(*fleet->gateway, Greedy("Once upon a time", 24, "alpha"));
  std::vector<uint32_t> joined = first.tokens;
  joined.insert(joined.end(), next.tokens.begin(), next.tokens.end());
  EXPECT_EQ(joined, whole.tokens);
}

TEST_F(GatewayTest, CancellationAndDeadlinesReachTheWorker) {
  auto busy = [](const v1::WorkerStatus& s) { return s.slots_busy() > 0; };
  auto idle = [](const v1::WorkerStatus& s) { return s.slots_busy() == 0 && s.queue_depth() == 0; };
  std::unique_ptr<OpenStream> stream = Open(*fleet->gateway, Greedy("cancel me", 65536, "beta"));
  ASSERT_TRUE(WaitWorkerStatus(*fleet->c, busy));
  stream->context.TryCancel();
  StreamResult cancelled = Collect(*stream->reader);
  EXPECT_EQ(cancelled.status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitWorkerStatus(*fleet->c, idle)) << "the worker slot was not freed";

  StreamResult expired = Call(*fleet->gateway, Greedy("expire", 65536, "beta"), milliseconds(500));
  EXPECT_EQ(expired.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(WaitWorkerStatus(*fleet->c, idle)) << "the worker slot was not freed";
  StreamResult after = Call(*fleet->gateway, Greedy("after", 3, "beta"));
  ASSERT_TRUE(after.status.ok()) << after.status.error_message();
  EXPECT_EQ(after.tokens.size(), 3u);
}

TEST_F(GatewayTest, ASlowClientSlowsOnlyItsOwnStream) {
  // The slow stream is opened and then not read while another stream on the same worker runs
  // to its end; afterwards it still delivers every token, in order, as the worker made them.
  std::unique_ptr<OpenStream> slow = Open(*fleet->gateway, Greedy("slow reader", 1000, "beta"));
  StreamResult fast = Call(*fleet->gateway, Greedy("fast reader", 1000, "beta"));
  ASSERT_TRUE(fast.status.ok()) << fast.status.error_message();
  EXPECT_EQ(fast.tokens.size(), 1000u);
  StreamResult rest = Collect(*slow->reader);
  ASSERT_TRUE(rest.status.ok()) << rest.status.error_message();
  std::vector<uint32_t> tokens(slow->first.token_ids().begin(), slow->first.token_ids().end());
  tokens.insert(tokens.end(), rest.tokens.begin(), rest.tokens.end());
  StreamResult direct = Call(*fleet->c, Greedy("slow reader", 1000));
  EXPECT_EQ(tokens, direct.tokens);
  EXPECT_EQ(slow->first.text() + rest.text, direct.text);
  EXPECT_EQ(rest.final.served_by(), fleet->c->address());
}

TEST_F(GatewayTest, ExposesPrometheusMetrics) {
  ASSERT_TRUE(Call(*fleet->gateway, Greedy("metrics", 4, "beta")).status.ok());
  const std::vector<std::string> names = {
      "rwkv_gateway_requests_total{code=\"OK\",model=\"demo\",pool=\"beta\",protocol="
      "\"grpc\"}",
      "rwkv_gateway_routing_decisions_total{worker=\"" + fleet->c->address() + "\"}",
      std::string("rwkv_gateway_retries_total"),
      std::string("rwkv_gateway_time_to_first_token_seconds_count"),
      std::string("rwkv_gateway_request_duration_seconds_count"),
      std::string("rwkv_gateway_streams_in_flight"),
      std::string("rwkv_gateway_healthy_workers{pool=\"alpha\"} 2"),
      std::string("rwkv_gateway_worker_status_age_seconds{")};
  // The outcome is counted when the call is done on the gateway's side, which can be just
  // after the client has read the final message: read the page until it is there.
  auto all_present = [&](const std::string& body) {
    for (const std::string& name : names) {
      if (body.find(name) == std::string::npos) return false;
    }
    return true;
  };
  std::string body;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  do {
    body = HttpGet(fleet->gateway->MetricsPort(), "/metrics");
    if (all_present(body)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (std::chrono::steady_clock::now() < deadline);
  for (const std::string& name : names) {
    EXPECT_NE(body.find(name), std::string::npos) << name << "\n" << body;
  }
}

TEST_F(GatewayTest, TokensStreamLimitAndTokenCap) {
  const std::string dir = MakeTempDir("gateway-auth");
  std::ofstream(dir + "/tokens") << "# clients\nsecret-1\n";
  WorkerProcess solo(Root(), WorkerArgs(Root(), "solo", 1));
  ASSERT_TRUE(solo.WaitServing());
  GatewayProcess gateway(dir, {"--workers", solo.address(), "--auth-token-file", dir + "/tokens",
                               "--max-streams", "1", "--max-tokens-cap", "7"});
  ASSERT_TRUE(gateway.WaitServing());  // health needs no token
  auto run = [&](const std::string& token, const v1::GenerateRequest& r) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + seconds(60));
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    auto stub = gateway.Inference();
    auto reader = stub->Generate(&context, r);
    return Collect(*reader);
  };
  StreamResult none = run("", Greedy("x", 3));
  EXPECT_EQ(none.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  StreamResult wrong = run("secret-2", Greedy("x", 3));
  EXPECT_EQ(wrong.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext list_context;
  v1::ListModelsResponse models;
  EXPECT_EQ(gateway.Inference()->ListModels(&list_context, {}, &models).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  // The only slot is taken by a direct client: the gateway stream waits in the worker queue.
  std::unique_ptr<OpenStream> occupant = Open(solo, Greedy("occupant", 65536));
  std::optional<StreamResult> queued;
  std::thread queued_thread([&] { queued = run("secret-1", Greedy("capped", 500)); });
  ASSERT_TRUE(
      WaitWorkerStatus(solo, [](const v1::WorkerStatus& s) { return s.queue_depth() == 1; }));
  StreamResult over = run("secret-1", Greedy("second", 3));
  EXPECT_EQ(over.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << over.status.error_message();
  occupant->context.TryCancel();
  Collect(*occupant->reader);
  queued_thread.join();
  ASSERT_TRUE(queued.has_value());
  ASSERT_TRUE(queued->status.ok()) << queued->status.error_message();
  EXPECT_EQ(queued->tokens.size(), 7u);  // --max-tokens-cap
}

TEST_F(GatewayTest, ServesTlsWithACertificateMadeHere) {
  const std::string dir = MakeTempDir("gateway-tls");
  std::string output;
  const int rc = RunCommand(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " +
          dir + "/key.pem -out " + dir + "/cert.pem 2>&1",
      &output);
  if (rc != 0) GTEST_SKIP() << "openssl cannot make a test certificate: " << output;
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFileOrDie(dir + "/cert.pem");
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  GatewayProcess gateway(dir,
                         {"--workers", fleet->c->address(), "--tls-cert", dir + "/cert.pem",
                          "--tls-key", dir + "/key.pem"},
                         grpc::SslCredentials(ssl), args);
  ASSERT_TRUE(gateway.WaitServing());
  StreamResult secure = Call(gateway, Greedy("tls", 5));
  ASSERT_TRUE(secure.status.ok()) << secure.status.error_message();
  EXPECT_EQ(secure.tokens.size(), 5u);
  // A plaintext client gets nowhere.
  auto plain = v1::Inference::NewStub(
      grpc::CreateChannel(gateway.address(), grpc::InsecureChannelCredentials()));
  StreamResult refused = Generate(*plain, Greedy("tls", 5), seconds(5));
  EXPECT_FALSE(refused.status.ok());
  EXPECT_TRUE(refused.tokens.empty());
}

TEST_F(GatewayTest, DiscoversWorkersThroughDnsNames) {
  // Two workers on 127.0.0.2 and 127.0.0.3 with the same port, as a headless Service answers.
  const std::string dir = MakeTempDir("gateway-dns");
  WorkerProcess first(Root(), WorkerArgs(Root(), "dns", 4), "127.0.0.2");
  ASSERT_TRUE(first.WaitServing());
  const std::string port = std::to_string(first.port());
  std::vector<std::string> second_args = WorkerArgs(Root(), "dns", 4);
  second_args.insert(second_args.end(), {"--listen", "127.0.0.3:" + port});
  WorkerProcess second(Root(), second_args, "127.0.0.3");
  ASSERT_TRUE(second.WaitServing());
  const std::string hosts = dir + "/hosts";
  std::ofstream(hosts) << "127.0.0.2 workers.test\n127.0.0.3 workers.test\n";
  GatewayProcess gateway(dir, {"--worker-dns", "workers.test:" + port, "--hosts-file", hosts,
                               "--dns-interval", "0.2s"});
  ASSERT_TRUE(gateway.WaitServing());
  ASSERT_TRUE(gateway.WaitHealthy("dns", 2));
  std::set<std::string> served;
  for (int i = 0; i < 40 && served.size() < 2; ++i) {
    StreamResult r = Call(gateway, Greedy("dns", 2));
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    served.insert(r.final.served_by());
  }
  EXPECT_EQ(served, (std::set<std::string>{first.address(), second.address()}));
  // The name now answers one address: the other worker leaves the rotation.
  std::ofstream(hosts, std::ios::trunc) << "127.0.0.3 workers.test\n";
  ASSERT_TRUE(gateway.WaitHealthy("dns", 1));
  for (int i = 0; i < 5; ++i) {
    StreamResult r = Call(gateway, Greedy("dns", 2));
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    EXPECT_EQ(r.final.served_by(), second.address());
  }
}

TEST_F(GatewayTest, SigtermDrainsOpenStreamsAndExitsZero) {
  GatewayProcess gateway(MakeTempDir("gateway-drain"),
                         {"--workers", fleet->b->address(), "--drain-timeout", "60s"});
  ASSERT_TRUE(gateway.WaitServing());
  std::unique_ptr<OpenStream> stream = Open(gateway, Greedy("drain", 3000));
  gateway.Terminate();
  StreamResult rest = Collect(*stream->reader);
  ASSERT_TRUE(rest.status.ok()) << rest.status.error_message();
  EXPECT_EQ(stream->first.token_ids_size() + rest.tokens.size(), 3000u);
  EXPECT_EQ(rest.final.finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(gateway.Wait(), 0) << gateway.Log();
}

TEST_F(GatewayTest, ForwardsJobsToTheConverter) {
  ConverterProcess converter(Root(), MakeTempDir("gateway-converter"), {});
  ASSERT_TRUE(converter.Start()) << converter.Log();
  GatewayProcess gateway(MakeTempDir("gateway-jobs"),
                         {"--workers", fleet->b->address(), "--converter", converter.Address()});
  ASSERT_TRUE(gateway.WaitServing());
  auto jobs = v1::Jobs::NewStub(gateway.Channel());
  v1::SubmitJobRequest submit;
  submit.mutable_spec()->set_kind(v1::JOB_KIND_QUANTIZE);
  submit.mutable_spec()->set_input("models/demo.gguf");
  submit.mutable_spec()->set_output("models/demo-q8.gguf");
  submit.mutable_spec()->set_quant_type("Q8_0");
  v1::Job job;
  {
    grpc::ClientContext context;
    const grpc::Status s = jobs->Submit(&context, submit, &job);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  // Watch relays every update until the final state.
  grpc::ClientContext watch_context;
  watch_context.set_deadline(std::chrono::system_clock::now() + seconds(60));
  v1::WatchJobRequest watch;
  watch.set_id(job.id());
  auto reader = jobs->Watch(&watch_context, watch);
  v1::Job update;
  v1::JobState last = v1::JOB_STATE_UNSPECIFIED;
  while (reader->Read(&update)) last = update.state();
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(last, v1::JOB_STATE_SUCCEEDED);
  EXPECT_TRUE(fs::exists(Root() + "/models/demo-q8.gguf"));
  // Get and the converter's errors pass through.
  grpc::ClientContext get_context;
  v1::GetJobRequest get;
  get.set_id(job.id());
  ASSERT_TRUE(jobs->Get(&get_context, get, &update).ok());
  EXPECT_EQ(update.state(), v1::JOB_STATE_SUCCEEDED);
  grpc::ClientContext missing_context;
  get.set_id("no-such-job");
  EXPECT_EQ(jobs->Get(&missing_context, get, &update).error_code(), grpc::StatusCode::NOT_FOUND);
}

// Workers X and Y (X with one slot) behind their own gateway, for tests that kill workers.
class GatewayFailoverTest : public GatewayTest {
 protected:
  void SetUp() override {
    x_ = std::make_unique<WorkerProcess>(Root(), WorkerArgs(Root(), "fo", 1));
    y_ = std::make_unique<WorkerProcess>(Root(), WorkerArgs(Root(), "fo", 4));
    ASSERT_TRUE(x_->WaitServing());
    ASSERT_TRUE(y_->WaitServing());
    gateway_ = std::make_unique<GatewayProcess>(
        MakeTempDir("gateway-failover"),
        std::vector<std::string>{"--workers", Join({x_->address(), y_->address()})});
    ASSERT_TRUE(gateway_->WaitServing());
    ASSERT_TRUE(gateway_->WaitHealthy("fo", 2));
  }
  void RestartX() {
    std::vector<std::string> args = WorkerArgs(Root(), "fo", 1);
    args.insert(args.end(), {"--listen", x_->address()});
    x_ = std::make_unique<WorkerProcess>(Root(), args);
    ASSERT_TRUE(x_->WaitServing());
  }
  std::unique_ptr<WorkerProcess> x_, y_;
  std::unique_ptr<GatewayProcess> gateway_;
};

TEST_F(GatewayFailoverTest, KillMidStreamEndsOnlyThatStreamAndTheWorkerRejoins) {
  const std::string on_x = SessionOwnedBy(*gateway_, x_->address(), "x");
  const std::string on_y = SessionOwnedBy(*gateway_, y_->address(), "y");
  std::unique_ptr<OpenStream> doomed = Open(*gateway_, Greedy("doomed", 65536, "", on_x));
  std::unique_ptr<OpenStream> survivor = Open(*gateway_, Greedy("survivor", 3000, "", on_y));
  const std::string x_address = x_->address();
  x_->Kill();
  StreamResult lost = Collect(*doomed->reader);
  EXPECT_EQ(lost.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(lost.status.error_message().find(x_address), std::string::npos)
      << lost.status.error_message();
  StreamResult kept = Collect(*survivor->reader);
  ASSERT_TRUE(kept.status.ok()) << kept.status.error_message();
  EXPECT_EQ(survivor->first.token_ids_size() + kept.tokens.size(), 3000u);
  EXPECT_EQ(kept.final.served_by(), y_->address());

  // New requests go to Y.
  ASSERT_TRUE(gateway_->WaitHealthy("fo", 1));
  for (int i = 0; i < 5; ++i) {
    StreamResult r = Call(*gateway_, Greedy("after kill", 2));
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    EXPECT_EQ(r.final.served_by(), y_->address());
  }
  // A restarted X rejoins and gets requests again.
  RestartX();
  ASSERT_TRUE(gateway_->WaitHealthy("fo", 2));
  bool x_served = false;
  for (int i = 0; i < 60 && !x_served; ++i) {
    StreamResult r = Call(*gateway_, Greedy("rejoin", 2));
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    x_served = r.final.served_by() == x_address;
  }
  EXPECT_TRUE(x_served);
}

TEST_F(GatewayFailoverTest, KillBeforeTheFirstTokenIsRetriedOnAnotherWorker) {
  const std::string session = SessionOwnedBy(*gateway_, x_->address(), "retry");
  // X's only slot is busy, so the session's next request waits in X's queue.
  std::unique_ptr<OpenStream> occupant = Open(*x_, Greedy("occupant", 65536));
  std::optional<StreamResult> result;
  std::thread request([&] { result = Call(*gateway_, Greedy("retry me", 5, "", session)); });
  ASSERT_TRUE(
      WaitWorkerStatus(*x_, [](const v1::WorkerStatus& s) { return s.queue_depth() == 1; }));
  x_->Kill();
  request.join();
  ASSERT_TRUE(result.has_value());
  ASSERT_TRUE(result->status.ok()) << result->status.error_message();
  EXPECT_EQ(result->tokens.size(), 5u);
  EXPECT_EQ(result->final.served_by(), y_->address());
  EXPECT_TRUE(result->final.session_restarted());
  EXPECT_GE(gateway_->Metric("rwkv_gateway_retries_total"), 1);
}

}  // namespace
}  // namespace rwkv::testing
