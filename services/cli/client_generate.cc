// rwkv client generate / rwkv client models: the Inference service of a worker or gateway
// from the command line. Sampling flags mean what they mean for `rwkv generate`, and their
// defaults are the same, so both print the same completion for the same prompt and seed.
#include "services/cli/client_generate.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "rwkv/v1/inference.grpc.pb.h"
#include "services/cli/args.h"
#include "services/cli/command.h"
#include "services/cli/prompt_escapes.h"
#include "services/common/status_mapping.h"

namespace rwkv::cli {

namespace v1 = ::rwkv::v1;
using Clock = std::chrono::steady_clock;

namespace {

std::unique_ptr<v1::Inference::Stub> Connect(const std::string& addr) {
  return v1::Inference::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
}

// The single model a server lists, for requests that name none.
absl::StatusOr<std::string> OnlyModel(v1::Inference::Stub& stub, const std::string& addr) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::ListModelsResponse response;
  grpc::Status status = stub.ListModels(&context, v1::ListModelsRequest(), &response);
  if (!status.ok()) return services::FromGrpcStatus(status);
  if (response.models_size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(addr, " serves ", response.models_size(), " models; choose one with --model"));
  }
  return response.models(0).name();
}

// --stop may be repeated; ArgParser keeps one value per option, so collect them first.
std::vector<std::string> TakeRepeated(std::vector<std::string>& args, const std::string& name) {
  std::vector<std::string> values, rest;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == name && i + 1 < args.size()) {
      values.push_back(args[++i]);
    } else if (args[i].rfind(name + "=", 0) == 0) {
      values.push_back(args[i].substr(name.size() + 1));
    } else {
      rest.push_back(args[i]);
    }
  }
  args = std::move(rest);
  return values;
}

const char* FinishName(v1::FinishReason reason) {
  switch (reason) {
    case v1::FINISH_REASON_LENGTH:
      return "length";
    case v1::FINISH_REASON_STOP:
      return "stop";
    case v1::FINISH_REASON_CANCELLED:
      return "cancelled";
    case v1::FINISH_REASON_ERROR:
      return "error";
    default:
      return "unspecified";
  }
}

}  // namespace

int RunClientGenerate(const std::vector<std::string>& raw_args) {
  std::vector<std::string> args = raw_args;
  const std::vector<std::string> stops = TakeRepeated(args, "--stop");
  std::string addr, prompt, model, session, state, request_id, pool;
  int64_t n_predict = 256, top_k = 40, seed = -1;
  double temp = 0.8, top_p = 0.95, min_p = 0.05, presence = 0, frequency = 0, repeat = 1.0;
  double timeout = 0;
  bool no_escape = false, ignore_eos = false;
  ArgParser p("client generate", "--addr HOST:PORT -p PROMPT [options]");
  p.AddString({"--addr"}, &addr, "worker or gateway address host:port");
  p.AddString({"-p", "--prompt"}, &prompt, "prompt text (escapes \\n \\t ... processed)");
  p.AddString({"--model", "-m"}, &model, "model name (default: the server's only model)");
  p.AddInt({"-n", "--predict", "--n-predict"}, &n_predict, "tokens to generate (default 256)");
  p.AddFloat({"--temp"}, &temp, "temperature; <= 0 is greedy (default 0.8)");
  p.AddInt({"--top-k"}, &top_k, "top-k, 0 disables (default 40)");
  p.AddFloat({"--top-p"}, &top_p, "top-p, 1 disables (default 0.95)");
  p.AddFloat({"--min-p"}, &min_p, "min-p, 0 disables (default 0.05)");
  p.AddFloat({"--presence-penalty"}, &presence, "presence penalty (default 0)");
  p.AddFloat({"--frequency-penalty"}, &frequency, "frequency penalty (default 0)");
  p.AddFloat({"--repeat-penalty"}, &repeat, "repetition penalty, 1 disables (default 1)");
  p.AddInt({"-s", "--seed"}, &seed, "random seed (-1: random)");
  p.AddString({"--session"}, &session, "session id: continue from and save the state");
  p.AddString({"--state"}, &state, "initial state name (states/NAME.bin on the server)");
  p.AddString({"--pool"}, &pool, "only run on workers of this pool");
  p.AddString({"--request-id"}, &request_id, "id for the server's logs");
  p.AddFloat({"--timeout"}, &timeout, "deadline in seconds (0: none)");
  p.AddFlag({"--no-escape"}, &no_escape, "do not process escapes in the prompt");
  p.AddFlag({"--ignore-eos"}, &ignore_eos, "do not stop at end-of-generation tokens");
  if (auto s = p.Parse(args); !s.ok()) return Fail("client generate", s);
  if (p.help_requested()) {
    std::fputs((p.Usage() + "  --stop S  stop string (repeatable)\n").c_str(), stdout);
    return 0;
  }
  if (addr.empty())
    return Fail("client generate", absl::InvalidArgumentError("--addr is required"));
  if (n_predict < 0 || n_predict > 65536) {
    return Fail("client generate", absl::InvalidArgumentError("-n must be in 0..65536"));
  }
  auto stub = Connect(addr);
  if (model.empty()) {
    absl::StatusOr<std::string> only = OnlyModel(*stub, addr);
    if (!only.ok()) return Fail("client generate", only.status());
    model = *only;
  }
  v1::GenerateRequest request;
  request.set_model(model);
  request.set_text(no_escape ? prompt : ProcessPromptEscapes(prompt));
  request.set_max_tokens(static_cast<uint32_t>(n_predict));
  v1::SamplingParams& sp = *request.mutable_sampling();
  sp.set_temperature(static_cast<float>(std::max(0.0, temp)));  // <= 0 is greedy, as locally
  sp.set_top_k(static_cast<uint32_t>(std::max<int64_t>(0, top_k)));
  sp.set_top_p(static_cast<float>(top_p));
  sp.set_min_p(static_cast<float>(min_p));
  sp.set_presence_penalty(static_cast<float>(presence));
  sp.set_frequency_penalty(static_cast<float>(frequency));
  sp.set_repetition_penalty(static_cast<float>(repeat));
  sp.set_seed(seed < 0 ? std::random_device{}() : static_cast<uint64_t>(seed));
  for (const std::string& s : stops) request.add_stop(s);
  request.set_session_id(session);
  request.set_initial_state(state);
  request.set_request_id(request_id);
  request.set_ignore_eos(ignore_eos);
  request.mutable_placement()->set_pool(pool);

  grpc::ClientContext context;
  if (timeout > 0) {
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::microseconds(static_cast<int64_t>(timeout * 1e6)));
  }
  const auto start = Clock::now();
  auto first = start, last = start;
  auto reader = stub->Generate(&context, request);
  v1::GenerateResponse response;
  v1::FinalInfo final;
  uint64_t tokens = 0;
  while (reader->Read(&response)) {
    if (response.token_ids_size() > 0) {
      if (tokens == 0) first = Clock::now();
      tokens += static_cast<uint64_t>(response.token_ids_size());
      last = Clock::now();
    }
    std::fwrite(response.text().data(), 1, response.text().size(), stdout);
    std::fflush(stdout);
    if (response.has_final()) final = response.final();
  }
  grpc::Status status = reader->Finish();
  std::fputc('\n', stdout);
  if (!status.ok()) return Fail("client generate", services::FromGrpcStatus(status));
  const double ttft = std::chrono::duration<double>(first - start).count();
  const double gen = std::chrono::duration<double>(last - first).count();
  std::fprintf(stderr,
               "rwkv client generate: %llu tokens (prompt %u) | finish %s | TTFT %.1f ms | "
               "%.1f tok/s | server queue %.1f ms%s%s\n",
               static_cast<unsigned long long>(tokens), final.usage().prompt_tokens(),
               FinishName(final.finish_reason()), ttft * 1e3,
               tokens > 1 && gen > 0 ? (tokens - 1) / gen : 0.0,
               final.timings().queue_seconds() * 1e3, final.error_message().empty() ? "" : " | ",
               final.error_message().c_str());
  return final.finish_reason() == v1::FINISH_REASON_ERROR ? 1 : 0;
}

int RunClientModels(const std::vector<std::string>& args) {
  std::string addr;
  ArgParser p("client models", "--addr HOST:PORT");
  p.AddString({"--addr"}, &addr, "worker or gateway address host:port");
  if (auto s = p.Parse(args); !s.ok()) return Fail("client models", s);
  if (p.help_requested()) {
    std::fputs(p.Usage().c_str(), stdout);
    return 0;
  }
  if (addr.empty()) return Fail("client models", absl::InvalidArgumentError("--addr is required"));
  auto stub = Connect(addr);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::ListModelsResponse response;
  grpc::Status status = stub->ListModels(&context, v1::ListModelsRequest(), &response);
  if (!status.ok()) return Fail("client models", services::FromGrpcStatus(status));
  std::printf("%-32s %8s %6s %6s %-8s %12s  %s\n", "NAME", "N_VOCAB", "N_EMBD", "LAYERS", "TYPE",
              "BYTES", "BACKENDS/POOLS");
  for (const v1::ModelInfo& m : response.models()) {
    std::vector<std::string> where;
    for (int i = 0; i < m.backends_size(); ++i) {
      std::string backend = v1::Backend_Name(m.backends(i));
      if (backend.rfind("BACKEND_", 0) == 0) backend = backend.substr(8);
      where.push_back(backend);
    }
    for (const std::string& pool : m.pools()) where.push_back(pool);
    std::printf("%-32s %8u %6u %6u %-8s %12llu  %s\n", m.name().c_str(), m.n_vocab(), m.n_embd(),
                m.n_layer(), m.file_type().c_str(), static_cast<unsigned long long>(m.size_bytes()),
                absl::StrJoin(where, ",").c_str());
  }
  return 0;
}

}  // namespace rwkv::cli
