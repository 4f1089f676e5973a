// rwkv convert-state IN.pth OUT.bin: an official state-tuning file (blocks.N.att.time_state)
// to a llama.cpp state file in the layout of the tutorial's converter (docs/engine/state-file.md,
// "Initial state files"), usable with `--state` here and `--prompt-cache OUT.bin
// --prompt-cache-ro` in llama.cpp.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "rwkv/engine/checkpoint_converter.h"
#include "services/cli/args.h"
#include "services/cli/command.h"

namespace rwkv::cli {
namespace {

constexpr char kUsage[] = "IN.pth OUT.bin";

int RunConvertState(const std::vector<std::string>& args) {
  ArgParser parser("convert-state", kUsage);
  if (absl::Status s = parser.Parse(args); !s.ok()) return Fail("convert-state", s);
  if (parser.help_requested()) {
    std::fputs(parser.Usage().c_str(), stdout);
    return 0;
  }
  const std::vector<std::string>& pos = parser.positionals();
  if (pos.size() != 2) {
    return Fail("convert-state",
                absl::InvalidArgumentError(absl::StrCat("usage: rwkv convert-state ", kUsage)));
  }
  engine::ConvertStateOptions options;
  options.state_path = pos[0];
  options.output_path = pos[1];
  options.control.progress = [](const engine::JobProgress& p) {
    std::fprintf(stderr, "\rrwkv convert-state: [%llu/%llu] layers",
                 static_cast<unsigned long long>(p.tensors_done),
                 static_cast<unsigned long long>(p.tensors_total));
    if (p.tensors_done == p.tensors_total) std::fputc('\n', stderr);
  };
  absl::StatusOr<engine::ConvertResult> result = engine::ConvertStateCheckpoint(options);
  if (!result.ok()) return Fail("convert-state", result.status());
  std::error_code ec;
  const double in_mb =
      static_cast<double>(std::filesystem::file_size(options.state_path, ec)) / (1024.0 * 1024.0);
  const double out_mb = static_cast<double>(result->output_bytes) / (1024.0 * 1024.0);
  const double seconds = std::max(result->seconds, 1e-9);
  std::fprintf(stderr,
               "rwkv convert-state: wrote %s: %llu layers, %.3f MB from %.3f MB in %.3f s, "
               "%.1f MB/s written\n",
               options.output_path.c_str(), static_cast<unsigned long long>(result->tensor_count),
               out_mb, in_mb, result->seconds, out_mb / seconds);
  return 0;
}

}  // namespace

RWKV_CLI_COMMAND("convert-state", "official state-tuning .pth -> llama.cpp state file",
                 RunConvertState);

}  // namespace rwkv::cli
