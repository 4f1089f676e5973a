// rwkv perplexity: perplexity of a model over a text file, and KL divergence against the
// log-probabilities of a reference run, as llama-perplexity computes them
// (docs/perplexity.md). The maths lives in the engine (rwkv/engine/perplexity.h).
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "rwkv/engine/model.h"
#include "rwkv/engine/perplexity.h"
#include "rwkv/engine/precision.h"
#include "rwkv/engine/tokenizer.h"
#include "services/cli/args.h"
#include "services/cli/backend_choice.h"
#include "services/cli/command.h"

namespace rwkv::cli {
namespace {

constexpr char kName[] = "perplexity";

struct Flags {
  std::string model, text, backend, kld_base, precision = "exact";
  int64_t n_ctx = 512, n_batch = 2048, threads = 0, device = 0, gpu_layers = -1, chunks = -1;
  bool kld = false, json = false;
};

absl::StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::InvalidArgumentError(absl::StrCat(path, ": read error"));
  return ss.str();
}

absl::StatusOr<std::vector<int32_t>> TokenizeFile(const engine::Model& model,
                                                  const std::string& path) {
  absl::StatusOr<std::string> text = ReadText(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<std::unique_ptr<engine::Tokenizer>> tok =
      engine::Tokenizer::FromGguf(model.gguf());
  if (!tok.ok()) return tok.status();
  return (*tok)->Encode(*text);
}

nlohmann::json EstimateJson(const engine::Estimate& e) {
  return {{"value", e.value}, {"error", e.error}};
}

int RunPpl(const Flags& f, engine::Model& model, const engine::PerplexityOptions& options) {
  if (f.text.empty()) return Fail(kName, absl::InvalidArgumentError("-f TEXT is required"));
  absl::StatusOr<std::vector<int32_t>> tokens = TokenizeFile(model, f.text);
  if (!tokens.ok()) return Fail(kName, tokens.status());
  std::fprintf(stderr, "rwkv perplexity: %s: %zu tokens, n_ctx %d, %s\n", f.text.c_str(),
               tokens->size(), options.n_ctx, model.backend_description().c_str());
  if (tokens->size() < engine::MinPerplexityTokens(options.n_ctx)) {
    return Fail(kName, absl::InvalidArgumentError(
                           absl::StrCat(f.text, ": ", tokens->size(), " tokens; at least ",
                                        engine::MinPerplexityTokens(options.n_ctx),
                                        " are needed with a context of ", options.n_ctx, " (-c)")));
  }
  engine::PerplexityProgress progress = [&](int32_t chunk, int32_t, const engine::NllStats& stats) {
    std::fprintf(f.json ? stderr : stdout, "[%d]%.4f,", chunk, stats.Ppl());
    std::fflush(f.json ? stderr : stdout);
    return absl::OkStatus();
  };
  absl::StatusOr<engine::PerplexityResult> r =
      engine::RunPerplexity(model, *tokens, options, f.kld_base, progress);
  std::fprintf(f.json ? stderr : stdout, "\n");
  if (!r.ok()) return Fail(kName, r.status());
  if (f.json) {
    nlohmann::json j = {{"model", f.model},
                        {"text", f.text},
                        {"n_ctx", r->n_ctx},
                        {"chunks", r->n_chunk},
                        {"tokens", r->n_tokens},
                        {"tokens_scored", r->stats.count},
                        {"mean_nll", r->stats.MeanNll()},
                        {"ppl", r->stats.Ppl()},
                        {"ppl_error", r->stats.PplError()},
                        {"running_ppl", r->running_ppl}};
    if (!f.kld_base.empty()) j["kl_divergence_base"] = f.kld_base;
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("Final estimate: PPL = %.4f +/- %.5f\n", r->stats.Ppl(), r->stats.PplError());
  }
  return 0;
}

// llama-perplexity's percentile lines: "Maximum KLD:   0.123456", "99.9%   Δp:  1.234%", ….
void PrintSpread(const engine::Spread& spread, const char* name, bool percent) {
  const std::pair<const char*, double> rows[] = {
      {"Maximum", spread.max}, {"99.9%  ", spread.p999}, {"99.0%  ", spread.p99},
      {"95.0%  ", spread.p95}, {"90.0%  ", spread.p90},  {"Median ", spread.median},
      {"10.0%  ", spread.p10}, {" 5.0%  ", spread.p05},  {" 1.0%  ", spread.p01},
      {"Minimum", spread.min}};
  for (const auto& [label, value] : rows) {
    if (percent) {
      std::printf("%s %s: %6.3f%%\n", label, name, 100.0 * value);
    } else {
      std::printf("%s %s: %10.6f\n", label, name, value);
    }
  }
}

nlohmann::json SpreadJson(const engine::Spread& spread) {
  return {{"max", spread.max}, {"99.9", spread.p999},     {"99", spread.p99}, {"95", spread.p95},
          {"90", spread.p90},  {"median", spread.median}, {"10", spread.p10}, {"5", spread.p05},
          {"1", spread.p01},   {"min", spread.min}};
}

void PrintKldSummary(const engine::KldSummary& s) {
  std::printf("====== Perplexity statistics ======\n");
  std::printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", s.ppl_q.value, s.ppl_q.error);
  std::printf("Mean PPL(base)                : %10.6f ± %10.6f\n", s.ppl_base.value,
              s.ppl_base.error);
  std::printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100.0 * s.ln_ppl_correlation);
  std::printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", s.ln_ppl_ratio.value,
              s.ln_ppl_ratio.error);
  std::printf("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", s.ppl_ratio.value,
              s.ppl_ratio.error);
  std::printf("Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f\n\n", s.ppl_diff.value,
              s.ppl_diff.error);
  std::printf("====== KL divergence statistics ======\n");
  std::printf("Mean    KLD: %10.6f ± %10.6f\n", s.kld.value, s.kld.error);
  PrintSpread(s.kld_spread, "KLD", /*percent=*/false);
  std::printf("\n");
  std::printf("====== Token probability statistics ======\n");
  std::printf("Mean    Δp: %6.3f ± %5.3f %%\n", 100.0 * s.p_diff_mean.value,
              100.0 * s.p_diff_mean.error);
  PrintSpread(s.p_diff_spread, "Δp", /*percent=*/true);
  std::printf("RMS Δp    : %6.3f ± %5.3f %%\n", 100.0 * s.p_diff_rms.value,
              100.0 * s.p_diff_rms.error);
  std::printf("Same top p: %6.3f ± %5.3f %%\n", 100.0 * s.same_top.value, 100.0 * s.same_top.error);
}

nlohmann::json KldJson(const engine::KldSummary& s) {
  return {{"positions", s.count},
          {"ppl_q", EstimateJson(s.ppl_q)},
          {"ppl_base", EstimateJson(s.ppl_base)},
          {"ln_ppl_correlation", s.ln_ppl_correlation},
          {"ln_ppl_ratio", EstimateJson(s.ln_ppl_ratio)},
          {"ppl_ratio", EstimateJson(s.ppl_ratio)},
          {"ppl_diff", EstimateJson(s.ppl_diff)},
          {"kld", EstimateJson(s.kld)},
          {"kld_percentiles", SpreadJson(s.kld_spread)},
          {"p_diff_mean", EstimateJson(s.p_diff_mean)},
          {"p_diff_percentiles", SpreadJson(s.p_diff_spread)},
          {"p_diff_rms", EstimateJson(s.p_diff_rms)},
          {"same_top", EstimateJson(s.same_top)}};
}

int RunKld(const Flags& f, bool ctx_given, engine::Model& model,
           engine::PerplexityOptions options) {
  if (f.kld_base.empty()) {
    return Fail(kName, absl::InvalidArgumentError(
                           "--kl-divergence needs --kl-divergence-base FILE (from a run of the "
                           "reference model)"));
  }
  absl::StatusOr<std::unique_ptr<engine::LogProbFileReader>> base =
      engine::LogProbFileReader::Open(f.kld_base);
  if (!base.ok()) return Fail(kName, base.status());
  const engine::LogProbFileHeader& h = (*base)->header();
  if (ctx_given && static_cast<uint32_t>(f.n_ctx) != h.n_ctx) {
    return Fail(kName, absl::InvalidArgumentError(
                           absl::StrCat("-c ", f.n_ctx, " differs from the context size ", h.n_ctx,
                                        " of the kld base file ", f.kld_base)));
  }
  if (h.n_vocab != static_cast<int32_t>(model.config().n_vocab)) {
    return Fail(kName, absl::InvalidArgumentError(absl::StrCat(
                           "vocabulary mismatch: kld base file ", f.kld_base, " has ", h.n_vocab,
                           " tokens, model ", f.model, " has ", model.config().n_vocab)));
  }
  if (!f.text.empty()) {
    absl::StatusOr<std::vector<int32_t>> tokens = TokenizeFile(model, f.text);
    if (!tokens.ok()) return Fail(kName, tokens.status());
    size_t i = 0;
    while (i < h.tokens.size() && i < tokens->size() && h.tokens[i] == (*tokens)[i]) ++i;
    if (i < h.tokens.size()) {
      return Fail(kName,
                  absl::InvalidArgumentError(absl::StrCat(
                      "token mismatch: ", f.text, " does not give the tokens of kld base file ",
                      f.kld_base, " (first difference at token ", i, ")")));
    }
  }
  options.n_seq = static_cast<int32_t>(std::max<int64_t>(1, f.n_batch / h.n_ctx));
  std::fprintf(stderr, "rwkv perplexity: kl divergence against %s: n_ctx %u, %d chunks, %s\n",
               f.kld_base.c_str(), h.n_ctx, h.n_chunk, model.backend_description().c_str());
  FILE* out = f.json ? stderr : stdout;
  std::fprintf(out,
               "chunk             PPL          ln(PPL(Q)/PPL(base))          KL Divergence"
               "              Δp RMS            Same top p\n");
  engine::KldProgress progress = [&](int32_t chunk, int32_t, const engine::KldStats& st) {
    const engine::KldSummary s = engine::SummarizeKld(st, {}, {});
    std::fprintf(out,
                 "%4d    %9.4f ± %9.4f    %10.5f ± %10.5f    %10.5f ± %10.5f    %6.3f ± %6.3f %%"
                 "    %6.3f ± %6.3f %%\n",
                 chunk, s.ppl_q.value, s.ppl_q.error, s.ln_ppl_ratio.value, s.ln_ppl_ratio.error,
                 s.kld.value, s.kld.error, 100.0 * s.p_diff_rms.value, 100.0 * s.p_diff_rms.error,
                 100.0 * s.same_top.value, 100.0 * s.same_top.error);
    std::fflush(out);
    return absl::OkStatus();
  };
  absl::StatusOr<engine::KldResult> r = engine::RunKlDivergence(model, **base, options, progress);
  if (!r.ok()) return Fail(kName, r.status());
  if (f.json) {
    nlohmann::json j = KldJson(r->summary);
    j["model"] = f.model;
    j["kl_divergence_base"] = f.kld_base;
    j["n_ctx"] = r->n_ctx;
    j["chunks"] = r->n_chunk;
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("\n");
    PrintKldSummary(r->summary);
  }
  return 0;
}

int RunPerplexityCommand(const std::vector<std::string>& args) {
  Flags f;
  ArgParser p(kName,
              "rwkv perplexity -m M.gguf -f TEXT [-c N_CTX] [-b N] [--chunks N] [--json]\n"
              "       [--kl-divergence-base BASE [--kl-divergence]]");
  p.AddString({"-m", "--model"}, &f.model, "GGUF model");
  p.AddString({"-f", "--file"}, &f.text,
              "text file (tokenized whole); optional with --kl-divergence, where it is checked "
              "against the base file's tokens");
  p.AddInt({"-c", "--ctx-size"}, &f.n_ctx, "tokens per chunk (default 512, at least 4)");
  p.AddInt({"-b", "--batch-size"}, &f.n_batch,
           "tokens per forward pass: max(1, N / n_ctx) chunks are evaluated together "
           "(default 2048)");
  p.AddInt({"--chunks"}, &f.chunks, "at most N chunks (default all)");
  p.AddString({"--kl-divergence-base"}, &f.kld_base,
              "without --kl-divergence: write the run's log-probabilities here; with it: "
              "compare against this file");
  p.AddFlag({"--kl-divergence"}, &f.kld, "KL divergence against --kl-divergence-base");
  p.AddFlag({"--json"}, &f.json, "print the figures as one JSON object on stdout");
  p.AddString({"--backend"}, &f.backend, "cpu | cuda | vulkan (default cpu, or the GPU with -ngl)");
  p.AddInt({"--device"}, &f.device, "device index for a GPU backend (default 0)");
  p.AddInt({"-ngl", "--gpu-layers", "--n-gpu-layers"}, &f.gpu_layers,
           "N > 0 runs on the GPU backend when one is present");
  p.AddInt({"-t", "--threads"}, &f.threads, "threads (0 = all cores)");
  p.AddString({"--precision"}, &f.precision,
              "exact | fast: fast multiplies Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/Q4_K/Q5_K weights by 8-bit "
              "activations on the CPU (default exact)");
  if (absl::Status s = p.Parse(args); !s.ok()) return Fail(kName, s);
  if (p.help_requested()) {
    std::printf("%s", p.Usage().c_str());
    return 0;
  }
  if (!p.positionals().empty()) {
    return Fail(kName, absl::InvalidArgumentError(
                           absl::StrCat("unexpected argument '", p.positionals()[0], "'")));
  }
  if (f.model.empty()) return Fail(kName, absl::InvalidArgumentError("-m MODEL is required"));
  if (f.n_ctx < 4 || f.n_ctx > (1 << 20)) {
    return Fail(kName, absl::InvalidArgumentError("-c: context size must be in [4, 1048576]"));
  }
  if (f.n_batch < 1) return Fail(kName, absl::InvalidArgumentError("-b must be at least 1"));
  if (f.chunks == 0 || f.chunks < -1 || f.chunks > INT32_MAX) {
    return Fail(kName, absl::InvalidArgumentError("--chunks must be a positive count"));
  }
  if (f.threads < 0 || f.threads > 1024) {
    return Fail(kName, absl::InvalidArgumentError("-t must be in [0, 1024]"));
  }
  if (!f.kld && f.text.empty()) {
    return Fail(kName, absl::InvalidArgumentError("-f TEXT is required"));
  }
  if (!f.text.empty()) {
    std::ifstream probe(f.text, std::ios::binary);
    if (!probe) return Fail(kName, absl::NotFoundError(absl::StrCat(f.text, ": cannot open")));
  }

  const absl::StatusOr<engine::Precision> precision = engine::ParsePrecision(f.precision);
  if (!precision.ok()) return Fail(kName, precision.status());

  engine::ModelOptions mo;
  mo.threads = static_cast<int>(f.threads);
  mo.precision = *precision;
  mo.backend = ChooseBackend(kName, f.backend, f.gpu_layers);
  mo.device = static_cast<int>(f.device);
  absl::StatusOr<std::unique_ptr<engine::Model>> model = engine::Model::Load(f.model, mo);
  if (!model.ok()) return Fail(kName, model.status());

  engine::PerplexityOptions options;
  options.n_ctx = static_cast<int32_t>(f.n_ctx);
  options.n_chunks = static_cast<int32_t>(f.chunks);
  options.n_seq = static_cast<int32_t>(std::max<int64_t>(1, f.n_batch / f.n_ctx));
  if (f.kld) return RunKld(f, p.WasSet("-c"), **model, options);
  return RunPpl(f, **model, options);
}

}  // namespace

RWKV_CLI_COMMAND("perplexity",
                 "perplexity of a model over a text, or KL divergence against a reference run",
                 RunPerplexityCommand);

}  // namespace rwkv::cli
