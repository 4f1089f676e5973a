// WriteSyntheticCheckpoint: the synthetic model of synth_model.cc laid out as an official
// RWKV-6 (x060) torch.save checkpoint, the input `rwkv convert` and the converter's convert jobs
// take. Each GGUF recipe is drawn in f32 and mapped back to its state-dict name and shape (the
// inverse of convert/rwkv6_plan.cc); the fused lerp is split into time_maa_{w,k,v,r,g}.
// Storage is BF16, as in the official releases; the zip entries are stored (not deflated).
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rwkv/engine/fp16.h"
#include "rwkv/engine/synth.h"
#include "synth/synth_random.h"
#include "synth/synth_recipe.h"
#include "util/atomic_file.h"

namespace rwkv::engine {
namespace {

enum class Layout {
  kAsIs,       // same row-major bytes, the state dict's shape
  kTranspose,  // GGUF (b, a) row-major -> (a, b)
  kSwapLast2,  // GGUF (a, c, b) row-major -> (a, b, c)
  kSplit5,     // the fused lerp: 5 tensors of (1, 1, C)
};

struct NameRule {
  std::string_view gguf;  // after "blk.N."
  std::string_view pth;   // after "blocks.N."
  Layout layout;
  bool maa_shape = false;  // (1, 1, C) instead of (C)
};

constexpr NameRule kLayerNames[] = {
    {"attn_norm.weight", "ln1.weight", Layout::kAsIs},
    {"attn_norm.bias", "ln1.bias", Layout::kAsIs},
    {"attn_norm_2.weight", "ln2.weight", Layout::kAsIs},
    {"attn_norm_2.bias", "ln2.bias", Layout::kAsIs},
    {"time_mix_lerp_x.weight", "att.time_maa_x", Layout::kAsIs, true},
    {"time_mix_lerp_fused.weight", "att.time_maa_", Layout::kSplit5},
    {"time_mix_w1.weight", "att.time_maa_w1", Layout::kTranspose},
    {"time_mix_w2.weight", "att.time_maa_w2", Layout::kSwapLast2},
    {"time_mix_decay.weight", "att.time_decay", Layout::kAsIs, true},
    {"time_mix_decay_w1.weight", "att.time_decay_w1", Layout::kTranspose},
    {"time_mix_decay_w2.weight", "att.time_decay_w2", Layout::kTranspose},
    {"time_mix_first.weight", "att.time_faaaa", Layout::kAsIs},
    {"time_mix_receptance.weight", "att.receptance.weight", Layout::kAsIs},
    {"time_mix_key.weight", "att.key.weight", Layout::kAsIs},
    {"time_mix_value.weight", "att.value.weight", Layout::kAsIs},
    {"time_mix_output.weight", "att.output.weight", Layout::kAsIs},
    {"time_mix_gate.weight", "att.gate.weight", Layout::kAsIs},
    {"time_mix_ln.weight", "att.ln_x.weight", Layout::kAsIs},
    {"time_mix_ln.bias", "att.ln_x.bias", Layout::kAsIs},
    {"channel_mix_lerp_k.weight", "ffn.time_maa_k", Layout::kAsIs, true},
    {"channel_mix_lerp_r.weight", "ffn.time_maa_r", Layout::kAsIs, true},
    {"channel_mix_key.weight", "ffn.key.weight", Layout::kAsIs},
    {"channel_mix_receptance.weight", "ffn.receptance.weight", Layout::kAsIs},
    {"channel_mix_value.weight", "ffn.value.weight", Layout::kAsIs},
};
constexpr NameRule kGlobalNames[] = {
    {"token_embd.weight", "emb.weight", Layout::kAsIs},
    {"token_embd_norm.weight", "blocks.0.ln0.weight", Layout::kAsIs},
    {"token_embd_norm.bias", "blocks.0.ln0.bias", Layout::kAsIs},
    {"output_norm.weight", "ln_out.weight", Layout::kAsIs},
    {"output_norm.bias", "ln_out.bias", Layout::kAsIs},
    {"output.weight", "head.weight", Layout::kAsIs},
};

// One state-dict tensor: name, torch shape (outermost first) and f32 values in that order.
struct StateTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

absl::StatusOr<NameRule> FindRule(std::string_view gguf, std::string* prefix) {
  for (const NameRule& r : kGlobalNames) {
    if (gguf == r.gguf) {
      prefix->clear();
      return r;
    }
  }
  if (gguf.substr(0, 4) == "blk.") {
    const size_t dot = gguf.find('.', 4);
    if (dot != std::string_view::npos) {
      for (const NameRule& r : kLayerNames) {
        if (gguf.substr(dot + 1) == r.gguf) {
          *prefix = absl::StrCat("blocks.", std::string(gguf.substr(4, dot - 4)), ".");
          return r;
        }
      }
    }
  }
  return absl::InternalError(
      absl::StrCat("synth checkpoint: no state-dict name for ", std::string(gguf)));
}

// Maps one drawn GGUF tensor (ne fastest first, values row-major) to its state-dict tensors.
absl::Status AppendStateTensors(const synth::TensorRecipe& recipe, std::vector<float> values,
                                std::vector<StateTensor>* out) {
  std::string prefix;
  absl::StatusOr<NameRule> rule = FindRule(recipe.name, &prefix);
  if (!rule.ok()) return rule.status();
  const std::vector<int64_t>& ne = recipe.ne;
  const std::string name = prefix + std::string(rule->pth);
  switch (rule->layout) {
    case Layout::kAsIs: {
      std::vector<int64_t> shape(ne.rbegin(), ne.rend());
      if (rule->maa_shape) shape = {1, 1, ne[0]};
      out->push_back({name, std::move(shape), std::move(values)});
      return absl::OkStatus();
    }
    case Layout::kTranspose: {  // rows ne[1] of ne[0] -> rows ne[0] of ne[1]
      const int64_t rows = ne[1], cols = ne[0];
      std::vector<float> t(values.size());
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) t[c * rows + r] = values[r * cols + c];
      }
      out->push_back({name, {cols, rows}, std::move(t)});
      return absl::OkStatus();
    }
    case Layout::kSwapLast2: {  // (a, c, b) -> (a, b, c) with ne = {b, c, a}
      const int64_t a = ne[2], c = ne[1], b = ne[0];
      std::vector<float> t(values.size());
      for (int64_t i = 0; i < a; ++i) {
        for (int64_t j = 0; j < c; ++j) {
          for (int64_t k = 0; k < b; ++k) t[(i * b + k) * c + j] = values[(i * c + j) * b + k];
        }
      }
      out->push_back({name, {a, b, c}, std::move(t)});
      return absl::OkStatus();
    }
    case Layout::kSplit5: {
      const int64_t c = ne[0];
      int64_t slot = 0;
      for (const char* part : {"w", "k", "v", "r", "g"}) {
        std::vector<float> part_values(values.begin() + slot * c, values.begin() + (slot + 1) * c);
        out->push_back({absl::StrCat(name, part), {1, 1, c}, std::move(part_values)});
        ++slot;
      }
      return absl::OkStatus();
    }
  }
  return absl::InternalError("synth checkpoint: unknown layout");
}

// The pickle torch.save writes for an OrderedDict of BF16 tensors, storage i holding tensor i.
class StateDictPickler {
 public:
  std::string Build(const std::vector<StateTensor>& tensors) {
    Op(0x80).Op(2);
    Global("collections", "OrderedDict").Op('q').Op(0).Op(')').Op('R').Op('(');
    for (size_t i = 0; i < tensors.size(); ++i) {
      const StateTensor& t = tensors[i];
      Unicode(t.name).Global("torch._utils", "_rebuild_tensor_v2").Op('(');
      Op('(').Unicode("storage").Global("torch", "BFloat16Storage");
      Unicode(std::to_string(i)).Unicode("cpu").Int(static_cast<int64_t>(t.values.size()));
      Op('t').Op('Q');
      Int(0).Tuple(t.shape).Tuple(ContiguousStride(t.shape)).Op(0x89);
      Op('h').Op(0).Op(')').Op('R').Op('t').Op('R');
    }
    Op('u').Op('.');
    return std::move(out_);
  }

 private:
  static std::vector<int64_t> ContiguousStride(const std::vector<int64_t>& shape) {
    std::vector<int64_t> stride(shape.size(), 1);
    for (size_t i = shape.size(); i-- > 1;) stride[i - 1] = stride[i] * shape[i];
    return stride;
  }
  StateDictPickler& Op(uint8_t op) {
    out_.push_back(static_cast<char>(op));
    return *this;
  }
  StateDictPickler& Global(std::string_view module, std::string_view name) {
    Op('c');
    out_.append(module).append("\n").append(name).append("\n");
    return *this;
  }
  StateDictPickler& Unicode(std::string_view s) {
    Op('X').U32(static_cast<uint32_t>(s.size()));
    out_.append(s);
    return *this;
  }
  StateDictPickler& Int(int64_t v) {
    if (v >= 0 && v < 256) return Op('K').Op(static_cast<uint8_t>(v));
    if (v >= INT32_MIN && v <= INT32_MAX) return Op('J').U32(static_cast<uint32_t>(v));
    Op(0x8a).Op(8);
    for (int k = 0; k < 8; ++k) Op(static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * k)));
    return *this;
  }
  StateDictPickler& Tuple(const std::vector<int64_t>& v) {
    Op('(');
    for (int64_t x : v) Int(x);
    return Op('t');
  }
  StateDictPickler& U32(uint32_t v) {
    for (int k = 0; k < 4; ++k) Op(static_cast<uint8_t>(v >> (8 * k)));
    return *this;
  }
  std::string out_;
};

// A zip archive of stored entries written straight to the output file (no Zip64: entries and
// the whole file stay under 4 GiB, which ResolveCheckpointSize checks first).
class StoredZipWriter {
 public:
  explicit StoredZipWriter(AtomicFile* file) : file_(file) {}

  absl::Status Add(const std::string& name, std::string_view data) {
    const uint32_t crc = static_cast<uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
    entries_.push_back({name, crc, static_cast<uint32_t>(data.size()),
                        static_cast<uint32_t>(file_->bytes_written())});
    std::string header;
    U32(&header, 0x04034b50);
    U16(&header, 20);  // version needed
    U16(&header, 0);   // flags
    U16(&header, 0);   // stored
    U16(&header, 0);   // time
    U16(&header, 0);   // date
    U32(&header, crc);
    U32(&header, static_cast<uint32_t>(data.size()));
    U32(&header, static_cast<uint32_t>(data.size()));
    U16(&header, static_cast<uint16_t>(name.size()));
    U16(&header, 0);
    header += name;
    if (absl::Status s = Write(header); !s.ok()) return s;
    return Write(data);
  }

  absl::Status Finish() {
    const auto cd_offset = static_cast<uint32_t>(file_->bytes_written());
    std::string cd;
    for (const Entry& e : entries_) {
      U32(&cd, 0x02014b50);
      U16(&cd, 20);
      U16(&cd, 20);
      U16(&cd, 0);
      U16(&cd, 0);
      U16(&cd, 0);
      U16(&cd, 0);
      U32(&cd, e.crc);
      U32(&cd, e.size);
      U32(&cd, e.size);
      U16(&cd, static_cast<uint16_t>(e.name.size()));
      U16(&cd, 0);
      U16(&cd, 0);
      U16(&cd, 0);
      U16(&cd, 0);
      U32(&cd, 0);
      U32(&cd, e.offset);
      cd += e.name;
    }
    const auto cd_size = static_cast<uint32_t>(cd.size());
    U32(&cd, 0x06054b50);
    U16(&cd, 0);
    U16(&cd, 0);
    U16(&cd, static_cast<uint16_t>(entries_.size()));
    U16(&cd, static_cast<uint16_t>(entries_.size()));
    U32(&cd, cd_size);
    U32(&cd, cd_offset);
    U16(&cd, 0);
    return Write(cd);
  }

 private:
  struct Entry {
    std::string name;
    uint32_t crc, size, offset;
  };
  absl::Status Write(std::string_view bytes) {
    return file_->Write({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
  }
  static void U16(std::string* s, uint16_t v) {
    s->push_back(static_cast<char>(v));
    s->push_back(static_cast<char>(v >> 8));
  }
  static void U32(std::string* s, uint32_t v) {
    U16(s, static_cast<uint16_t>(v));
    U16(s, static_cast<uint16_t>(v >> 16));
  }
  AtomicFile* file_;
  std::vector<Entry> entries_;
};

constexpr uint64_t kMaxCheckpointBytes = (uint64_t{1} << 32) - (uint64_t{1} << 24);
constexpr int64_t kUnitElements = 1 << 16;  // as synth_model.cc

}  // namespace

absl::StatusOr<SynthResult> WriteSyntheticCheckpoint(const SynthOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<SynthShape> shape = ResolveSynthShape(options);
  if (!shape.ok()) return shape.status();
  if (options.rescale_every != 0) {
    return absl::InvalidArgumentError(
        "synth checkpoint: rescale_every applies when converting (rwkv convert "
        "--rescale-every), not to the checkpoint");
  }
  if (shape->n_params * 2 > kMaxCheckpointBytes) {
    return absl::InvalidArgumentError(absl::StrCat("synth checkpoint: ", shape->n_params,
                                                   " parameters do not fit a 4 GiB checkpoint"));
  }
  const std::vector<synth::TensorRecipe> recipes = synth::BuildRecipes(*shape, 0);

  uint64_t total_bytes = 0;
  for (const synth::TensorRecipe& r : recipes) total_bytes += 2 * r.n_elements();
  std::vector<StateTensor> tensors;
  JobProgress progress;
  progress.tensors_total = recipes.size();
  progress.bytes_total = total_bytes;
  for (size_t t = 0; t < recipes.size(); ++t) {
    if (options.control.cancelled()) {
      return absl::CancelledError("synth checkpoint cancelled");
    }
    const synth::TensorRecipe& recipe = recipes[t];
    // Whole rows per work unit, keyed as synth_model.cc keys them: the same values.
    const int64_t ne0 = recipe.ne[0];
    const int64_t rows = recipe.n_elements() / ne0;
    const int64_t rows_per_unit = std::max<int64_t>(1, kUnitElements / ne0);
    std::vector<float> values(static_cast<size_t>(recipe.n_elements()));
    for (int64_t r0 = 0, unit = 0; r0 < rows; r0 += rows_per_unit, ++unit) {
      const int64_t count = (std::min(rows, r0 + rows_per_unit) - r0) * ne0;
      synth::FillValues(recipe, synth::StreamKey(options.seed, t, unit), r0 * ne0, count,
                        values.data() + r0 * ne0);
    }
    if (absl::Status s = AppendStateTensors(recipe, std::move(values), &tensors); !s.ok()) return s;
    progress.tensors_done = t + 1;
    progress.bytes_done += 2 * recipe.n_elements();
    options.control.Report(progress);
  }

  absl::StatusOr<AtomicFile> file = AtomicFile::Create(options.output_path);
  if (!file.ok()) return file.status();
  StoredZipWriter zip(&*file);
  if (absl::Status s = zip.Add("archive/data.pkl", StateDictPickler().Build(tensors)); !s.ok()) {
    return s;
  }
  if (absl::Status s = zip.Add("archive/byteorder", "little"); !s.ok()) return s;
  std::string bytes;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const std::vector<float>& v = tensors[i].values;
    bytes.resize(v.size() * 2);
    for (size_t k = 0; k < v.size(); ++k) {
      const uint16_t h = Fp32ToBf16(v[k]);
      std::memcpy(bytes.data() + 2 * k, &h, 2);
    }
    if (absl::Status s = zip.Add(absl::StrCat("archive/data/", i), bytes); !s.ok()) return s;
  }
  if (absl::Status s = zip.Add("archive/version", "3\n"); !s.ok()) return s;
  if (absl::Status s = zip.Finish(); !s.ok()) return s;
  SynthResult result;
  result.shape = *shape;
  result.file_bytes = file->bytes_written();
  result.tensor_count = tensors.size();
  if (absl::Status s = file->Commit(); !s.ok()) return s;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace rwkv::engine
