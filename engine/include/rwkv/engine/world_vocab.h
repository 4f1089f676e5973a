// The RWKV World vocabulary file (rwkv_vocab_v20230424.txt) and the way llama.cpp's
// converter stores it in GGUF (docs/engine/tokenizer.md).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace rwkv::engine {

// Reads a vocabulary file: lines "<id> <python literal> <byte length>" with LF or CRLF
// endings, ids 1..N in order. A str literal becomes its UTF-8 encoding, a bytes literal is
// taken byte for byte; every Python escape is understood except \N{name}. result[i] holds
// the bytes of id i + 1. NotFound/PermissionDenied if the file cannot be read;
// InvalidArgument "<path>:<line>: <problem>" for a malformed line, a wrong id or a byte
// length that does not match.
absl::StatusOr<std::vector<std::string>> ReadWorldVocabFile(const std::string& path);

// The same parser over a file body already in memory; `name` prefixes errors.
absl::StatusOr<std::vector<std::string>> ParseWorldVocab(std::string_view body,
                                                         std::string_view name);

// Decodes one Python str or bytes literal (prefixes b, r, u in any case and combination
// Python allows; single or double quotes) to bytes. InvalidArgument describing the problem.
absl::StatusOr<std::string> ParsePythonLiteral(std::string_view literal);

// Python's repr(bytes) without the b and the quotes, exactly as llama.cpp's converter
// writes World tokens: the quote is " when the bytes hold ' and no ", else '; only that
// quote and backslash are escaped; \t \n \r; other bytes < 0x20 or >= 0x7f as lowercase \xNN.
std::string EscapeGgufToken(std::string_view bytes);

// llama.cpp's llama_unescape_rwkv_token, bug for bug: \t \n \r, \xHH with lowercase-only hex
// arithmetic, any other escaped character stands for itself, a dangling escape is dropped.
std::string UnescapeGgufToken(std::string_view text);

// GGUF token list and types of a World-vocab model.
struct GgufVocab {
  std::vector<std::string> tokens;  // tokenizer.ggml.tokens
  std::vector<int32_t> types;       // tokenizer.ggml.token_type (gguf TokenType values)
};

// What llama.cpp's convert_hf_to_gguf.py writes for `vocab` (from ReadWorldVocabFile) and a
// model with n_vocab rows: id 0 "<s>" CONTROL, ids 1..N escaped NORMAL, then "[PAD<i>]"
// UNUSED up to n_vocab. InvalidArgument when n_vocab < N + 1.
absl::StatusOr<GgufVocab> WorldVocabGgufTokens(const std::vector<std::string>& vocab,
                                               uint32_t n_vocab);

// The eot id the converter adds for World vocabularies ("\n\n").
inline constexpr uint32_t kWorldEotTokenId = 261;

}  // namespace rwkv::engine
