// rwkv-worker end to end: real worker processes on 127.0.0.1 port 0 serving a synthetic
// byte-vocabulary model and the reference tiny-rwkv6 (World vocabulary).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "integration/worker_harness.h"
#include "rwkv/engine/generation.h"
#include "rwkv/engine/model.h"
#include "rwkv/engine/synth.h"
#include "rwkv/engine/tokenizer.h"
#include "services/common/utf8.h"
#include "support/json_file.h"

namespace rwkv::testing {
namespace {

namespace v1 = ::rwkv::v1;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

// Shared by all tests: a storage root with models/demo.gguf (synthetic, byte vocabulary),
// models/tiny.gguf (reference tiny-rwkv6 F16) and states/chat.bin, and two workers.
struct Cluster {
  std::string root;
  std::string demo_path;
  std::string tiny_path;
  bool have_reference = false;
  std::unique_ptr<WorkerProcess> demo;
  std::unique_ptr<WorkerProcess> tiny;
};
Cluster* cluster = nullptr;

class WorkerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster = new Cluster;
    cluster->root = MakeTempDir("worker");
    fs::create_directories(cluster->root + "/models");
    fs::create_directories(cluster->root + "/states");
    engine::SynthOptions synth;
    cluster->demo_path = cluster->root + "/models/demo.gguf";
    synth.output_path = cluster->demo_path;
    synth.n_embd = 64;
    synth.n_layer = 2;
    synth.vocab = "bytes";
    synth.seed = 1;
    ASSERT_TRUE(engine::WriteSyntheticModel(synth).ok());
    const std::string ref = DataPath("tiny-rwkv6");
    cluster->have_reference = fs::exists(ref + "/tiny-rwkv6-f16.gguf");
    if (cluster->have_reference) {
      cluster->tiny_path = cluster->root + "/models/tiny.gguf";
      fs::copy_file(ref + "/tiny-rwkv6-f16.gguf", cluster->tiny_path);
      fs::copy_file(ref + "/tiny-rwkv6-state.session-v9.bin", cluster->root + "/states/chat.bin");
      cluster->tiny = std::make_unique<WorkerProcess>(
          cluster->root, std::vector<std::string>{"--model", "tiny", "--storage-root",
                                                  cluster->root, "--max-sequences", "16"});
    }
    cluster->demo = std::make_unique<WorkerProcess>(
        cluster->root, std::vector<std::string>{"--model", "demo", "--storage-root", cluster->root,
                                                "--max-sequences", "16", "--max-queue", "64",
                                                "--pool", "cpu-test"});
    ASSERT_TRUE(cluster->demo->WaitServing());
    if (cluster->tiny) {
      ASSERT_TRUE(cluster->tiny->WaitServing());
    }
  }
  static void TearDownTestSuite() {
    delete cluster;
    cluster = nullptr;
  }

  static v1::GenerateRequest Request(const std::string& model, const std::string& prompt,
                                     uint32_t max_tokens, uint64_t seed) {
    v1::GenerateRequest r;
    r.set_model(model);
    r.set_text(prompt);
    r.set_max_tokens(max_tokens);
    v1::SamplingParams& s = *r.mutable_sampling();
    // rwkv generate's defaults (llama-cli's).
    s.set_temperature(0.8f);
    s.set_top_k(40);
    s.set_top_p(0.95f);
    s.set_min_p(0.05f);
    s.set_seed(seed);
    return r;
  }

  static v1::GenerateRequest Greedy(const std::string& model, const std::string& prompt,
                                    uint32_t max_tokens) {
    v1::GenerateRequest r = Request(model, prompt, max_tokens, 1);
    r.mutable_sampling()->set_temperature(0);
    return r;
  }
};

// The same generation done in-process with the engine, as `rwkv generate` does it.
StreamResult LocalGenerate(const std::string& path, const v1::GenerateRequest& r) {
  StreamResult out;
  auto model = engine::Model::Load(path);
  EXPECT_TRUE(model.ok()) << model.status();
  auto tokenizer = engine::Tokenizer::FromGguf((*model)->gguf());
  engine::GenerationOptions opts;
  opts.sampling.temperature = r.sampling().temperature();
  opts.sampling.top_k = static_cast<int32_t>(r.sampling().top_k());
  opts.sampling.top_p = r.sampling().top_p();
  opts.sampling.min_p = r.sampling().min_p();
  opts.sampling.seed = r.sampling().seed();
  opts.stop.max_tokens = static_cast<int32_t>(r.max_tokens());
  for (const std::string& s : r.stop()) opts.stop.stop_strings.push_back(s);
  engine::RecurrentState state = (*model)->NewState();
  std::vector<int32_t> prompt = (*tokenizer)->Encode(r.text());
  std::vector<float> logits((*model)->config().n_vocab);
  engine::SequenceInput in{&state, prompt, engine::LogitsMode::kLast, logits.data()};
  EXPECT_TRUE((*model)->Evaluate({&in, 1}).ok());
  engine::GenerationStream stream(**tokenizer, opts);
  for (;;) {
    engine::GenerationStep step = stream.Next(logits);
    out.tokens.push_back(static_cast<uint32_t>(step.token));
    out.text += step.text;
    if (!step.feed) break;
    int32_t token = step.token;
    engine::SequenceInput next{&state, {&token, 1}, engine::LogitsMode::kLast, logits.data()};
    EXPECT_TRUE((*model)->Evaluate({&next, 1}).ok());
  }
  out.text = services::ToValidUtf8(out.text + stream.Flush());
  return out;
}

TEST_F(WorkerTest, ListsTheModelAndReportsStatus) {
  auto stub = cluster->demo->Inference();
  grpc::ClientContext context;
  v1::ListModelsResponse models;
  ASSERT_TRUE(stub->ListModels(&context, {}, &models).ok());
  ASSERT_EQ(models.models_size(), 1);
  EXPECT_EQ(models.models(0).name(), "demo");
  EXPECT_EQ(models.models(0).n_vocab(), 256u);
  EXPECT_EQ(models.models(0).n_embd(), 64u);
  grpc::ClientContext status_context;
  v1::WorkerStatus status;
  ASSERT_TRUE(cluster->demo->Worker()->GetStatus(&status_context, {}, &status).ok());
  EXPECT_EQ(status.pool(), "cpu-test");
  EXPECT_EQ(status.backend(), v1::BACKEND_CPU);
  EXPECT_EQ(status.slots_busy() + status.slots_free(), 16u);
  EXPECT_TRUE(status.accepting());
}

TEST_F(WorkerTest, StreamEqualsLocalGeneration) {
  v1::GenerateRequest r = Request("demo", "Hello, worker!", 48, 42);
  StreamResult got = Generate(*cluster->demo->Inference(), r);
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  StreamResult want = LocalGenerate(cluster->demo_path, r);
  EXPECT_EQ(got.tokens, want.tokens);
  EXPECT_EQ(got.text, want.text);
  EXPECT_EQ(got.final.finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(got.final.usage().generated_tokens(), 48u);
  EXPECT_EQ(got.final.usage().prompt_tokens(), 14u);
  const std::string cli = BinDir() + "/rwkv";
  if (fs::exists(cli)) {
    const std::string out = cluster->root + "/generate.out";
    const std::string cmd = "(" + cli + " generate -m " + cluster->demo_path +
                            " -p 'Hello, worker!' -n 48 --seed 42 --no-display-prompt -t 1 >" +
                            out + " 2>/dev/null)";
    if (RunCommand(cmd, nullptr) == 0) {
      EXPECT_EQ(services::ToValidUtf8(ReadFileOrDie(out)), got.text + "\n");
    }
  }
}

TEST_F(WorkerTest, WorldVocabularyStreamEqualsLocalGeneration) {
  if (!cluster->have_reference)
    GTEST_SKIP() << "reference data missing: tiny-rwkv6 (set RWKV_REFERENCE_DIR)";
  v1::GenerateRequest r = Request("tiny", "春节是中国最重要的传统节日之一。User: hi\n\n", 40, 7);
  r.set_ignore_eos(false);
  StreamResult got = Generate(*cluster->tiny->Inference(), r);
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  StreamResult want = LocalGenerate(cluster->tiny_path, r);
  EXPECT_EQ(got.tokens, want.tokens);
  EXPECT_EQ(got.text, want.text);
}

TEST_F(WorkerTest, ConcurrentStreamsMatchSoloRuns) {
  constexpr int kStreams = 32;
  std::vector<v1::GenerateRequest> requests;
  for (int i = 0; i < kStreams; ++i) {
    requests.push_back(Request("demo", "stream " + std::to_string(i) + ": ", 20 + i % 5, 100 + i));
  }
  auto stub = cluster->demo->Inference();
  std::vector<StreamResult> solo;
  for (const auto& r : requests) solo.push_back(Generate(*stub, r));
  std::vector<StreamResult> together(kStreams);
  std::vector<std::thread> threads;
  for (int i = 0; i < kStreams; ++i) {
    threads.emplace_back([&, i] { together[i] = Generate(*stub, requests[i]); });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kStreams; ++i) {
    ASSERT_TRUE(together[i].status.ok()) << i << ": " << together[i].status.error_message();
    EXPECT_EQ(together[i].tokens.size(), requests[i].max_tokens()) << i;
    EXPECT_EQ(together[i].tokens, solo[i].tokens) << i;
    EXPECT_EQ(together[i].text, solo[i].text) << i;
  }
}

// A step budget far below the prompts: every prompt goes in chunks of what the decoding
// streams leave, and each stream still equals its solo run.
TEST_F(WorkerTest, SmallStepBudgetChunksPromptsWithoutChangingTheOutput) {
  WorkerProcess worker(cluster->root, {"--model", "demo", "--storage-root", cluster->root,
                                       "--max-sequences", "4", "--step-tokens", "6"});
  ASSERT_TRUE(worker.WaitServing());
  auto stub = worker.Inference();
  constexpr int kStreams = 8;
  std::vector<v1::GenerateRequest> requests;
  for (int i = 0; i < kStreams; ++i) {
    requests.push_back(Greedy("demo", std::string(30 + 7 * i, static_cast<char>('a' + i)), 12));
  }
  std::vector<StreamResult> together(kStreams);
  std::vector<std::thread> threads;
  for (int i = 0; i < kStreams; ++i) {
    threads.emplace_back([&, i] { together[i] = Generate(*stub, requests[i]); });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kStreams; ++i) {
    ASSERT_TRUE(together[i].status.ok()) << i << ": " << together[i].status.error_message();
    StreamResult want = LocalGenerate(cluster->demo_path, requests[i]);
    EXPECT_EQ(together[i].tokens, want.tokens) << i;
  }
}

TEST(WorkerFlagsTest, StepBudgetBelowTheSlotsIsRefused) {
  std::string output;
  const int status = RunCommand(BinDir() +
                                    "/rwkv-worker --model x.gguf --max-sequences 8 "
                                    "--step-tokens 4",
                                &output);
  EXPECT_NE(status, 0);
  EXPECT_NE(output.find("--step-tokens must be"), std::string::npos) << output;
}

TEST_F(WorkerTest, SessionResumeEqualsOneLongRequest) {
  auto stub = cluster->demo->Inference();
  v1::GenerateRequest first = Greedy("demo", "Once upon a time", 12);
  first.set_session_id("story");
  StreamResult a = Generate(*stub, first);
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  v1::GenerateRequest cont = Greedy("demo", "", 12);
  cont.set_session_id("story");
  StreamResult b = Generate(*stub, cont);
  ASSERT_TRUE(b.status.ok()) << b.status.error_message();
  StreamResult whole = Generate(*stub, Greedy("demo", "Once upon a time", 24));
  std::vector<uint32_t> joined = a.tokens;
  joined.insert(joined.end(), b.tokens.begin(), b.tokens.end());
  EXPECT_EQ(joined, whole.tokens);

  // New text after a session: the same as sending the whole history as one prompt (the byte
  // vocabulary tokenizes text back to the same ids).
  v1::GenerateRequest turn1 = Greedy("demo", "User: hi\n", 8);
  turn1.set_session_id("chat");
  StreamResult t1 = Generate(*stub, turn1);
  v1::GenerateRequest turn2 = Greedy("demo", "User: more\n", 8);
  turn2.set_session_id("chat");
  StreamResult t2 = Generate(*stub, turn2);
  StreamResult flat = Generate(*stub, Greedy("demo", "User: hi\n" + t1.text + "User: more\n", 8));
  ASSERT_TRUE(t2.status.ok() && flat.status.ok());
  EXPECT_EQ(t2.tokens, flat.tokens);
}

TEST_F(WorkerTest, SecondConcurrentRequestOfASessionIsAborted) {
  auto stub = cluster->demo->Inference();
  grpc::ClientContext first_context;
  v1::GenerateRequest first = Greedy("demo", "Once", 65536);
  first.set_session_id("busy");
  auto reader = stub->Generate(&first_context, first);
  v1::GenerateResponse response;
  ASSERT_TRUE(reader->Read(&response));
  v1::GenerateRequest second = Greedy("demo", "Twice", 4);
  second.set_session_id("busy");
  StreamResult refused = Generate(*stub, second);
  EXPECT_EQ(refused.status.error_code(), grpc::ABORTED) << refused.status.error_message();
  first_context.TryCancel();
  Collect(*reader);
  // Free again once the first request has ended (its final message may race the cancel, so
  // poll briefly).
  StreamResult later;
  for (int i = 0; i < 600; ++i) {
    later = Generate(*stub, second);
    if (later.status.error_code() != grpc::ABORTED) break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_TRUE(later.status.ok()) << later.status.error_message();
}

TEST_F(WorkerTest, InitialStateFollowsReferenceArgmax) {
  if (!cluster->have_reference)
    GTEST_SKIP() << "reference data missing: tiny-rwkv6 (set RWKV_REFERENCE_DIR)";
  const nlohmann::json summary = ReadJsonFile(DataPath("tiny-rwkv6/logits/summary.json"));
  const nlohmann::json& run = summary.at("runs").at("torch-fp32-chat-state");
  ASSERT_TRUE(run.is_array());
  const std::vector<uint32_t> ids = {24281, 59, 30031, 460, 44905, 55038, 64, 261, 5585, 41693, 59};
  auto stub = cluster->tiny->Inference();
  int checked = 0;
  for (size_t k = 1; k <= ids.size(); ++k) {
    const nlohmann::json& pos = run.at(k - 1);
    const nlohmann::json& top = pos.at("top10");
    const double gap = top.at(0).at(1).get<double>() - top.at(1).at(1).get<double>();
    if (gap < 0.05) continue;  // F16 weights move logits by up to ~4e-3
    v1::GenerateRequest r = Greedy("tiny", "", 1);
    r.clear_text();
    for (size_t i = 0; i < k; ++i) r.mutable_tokens()->add_ids(ids[i]);
    r.set_initial_state("chat");
    StreamResult got = Generate(*stub, r);
    ASSERT_TRUE(got.status.ok()) << got.status.error_message();
    ASSERT_EQ(got.tokens.size(), 1u);
    EXPECT_EQ(got.tokens[0], static_cast<uint32_t>(pos.at("argmax").get<int64_t>()))
        << "position " << k;
    ++checked;
  }
  EXPECT_GE(checked, 6);
}

TEST_F(WorkerTest, RejectsBadRequests) {
  auto stub = cluster->demo->Inference();
  struct Case {
    const char* name;
    std::function<void(v1::GenerateRequest&)> edit;
    grpc::StatusCode code;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"empty prompt", [](auto& r) { r.set_text(""); }, grpc::INVALID_ARGUMENT, "prompt is empty"},
      {"no prompt", [](auto& r) { r.clear_prompt(); }, grpc::INVALID_ARGUMENT,
       "prompt is required"},
      {"absurd max_tokens", [](auto& r) { r.set_max_tokens(0xFFFFFFFFu); }, grpc::INVALID_ARGUMENT,
       "max_tokens"},
      {"unknown model", [](auto& r) { r.set_model("nope"); }, grpc::NOT_FOUND, "model 'nope'"},
      {"unknown state", [](auto& r) { r.set_initial_state("nope"); }, grpc::NOT_FOUND,
       "state 'nope'"},
      {"bad state name", [](auto& r) { r.set_initial_state("../x"); }, grpc::INVALID_ARGUMENT,
       "state name"},
      {"temperature NaN", [](auto& r) { r.mutable_sampling()->set_temperature(std::nanf("")); },
       grpc::INVALID_ARGUMENT, "temperature"},
      {"negative temperature", [](auto& r) { r.mutable_sampling()->set_temperature(-1); },
       grpc::INVALID_ARGUMENT, "temperature"},
      {"top_p above 1", [](auto& r) { r.mutable_sampling()->set_top_p(1.5f); },
       grpc::INVALID_ARGUMENT, "top_p"},
      {"too many stops",
       [](auto& r) {
         for (int i = 0; i < 17; ++i) r.add_stop("s" + std::to_string(i));
       },
       grpc::INVALID_ARGUMENT, "stop"},
      {"token out of range", [](auto& r) { r.mutable_tokens()->add_ids(1000); },
       grpc::INVALID_ARGUMENT, "token id 1000"},
      {"session without prompt",
       [](auto& r) {
         r.set_text("");
         r.set_session_id("never-seen");
       },
       grpc::INVALID_ARGUMENT, "session 'never-seen'"},
      {"other pool", [](auto& r) { r.mutable_placement()->set_pool("gpu"); }, grpc::UNAVAILABLE,
       "pool"},
  };
  for (const Case& c : cases) {
    v1::GenerateRequest r = Greedy("demo", "hi", 4);
    c.edit(r);
    StreamResult got = Generate(*stub, r);
    EXPECT_EQ(got.status.error_code(), c.code) << c.name << ": " << got.status.error_message();
    EXPECT_NE(got.status.error_message().find(c.message), std::string::npos)
        << c.name << ": " << got.status.error_message();
    EXPECT_TRUE(got.tokens.empty()) << c.name;
  }
}

TEST_F(WorkerTest, QueueFullCancelAndDeadlineFreeSlots) {
  WorkerProcess worker(cluster->root, {"--model", "demo", "--storage-root", cluster->root,
                                       "--max-sequences", "1", "--max-queue", "1"});
  ASSERT_TRUE(worker.WaitServing());
  auto stub = worker.Inference();
  // A: occupies the only slot until cancelled.
  grpc::ClientContext a_context;
  v1::GenerateRequest long_request = Greedy("demo", "long", 65536);
  auto a = stub->Generate(&a_context, long_request);
  v1::GenerateResponse first;
  ASSERT_TRUE(a->Read(&first));
  // B: waits in the queue.
  std::optional<StreamResult> b;
  std::thread b_thread([&] { b = Generate(*stub, Greedy("demo", "queued", 5)); });
  auto worker_stub = worker.Worker();
  for (int i = 0; i < 200; ++i) {
    grpc::ClientContext c;
    v1::WorkerStatus s;
    ASSERT_TRUE(worker_stub->GetStatus(&c, {}, &s).ok());
    if (s.queue_depth() == 1) break;
    std::this_thread::sleep_for(milliseconds(10));
  }
  // C: neither a slot nor a queue place.
  StreamResult c = Generate(*stub, Greedy("demo", "rejected", 5));
  EXPECT_EQ(c.status.error_code(), grpc::RESOURCE_EXHAUSTED) << c.status.error_message();
  // Cancelling A lets B start and finish.
  a_context.TryCancel();
  StreamResult a_result = Collect(*a);
  EXPECT_EQ(a_result.status.error_code(), grpc::CANCELLED);
  b_thread.join();
  ASSERT_TRUE(b.has_value());
  ASSERT_TRUE(b->status.ok()) << b->status.error_message();
  EXPECT_EQ(b->tokens.size(), 5u);

  // A deadline ends a long request with DEADLINE_EXCEEDED and frees the slot.
  StreamResult expired = Generate(*stub, long_request, milliseconds(300));
  EXPECT_EQ(expired.status.error_code(), grpc::DEADLINE_EXCEEDED);
  StreamResult after = Generate(*stub, Greedy("demo", "after", 3), milliseconds(60000));
  ASSERT_TRUE(after.status.ok()) << after.status.error_message();
  EXPECT_EQ(after.tokens.size(), 3u);
  grpc::ClientContext sc;
  v1::WorkerStatus status;
  ASSERT_TRUE(worker_stub->GetStatus(&sc, {}, &status).ok());
  EXPECT_EQ(status.slots_busy(), 0u);
  EXPECT_EQ(status.queue_depth(), 0u);
}

TEST_F(WorkerTest, WatchStatusStreamsUpdates) {
  auto stub = cluster->demo->Worker();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::WatchStatusRequest request;
  request.set_min_interval_ms(50);
  auto reader = stub->WatchStatus(&context, request);
  v1::WorkerStatus status;
  ASSERT_TRUE(reader->Read(&status));
  EXPECT_EQ(status.model().name(), "demo");
  // A long request makes the status change (a busy slot) until it is cancelled.
  grpc::ClientContext load_context;
  auto inference = cluster->demo->Inference();
  auto load = inference->Generate(&load_context, Greedy("demo", "watch", 65536));
  bool saw_busy = false;
  while (!saw_busy && reader->Read(&status)) saw_busy = status.slots_busy() > 0;
  EXPECT_TRUE(saw_busy);
  load_context.TryCancel();
  Collect(*load);
  bool saw_idle = false;
  while (!saw_idle && reader->Read(&status)) saw_idle = status.slots_busy() == 0;
  EXPECT_TRUE(saw_idle);
  context.TryCancel();
  reader->Finish();
}

TEST_F(WorkerTest, ExposesPrometheusMetrics) {
  StreamResult r = Generate(*cluster->demo->Inference(), Greedy("demo", "metrics", 4));
  ASSERT_TRUE(r.status.ok());
  const int port = cluster->demo->MetricsPort();
  ASSERT_GT(port, 0) << cluster->demo->Log();
  const std::string body = HttpGet(port, "/metrics");
  for (const char* name :
       {"rwkv_worker_requests_total{", "rwkv_worker_time_to_first_token_seconds_bucket",
        "rwkv_worker_inter_token_latency_seconds_bucket", "rwkv_worker_queue_time_seconds_count",
        "rwkv_worker_request_duration_seconds_count", "rwkv_worker_running_requests",
        "rwkv_worker_waiting_requests", "rwkv_worker_slot_utilization_ratio",
        "rwkv_worker_prompt_tokens_total", "rwkv_worker_generated_tokens_total",
        "rwkv_worker_batch_size_bucket", "rwkv_worker_step_duration_seconds_count"}) {
    EXPECT_NE(body.find(name), std::string::npos) << name;
  }
  EXPECT_NE(body.find("outcome=\"length\""), std::string::npos);
  EXPECT_NE(body.find("model=\"demo\""), std::string::npos);
}

TEST_F(WorkerTest, SigtermDrainsInFlightStreamsAndExitsZero) {
  WorkerProcess worker(cluster->root, {"--model", "demo", "--storage-root", cluster->root,
                                       "--drain-timeout", "20s"});
  ASSERT_TRUE(worker.WaitServing());
  auto stub = worker.Inference();
  constexpr int kStreams = 3;
  constexpr uint32_t kTokens = 1500;  // long enough to be in flight when SIGTERM arrives
  std::vector<StreamResult> results(kStreams);
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kStreams; ++i) {
    threads.emplace_back([&, i] {
      grpc::ClientContext context;
      auto reader = stub->Generate(&context, Greedy("demo", "drain " + std::to_string(i), kTokens));
      v1::GenerateResponse first;
      if (reader->Read(&first)) {
        results[i].tokens.assign(first.token_ids().begin(), first.token_ids().end());
        ++started;
      }
      StreamResult rest = Collect(*reader);
      results[i].status = rest.status;
      results[i].final = rest.final;
      results[i].tokens.insert(results[i].tokens.end(), rest.tokens.begin(), rest.tokens.end());
    });
  }
  while (started.load() < kStreams) std::this_thread::sleep_for(milliseconds(5));
  worker.Terminate();
  const auto terminated = std::chrono::steady_clock::now();
  // New requests are refused once the worker has taken the signal; how soon depends on the
  // machine (sanitizer builds are slow), so poll. One accepted before that simply runs.
  StreamResult refused;
  for (int i = 0; i < 600; ++i) {
    refused = Generate(*stub, Greedy("demo", "late", 3));
    if (!refused.status.ok()) break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_EQ(refused.status.error_code(), grpc::UNAVAILABLE) << refused.status.error_message();
  for (auto& t : threads) t.join();
  // The streams were still running after the signal (the drain waited for them).
  EXPECT_GT(std::chrono::steady_clock::now() - terminated, milliseconds(100));
  for (int i = 0; i < kStreams; ++i) {
    ASSERT_TRUE(results[i].status.ok()) << i << ": " << results[i].status.error_message();
    EXPECT_EQ(results[i].tokens.size(), kTokens) << i;
    EXPECT_EQ(results[i].final.finish_reason(), v1::FINISH_REASON_LENGTH) << i;
  }
  EXPECT_EQ(worker.Wait(), 0) << worker.Log();
}

}  // namespace
}  // namespace rwkv::testing
