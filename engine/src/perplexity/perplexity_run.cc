// Perplexity and KL-divergence runs over a model (docs/perplexity.md). Chunks are evaluated
// n_seq at a time as separate sequences of one batched forward pass: the first half of every
// chunk only advances the state, the second half asks for the logits of every position.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "rwkv/engine/model.h"
#include "rwkv/engine/perplexity.h"

namespace rwkv::engine {
namespace {

absl::Status CheckOptions(const PerplexityOptions& o) {
  if (o.n_ctx < 4) {
    return absl::InvalidArgumentError(absl::StrCat("context size ", o.n_ctx, " is below 4"));
  }
  if (o.n_chunks == 0) return absl::InvalidArgumentError("chunk count must not be 0");
  if (o.n_seq < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("parallel chunk count ", o.n_seq, " is below 1"));
  }
  return absl::OkStatus();
}

// Evaluates chunks [c0, c0 + n) of `tokens` (each n_ctx long, starting at chunk·n_ctx) from
// zero states; `logits` receives, per chunk, the logits of positions first .. n_ctx-1
// ((n_ctx − first)·n_vocab floats per chunk).
absl::Status EvaluateChunks(Model& model, std::span<const int32_t> tokens, int32_t n_ctx,
                            int32_t c0, int32_t n, std::vector<float>& logits) {
  const size_t n_vocab = model.config().n_vocab;
  const int32_t first = n_ctx / 2;
  const size_t per_chunk = static_cast<size_t>(n_ctx - first) * n_vocab;
  logits.resize(per_chunk * static_cast<size_t>(n));
  std::vector<RecurrentState> states;
  states.reserve(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) states.push_back(model.NewState());
  std::vector<SequenceInput> batch(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) {
    const size_t start = static_cast<size_t>(c0 + i) * static_cast<size_t>(n_ctx);
    batch[static_cast<size_t>(i)] = {&states[static_cast<size_t>(i)],
                                     tokens.subspan(start, static_cast<size_t>(first)),
                                     LogitsMode::kNone, nullptr};
  }
  if (absl::Status s = model.Evaluate(batch); !s.ok()) return s;
  for (int32_t i = 0; i < n; ++i) {
    const size_t start = static_cast<size_t>(c0 + i) * static_cast<size_t>(n_ctx);
    batch[static_cast<size_t>(i)] = {
        &states[static_cast<size_t>(i)],
        tokens.subspan(start + static_cast<size_t>(first), static_cast<size_t>(n_ctx - first)),
        LogitsMode::kAll, logits.data() + per_chunk * static_cast<size_t>(i)};
  }
  return model.Evaluate(batch);
}

}  // namespace

absl::StatusOr<PerplexityResult> RunPerplexity(Model& model, std::span<const int32_t> tokens,
                                               const PerplexityOptions& options,
                                               const std::string& base_out,
                                               const PerplexityProgress& progress) {
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  const int32_t n_ctx = options.n_ctx;
  if (tokens.size() < MinPerplexityTokens(n_ctx)) {
    return absl::InvalidArgumentError(absl::StrCat("the text has ", tokens.size(),
                                                   " tokens; at least ", MinPerplexityTokens(n_ctx),
                                                   " (2 x context size ", n_ctx, ") are needed"));
  }
  const uint64_t max_chunks = tokens.size() / static_cast<uint64_t>(n_ctx);
  const int32_t n_chunk = static_cast<int32_t>(
      options.n_chunks < 0
          ? std::min<uint64_t>(max_chunks, INT32_MAX)
          : std::min<uint64_t>(max_chunks, static_cast<uint64_t>(options.n_chunks)));
  const int32_t n_vocab = static_cast<int32_t>(model.config().n_vocab);
  const std::span<const int32_t> used = tokens.first(static_cast<size_t>(n_chunk) * n_ctx);
  for (size_t i = 0; i < used.size(); ++i) {
    if (used[i] < 0 || used[i] >= n_vocab) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token ", i, " (id ", used[i], ") is outside the model's vocabulary of ", n_vocab));
    }
  }

  std::unique_ptr<LogProbFileWriter> writer;
  LogProbFileHeader header;
  header.n_ctx = static_cast<uint32_t>(n_ctx);
  header.n_vocab = n_vocab;
  header.n_chunk = n_chunk;
  if (!base_out.empty()) {
    header.tokens.assign(used.begin(), used.end());
    absl::StatusOr<std::unique_ptr<LogProbFileWriter>> w =
        LogProbFileWriter::Create(base_out, header);
    if (!w.ok()) return w.status();
    writer = std::move(*w);
  }
  const size_t row_words = LogProbRowWords(n_vocab);
  std::vector<uint16_t> rows(writer ? header.chunk_words() : 0);

  PerplexityResult result;
  result.n_ctx = n_ctx;
  result.n_chunk = n_chunk;
  result.n_tokens = tokens.size();
  const int32_t first = n_ctx / 2;
  const size_t per_chunk = static_cast<size_t>(n_ctx - first) * static_cast<size_t>(n_vocab);
  std::vector<float> logits;
  for (int32_t c0 = 0; c0 < n_chunk; c0 += options.n_seq) {
    const int32_t n = std::min(options.n_seq, n_chunk - c0);
    if (absl::Status s = EvaluateChunks(model, used, n_ctx, c0, n, logits); !s.ok()) return s;
    for (int32_t i = 0; i < n; ++i) {
      const size_t start = static_cast<size_t>(c0 + i) * static_cast<size_t>(n_ctx);
      const float* chunk_logits = logits.data() + per_chunk * static_cast<size_t>(i);
      for (int32_t j = first; j < n_ctx - 1; ++j) {
        const std::span<const float> row_logits(
            chunk_logits + static_cast<size_t>(j - first) * static_cast<size_t>(n_vocab),
            static_cast<size_t>(n_vocab));
        const int32_t next = used[start + static_cast<size_t>(j) + 1];
        const double nll =
            writer ? CompressLogProbs(row_logits, next,
                                      std::span<uint16_t>(rows).subspan(
                                          static_cast<size_t>(j - first) * row_words, row_words))
                   : TokenNll(row_logits, next);
        result.stats.Add(nll);
      }
      if (writer) {
        if (absl::Status s = writer->WriteChunk(rows); !s.ok()) return s;
      }
      result.running_ppl.push_back(result.stats.Ppl());
      if (progress) {
        if (absl::Status s = progress(c0 + i + 1, n_chunk, result.stats); !s.ok()) return s;
      }
    }
  }
  if (writer) {
    if (absl::Status s = writer->Commit(); !s.ok()) return s;
  }
  return result;
}

absl::StatusOr<KldResult> RunKlDivergence(Model& model, LogProbFileReader& base,
                                          const PerplexityOptions& options,
                                          const KldProgress& progress) {
  if (options.n_chunks == 0 || options.n_seq < 1) {
    return absl::InvalidArgumentError("chunk count must not be 0 and parallel chunks >= 1");
  }
  const LogProbFileHeader& h = base.header();
  const int32_t n_vocab = static_cast<int32_t>(model.config().n_vocab);
  if (h.n_vocab != n_vocab) {
    return absl::InvalidArgumentError(absl::StrCat("vocabulary mismatch: the kld base file has ",
                                                   h.n_vocab, " tokens, the model ", n_vocab));
  }
  const int32_t n_ctx = static_cast<int32_t>(h.n_ctx);
  const int32_t n_chunk = options.n_chunks < 0 ? h.n_chunk : std::min(h.n_chunk, options.n_chunks);
  const int32_t first = n_ctx / 2;
  const size_t scored = h.scored_per_chunk();
  const size_t row_words = LogProbRowWords(n_vocab);
  const size_t per_chunk = static_cast<size_t>(n_ctx - first) * static_cast<size_t>(n_vocab);

  KldResult result;
  result.n_ctx = n_ctx;
  result.n_chunk = n_chunk;
  std::vector<float> kld_values, p_diff_values;
  kld_values.reserve(scored * static_cast<size_t>(n_chunk));
  p_diff_values.reserve(scored * static_cast<size_t>(n_chunk));
  std::vector<uint16_t> rows(h.chunk_words());
  std::vector<float> logits;
  for (int32_t c0 = 0; c0 < n_chunk; c0 += options.n_seq) {
    const int32_t n = std::min(options.n_seq, n_chunk - c0);
    if (absl::Status s = EvaluateChunks(model, h.tokens, n_ctx, c0, n, logits); !s.ok()) return s;
    for (int32_t i = 0; i < n; ++i) {
      if (absl::Status s = base.ReadChunk(c0 + i, rows); !s.ok()) return s;
      const size_t start = static_cast<size_t>(c0 + i) * static_cast<size_t>(n_ctx);
      const float* chunk_logits = logits.data() + per_chunk * static_cast<size_t>(i);
      for (int32_t j = first; j < n_ctx - 1; ++j) {
        const size_t k = static_cast<size_t>(j - first);
        float p_diff = 0;
        const double kld =
            AddKldPosition(std::span<const float>(chunk_logits + k * static_cast<size_t>(n_vocab),
                                                  static_cast<size_t>(n_vocab)),
                           std::span<const uint16_t>(rows).subspan(k * row_words, row_words),
                           h.tokens[start + static_cast<size_t>(j) + 1], result.stats, &p_diff);
        kld_values.push_back(static_cast<float>(kld));
        p_diff_values.push_back(p_diff);
      }
      if (progress) {
        if (absl::Status s = progress(c0 + i + 1, n_chunk, result.stats); !s.ok()) return s;
      }
    }
  }
  result.summary = SummarizeKld(result.stats, std::move(kld_values), std::move(p_diff_values));
  return result;
}

}  // namespace rwkv::engine
