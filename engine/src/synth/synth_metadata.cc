#include "synth/synth_metadata.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>

#include "rwkv/engine/world_vocab.h"

namespace rwkv::engine::synth {
namespace {

constexpr uint32_t kWorldVocabRows = 65536;
constexpr int32_t kTokenNormal = 1;

}  // namespace

absl::StatusOr<SynthVocab> LoadSynthVocab(const std::string& vocab) {
  SynthVocab out;
  if (vocab == "bytes") {
    for (int b = 0; b < 256; ++b) {
      out.tokens.push_back(EscapeGgufToken(std::string(1, static_cast<char>(b))));
      out.types.push_back(kTokenNormal);
    }
    return out;
  }
  absl::StatusOr<std::vector<std::string>> entries = ReadWorldVocabFile(vocab);
  if (!entries.ok()) return entries.status();
  const uint64_t rows = std::max<uint64_t>(kWorldVocabRows, entries->size() + 1);
  absl::StatusOr<GgufVocab> gguf = WorldVocabGgufTokens(*entries, static_cast<uint32_t>(rows));
  if (!gguf.ok()) return gguf.status();
  out.tokens = std::move(gguf->tokens);
  out.types = std::move(gguf->types);
  out.world = true;
  return out;
}

std::string SizeLabel(uint64_t n_params) {
  double scaled;
  const char* suffix;
  const double n = static_cast<double>(n_params);
  if (n > 1e12) {
    scaled = n * 1e-12;
    suffix = "T";
  } else if (n > 1e9) {
    scaled = n * 1e-9;
    suffix = "B";
  } else if (n > 1e6) {
    scaled = n * 1e-6;
    suffix = "M";
  } else {
    scaled = n * 1e-3;
    suffix = "K";
  }
  const std::string rounded = std::to_string(static_cast<int64_t>(std::nearbyint(scaled)));
  const size_t digits = rounded == "0" ? 0 : rounded.size();
  const int fix = digits >= 2 ? 0 : static_cast<int>(2 - digits);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f%s", fix, scaled, suffix);
  return buf;
}

void AddSynthMetadata(const SynthShape& shape, uint32_t file_type, int64_t rescale_every,
                      SynthVocab vocab, GgufWriter& writer) {
  auto u32 = [](int64_t v) { return GgufValue::Uint32(static_cast<uint32_t>(v)); };
  const bool world = vocab.world;
  writer.AddKv("general.architecture", GgufValue::String("rwkv6"));
  writer.AddKv("general.type", GgufValue::String("model"));
  writer.AddKv("general.name", GgufValue::String("Synth Rwkv6"));
  writer.AddKv("general.size_label", GgufValue::String(SizeLabel(shape.n_params)));
  writer.AddKv("rwkv6.context_length", u32(1048576));
  writer.AddKv("rwkv6.embedding_length", u32(shape.n_embd));
  writer.AddKv("rwkv6.block_count", u32(shape.n_layer));
  writer.AddKv("rwkv6.attention.layer_norm_epsilon", GgufValue::Float32(1e-5f));
  writer.AddKv("rwkv6.rescale_every_n_layers", u32(rescale_every));
  writer.AddKv("rwkv6.wkv.head_size", u32(shape.head_size));
  writer.AddKv("rwkv6.time_mix_extra_dim", u32(shape.mix_lora_rank));
  writer.AddKv("rwkv6.time_decay_extra_dim", u32(shape.decay_lora_rank));
  writer.AddKv("rwkv6.feed_forward_length", u32(shape.n_ffn));
  writer.AddKv("general.file_type", GgufValue::Uint32(file_type));
  writer.AddKv("rwkv6.attention.head_count", u32(0));
  writer.AddKv("tokenizer.ggml.model", GgufValue::String("rwkv"));
  writer.AddKv("tokenizer.ggml.tokens", GgufValue::StringArray(std::move(vocab.tokens)));
  writer.AddKv("tokenizer.ggml.token_type", GgufValue::Int32Array(vocab.types));
  writer.AddKv("tokenizer.ggml.bos_token_id", u32(0));
  writer.AddKv("tokenizer.ggml.eos_token_id", u32(0));
  if (world) writer.AddKv("tokenizer.ggml.eot_token_id", u32(kWorldEotTokenId));
  writer.AddKv("tokenizer.chat_template", GgufValue::String("rwkv-world"));
  writer.AddKv("general.quantization_version", u32(2));
}

}  // namespace rwkv::engine::synth
