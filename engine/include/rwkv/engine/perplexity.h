// Perplexity and KL-divergence evaluation with llama-perplexity's semantics
// (docs/perplexity.md): the token stream is cut into chunks of n_ctx tokens (a trailing
// partial chunk is dropped), every chunk starts from the zero state, and in each chunk the
// tokens at positions n_ctx/2+1 .. n_ctx-1 are scored from the logits one position earlier.
//
// A perplexity run can record the log-probabilities of every scored position in a "KLD base"
// file (the layout of llama-perplexity's --kl-divergence-base file; see LogProbFile below); a
// KL-divergence run of another model over the same tokens compares against it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rwkv::engine {

class Model;

// ---------------------------------------------------------------------------------------
// Statistics.

// mean = sum/count and its standard error sqrt((sum2/count - mean²)/(count-1)), as
// llama-perplexity's mean_and_uncertainty: the error is 0 for count <= 10 or a variance <= 0.
struct MeanAndError {
  double mean = 0;
  double error = 0;
};
MeanAndError MeanWithError(double sum, double sum2, uint64_t count);
// Covariance of the means of a and b from their sums, (Σab/n − Σa/n·Σb/n)/(n − 1), in the
// units of MeanWithError's error (0 for count < 10), as llama-perplexity.
double MeanCovariance(double sum_a, double sum_b, double sum_ab, uint64_t count);

// Running sums of the negative log-likelihoods of the scored tokens.
struct NllStats {
  double nll = 0;   // Σ -ln p(token)
  double nll2 = 0;  // Σ (ln p(token))²
  uint64_t count = 0;

  void Add(double v) {
    nll += v;
    nll2 += v * v;
    ++count;
  }
  double MeanNll() const { return count ? nll / static_cast<double>(count) : 0.0; }
  // exp(mean nll).
  double Ppl() const;
  // llama-perplexity's "+/-" of the final estimate: exp(mean)·sqrt(var/(count-1)) with
  // var = nll2/count − mean²; 0 when count < 2 or var <= 0.
  double PplError() const;
};

// -ln softmax(logits)[token], computed as llama-perplexity does (max-shifted, float exp,
// double sum). `token` must be in [0, logits.size()).
double TokenNll(std::span<const float> logits, int32_t token);

// Number of uint16 words in one stored log-probability row: two float32 (scale, minimum)
// and the vocabulary rounded up to an even count.
inline size_t LogProbRowWords(int32_t n_vocab) {
  return 4 + 2 * ((static_cast<size_t>(n_vocab) + 1) / 2);
}
// Writes the compressed log-probabilities of `logits` into `row` (LogProbRowWords words):
// float32 scale = (max − m)/65535 and float32 min_log_prob = m − max − ln Σexp(l − max),
// where m = max(min logit, max − 16); then q_i = round((l_i − m)/scale) for l_i > m, else 0.
// So log p_i ≈ scale·q_i + min_log_prob. Returns -ln p(token), as TokenNll.
double CompressLogProbs(std::span<const float> logits, int32_t token, std::span<uint16_t> row);

// Running sums of a KL-divergence run (Q = the model evaluated now, base = the stored
// log-probabilities).
struct KldStats {
  double sum_nll = 0, sum_nll2 = 0;            // Q
  double sum_nll_base = 0, sum_nll_base2 = 0;  // base
  double sum_nll_nll_base = 0;
  double sum_kld = 0, sum_kld2 = 0;
  double sum_p_diff = 0, sum_p_diff2 = 0, sum_p_diff4 = 0;
  float max_p_diff = 0;
  uint64_t n_same_top = 0;
  uint64_t count = 0;
  // Q's nlls in double, exactly as a perplexity run of Q computes them (TokenNll): its
  // Ppl()/PplError() equal what `rwkv perplexity` prints for Q over the same chunks.
  NllStats q;
};

// Adds one position: Q's `logits`, the base's stored `row`, the scored `token`. Returns the
// position's KL(base‖Q) = Σ_i p_base,i·(ln p_base,i − ln q_i) over the base entries with
// ln p_base > −16, and writes p(token)_Q − p(token)_base to *p_diff. The top tokens agree when
// Q's most likely token has the largest stored value of the row (llama-perplexity compares
// with the lowest id among tied stored values instead).
double AddKldPosition(std::span<const float> logits, std::span<const uint16_t> row, int32_t token,
                      KldStats& stats, float* p_diff);

// A value ± its standard error.
struct Estimate {
  double value = 0;
  double error = 0;
};

// The summary llama-perplexity prints at the end of a KL-divergence run.
// How one per-position quantity spreads over the scored positions: percentiles by linear
// interpolation between sorted values, as llama-perplexity computes them.
struct Spread {
  double max = 0, p999 = 0, p99 = 0, p95 = 0, p90 = 0, median = 0, p10 = 0, p05 = 0, p01 = 0,
         min = 0;
};

struct KldSummary {
  uint64_t count = 0;
  Estimate ppl_q, ppl_base;
  double ln_ppl_correlation = 0;
  Estimate ln_ppl_ratio;  // mean ln(PPL(Q)/PPL(base))
  Estimate ppl_ratio;     // PPL(Q)/PPL(base)
  Estimate ppl_diff;      // PPL(Q) − PPL(base)
  Estimate kld;           // mean KLD
  Spread kld_spread;
  Estimate p_diff_mean;  // mean Δp (fraction, not percent)
  Spread p_diff_spread;
  Estimate p_diff_rms;  // RMS Δp (fraction)
  Estimate same_top;    // fraction of positions where Q and base agree on the top token
};

// Percentile of `sorted` (ascending, non-empty) at `fraction` in [0, 1], interpolating
// linearly between neighbours; fraction <= 0 gives the front, >= 1 the back.
double Percentile(std::span<const float> sorted, double fraction);
// Median (mean of the middle two for an even count); `sorted` ascending, non-empty.
double Median(std::span<const float> sorted);

// `kld_values` and `p_diff_values` hold one entry per position (any order; sorted here).
KldSummary SummarizeKld(const KldStats& stats, std::vector<float> kld_values,
                        std::vector<float> p_diff_values);

// ---------------------------------------------------------------------------------------
// The KLD base file. Little-endian, the layout of llama-perplexity's --kl-divergence-base:
//
//   char[8]  "_logits_"
//   uint32   n_ctx             (>= 4)
//   int32    n_vocab           (>= 1)
//   int32    n_chunk           (>= 1)
//   int32    tokens[n_chunk·n_ctx]      every token of every chunk, each in [0, n_vocab)
//   then for each chunk, for each of its n_ctx − 1 − n_ctx/2 scored positions, one row of
//   LogProbRowWords(n_vocab) uint16 words (see CompressLogProbs).
//
// The file size must be exactly what the header implies.

inline constexpr char kLogProbFileMagic[8] = {'_', 'l', 'o', 'g', 'i', 't', 's', '_'};

struct LogProbFileHeader {
  uint32_t n_ctx = 0;
  int32_t n_vocab = 0;
  int32_t n_chunk = 0;
  std::vector<int32_t> tokens;  // n_chunk·n_ctx

  size_t scored_per_chunk() const { return n_ctx - 1 - n_ctx / 2; }
  size_t chunk_words() const { return scored_per_chunk() * LogProbRowWords(n_vocab); }
};

// Parses and validates a header from the start of a file of `file_size` bytes held in
// `prefix` (at least the header bytes). InvalidArgument naming `name` on a bad magic, a
// truncated header, n_ctx/n_vocab/n_chunk out of range, a token outside the vocabulary or a
// size that does not match. Reads nothing beyond `prefix`.
absl::StatusOr<LogProbFileHeader> ParseLogProbFileHeader(std::span<const uint8_t> prefix,
                                                         uint64_t file_size,
                                                         const std::string& name);
// Header bytes for a file with these fields (the size of the fixed part plus the tokens).
uint64_t LogProbFileHeaderBytes(uint64_t n_tokens);

// Writes a base file atomically: nothing appears at `path` unless Commit() succeeds.
class LogProbFileWriter {
 public:
  static absl::StatusOr<std::unique_ptr<LogProbFileWriter>> Create(const std::string& path,
                                                                   const LogProbFileHeader& h);
  ~LogProbFileWriter();
  // Appends whole rows (a multiple of LogProbRowWords(n_vocab) words) in file order: chunk
  // by chunk, position by position. Internal error beyond the header's row count.
  absl::Status WriteRows(std::span<const uint16_t> words);
  // Fails unless every row of every chunk was written.
  absl::Status Commit();

  class Impl;

 private:
  explicit LogProbFileWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Reads a base file chunk by chunk (the whole file is never held in memory).
class LogProbFileReader {
 public:
  // NotFound for a missing file; InvalidArgument naming the file for a corrupt one.
  static absl::StatusOr<std::unique_ptr<LogProbFileReader>> Open(const std::string& path);
  ~LogProbFileReader();
  const LogProbFileHeader& header() const { return header_; }
  // Reads rows first_row, first_row+1, ... of chunk `chunk` (in [0, n_chunk)) into `words`
  // (a multiple of LogProbRowWords(n_vocab) words, within the chunk's scored_per_chunk() rows).
  absl::Status ReadRows(int32_t chunk, size_t first_row, std::span<uint16_t> words);

 private:
  LogProbFileReader(std::string path, std::FILE* file, LogProbFileHeader header);
  std::string path_;
  std::FILE* file_ = nullptr;
  LogProbFileHeader header_;
};

// ---------------------------------------------------------------------------------------
// Runs over a model.

struct PerplexityOptions {
  int32_t n_ctx = 512;    // tokens per chunk, >= 4
  int32_t n_chunks = -1;  // at most this many chunks; < 0 = all
  // Chunks evaluated together in one batched forward pass (each its own sequence): shares
  // the weight reads. >= 1. A run that writes a base file evaluates one chunk at a time.
  // Logits are requested in slices of positions so that at most kMaxLogitFloats are held,
  // whatever n_ctx, n_seq and the vocabulary; the figures do not depend on n_seq.
  int32_t n_seq = 1;
};
inline constexpr size_t kMaxLogitFloats = size_t{32} << 20;  // 128 MiB

// Called after each chunk with the chunk number (1-based), the chunk count and the running
// statistics. A non-OK return stops the run with that status.
using PerplexityProgress =
    std::function<absl::Status(int32_t chunk, int32_t n_chunk, const NllStats& stats)>;

struct PerplexityResult {
  NllStats stats;
  int32_t n_ctx = 0;
  int32_t n_chunk = 0;
  uint64_t n_tokens = 0;            // tokens in the input (before chunking)
  std::vector<double> running_ppl;  // exp(mean nll) after each chunk
};

// Tokens needed for a run with n_ctx (llama-perplexity asks for at least 2·n_ctx).
inline uint64_t MinPerplexityTokens(int32_t n_ctx) { return 2 * static_cast<uint64_t>(n_ctx); }

// Perplexity of `model` over `tokens`. InvalidArgument for fewer than 2·n_ctx tokens (naming
// how many are needed), a bad option or a token outside the vocabulary. With `base_out`,
// also writes the KLD base file there (atomically).
absl::StatusOr<PerplexityResult> RunPerplexity(Model& model, std::span<const int32_t> tokens,
                                               const PerplexityOptions& options,
                                               const std::string& base_out = "",
                                               const PerplexityProgress& progress = nullptr);

// Called after each chunk of a KL-divergence run with the running sums.
using KldProgress =
    std::function<absl::Status(int32_t chunk, int32_t n_chunk, const KldStats& stats)>;

struct KldResult {
  KldStats stats;
  KldSummary summary;
  int32_t n_ctx = 0;
  int32_t n_chunk = 0;
};

// KL divergence of `model` against the base file: the chunks and tokens come from the file
// (n_ctx is the file's; options.n_chunks limits the chunks, options.n_seq batches them).
// InvalidArgument when the model's vocabulary size differs from the file's.
absl::StatusOr<KldResult> RunKlDivergence(Model& model, LogProbFileReader& base,
                                          const PerplexityOptions& options,
                                          const KldProgress& progress = nullptr);

}  // namespace rwkv::engine
