// Metadata of a synthetic RWKV-6 GGUF: the vocabulary and the KVs in the order llama.cpp's
// converter writes them (docs/engine/gguf.md, "Metadata keys").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "rwkv/engine/gguf.h"
#include "rwkv/engine/synth.h"

namespace rwkv::engine::synth {

struct SynthVocab {
  std::vector<std::string> tokens;  // escaped, as stored in tokenizer.ggml.tokens
  std::vector<int32_t> types;       // tokenizer.ggml.token_type
  bool world = false;               // World vocab: adds eot 261
};

// "bytes": 256 tokens, token i is byte i (escaped), all NORMAL, like the reference byte-vocab
// model. Anything else is a World vocab file: <s>, the entries, then pads up to 65536 rows.
// Errors from reading or parsing the file name it.
absl::StatusOr<SynthVocab> LoadSynthVocab(const std::string& vocab);

// gguf-py's size label: "18M", "1.6B", "365K" (two significant digits at least).
std::string SizeLabel(uint64_t n_params);

// Adds every KV. `shape.n_vocab` must equal vocab.tokens.size().
void AddSynthMetadata(const SynthShape& shape, uint32_t file_type, int64_t rescale_every,
                      SynthVocab vocab, GgufWriter& writer);

}  // namespace rwkv::engine::synth
