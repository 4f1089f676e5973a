// Perplexity and KL-divergence runs over a model (docs/perplexity.md). Chunks are evaluated
// n_seq at a time as separate sequences of one batched forward pass: the first half of every
// chunk only advances the state; the scored positions then ask for logits in slices small
// enough to keep at most kMaxLogitFloats. Sums are kept per chunk and merged in chunk order,
// so the figures do not depend on n_seq.
#include <algorithm>
#include <functional>

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

// Called for a slice of scored positions of chunk `i` of the group: positions
// j0 .. j0+len-1, with `logits` holding len rows of n_vocab floats (the logits after token j).
using SliceFn =
    std::function<absl::Status(int32_t i, int32_t j0, int32_t len, const float* logits)>;

// Evaluates chunks [c0, c0 + n) of `tokens` (each n_ctx long, starting at chunk·n_ctx) from
// zero states and hands over the logits of positions n_ctx/2 .. n_ctx-2 slice by slice.
absl::Status EvaluateChunks(Model& model, std::span<const int32_t> tokens, int32_t n_ctx,
                            int32_t c0, int32_t n, const SliceFn& fn) {
  const size_t n_vocab = model.config().n_vocab;
  const int32_t first = n_ctx / 2;
  const int32_t last = n_ctx - 1;  // positions [first, last) are scored
  const int32_t slice = static_cast<int32_t>(std::clamp<size_t>(
      kMaxLogitFloats / (static_cast<size_t>(n) * n_vocab), 1, static_cast<size_t>(last - first)));
  std::vector<float> logits(static_cast<size_t>(slice) * n_vocab * static_cast<size_t>(n));
  std::vector<RecurrentState> states;
  states.reserve(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) states.push_back(model.NewState());
  std::vector<SequenceInput> batch(static_cast<size_t>(n));
  auto start_of = [&](int32_t i) {
    return static_cast<size_t>(c0 + i) * static_cast<size_t>(n_ctx);
  };
  for (int32_t i = 0; i < n; ++i) {
    batch[static_cast<size_t>(i)] = {&states[static_cast<size_t>(i)],
                                     tokens.subspan(start_of(i), static_cast<size_t>(first)),
                                     LogitsMode::kNone, nullptr};
  }
  if (absl::Status s = model.Evaluate(batch); !s.ok()) return s;
  const size_t per_seq = static_cast<size_t>(slice) * n_vocab;
  for (int32_t j0 = first; j0 < last; j0 += slice) {
    const int32_t len = std::min(slice, last - j0);
    for (int32_t i = 0; i < n; ++i) {
      batch[static_cast<size_t>(i)] = {
          &states[static_cast<size_t>(i)],
          tokens.subspan(start_of(i) + static_cast<size_t>(j0), static_cast<size_t>(len)),
          LogitsMode::kAll, logits.data() + per_seq * static_cast<size_t>(i)};
    }
    if (absl::Status s = model.Evaluate(batch); !s.ok()) return s;
    for (int32_t i = 0; i < n; ++i) {
      if (absl::Status s = fn(i, j0, len, logits.data() + per_seq * static_cast<size_t>(i));
          !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

void Merge(NllStats& into, const NllStats& s) {
  into.nll += s.nll;
  into.nll2 += s.nll2;
  into.count += s.count;
}

void Merge(KldStats& into, const KldStats& s) {
  into.sum_nll += s.sum_nll;
  into.sum_nll2 += s.sum_nll2;
  into.sum_nll_base += s.sum_nll_base;
  into.sum_nll_base2 += s.sum_nll_base2;
  into.sum_nll_nll_base += s.sum_nll_nll_base;
  into.sum_kld += s.sum_kld;
  into.sum_kld2 += s.sum_kld2;
  into.sum_p_diff += s.sum_p_diff;
  into.sum_p_diff2 += s.sum_p_diff2;
  into.sum_p_diff4 += s.sum_p_diff4;
  into.max_p_diff = std::max(into.max_p_diff, s.max_p_diff);
  into.n_same_top += s.n_same_top;
  into.count += s.count;
  Merge(into.q, s.q);
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
  if (!base_out.empty()) {
    LogProbFileHeader header;
    header.n_ctx = static_cast<uint32_t>(n_ctx);
    header.n_vocab = n_vocab;
    header.n_chunk = n_chunk;
    header.tokens.assign(used.begin(), used.end());
    absl::StatusOr<std::unique_ptr<LogProbFileWriter>> w =
        LogProbFileWriter::Create(base_out, header);
    if (!w.ok()) return w.status();
    writer = std::move(*w);
  }
  // The base file is written in order, so a run that writes one evaluates a chunk at a time.
  const int32_t n_seq = writer ? 1 : options.n_seq;
  const size_t row_words = LogProbRowWords(n_vocab);
  std::vector<uint16_t> rows;

  PerplexityResult result;
  result.n_ctx = n_ctx;
  result.n_chunk = n_chunk;
  result.n_tokens = tokens.size();
  const size_t vocab = static_cast<size_t>(n_vocab);
  for (int32_t c0 = 0; c0 < n_chunk; c0 += n_seq) {
    const int32_t n = std::min(n_seq, n_chunk - c0);
    std::vector<NllStats> per_chunk(static_cast<size_t>(n));
    absl::Status s = EvaluateChunks(
        model, used, n_ctx, c0, n,
        [&](int32_t i, int32_t j0, int32_t len, const float* logits) -> absl::Status {
          const size_t start = static_cast<size_t>(c0 + i) * static_cast<size_t>(n_ctx);
          if (writer) rows.assign(static_cast<size_t>(len) * row_words, 0);
          for (int32_t k = 0; k < len; ++k) {
            const std::span<const float> row(logits + static_cast<size_t>(k) * vocab, vocab);
            const int32_t next = used[start + static_cast<size_t>(j0 + k) + 1];
            per_chunk[static_cast<size_t>(i)].Add(
                writer ? CompressLogProbs(row, next,
                                          std::span<uint16_t>(rows).subspan(
                                              static_cast<size_t>(k) * row_words, row_words))
                       : TokenNll(row, next));
          }
          return writer ? writer->WriteRows(rows) : absl::OkStatus();
        });
    if (!s.ok()) return s;
    for (int32_t i = 0; i < n; ++i) {
      Merge(result.stats, per_chunk[static_cast<size_t>(i)]);
      result.running_ppl.push_back(result.stats.Ppl());
      if (progress) {
        if (absl::Status p = progress(c0 + i + 1, n_chunk, result.stats); !p.ok()) return p;
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
  const size_t vocab = static_cast<size_t>(n_vocab);

  KldResult result;
  result.n_ctx = n_ctx;
  result.n_chunk = n_chunk;
  std::vector<float> kld_values(scored * static_cast<size_t>(n_chunk));
  std::vector<float> p_diff_values(scored * static_cast<size_t>(n_chunk));
  std::vector<uint16_t> rows;
  for (int32_t c0 = 0; c0 < n_chunk; c0 += options.n_seq) {
    const int32_t n = std::min(options.n_seq, n_chunk - c0);
    std::vector<KldStats> per_chunk(static_cast<size_t>(n));
    absl::Status s = EvaluateChunks(
        model, h.tokens, n_ctx, c0, n,
        [&](int32_t i, int32_t j0, int32_t len, const float* logits) -> absl::Status {
          const int32_t chunk = c0 + i;
          const size_t start = static_cast<size_t>(chunk) * static_cast<size_t>(n_ctx);
          rows.resize(static_cast<size_t>(len) * row_words);
          if (absl::Status r = base.ReadRows(chunk, static_cast<size_t>(j0 - first), rows);
              !r.ok()) {
            return r;
          }
          for (int32_t k = 0; k < len; ++k) {
            const size_t at =
                static_cast<size_t>(chunk) * scored + static_cast<size_t>(j0 - first + k);
            kld_values[at] = static_cast<float>(AddKldPosition(
                std::span<const float>(logits + static_cast<size_t>(k) * vocab, vocab),
                std::span<const uint16_t>(rows).subspan(static_cast<size_t>(k) * row_words,
                                                        row_words),
                h.tokens[start + static_cast<size_t>(j0 + k) + 1],
                per_chunk[static_cast<size_t>(i)], &p_diff_values[at]));
          }
          return absl::OkStatus();
        });
    if (!s.ok()) return s;
    for (int32_t i = 0; i < n; ++i) {
      Merge(result.stats, per_chunk[static_cast<size_t>(i)]);
      if (progress) {
        if (absl::Status p = progress(c0 + i + 1, n_chunk, result.stats); !p.ok()) return p;
      }
    }
  }
  result.summary = SummarizeKld(result.stats, std::move(kld_values), std::move(p_diff_values));
  return result;
}

}  // namespace rwkv::engine
