// rwkv logits: evaluates a token list and writes the logits after every token as
// little-endian float32 [n_tokens][n_vocab].
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "rwkv/engine/model.h"
#include "rwkv/engine/state_file.h"
#include "services/cli/args.h"
#include "services/cli/backend_choice.h"
#include "services/cli/command.h"
#include "util/atomic_file.h"

namespace rwkv::cli {
namespace {

absl::StatusOr<std::vector<int32_t>> ParseTokens(const std::string& text) {
  std::vector<int32_t> ids;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    int32_t id;
    if (!absl::SimpleAtoi(part, &id) || id < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tokens: '", std::string(part), "' is not a token id"));
    }
    ids.push_back(id);
  }
  if (ids.empty()) return absl::InvalidArgumentError("--tokens: no token ids given");
  return ids;
}

int RunLogits(const std::vector<std::string>& args) {
  std::string model_path, tokens_text, state_path, out_path, backend, precision_name = "exact";
  int64_t threads = 0, device = 0, gpu_layers = -1;
  ArgParser p("logits", "rwkv logits -m M.gguf --tokens 1,2,3 [--state S.bin] [-t N] -o OUT");
  p.AddString({"-m", "--model"}, &model_path, "GGUF model");
  p.AddString({"--tokens"}, &tokens_text, "comma-separated token ids");
  p.AddString({"--state"}, &state_path, "initial state (llama.cpp session file)");
  p.AddString({"-o", "--output"}, &out_path, "output file: float32 [n_tokens][n_vocab]");
  p.AddString({"--backend"}, &backend, "cpu | cuda | vulkan (default cpu, or the GPU with -ngl)");
  p.AddInt({"--device"}, &device, "device index for a GPU backend (see `rwkv devices`; default 0)");
  p.AddInt({"-ngl", "--gpu-layers", "--n-gpu-layers"}, &gpu_layers,
           "N > 0 runs on the GPU backend when one is present");
  p.AddInt({"-t", "--threads"}, &threads, "threads (0 = all cores)");
  p.AddString({"--precision"}, &precision_name,
              "exact | fast: fast multiplies Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/Q4_K/Q5_K weights by 8-bit "
              "activations on the CPU (default exact)");
  if (absl::Status s = p.Parse(args); !s.ok()) return Fail("logits", s);
  if (p.help_requested()) {
    std::printf("%s", p.Usage().c_str());
    return 0;
  }
  if (model_path.empty() || tokens_text.empty() || out_path.empty()) {
    return Fail("logits", absl::InvalidArgumentError("-m, --tokens and -o are required"));
  }
  absl::StatusOr<std::vector<int32_t>> tokens = ParseTokens(tokens_text);
  if (!tokens.ok()) return Fail("logits", tokens.status());
  const absl::StatusOr<engine::Precision> precision = engine::ParsePrecision(precision_name);
  if (!precision.ok()) return Fail("logits", precision.status());

  engine::ModelOptions options;
  options.threads = static_cast<int>(threads);
  options.backend = ChooseBackend("logits", backend, gpu_layers);
  options.device = static_cast<int>(device);
  options.precision = *precision;
  absl::StatusOr<std::unique_ptr<engine::Model>> model = engine::Model::Load(model_path, options);
  if (!model.ok()) return Fail("logits", model.status());
  const uint32_t n_vocab = (*model)->config().n_vocab;
  for (int32_t id : *tokens) {
    if (static_cast<uint32_t>(id) >= n_vocab) {
      return Fail("logits", absl::InvalidArgumentError(
                                absl::StrCat("token id ", id, " is out of range: model ",
                                             model_path, " has ", n_vocab, " tokens")));
    }
  }
  engine::RecurrentState state = (*model)->NewState();
  if (!state_path.empty()) {
    absl::StatusOr<engine::StateFile> file = engine::ReadStateFile(state_path);
    if (!file.ok()) return Fail("logits", file.status());
    if (absl::Status s = (*model)->CheckState(file->state); !s.ok()) {
      return Fail("logits", absl::InvalidArgumentError(
                                absl::StrCat("state file ", state_path, ": ", s.message())));
    }
    state = std::move(file->state);
  }
  std::vector<float> logits(tokens->size() * n_vocab);
  if (absl::Status s = (*model)->EvaluateAll(state, *tokens, logits.data()); !s.ok()) {
    return Fail("logits", s);
  }
  const auto* bytes = reinterpret_cast<const uint8_t*>(logits.data());
  if (absl::Status s = engine::WriteFileAtomically(
          out_path, std::span<const uint8_t>(bytes, logits.size() * sizeof(float)));
      !s.ok()) {
    return Fail("logits", s);
  }
  return 0;
}

}  // namespace

RWKV_CLI_COMMAND("logits", "evaluate tokens and write the logits after each (float32)", RunLogits);

}  // namespace rwkv::cli
