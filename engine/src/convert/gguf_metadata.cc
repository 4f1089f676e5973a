#include <cctype>
#include <cmath>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "convert/convert_internal.h"
#include "rwkv/engine/world_vocab.h"

namespace rwkv::engine::convert {

std::string ModelNameFromPath(std::string_view path) {
  const size_t slash = path.find_last_of('/');
  std::string_view stem = slash == std::string_view::npos ? path : path.substr(slash + 1);
  if (const size_t dot = stem.find_last_of('.'); dot != std::string_view::npos && dot > 0) {
    stem = stem.substr(0, dot);
  }
  std::string out;
  bool prev_alpha = false;
  for (char c : stem) {
    if (c == '-' || c == '_') c = ' ';
    const bool alpha = std::isalpha(static_cast<unsigned char>(c)) != 0;
    if (alpha) c = prev_alpha ? absl::ascii_tolower(c) : absl::ascii_toupper(c);
    out.push_back(c);
    prev_alpha = alpha;
  }
  return out;
}

std::string SizeLabel(uint64_t n) {
  double scaled;
  const char* suffix;
  if (n > 1e12) {
    scaled = n * 1e-12, suffix = "T";
  } else if (n > 1e9) {
    scaled = n * 1e-9, suffix = "B";
  } else if (n > 1e6) {
    scaled = n * 1e-6, suffix = "M";
  } else {
    scaled = n * 1e-3, suffix = "K";
  }
  // Python: max(min_digits - len(str(round(scaled)).lstrip('0')), 0) with min_digits 2.
  std::string digits = absl::StrCat(static_cast<int64_t>(std::nearbyint(scaled)));
  digits.erase(0, digits.find_first_not_of('0') == std::string::npos
                      ? digits.size()
                      : digits.find_first_not_of('0'));
  const int fix = std::max(2 - static_cast<int>(digits.size()), 0);
  return absl::StrFormat("%.*f%s", fix, scaled, suffix);
}

absl::StatusOr<OutType> ParseOutType(std::string_view outtype) {
  const std::string t = absl::AsciiStrToLower(std::string(outtype));
  if (t == "f32") return OutType{GgmlType::kF32, 0};
  if (t == "f16") return OutType{GgmlType::kF16, 1};
  if (t == "bf16") return OutType{GgmlType::kBF16, 32};
  if (t == "q8_0") return OutType{GgmlType::kQ8_0, 7};
  return absl::InvalidArgumentError(
      absl::StrCat("unknown outtype '", t, "' (expected f32, f16, bf16 or q8_0)"));
}

absl::Status AddRwkv6Metadata(GgufWriter& w, const Rwkv6Hparams& h, const OutType& out,
                              const std::string& vocab_path, const std::string& model_name,
                              uint64_t n_params, uint32_t rescale_every) {
  GgufVocab vocab;
  const bool bytes = vocab_path == kByteVocab;
  if (bytes) {
    if (h.n_vocab != 256) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the byte vocabulary needs a model with 256 rows, this one has ", h.n_vocab));
    }
    for (int i = 0; i < 256; ++i) {
      vocab.tokens.push_back(EscapeGgufToken(std::string(1, static_cast<char>(i))));
      vocab.types.push_back(1);
    }
  } else {
    if (vocab_path.empty()) {
      return absl::InvalidArgumentError("a vocabulary file is required (rwkv_vocab_v20230424.txt)");
    }
    auto entries = ReadWorldVocabFile(vocab_path);
    if (!entries.ok()) return entries.status();
    auto v = WorldVocabGgufTokens(*entries, h.n_vocab);
    if (!v.ok()) {
      return absl::Status(v.status().code(), absl::StrCat(vocab_path, ": ", v.status().message()));
    }
    vocab = *std::move(v);
  }
  w.AddKv("general.architecture", GgufValue::String("rwkv6"));
  w.AddKv("general.type", GgufValue::String("model"));
  w.AddKv("general.name", GgufValue::String(model_name));
  w.AddKv("general.size_label", GgufValue::String(SizeLabel(n_params)));
  w.AddKv("rwkv6.context_length", GgufValue::Uint32(1048576));
  w.AddKv("rwkv6.embedding_length", GgufValue::Uint32(h.n_embd));
  w.AddKv("rwkv6.block_count", GgufValue::Uint32(h.n_layer));
  w.AddKv("rwkv6.attention.layer_norm_epsilon", GgufValue::Float32(1e-5f));
  w.AddKv("rwkv6.rescale_every_n_layers", GgufValue::Uint32(rescale_every));
  w.AddKv("rwkv6.wkv.head_size", GgufValue::Uint32(h.head_size));
  w.AddKv("rwkv6.time_mix_extra_dim", GgufValue::Uint32(h.time_mix_extra_dim));
  w.AddKv("rwkv6.time_decay_extra_dim", GgufValue::Uint32(h.time_decay_extra_dim));
  w.AddKv("rwkv6.feed_forward_length", GgufValue::Uint32(h.n_ffn));
  w.AddKv("general.file_type", GgufValue::Uint32(out.file_type));
  w.AddKv("rwkv6.attention.head_count", GgufValue::Uint32(0));
  w.AddKv("tokenizer.ggml.model", GgufValue::String("rwkv"));
  w.AddKv("tokenizer.ggml.tokens", GgufValue::StringArray(std::move(vocab.tokens)));
  w.AddKv("tokenizer.ggml.token_type", GgufValue::Int32Array(vocab.types));
  w.AddKv("tokenizer.ggml.bos_token_id", GgufValue::Uint32(0));
  w.AddKv("tokenizer.ggml.eos_token_id", GgufValue::Uint32(0));
  if (!bytes) w.AddKv("tokenizer.ggml.eot_token_id", GgufValue::Uint32(kWorldEotTokenId));
  w.AddKv("tokenizer.chat_template", GgufValue::String("rwkv-world"));
  w.AddKv("general.quantization_version", GgufValue::Uint32(2));
  return absl::OkStatus();
}

}  // namespace rwkv::engine::convert
