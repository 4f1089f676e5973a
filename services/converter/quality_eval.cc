#include "services/converter/quality_eval.h"

#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "rwkv/engine/perplexity.h"
#include "rwkv/engine/tokenizer.h"

namespace rwkv::converter {
namespace {

absl::Status CheckCancel(const engine::JobControl& control) {
  return control.cancelled() ? absl::CancelledError("cancelled during the quality evaluation")
                             : absl::OkStatus();
}

engine::PerplexityOptions Options(const JobSpec& spec) {
  engine::PerplexityOptions o;
  o.n_ctx = static_cast<int32_t>(spec.eval_ctx == 0 ? kDefaultEvalCtx : spec.eval_ctx);
  o.n_chunks = spec.eval_chunks == 0
                   ? -1
                   : static_cast<int32_t>(std::min<uint32_t>(spec.eval_chunks, INT32_MAX));
  o.n_seq = 1;
  return o;
}

}  // namespace

absl::StatusOr<QualityEval> PrepareQualityEval(const JobSpec& spec, const JobPaths& paths,
                                               int threads) {
  std::ifstream in(paths.eval_text, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("eval_text ", spec.eval_text, " cannot be read"));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat("eval_text ", spec.eval_text, ": read error"));
  }
  engine::ModelOptions mo;
  mo.threads = threads;
  absl::StatusOr<std::unique_ptr<engine::Model>> model =
      engine::Model::Load(paths.input.string(), mo);
  if (!model.ok()) return model.status();
  absl::StatusOr<std::unique_ptr<engine::Tokenizer>> tok =
      engine::Tokenizer::FromGguf((*model)->gguf());
  if (!tok.ok()) return tok.status();
  QualityEval eval;
  eval.tokens = (*tok)->Encode(ss.str());
  const engine::PerplexityOptions o = Options(spec);
  if (eval.tokens.size() < engine::MinPerplexityTokens(o.n_ctx)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "eval_text ", spec.eval_text, " has ", eval.tokens.size(), " tokens; at least ",
        engine::MinPerplexityTokens(o.n_ctx), " are needed for eval_ctx ", o.n_ctx));
  }
  eval.source = std::move(*model);
  return eval;
}

absl::StatusOr<QuantizationQuality> MeasureQuality(const JobSpec& spec, QualityEval& eval,
                                                   const std::filesystem::path& result_path,
                                                   const std::filesystem::path& base_path,
                                                   int threads, const engine::JobControl& control) {
  const engine::PerplexityOptions o = Options(spec);
  struct RemoveBase {
    std::filesystem::path path;
    ~RemoveBase() {
      std::error_code ec;
      std::filesystem::remove(path, ec);
    }
  } remove_base{base_path};
  absl::StatusOr<engine::PerplexityResult> source = engine::RunPerplexity(
      *eval.source, eval.tokens, o, base_path.string(),
      [&](int32_t, int32_t, const engine::NllStats&) { return CheckCancel(control); });
  if (!source.ok()) return source.status();
  eval.source.reset();  // its mapping is not needed any more

  engine::ModelOptions mo;
  mo.threads = threads;
  absl::StatusOr<std::unique_ptr<engine::Model>> result =
      engine::Model::Load(result_path.string(), mo);
  if (!result.ok()) return result.status();
  absl::StatusOr<std::unique_ptr<engine::LogProbFileReader>> base =
      engine::LogProbFileReader::Open(base_path.string());
  if (!base.ok()) return base.status();
  absl::StatusOr<engine::KldResult> kld = engine::RunKlDivergence(
      **result, **base, o,
      [&](int32_t, int32_t, const engine::KldStats&) { return CheckCancel(control); });
  if (!kld.ok()) return kld.status();

  QuantizationQuality q;
  q.eval_text = spec.eval_text;
  q.ctx = static_cast<uint32_t>(source->n_ctx);
  q.chunks = static_cast<uint32_t>(source->n_chunk);
  q.tokens_scored = source->stats.count;
  q.ppl_source = source->stats.Ppl();
  q.ppl_source_error = source->stats.PplError();
  q.ppl_result = kld->stats.q.Ppl();
  q.ppl_result_error = kld->stats.q.PplError();
  q.mean_kld = kld->summary.kld.value;
  q.mean_kld_error = kld->summary.kld.error;
  q.kld_p99 = kld->summary.kld_spread.p99;
  q.same_top_fraction = kld->summary.same_top.value;
  return q;
}

}  // namespace rwkv::converter
