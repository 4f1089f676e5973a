// rwkv convert IN.pth OUT.gguf --vocab VOCAB.txt [--outtype f32|f16|bf16|q8_0]
//   [--rescale-every N] [--name NAME]: an official RWKV-6 checkpoint to a GGUF llama.cpp loads,
// as convert_hf_to_gguf.py writes it (docs/engine/checkpoint-conversion.md). `--vocab bytes`
// gives a 256-entry byte vocabulary. Progress and a summary line go to stderr; OUT appears only
// when complete.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "convert/convert_internal.h"
#include "rwkv/engine/checkpoint_converter.h"
#include "services/cli/args.h"
#include "services/cli/command.h"

namespace rwkv::cli {
namespace {

constexpr char kUsage[] =
    "IN.pth OUT.gguf --vocab VOCAB.txt|bytes [--outtype f32|f16|bf16|q8_0] [--rescale-every N]";

double Mb(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

int RunConvert(const std::vector<std::string>& args) {
  std::string vocab, outtype = "f16", name;
  int64_t rescale = 6;
  bool quiet = false;
  ArgParser parser("convert", kUsage);
  parser.AddString({"--vocab"}, &vocab, "rwkv_vocab_v20230424.txt (LF or CRLF), or 'bytes'");
  parser.AddString({"--outtype"}, &outtype, "f32, f16 (default), bf16 or q8_0");
  parser.AddInt({"--rescale-every"}, &rescale,
                "rescale_every_n_layers (default 6 like llama.cpp; 0 keeps weights undivided)");
  parser.AddString({"--name"}, &name, "general.name (default: from the checkpoint file name)");
  parser.AddFlag({"-q", "--quiet"}, &quiet, "print only the summary line");
  if (absl::Status s = parser.Parse(args); !s.ok()) return Fail("convert", s);
  if (parser.help_requested()) {
    std::fputs(parser.Usage().c_str(), stdout);
    return 0;
  }
  const std::vector<std::string>& pos = parser.positionals();
  if (pos.size() != 2) {
    return Fail("convert",
                absl::InvalidArgumentError(absl::StrCat("usage: rwkv convert ", kUsage)));
  }
  if (vocab.empty()) {
    return Fail("convert", absl::InvalidArgumentError("--vocab is required"));
  }
  if (rescale < 0 || rescale > 1024) {
    return Fail("convert", absl::InvalidArgumentError("--rescale-every must be in [0, 1024]"));
  }
  engine::ConvertOptions options;
  options.checkpoint_path = pos[0];
  options.output_path = pos[1];
  options.vocab_path = vocab;
  options.outtype = outtype;
  if (!quiet) {
    // One updating line on a terminal, one line per tensor otherwise.
    const bool tty = isatty(STDERR_FILENO) != 0;
    options.control.progress = [tty](const engine::JobProgress& p) {
      std::fprintf(stderr, "%srwkv convert: [%llu/%llu] tensors, %.1f/%.1f MB%s", tty ? "\r" : "",
                   static_cast<unsigned long long>(p.tensors_done),
                   static_cast<unsigned long long>(p.tensors_total), Mb(p.bytes_done),
                   Mb(p.bytes_total), tty ? "" : "\n");
      if (tty && p.tensors_done == p.tensors_total) std::fputc('\n', stderr);
    };
  }
  engine::convert::CheckpointConvertConfig config;
  config.rescale_every_n_layers = static_cast<uint32_t>(rescale);
  config.model_name = name;
  absl::StatusOr<engine::ConvertResult> result =
      engine::convert::ConvertCheckpointWithConfig(options, config);
  if (!result.ok()) return Fail("convert", result.status());
  std::error_code ec;
  const uint64_t in_bytes = std::filesystem::file_size(options.checkpoint_path, ec);
  const double seconds = std::max(result->seconds, 1e-9);
  std::fprintf(stderr,
               "rwkv convert: wrote %s (%s): %llu tensors, %.2f MB from %.2f MB in %.3f s, "
               "%.1f MB/s read, %.1f MB/s written\n",
               options.output_path.c_str(), outtype.c_str(),
               static_cast<unsigned long long>(result->tensor_count), Mb(result->output_bytes),
               Mb(in_bytes), result->seconds, Mb(in_bytes) / seconds,
               Mb(result->output_bytes) / seconds);
  return 0;
}

}  // namespace

RWKV_CLI_COMMAND("convert", "official RWKV-6 .pth checkpoint -> GGUF", RunConvert);

}  // namespace rwkv::cli
