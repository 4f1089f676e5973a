#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rwkv/engine/fp16.h"
#include "rwkv/engine/gguf.h"
#include "rwkv/engine/quant.h"
#include "rwkv/engine/synth.h"
#include "synth/synth_metadata.h"
#include "synth/synth_random.h"
#include "synth/synth_recipe.h"

namespace rwkv::engine {
namespace {

struct SynthTypeEntry {
  GgmlType type;
  uint32_t file_type;  // LLAMA_FTYPE id
};

constexpr SynthTypeEntry kSynthTypes[] = {
    {GgmlType::kF32, 0},  {GgmlType::kF16, 1},  {GgmlType::kBF16, 32}, {GgmlType::kQ8_0, 7},
    {GgmlType::kQ5_1, 9}, {GgmlType::kQ5_0, 8}, {GgmlType::kQ4_1, 3},  {GgmlType::kQ4_0, 2},
};

// Elements per work unit: the random stream of a unit depends only on the tensor and the
// unit index, never on the thread that fills it.
constexpr int64_t kUnitElements = 1 << 16;

constexpr int64_t kMaxEmbd = 1 << 16;
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxFfn = 1 << 20;
constexpr int64_t kMaxLoraRank = 4096;

absl::Status Positive(std::string_view name, int64_t value, int64_t max) {
  if (value <= 0 || value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("synth ", std::string(name), " must be in [1, ", max, "], got ", value));
  }
  return absl::OkStatus();
}

GgmlType StorageType(const synth::TensorRecipe& recipe, GgmlType type) {
  if (recipe.forced_f32) return GgmlType::kF32;
  if (recipe.ne[0] % GetGgmlTypeInfo(type).block_size != 0) return GgmlType::kF16;
  return type;
}

absl::Status Encode(GgmlType type, const float* src, int64_t n, uint8_t* dst) {
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return absl::OkStatus();
    case GgmlType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = Fp32ToFp16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return absl::OkStatus();
    case GgmlType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = Fp32ToBf16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return absl::OkStatus();
    default:
      return QuantizeRow(type, src, dst, n);
  }
}

// Fills one tensor's bytes, units spread over up to `threads` threads.
absl::Status FillTensor(const synth::TensorRecipe& recipe, uint64_t tensor_index, GgmlType type,
                        const SynthOptions& options, int threads, std::span<uint8_t> out) {
  const int64_t ne0 = recipe.ne[0];
  const int64_t rows = recipe.n_elements() / ne0;
  const uint64_t row_bytes = RowBytes(type, ne0);
  const int64_t rows_per_unit = std::max<int64_t>(1, kUnitElements / ne0);
  const int64_t units = (rows + rows_per_unit - 1) / rows_per_unit;

  std::atomic<int64_t> next{0};
  std::mutex mu;
  absl::Status first_error;
  auto worker = [&]() {
    std::vector<float> buffer(static_cast<size_t>(rows_per_unit * ne0));
    for (int64_t u = next++; u < units; u = next++) {
      if (options.control.cancelled()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first_error.ok()) first_error = absl::CancelledError("synth cancelled");
        next = units;
        return;
      }
      const int64_t r0 = u * rows_per_unit;
      const int64_t r1 = std::min(rows, r0 + rows_per_unit);
      const int64_t count = (r1 - r0) * ne0;
      synth::FillValues(recipe, synth::StreamKey(options.seed, tensor_index, u), r0 * ne0, count,
                        buffer.data());
      absl::Status s = Encode(type, buffer.data(), count, out.data() + r0 * row_bytes);
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first_error.ok()) first_error = s;
        next = units;
        return;
      }
    }
  };
  const int n_threads = static_cast<int>(std::min<int64_t>(threads, units));
  std::vector<std::thread> pool;
  for (int t = 1; t < n_threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
  if (!first_error.ok()) {
    return absl::Status(first_error.code(),
                        absl::StrCat("tensor ", recipe.name, ": ", first_error.message()));
  }
  return absl::OkStatus();
}

}  // namespace

std::string SynthTypes() { return "f32 f16 bf16 q8_0 q5_1 q5_0 q4_1 q4_0"; }

absl::StatusOr<uint32_t> SynthFileType(GgmlType type) {
  for (const SynthTypeEntry& e : kSynthTypes) {
    if (e.type == type) return e.file_type;
  }
  return absl::InvalidArgumentError(absl::StrCat("synth type ", std::string(GgmlTypeName(type)),
                                                 " is not supported (use one of ", SynthTypes(),
                                                 ")"));
}

absl::StatusOr<SynthShape> ResolveSynthShape(const SynthOptions& o) {
  if (o.output_path.empty()) return absl::InvalidArgumentError("synth output path is empty");
  if (o.vocab.empty()) return absl::InvalidArgumentError("synth vocab is empty");
  SynthShape s;
  s.n_embd = o.n_embd;
  s.n_layer = o.n_layer;
  s.head_size = o.head_size;
  if (auto st = Positive("n_embd", s.n_embd, kMaxEmbd); !st.ok()) return st;
  if (auto st = Positive("n_layer", s.n_layer, kMaxLayers); !st.ok()) return st;
  if (auto st = Positive("head_size", s.head_size, s.n_embd); !st.ok()) return st;
  if (s.n_embd % s.head_size != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("synth n_embd ", s.n_embd, " is not a multiple of head_size ", s.head_size));
  }
  s.n_ffn = o.n_ffn != 0 ? o.n_ffn : (s.n_embd * 7 / 2) / 32 * 32;
  s.mix_lora_rank = o.mix_lora_rank != 0 ? o.mix_lora_rank : (s.n_embd >= 4096 ? 64 : 32);
  s.decay_lora_rank = o.decay_lora_rank != 0 ? o.decay_lora_rank : (s.n_embd >= 4096 ? 128 : 64);
  if (auto st = Positive("n_ffn", s.n_ffn, kMaxFfn); !st.ok()) return st;
  if (auto st = Positive("mix_lora_rank", s.mix_lora_rank, kMaxLoraRank); !st.ok()) return st;
  if (auto st = Positive("decay_lora_rank", s.decay_lora_rank, kMaxLoraRank); !st.ok()) return st;
  if (o.rescale_every < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("synth rescale_every must be >= 0, got ", o.rescale_every));
  }
  if (o.threads < 0) {
    return absl::InvalidArgumentError(absl::StrCat("synth threads must be >= 0, got ", o.threads));
  }
  if (auto ft = SynthFileType(o.type); !ft.ok()) return ft.status();
  s.n_vocab = o.vocab == "bytes" ? 256 : 65536;
  for (const synth::TensorRecipe& r : synth::BuildRecipes(s, o.rescale_every)) {
    s.n_params += static_cast<uint64_t>(r.n_elements());
  }
  return s;
}

absl::StatusOr<SynthResult> WriteSyntheticModel(const SynthOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<SynthShape> shape = ResolveSynthShape(options);
  if (!shape.ok()) return shape.status();
  absl::StatusOr<synth::SynthVocab> vocab = synth::LoadSynthVocab(options.vocab);
  if (!vocab.ok()) return vocab.status();
  if (static_cast<int64_t>(vocab->tokens.size()) != shape->n_vocab) {
    shape->n_vocab = static_cast<int64_t>(vocab->tokens.size());
    shape->n_params = 0;
    for (const synth::TensorRecipe& r : synth::BuildRecipes(*shape, options.rescale_every)) {
      shape->n_params += static_cast<uint64_t>(r.n_elements());
    }
  }
  const uint32_t file_type = *SynthFileType(options.type);
  int threads = options.threads;
  if (threads == 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  GgufWriter writer;
  synth::AddSynthMetadata(*shape, file_type, options.rescale_every, *std::move(vocab), writer);
  // The recipes are shared by the DataFns, which run later inside WriteFile.
  auto recipes = std::make_shared<std::vector<synth::TensorRecipe>>(
      synth::BuildRecipes(*shape, options.rescale_every));
  for (size_t i = 0; i < recipes->size(); ++i) {
    const synth::TensorRecipe& recipe = (*recipes)[i];
    const GgmlType type = StorageType(recipe, options.type);
    absl::Status added =
        writer.AddTensor(recipe.name, type, recipe.ne,
                         [recipes, i, type, &options, threads](std::span<uint8_t> out) {
                           return FillTensor((*recipes)[i], i, type, options, threads, out);
                         });
    if (!added.ok()) return added;
  }
  const size_t n_tensors = recipes->size();
  writer.set_progress([&options](size_t done, size_t total, uint64_t bytes, uint64_t total_bytes) {
    options.control.Report(JobProgress{done, total, bytes, total_bytes});
  });
  if (absl::Status s = writer.WriteFile(options.output_path); !s.ok()) return s;

  SynthResult result;
  result.shape = *shape;
  result.tensor_count = n_tensors;
  std::error_code ec;
  result.file_bytes = std::filesystem::file_size(options.output_path, ec);
  if (ec) result.file_bytes = 0;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace rwkv::engine
