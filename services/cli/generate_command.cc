// rwkv generate: local completion like `llama-cli -no-cnv`, streamed to stdout, with a timing
// summary on stderr.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rwkv/engine/generation.h"
#include "rwkv/engine/model.h"
#include "rwkv/engine/state_file.h"
#include "rwkv/engine/tokenizer.h"
#include "services/cli/args.h"
#include "services/cli/backend_choice.h"
#include "services/cli/command.h"
#include "services/cli/prompt_escapes.h"

namespace rwkv::cli {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct GenerateFlags {
  std::string model, prompt, prompt_file, state, backend, stop, precision = "exact";
  int64_t n_predict = -1, threads = 0, gpu_layers = -1, device = 0, top_k = 40, seed = -1;
  int64_t repeat_last_n = 64;
  int64_t ctx_size = 0, batch_size = 0;
  double temp = 0.8, top_p = 0.95, min_p = 0.05, presence = 0, frequency = 0, repeat = 1.0;
  bool no_cnv = false, no_escape = false, ignore_eos = false, no_display_prompt = false;
  bool no_warmup = false;
};

void AddFlags(ArgParser& p, GenerateFlags& f) {
  p.AddString({"-m", "--model"}, &f.model, "GGUF model file");
  p.AddString({"-p", "--prompt"}, &f.prompt, "prompt text (escapes \\n \\t ... processed)");
  p.AddString({"-f", "--file"}, &f.prompt_file, "read the prompt from a file");
  p.AddInt({"-n", "--predict", "--n-predict"}, &f.n_predict, "tokens to generate (-1: until end)");
  p.AddInt({"-t", "--threads"}, &f.threads, "CPU threads (0: all cores)");
  p.AddInt({"-ngl", "--gpu-layers", "--n-gpu-layers"}, &f.gpu_layers,
           "N > 0 runs on the GPU backend when one is present (every layer)");
  p.AddFlag({"-no-cnv", "--no-conversation"}, &f.no_cnv, "plain completion (the only mode)");
  p.AddFloat({"--temp"}, &f.temp, "temperature; <= 0 is greedy (default 0.8)");
  p.AddInt({"--top-k"}, &f.top_k, "top-k, 0 disables (default 40)");
  p.AddFloat({"--top-p"}, &f.top_p, "top-p, 1 disables (default 0.95)");
  p.AddFloat({"--min-p"}, &f.min_p, "min-p, 0 disables (default 0.05)");
  p.AddFloat({"--presence-penalty"}, &f.presence, "presence penalty (default 0)");
  p.AddFloat({"--frequency-penalty"}, &f.frequency, "frequency penalty (default 0)");
  p.AddFloat({"--repeat-penalty"}, &f.repeat, "repetition penalty, 1 disables (default 1)");
  p.AddInt({"--repeat-last-n"}, &f.repeat_last_n, "penalty window in tokens (default 64)");
  p.AddInt({"-s", "--seed"}, &f.seed, "random seed (-1: random)");
  p.AddString({"--state"}, &f.state, "initial state file (llama.cpp session format)");
  p.AddString({"--backend"}, &f.backend, "cpu | cuda | vulkan (default cpu, or the GPU with -ngl)");
  p.AddInt({"--device"}, &f.device,
           "device index for a GPU backend (see `rwkv devices`; default 0)");
  p.AddString({"--precision"}, &f.precision,
              "exact | fast: fast multiplies Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/Q4_K/Q5_K weights by 8-bit "
              "activations on the CPU (default exact)");
  p.AddString({"--stop"}, &f.stop, "stop string (generation ends before it)");
  p.AddFlag({"--ignore-eos"}, &f.ignore_eos, "do not stop at end-of-generation tokens");
  p.AddFlag({"--no-escape"}, &f.no_escape, "do not process escapes in the prompt");
  p.AddFlag({"--no-display-prompt"}, &f.no_display_prompt, "print only the generated text");
  p.AddFlag({"--no-warmup"}, &f.no_warmup, "accepted for llama-cli compatibility");
  p.AddInt({"-c", "--ctx-size"}, &f.ctx_size, "accepted for llama-cli compatibility");
  p.AddInt({"-b", "--batch-size"}, &f.batch_size, "accepted for llama-cli compatibility");
}

}  // namespace

int RunGenerate(const std::vector<std::string>& args) {
  GenerateFlags f;
  ArgParser parser("generate", "-m MODEL.gguf -p PROMPT [options]");
  AddFlags(parser, f);
  if (auto s = parser.Parse(args); !s.ok()) return Fail("generate", s);
  if (parser.help_requested()) {
    std::fputs(parser.Usage().c_str(), stdout);
    return 0;
  }
  if (f.model.empty()) return Fail("generate", absl::InvalidArgumentError("-m MODEL is required"));
  if (!parser.positionals().empty()) {
    return Fail("generate", absl::InvalidArgumentError(absl::StrCat("unexpected argument '",
                                                                    parser.positionals()[0], "'")));
  }
  const absl::StatusOr<engine::Precision> precision = engine::ParsePrecision(f.precision);
  if (!precision.ok()) return Fail("generate", precision.status());
  std::string prompt = f.prompt;
  if (!f.prompt_file.empty()) {
    std::ifstream in(f.prompt_file, std::ios::binary);
    if (!in) {
      return Fail("generate", absl::NotFoundError(absl::StrCat(f.prompt_file, ": cannot open")));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    prompt = ss.str();
  } else if (!f.no_escape) {
    prompt = ProcessPromptEscapes(prompt);
  }

  const auto t_load = Clock::now();
  engine::ModelOptions options;
  options.threads = static_cast<int>(f.threads);
  options.backend = ChooseBackend("generate", f.backend, f.gpu_layers);
  options.device = static_cast<int>(f.device);
  options.precision = *precision;
  options.keep_states_on_device = true;  // one state, fed token by token, read by nothing
  auto model = engine::Model::Load(f.model, options);
  if (!model.ok()) return Fail("generate", model.status());
  auto tokenizer = engine::Tokenizer::FromGguf((*model)->gguf());
  if (!tokenizer.ok()) return Fail("generate", tokenizer.status());

  engine::RecurrentState state = (*model)->NewState();
  if (!f.state.empty()) {
    auto file = engine::ReadStateFile(f.state);
    if (!file.ok()) return Fail("generate", file.status());
    if (auto s = (*model)->CheckState(file->state); !s.ok()) {
      return Fail("generate", absl::InvalidArgumentError(absl::StrCat(f.state, ": ", s.message())));
    }
    state = std::move(file->state);
  }

  const std::vector<int32_t> prompt_tokens = (*tokenizer)->Encode(prompt);
  if (prompt_tokens.empty()) {
    return Fail("generate", absl::InvalidArgumentError("the prompt is empty"));
  }

  engine::GenerationOptions gen;
  gen.sampling.temperature = static_cast<float>(f.temp);
  gen.sampling.top_k = static_cast<int32_t>(f.top_k);
  gen.sampling.top_p = static_cast<float>(f.top_p);
  gen.sampling.min_p = static_cast<float>(f.min_p);
  gen.sampling.presence_penalty = static_cast<float>(f.presence);
  gen.sampling.frequency_penalty = static_cast<float>(f.frequency);
  gen.sampling.repeat_penalty = static_cast<float>(f.repeat);
  gen.sampling.repeat_last_n = static_cast<int32_t>(f.repeat_last_n);
  const uint64_t seed = f.seed < 0 ? std::random_device{}() : static_cast<uint64_t>(f.seed);
  gen.sampling.seed = seed;
  if (!f.stop.empty()) gen.stop.stop_strings.push_back(f.stop);
  gen.stop.max_tokens = f.n_predict < 0 ? -1 : static_cast<int32_t>(f.n_predict);
  gen.stop_at_end_of_generation = !f.ignore_eos;
  if (auto s = engine::ValidateGenerationOptions(gen); !s.ok()) return Fail("generate", s);
  if (f.n_predict == 0) {
    if (!f.no_display_prompt) std::fwrite(prompt.data(), 1, prompt.size(), stdout);
    return 0;
  }

  const int64_t n_vocab = (*model)->config().n_vocab;
  std::vector<float> logits(n_vocab);
  const auto t_prompt = Clock::now();
  engine::SequenceInput input{&state, prompt_tokens, engine::LogitsMode::kLast, logits.data()};
  if (auto s = (*model)->Evaluate({&input, 1}); !s.ok()) return Fail("generate", s);
  const auto t_gen = Clock::now();

  if (!f.no_display_prompt) std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  std::fflush(stdout);
  engine::GenerationStream stream(**tokenizer, gen);
  int32_t token = 0;
  int64_t evaluated = 0;
  while (true) {
    engine::GenerationStep step = stream.Next(logits);
    if (!step.text.empty()) {
      std::fwrite(step.text.data(), 1, step.text.size(), stdout);
      std::fflush(stdout);
    }
    if (!step.feed) break;
    token = step.token;
    engine::SequenceInput next{&state, {&token, 1}, engine::LogitsMode::kLast, logits.data()};
    if (auto s = (*model)->Evaluate({&next, 1}); !s.ok()) return Fail("generate", s);
    ++evaluated;
  }
  const std::string tail = stream.Flush();
  std::fwrite(tail.data(), 1, tail.size(), stdout);
  std::fputc('\n', stdout);
  const auto t_end = Clock::now();

  const double pp = Seconds(t_prompt, t_gen), tg = Seconds(t_gen, t_end);
  std::fprintf(stderr,
               "rwkv generate: load %.2f s | prompt %zu tokens in %.3f s (%.1f tok/s) | "
               "generated %lld tokens in %.3f s (%.1f tok/s) | seed %llu | %s\n",
               Seconds(t_load, t_prompt), prompt_tokens.size(), pp,
               pp > 0 ? prompt_tokens.size() / pp : 0.0, static_cast<long long>(stream.generated()),
               tg, tg > 0 ? evaluated / tg : 0.0, static_cast<unsigned long long>(seed),
               (*model)->backend_description().c_str());
  return 0;
}

RWKV_CLI_COMMAND("generate", "complete a prompt locally, streaming tokens (like llama-cli)",
                 RunGenerate);

}  // namespace rwkv::cli
