// Feeds arbitrary bytes to the KLD base file parser (rwkv perplexity --kl-divergence-base).
// Whatever parses must have a token list of n_chunk·n_ctx ids inside the vocabulary, and its
// stored rows must be usable by the KL-divergence arithmetic without a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "rwkv/engine/perplexity.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  auto h = rwkv::engine::ParseLogProbFileHeader(bytes, size, "fuzz.kld");
  if (!h.ok()) return 0;
  if (h->tokens.size() != static_cast<size_t>(h->n_chunk) * h->n_ctx) std::abort();
  for (int32_t t : h->tokens) {
    if (t < 0 || t >= h->n_vocab) std::abort();
  }
  // The first chunk's rows against a flat Q distribution.
  const size_t row_words = rwkv::engine::LogProbRowWords(h->n_vocab);
  const size_t offset = rwkv::engine::LogProbFileHeaderBytes(h->tokens.size());
  if (offset + h->chunk_words() * 2 > size) std::abort();
  std::vector<uint16_t> rows(h->chunk_words());
  std::memcpy(rows.data(), data + offset, rows.size() * 2);
  std::vector<float> logits(static_cast<size_t>(h->n_vocab), 0.0f);
  rwkv::engine::KldStats stats;
  const size_t first = h->n_ctx / 2;
  for (size_t k = 0; k < h->scored_per_chunk() && k < 4; ++k) {
    float p_diff = 0;
    rwkv::engine::AddKldPosition(logits,
                                 std::span<const uint16_t>(rows).subspan(k * row_words, row_words),
                                 h->tokens[first + k + 1], stats, &p_diff);
  }
  return 0;
}
