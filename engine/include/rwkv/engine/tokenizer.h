// The RWKV "World" tokenizer as llama.cpp runs it (docs/engine/tokenizer.md): greedy longest match
// over raw bytes, no normalisation, no added BOS/EOS. Works for any byte-string vocabulary,
// including the 256-entry byte vocabulary (token i = byte i).
//
// A Tokenizer is immutable after construction and safe to use from many threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace rwkv::engine {

class GgufFile;
class ByteTrie;

// gguf TokenType numbering (tokenizer.ggml.token_type).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

class Tokenizer {
 public:
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Reads the tokenizer.* metadata of a GGUF: tokenizer.ggml.model must be "rwkv";
  // tokenizer.ggml.tokens are unescaped with UnescapeGgufToken; tokenizer.ggml.token_type
  // (optional, integer array of the same length; absent means all NORMAL); bos/eos/eot ids
  // (optional u32, type-strict as llama.cpp; ids outside the vocabulary are ignored, as
  // llama.cpp does). When eot is absent and the vocabulary is World-sized (>= 65530 tokens)
  // with id 261 == "\n\n", eot is 261 (files converted before llama.cpp PR #9968 lack it).
  // InvalidArgument naming the file on a missing/wrong model, tokens or type array.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromGguf(const GgufFile& file);

  // A tokenizer over raw token byte strings; `types` is empty (all NORMAL) or one per token.
  // No bos/eos/eot ids are set. InvalidArgument on a size mismatch or more than 2^31-1 tokens.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromTokenBytes(std::vector<std::string> bytes,
                                                                   std::vector<int32_t> types = {});

  // Greedy longest match over the bytes of every token (all types, empty tokens excepted).
  // Tokens with identical bytes resolve to the highest id, as llama.cpp's trie does.
  //
  // This is llama.cpp's behaviour, not the official one: llama.cpp's trie also holds
  // token 0 "<s>" and the "[PAD65530]".. padding tokens, so those literal texts become ids
  // 0 and 65530.. where the official RWKV tokenizers give byte-level ids (the reference
  // cases' `official_ids`). Everywhere else the two agree.
  //
  // A byte that starts no token is skipped (llama.cpp would emit the unknown id, -1 for
  // RWKV); this cannot happen when covers_all_bytes() is true, as for World and byte vocabs.
  std::vector<int32_t> Encode(std::string_view bytes) const;

  // Concatenated token bytes. CONTROL and UNKNOWN tokens decode to nothing (llama.cpp's
  // detokenize without special rendering). OutOfRange naming the id for an id outside
  // [0, vocab_size()).
  absl::StatusOr<std::string> Decode(std::span<const int32_t> ids) const;

  int32_t vocab_size() const { return static_cast<int32_t>(tokens_.size()); }
  // Raw bytes of a token; `id` must be in [0, vocab_size()).
  const std::string& TokenBytes(int32_t id) const { return tokens_[static_cast<size_t>(id)]; }
  TokenType token_type(int32_t id) const { return types_[static_cast<size_t>(id)]; }
  // What Decode emits for one token: its bytes, or nothing for CONTROL and UNKNOWN tokens.
  // `id` must be in [0, vocab_size()). Streaming callers use this per generated token.
  std::string_view Piece(int32_t id) const {
    const TokenType t = token_type(id);
    return t == TokenType::kControl || t == TokenType::kUnknown ? std::string_view()
                                                                : std::string_view(TokenBytes(id));
  }
  bool IsValidId(int32_t id) const { return id >= 0 && id < vocab_size(); }
  // Whether every single byte 0x00..0xFF is itself a token, so that Encode never skips.
  bool covers_all_bytes() const { return covers_all_bytes_; }
  // Longest token in bytes.
  size_t max_token_bytes() const { return max_token_bytes_; }

  // Special ids, -1 when not set.
  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  int32_t eot_id() const { return eot_id_; }
  // True for eos and eot (llama.cpp's end-of-generation set).
  bool IsEndOfGeneration(int32_t id) const { return id >= 0 && (id == eos_id_ || id == eot_id_); }

 private:
  Tokenizer();
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Build(std::vector<std::string> bytes,
                                                          std::vector<TokenType> types);

  std::vector<std::string> tokens_;
  std::vector<TokenType> types_;
  std::unique_ptr<ByteTrie> trie_;
  bool covers_all_bytes_ = false;
  size_t max_token_bytes_ = 0;
  int32_t bos_id_ = -1;
  int32_t eos_id_ = -1;
  int32_t eot_id_ = -1;
};

}  // namespace rwkv::engine
