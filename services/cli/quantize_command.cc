// rwkv quantize IN.gguf [OUT.gguf] TYPE [nthreads] [--threads N]: llama-quantize for rwkv6
// files. TYPE is a llama-quantize name (Q8_0, Q5_1, Q4_K_M, F16, ...) or ftype id; without
// OUT the result goes to <dir of IN>/ggml-model-<TYPE>.gguf, as llama-quantize does.
// Per-tensor progress and a summary go to stderr; the output appears only when complete.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "rwkv/engine/gguf.h"
#include "rwkv/engine/model_quantizer.h"
#include "services/cli/args.h"
#include "services/cli/command.h"

namespace rwkv::cli {
namespace {

constexpr char kUsage[] = "IN.gguf [OUT.gguf] TYPE [nthreads] [--threads N]";

std::string ShapeString(const std::vector<int64_t>& ne) {
  std::string s;
  for (int64_t d : ne) absl::StrAppend(&s, s.empty() ? "" : " x ", d);
  return s;
}

bool ParseQuantizeTargetOk(const std::string& name) {
  return engine::ParseQuantizeTarget(name).ok();
}

double Mb(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

int RunQuantize(const std::vector<std::string>& args) {
  int64_t threads = 0;
  bool quiet = false;
  ArgParser parser("quantize", kUsage);
  parser.AddInt({"-t", "--threads"}, &threads, "worker threads (default: all cores)");
  parser.AddFlag({"-q", "--quiet"}, &quiet, "print only the summary line");
  if (absl::Status s = parser.Parse(args); !s.ok()) return Fail("quantize", s);
  if (parser.help_requested()) {
    std::fputs(parser.Usage().c_str(), stdout);
    return 0;
  }
  std::vector<std::string> pos = parser.positionals();
  if (pos.size() < 2 || pos.size() > 4) {
    return Fail("quantize",
                absl::InvalidArgumentError(absl::StrCat("usage: rwkv quantize ", kUsage)));
  }
  engine::QuantizeOptions options;
  options.input_path = pos[0];
  size_t next = 1;
  if (pos.size() == 2 || (ParseQuantizeTargetOk(pos[1]) && pos.size() <= 3)) {
    // IN TYPE [nthreads]: the output name is derived as llama-quantize derives it.
    options.target = pos[1];
    next = 2;
    absl::StatusOr<engine::QuantizeTarget> t = engine::ParseQuantizeTarget(options.target);
    if (!t.ok()) return Fail("quantize", t.status());
    options.output_path = (std::filesystem::path(options.input_path).parent_path() /
                           absl::StrCat("ggml-model-", t->name, ".gguf"))
                              .string();
  } else {
    options.output_path = pos[1];
    options.target = pos[2];
    next = 3;
  }
  if (next < pos.size()) {
    if (parser.WasSet("--threads")) {
      return Fail("quantize", absl::InvalidArgumentError("thread count given twice"));
    }
    if (!absl::SimpleAtoi(pos[next], &threads)) {
      return Fail("quantize",
                  absl::InvalidArgumentError(absl::StrCat("bad thread count '", pos[next], "'")));
    }
  }
  if (threads < 0 || threads > 1024) {
    return Fail("quantize", absl::InvalidArgumentError("thread count must be in [0, 1024]"));
  }
  options.threads = static_cast<int>(threads);

  absl::StatusOr<engine::QuantizeTarget> target = engine::ParseQuantizeTarget(options.target);
  if (!target.ok()) return Fail("quantize", target.status());
  // The plan gives the progress lines their tensor names; QuantizeGgufFile recomputes it.
  absl::StatusOr<std::unique_ptr<engine::GgufFile>> input =
      engine::GgufFile::Open(options.input_path);
  if (!input.ok()) return Fail("quantize", input.status());
  absl::StatusOr<std::vector<engine::TensorQuantPlan>> plan =
      engine::PlanQuantization(**input, *target);
  if (!plan.ok()) return Fail("quantize", plan.status());

  std::fprintf(stderr, "rwkv quantize: %s -> %s as %s (ftype %u), %zu tensors\n",
               options.input_path.c_str(), options.output_path.c_str(), target->name.c_str(),
               target->file_type, plan->size());
  const int width = static_cast<int>(std::to_string(plan->size()).size());
  if (!quiet) {
    options.control.progress = [&](const engine::JobProgress& p) {
      if (p.tensors_done == 0 || p.tensors_done > plan->size()) return;
      const engine::TensorQuantPlan& t = (*plan)[p.tensors_done - 1];
      std::fprintf(stderr, "[%*llu/%*llu] %-40s %-6s -> %-6s [%-16s] %8.2f MB -> %8.2f MB\n", width,
                   static_cast<unsigned long long>(p.tensors_done), width,
                   static_cast<unsigned long long>(p.tensors_total), t.name.c_str(),
                   std::string(engine::GgmlTypeName(t.input_type)).c_str(),
                   std::string(engine::GgmlTypeName(t.output_type)).c_str(),
                   ShapeString(t.ne).c_str(), Mb(t.input_bytes), Mb(t.output_bytes));
    };
  }
  absl::StatusOr<engine::QuantizeResult> result = engine::QuantizeGgufFile(options);
  if (!result.ok()) return Fail("quantize", result.status());
  const double seconds = std::max(result->seconds, 1e-9);
  std::fprintf(stderr,
               "rwkv quantize: wrote %s: %llu tensors, %.2f MB -> %.2f MB (%.2fx) in %.2f s, "
               "%.1f MB/s read\n",
               options.output_path.c_str(), static_cast<unsigned long long>(result->tensor_count),
               Mb(result->input_bytes), Mb(result->output_bytes),
               result->output_bytes > 0
                   ? static_cast<double>(result->input_bytes) / result->output_bytes
                   : 0.0,
               seconds, Mb(result->input_bytes) / seconds);
  return 0;
}

}  // namespace

RWKV_CLI_COMMAND("quantize", "quantize a GGUF like llama-quantize (Q8_0, Q5_1, Q4_K_M, ...)",
                 RunQuantize);

}  // namespace rwkv::cli
