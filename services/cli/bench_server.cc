// rwkv bench --server ADDR: a load generator for a worker or gateway. C client threads each
// run Generate calls back to back (P prompt token ids, N generated tokens, end-of-generation
// ignored) until R requests are done; reports aggregate generated tokens/s and the TTFT and
// inter-token latency percentiles seen by the clients.
#include "services/cli/bench_server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "rwkv/v1/inference.grpc.pb.h"
#include "services/cli/args.h"
#include "services/cli/command.h"
#include "services/common/status_mapping.h"

namespace rwkv::cli {

namespace v1 = ::rwkv::v1;
using Clock = std::chrono::steady_clock;

namespace {

struct BenchFlags {
  std::string server, model;
  int64_t concurrency = 1, prompt_tokens = 64, gen_tokens = 64, requests = 0, seed = 1;
  double temp = 0;
  bool json = false;
};

struct Samples {
  absl::Mutex mu;
  std::vector<double> ttft ABSL_GUARDED_BY(mu);         // seconds
  std::vector<double> inter_token ABSL_GUARDED_BY(mu);  // seconds
  uint64_t generated ABSL_GUARDED_BY(mu) = 0;
  uint64_t prompt ABSL_GUARDED_BY(mu) = 0;
  uint64_t failed ABSL_GUARDED_BY(mu) = 0;
  std::string first_error ABSL_GUARDED_BY(mu);
};

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

v1::GenerateRequest MakeRequest(const BenchFlags& f, uint32_t n_vocab, uint64_t index) {
  v1::GenerateRequest request;
  request.set_model(f.model);
  std::mt19937_64 rng(static_cast<uint64_t>(f.seed) * 1000003u + index);
  // Ids 1..255 are plain byte tokens in both the byte and the World vocabulary.
  const uint32_t hi = std::min<uint32_t>(n_vocab, 256) - 1;
  for (int64_t i = 0; i < f.prompt_tokens; ++i) {
    request.mutable_tokens()->add_ids(1 + static_cast<uint32_t>(rng() % hi));
  }
  request.set_max_tokens(static_cast<uint32_t>(f.gen_tokens));
  request.mutable_sampling()->set_temperature(static_cast<float>(f.temp));
  request.mutable_sampling()->set_seed(index);
  request.set_ignore_eos(true);
  request.set_request_id(absl::StrCat("bench-", index));
  return request;
}

void RunOne(v1::Inference::Stub& stub, const v1::GenerateRequest& request, Samples& samples) {
  grpc::ClientContext context;
  const auto start = Clock::now();
  auto previous = start;
  auto reader = stub.Generate(&context, request);
  v1::GenerateResponse response;
  std::vector<double> gaps;
  double ttft = -1;
  uint64_t tokens = 0, prompt = 0;
  while (reader->Read(&response)) {
    const auto now = Clock::now();
    const int n = response.token_ids_size();
    if (n > 0) {
      const double gap = std::chrono::duration<double>(now - previous).count();
      if (tokens == 0) {
        ttft = gap;
        // Several tokens in the first message: the rest arrived together with it.
        for (int i = 1; i < n; ++i) gaps.push_back(0);
      } else {
        for (int i = 0; i < n; ++i) gaps.push_back(gap / n);
      }
      tokens += static_cast<uint64_t>(n);
      previous = now;
    }
    if (response.has_final()) prompt = response.final().usage().prompt_tokens();
  }
  grpc::Status status = reader->Finish();
  absl::MutexLock lock(&samples.mu);
  if (!status.ok()) {
    ++samples.failed;
    if (samples.first_error.empty()) {
      samples.first_error = std::string(services::FromGrpcStatus(status).ToString());
    }
    return;
  }
  if (ttft >= 0) samples.ttft.push_back(ttft);
  samples.inter_token.insert(samples.inter_token.end(), gaps.begin(), gaps.end());
  samples.generated += tokens;
  samples.prompt += prompt;
}

}  // namespace

int RunBenchServer(const std::vector<std::string>& args) {
  BenchFlags f;
  ArgParser p("bench", "--server HOST:PORT [--concurrency C] [--prompt-tokens P] [--gen-tokens N]");
  p.AddString({"--server"}, &f.server, "worker or gateway address host:port");
  p.AddString({"--model", "-m"}, &f.model, "model name (default: the server's first model)");
  p.AddInt({"--concurrency", "-c"}, &f.concurrency, "concurrent streams (default 1)");
  p.AddInt({"--prompt-tokens", "-p"}, &f.prompt_tokens, "prompt token ids per request (64)");
  p.AddInt({"--gen-tokens", "-n"}, &f.gen_tokens, "tokens generated per request (64)");
  p.AddInt({"--requests"}, &f.requests, "requests in total (default 2 x concurrency)");
  p.AddFloat({"--temp"}, &f.temp, "temperature (default 0: greedy)");
  p.AddInt({"--seed"}, &f.seed, "seed for the prompts (default 1)");
  p.AddFlag({"--json"}, &f.json, "print one JSON object");
  if (auto s = p.Parse(args); !s.ok()) return Fail("bench", s);
  if (p.help_requested()) {
    std::fputs(p.Usage().c_str(), stdout);
    return 0;
  }
  if (f.concurrency < 1 || f.concurrency > 4096 || f.prompt_tokens < 1 || f.gen_tokens < 1 ||
      f.gen_tokens > 65536 || f.requests < 0) {
    return Fail("bench", absl::InvalidArgumentError(
                             "--concurrency, --prompt-tokens and --gen-tokens must be >= 1"));
  }
  if (f.requests == 0) f.requests = 2 * f.concurrency;
  auto channel = grpc::CreateChannel(f.server, grpc::InsecureChannelCredentials());
  auto stub = v1::Inference::NewStub(channel);
  grpc::ClientContext list_context;
  list_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::ListModelsResponse models;
  if (grpc::Status s = stub->ListModels(&list_context, {}, &models); !s.ok()) {
    return Fail("bench", services::FromGrpcStatus(s));
  }
  const v1::ModelInfo* info = nullptr;
  for (const v1::ModelInfo& m : models.models()) {
    if (f.model.empty() || m.name() == f.model) info = &m;
  }
  if (info == nullptr) {
    return Fail("bench",
                absl::NotFoundError(absl::StrCat(f.server, " serves no model '", f.model, "'")));
  }
  f.model = info->name();
  const uint32_t n_vocab = info->n_vocab();

  {  // Warm-up: one short request, not measured.
    Samples warm;
    BenchFlags w = f;
    w.gen_tokens = 2;
    RunOne(*stub, MakeRequest(w, n_vocab, 0), warm);
  }
  Samples samples;
  std::atomic<int64_t> next{0};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int64_t t = 0; t < f.concurrency; ++t) {
    threads.emplace_back([&] {
      // One channel per client thread, as independent clients would have.
      auto own =
          v1::Inference::NewStub(grpc::CreateChannel(f.server, grpc::InsecureChannelCredentials()));
      for (int64_t i = next++; i < f.requests; i = next++) {
        RunOne(*own, MakeRequest(f, n_vocab, static_cast<uint64_t>(i) + 1), samples);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();

  absl::MutexLock lock(&samples.mu);
  const double gen_rate = wall > 0 ? samples.generated / wall : 0;
  const double prompt_rate = wall > 0 ? samples.prompt / wall : 0;
  const double ttft50 = Percentile(samples.ttft, 0.5) * 1e3;
  const double ttft99 = Percentile(samples.ttft, 0.99) * 1e3;
  const double itl50 = Percentile(samples.inter_token, 0.5) * 1e3;
  const double itl99 = Percentile(samples.inter_token, 0.99) * 1e3;
  const uint64_t ok = static_cast<uint64_t>(f.requests) - samples.failed;
  if (f.json) {
    std::printf(
        "{\"server\": \"%s\", \"model\": \"%s\", \"concurrency\": %lld, \"prompt_tokens\": %lld, "
        "\"gen_tokens\": %lld, \"requests\": %lld, \"failed\": %llu, \"wall_seconds\": %.3f, "
        "\"generated_tokens_per_second\": %.2f, \"prompt_tokens_per_second\": %.2f, "
        "\"ttft_ms_p50\": %.2f, \"ttft_ms_p99\": %.2f, \"inter_token_ms_p50\": %.2f, "
        "\"inter_token_ms_p99\": %.2f}\n",
        f.server.c_str(), f.model.c_str(), static_cast<long long>(f.concurrency),
        static_cast<long long>(f.prompt_tokens), static_cast<long long>(f.gen_tokens),
        static_cast<long long>(f.requests), static_cast<unsigned long long>(samples.failed), wall,
        gen_rate, prompt_rate, ttft50, ttft99, itl50, itl99);
  } else {
    std::printf("rwkv bench --server %s: model %s, concurrency %lld, prompt %lld, gen %lld\n",
                f.server.c_str(), f.model.c_str(), static_cast<long long>(f.concurrency),
                static_cast<long long>(f.prompt_tokens), static_cast<long long>(f.gen_tokens));
    std::printf("  requests   %llu ok, %llu failed in %.2f s\n",
                static_cast<unsigned long long>(ok),
                static_cast<unsigned long long>(samples.failed), wall);
    std::printf("  generated  %.1f tok/s aggregate (prompt %.1f tok/s)\n", gen_rate, prompt_rate);
    std::printf("  TTFT       p50 %.1f ms  p99 %.1f ms\n", ttft50, ttft99);
    std::printf("  inter-tok  p50 %.2f ms  p99 %.2f ms\n", itl50, itl99);
  }
  if (samples.failed > 0) {
    std::fprintf(stderr, "rwkv bench: %llu requests failed, first: %s\n",
                 static_cast<unsigned long long>(samples.failed), samples.first_error.c_str());
    return 1;
  }
  return 0;
}

}  // namespace rwkv::cli
