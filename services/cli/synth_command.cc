// rwkv synth -o M.gguf [--n-embd C --n-layer L --head-size S --n-ffn F --vocab bytes|VOCAB.txt
// --seed S --type f16 --rescale-every R --format gguf|pth]: writes a random-weight RWKV-6 model
// with the layout of llama.cpp's converter, or (--format pth) the same model as an official
// torch.save checkpoint for `rwkv convert` and convert jobs. Progress and a summary go to stderr.
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "rwkv/engine/ggml_types.h"
#include "rwkv/engine/synth.h"
#include "services/cli/args.h"
#include "services/cli/command.h"

namespace rwkv::cli {
namespace {

int RunSynth(const std::vector<std::string>& args) {
  std::string output, vocab = "bytes", type = "f16", format = "gguf";
  int64_t n_embd = 2048, n_layer = 24, head_size = 64, n_ffn = 0, mix_rank = 0, decay_rank = 0;
  int64_t seed = 0, rescale_every = 0, threads = 0;
  ArgParser parser("synth", "-o M.gguf [options]");
  parser.AddString({"-o", "--output"}, &output, "output path (written atomically)");
  parser.AddString({"--format"}, &format,
                   "gguf (default) or pth: an RWKV-6 torch.save checkpoint (BF16) to convert");
  parser.AddInt({"--n-embd"}, &n_embd, "embedding width C (default 2048)");
  parser.AddInt({"--n-layer"}, &n_layer, "number of layers (default 24)");
  parser.AddInt({"--head-size"}, &head_size, "WKV head size; must divide C (default 64)");
  parser.AddInt({"--n-ffn"}, &n_ffn, "channel-mix width (default int(3.5*C)//32*32)");
  parser.AddInt({"--mix-lora"}, &mix_rank, "time-mix LoRA rank (default 32, 64 if C>=4096)");
  parser.AddInt({"--decay-lora"}, &decay_rank, "decay LoRA rank (default 64, 128 if C>=4096)");
  parser.AddString({"--vocab"}, &vocab, "'bytes' (256 tokens) or a World vocab file");
  parser.AddInt({"-s", "--seed"}, &seed, "random seed (default 0)");
  parser.AddString(
      {"--type"}, &type,
      absl::StrCat("projection weight type: ", engine::SynthTypes(), " (default f16)"));
  parser.AddInt({"--rescale-every"}, &rescale_every, "rescale_every_n_layers (default 0)");
  parser.AddInt({"-t", "--threads"}, &threads, "threads (default: all cores)");
  if (absl::Status s = parser.Parse(args); !s.ok()) return Fail("synth", s);
  if (parser.help_requested()) {
    std::fputs(parser.Usage().c_str(), stdout);
    return 0;
  }
  if (!parser.positionals().empty()) {
    return Fail("synth", absl::InvalidArgumentError(
                             absl::StrCat("unexpected argument '", parser.positionals()[0], "'")));
  }
  if (output.empty()) return Fail("synth", absl::InvalidArgumentError("missing -o M.gguf"));
  if (format != "gguf" && format != "pth") {
    return Fail("synth", absl::InvalidArgumentError(
                             absl::StrCat("--format must be gguf or pth, got '", format, "'")));
  }
  if (seed < 0) return Fail("synth", absl::InvalidArgumentError("--seed must be >= 0"));
  if (threads < 0 || threads > 1024) {
    return Fail("synth", absl::InvalidArgumentError("--threads must be in [0, 1024]"));
  }
  std::optional<engine::GgmlType> ggml_type = engine::GgmlTypeFromName(type);
  if (!ggml_type.has_value()) {
    return Fail("synth",
                absl::InvalidArgumentError(absl::StrCat("unknown --type '", type, "' (use one of ",
                                                        engine::SynthTypes(), ")")));
  }

  engine::SynthOptions options;
  options.output_path = output;
  options.n_embd = n_embd;
  options.n_layer = n_layer;
  options.head_size = head_size;
  options.n_ffn = n_ffn;
  options.mix_lora_rank = mix_rank;
  options.decay_lora_rank = decay_rank;
  options.vocab = vocab;
  options.seed = static_cast<uint64_t>(seed);
  options.type = *ggml_type;
  options.rescale_every = rescale_every;
  options.threads = static_cast<int>(threads);

  absl::StatusOr<engine::SynthShape> shape = engine::ResolveSynthShape(options);
  if (!shape.ok()) return Fail("synth", shape.status());
  std::fprintf(stderr,
               "rwkv synth: C=%lld L=%lld head_size=%lld F=%lld Dm=%lld Dd=%lld vocab=%s "
               "type=%s seed=%lld -> %s\n",
               static_cast<long long>(shape->n_embd), static_cast<long long>(shape->n_layer),
               static_cast<long long>(shape->head_size), static_cast<long long>(shape->n_ffn),
               static_cast<long long>(shape->mix_lora_rank),
               static_cast<long long>(shape->decay_lora_rank), vocab.c_str(), type.c_str(),
               static_cast<long long>(seed), output.c_str());

  auto last = std::chrono::steady_clock::now();
  options.control.progress = [&last](const engine::JobProgress& p) {
    const auto now = std::chrono::steady_clock::now();
    if (p.tensors_done != p.tensors_total && now - last < std::chrono::seconds(1)) return;
    last = now;
    std::fprintf(stderr, "rwkv synth: %llu/%llu tensors, %.1f/%.1f MiB\n",
                 static_cast<unsigned long long>(p.tensors_done),
                 static_cast<unsigned long long>(p.tensors_total), p.bytes_done / 1048576.0,
                 p.bytes_total / 1048576.0);
  };
  absl::StatusOr<engine::SynthResult> result = format == "pth"
                                                   ? engine::WriteSyntheticCheckpoint(options)
                                                   : engine::WriteSyntheticModel(options);
  if (!result.ok()) return Fail("synth", result.status());
  std::fprintf(stderr,
               "rwkv synth: wrote %s: %llu tensors, %llu parameters, vocab %lld, %.1f MiB in "
               "%.2f s\n",
               output.c_str(), static_cast<unsigned long long>(result->tensor_count),
               static_cast<unsigned long long>(result->shape.n_params),
               static_cast<long long>(result->shape.n_vocab), result->file_bytes / 1048576.0,
               result->seconds);
  return 0;
}

}  // namespace

RWKV_CLI_COMMAND("synth", "write a random-weight RWKV-6 GGUF or .pth (tests, demos, benchmarks)",
                 RunSynth);

}  // namespace rwkv::cli
