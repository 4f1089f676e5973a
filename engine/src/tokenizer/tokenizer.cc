#include "rwkv/engine/tokenizer.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "rwkv/engine/gguf.h"
#include "rwkv/engine/world_vocab.h"
#include "tokenizer/byte_trie.h"

namespace rwkv::engine {
namespace {

// Keeps trie unit indices far inside int32 (the World vocabulary has about 400 KB of tokens).
constexpr uint64_t kMaxTotalTokenBytes = 1ull << 28;
// llama.cpp's World vocabulary size is 65536; older or trimmed files have at least 65530.
constexpr size_t kMinWorldVocab = 65530;

bool IsIntegerType(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
      return true;
    default:
      return false;
  }
}

// Reads an optional u32 special-token id; -1 when absent or outside the vocabulary.
absl::StatusOr<int32_t> SpecialId(const GgufFile& file, std::string_view key, size_t n_vocab) {
  if (file.FindKv(key) == nullptr) return -1;
  absl::StatusOr<uint32_t> id = file.GetUint32(key);
  if (!id.ok()) return absl::InvalidArgumentError(id.status().message());
  return *id < n_vocab ? static_cast<int32_t>(*id) : -1;
}

}  // namespace

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Build(std::vector<std::string> bytes,
                                                            std::vector<TokenType> types) {
  if (bytes.empty()) return absl::InvalidArgumentError("tokenizer has no tokens");
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer has ", bytes.size(), " tokens, more than 2^31-1"));
  }
  uint64_t total = 0;
  for (const std::string& t : bytes) total += t.size();
  if (total > kMaxTotalTokenBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer tokens hold ", total, " bytes, more than ", kMaxTotalTokenBytes));
  }
  std::unique_ptr<Tokenizer> tok(new Tokenizer());
  tok->trie_ = std::make_unique<ByteTrie>(bytes);
  bool single[256] = {};
  for (const std::string& t : bytes) {
    tok->max_token_bytes_ = std::max(tok->max_token_bytes_, t.size());
    if (t.size() == 1) single[static_cast<uint8_t>(t[0])] = true;
  }
  tok->covers_all_bytes_ =
      std::all_of(std::begin(single), std::end(single), [](bool b) { return b; });
  tok->tokens_ = std::move(bytes);
  tok->types_ = std::move(types);
  return tok;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromTokenBytes(std::vector<std::string> bytes,
                                                                     std::vector<int32_t> types) {
  if (!types.empty() && types.size() != bytes.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer has ", bytes.size(), " tokens but ", types.size(), " token types"));
  }
  std::vector<TokenType> t(bytes.size(), TokenType::kNormal);
  for (size_t i = 0; i < types.size(); ++i) t[i] = static_cast<TokenType>(types[i]);
  return Build(std::move(bytes), std::move(t));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(const GgufFile& file) {
  const std::string& path = file.path();
  absl::StatusOr<std::string> model = file.GetString("tokenizer.ggml.model");
  if (!model.ok()) return absl::InvalidArgumentError(model.status().message());
  if (*model != "rwkv") {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": tokenizer.ggml.model is '", *model, "', only 'rwkv' is supported"));
  }
  absl::StatusOr<const std::vector<std::string>*> escaped =
      file.GetStringArray("tokenizer.ggml.tokens");
  if (!escaped.ok()) return absl::InvalidArgumentError(escaped.status().message());
  const size_t n = (*escaped)->size();
  if (n == 0)
    return absl::InvalidArgumentError(absl::StrCat(path, ": tokenizer.ggml.tokens is empty"));

  std::vector<TokenType> types(n, TokenType::kNormal);
  if (const GgufValue* tt = file.FindKv("tokenizer.ggml.token_type"); tt != nullptr) {
    if (!tt->is_array() || !IsIntegerType(tt->array_type())) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tokenizer.ggml.token_type is not an integer array"));
    }
    if (tt->array_size() != n) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tokenizer.ggml.token_type has ",
                                                     tt->array_size(), " entries for ", n,
                                                     " tokens"));
    }
    for (size_t i = 0; i < n; ++i) {
      types[i] = static_cast<TokenType>(static_cast<int32_t>(tt->IntElement(i)));
    }
  }
  std::vector<std::string> bytes;
  bytes.reserve(n);
  for (const std::string& s : **escaped) bytes.push_back(UnescapeGgufToken(s));

  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Build(std::move(bytes), std::move(types));
  if (!tok.ok())
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", tok.status().message()));
  Tokenizer& t = **tok;
  absl::StatusOr<int32_t> bos = SpecialId(file, "tokenizer.ggml.bos_token_id", n);
  absl::StatusOr<int32_t> eos = SpecialId(file, "tokenizer.ggml.eos_token_id", n);
  absl::StatusOr<int32_t> eot = SpecialId(file, "tokenizer.ggml.eot_token_id", n);
  for (const auto* s : {&bos, &eos, &eot}) {
    if (!s->ok()) return s->status();
  }
  t.bos_id_ = *bos;
  t.eos_id_ = *eos;
  t.eot_id_ = *eot;
  if (file.FindKv("tokenizer.ggml.eot_token_id") == nullptr && n >= kMinWorldVocab &&
      t.tokens_[kWorldEotTokenId] == "\n\n") {
    t.eot_id_ = static_cast<int32_t>(kWorldEotTokenId);
  }
  return tok;
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text) const {
  std::vector<int32_t> ids;
  // World tokens average about 3 bytes on mixed text; one reservation avoids most regrowth.
  ids.reserve(text.size() / 3 + 4);
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  size_t pos = 0;
  const size_t n = text.size();
  while (pos < n) {
    int32_t id = -1;
    const size_t len = trie_->LongestPrefix(p + pos, n - pos, &id);
    if (len == 0) {
      ++pos;  // no token starts with this byte (impossible when covers_all_bytes())
      continue;
    }
    ids.push_back(id);
    pos += len;
  }
  return ids;
}

absl::StatusOr<std::string> Tokenizer::Decode(std::span<const int32_t> ids) const {
  size_t total = 0;
  for (const int32_t id : ids) {
    if (!IsValidId(id)) {
      return absl::OutOfRangeError(
          absl::StrCat("token id ", id, " is outside the vocabulary [0, ", vocab_size(), ")"));
    }
    total += tokens_[static_cast<size_t>(id)].size();
  }
  std::string out;
  out.reserve(total);
  // llama.cpp renders CONTROL and UNKNOWN tokens only with special=true (see Piece).
  for (const int32_t id : ids) out.append(Piece(id));
  return out;
}

}  // namespace rwkv::engine
