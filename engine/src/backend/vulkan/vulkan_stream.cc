#include "backend/vulkan/vulkan_stream.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "rwkv/engine/ggml_types.h"

namespace rwkv::engine::vulkan {
namespace {

using backend::Tensor;
using backend::WeightView;

uint64_t Addr(const void* p) { return reinterpret_cast<uint64_t>(p); }
int32_t I32(int64_t v) { return static_cast<int32_t>(v); }
uint32_t Groups(int64_t n, int64_t per_group) {
  return static_cast<uint32_t>((n + per_group - 1) / per_group);
}

// Push constants, laid out as the shaders declare them (std430: 64-bit fields first).
struct MatMulParams {
  uint64_t w, x, y, row_bytes;
  int32_t k, rows, n, x_stride, y_stride, epilogue, accumulate, lanes;
};
struct EmbedParams {
  uint64_t table, tokens, out, row_bytes;
  int32_t cols, n_tokens, out_stride, unused = 0;
};
struct LayerNormParams {
  uint64_t x, w, b, out;
  int32_t cols, x_stride, out_stride;
  float eps;
};
struct GroupNormParams {
  uint64_t y, w, b, gate;
  int32_t group, y_stride, gate_stride;
  float eps;
};
struct ShiftDeltaParams {
  uint64_t cur, delta, row_seq, seq_begin, shift;
  int32_t cols, rows, cur_stride, delta_stride, seq_floats, unused = 0;
};
struct ShiftStoreParams {
  uint64_t cur, seq_begin, shift;
  int32_t cols, n_seq, cur_stride, seq_floats;
};
enum class ElementOp : int32_t { kLerp = 0, kDecay = 1, kMulAdd = 2, kScale = 3, kCopy = 4 };
struct ElementParams {
  uint64_t out = 0, a = 0, b = 0, c = 0, vec = 0, index = 0;
  ElementOp op = ElementOp::kLerp;
  int32_t cols = 0, rows = 0, out_stride = 0, a_stride = 0, b_stride = 0, c_stride = 0;
  float scalar = 0.0f;
  int32_t first = 0, unused = 0;
};
struct Wkv6Params {
  uint64_t r, k, v, w, y, u, state, seq_begin;
  int32_t head_size, stride, seq_floats, unused = 0;
};
// No padding: the recorder compares push constants byte for byte to reuse command buffers.
static_assert(sizeof(MatMulParams) == 64 && sizeof(EmbedParams) == 48);
static_assert(sizeof(LayerNormParams) == 48 && sizeof(GroupNormParams) == 48);
static_assert(sizeof(ShiftDeltaParams) == 64 && sizeof(ShiftStoreParams) == 40);
static_assert(sizeof(ElementParams) == 88 && sizeof(Wkv6Params) == 80);
static_assert(sizeof(MatMulParams) <= kPushConstantBytes);
static_assert(sizeof(ElementParams) <= kPushConstantBytes);
static_assert(sizeof(Wkv6Params) <= kPushConstantBytes);
static_assert(offsetof(ElementParams, op) == 48);
static_assert(offsetof(Wkv6Params, head_size) == 64);

// Elementwise dispatches: 64 columns per workgroup along x, rows along y.
constexpr int64_t kLocal = 64;
// Matrix products: rows of the weight spread over x·y workgroups, column tiles along z.
constexpr int64_t kMatMulCols = 8;
constexpr uint32_t kMaxGroups = 65535;

std::string ShaderSuffix(GgmlType type) {
  return absl::AsciiStrToLower(std::string(GgmlTypeName(type)));
}

}  // namespace

HostArena::~HostArena() {
  for (DeviceBuffer& b : chunks_) context_.DestroyBuffer(b);
}

absl::StatusOr<HostArena::Slice> HostArena::Allocate(uint64_t bytes) {
  const uint64_t need = (bytes + 255) / 256 * 256;
  if (chunks_.empty() || used_ + need > chunks_.back().size) {
    const uint64_t last = chunks_.empty() ? 0 : chunks_.back().size;
    absl::StatusOr<DeviceBuffer> b =
        context_.CreateBuffer(std::max<uint64_t>({need, 2 * last, 64 << 10}), use_);
    if (!b.ok()) return b.status();
    chunks_.push_back(*b);
    used_ = 0;
  }
  DeviceBuffer& b = chunks_.back();
  Slice s{b.mapped + used_, b.address + used_};
  used_ += need;
  return s;
}

void HostArena::Reset() {
  // Keep only the largest chunk: a steady state needs one.
  if (chunks_.size() > 1) {
    std::sort(chunks_.begin(), chunks_.end(),
              [](const DeviceBuffer& a, const DeviceBuffer& b) { return a.size > b.size; });
    for (size_t i = 1; i < chunks_.size(); ++i) context_.DestroyBuffer(chunks_[i]);
    chunks_.resize(1);
  }
  used_ = 0;
}

VulkanStream::VulkanStream(std::shared_ptr<Context> context)
    : context_(std::move(context)),
      upload_(*context_, MemoryUse::kUpload),
      readback_(*context_, MemoryUse::kReadback),
      recorder_(*context_),
      subgroup_lanes_(context_->info().features.MatMulSubgroupSize()) {
  init_status_ = Init();
  status_ = init_status_;
}

absl::Status VulkanStream::Init() { return recorder_.Init(); }

VulkanStream::~VulkanStream() {
  (void)recorder_.SubmitAndWait();
  context_->DestroyBuffer(state_);
  context_->DestroyBuffer(state_staging_);
}

void VulkanStream::Fail(absl::Status status) {
  if (status_.ok()) status_ = std::move(status);
}

template <typename Params>
void VulkanStream::Dispatch(std::string_view name, const Params& params, uint32_t gx, uint32_t gy,
                            uint32_t gz) {
  if (gx == 0 || gy == 0 || gz == 0 || !status_.ok()) return;
  if (gx > kMaxGroups || gy > kMaxGroups || gz > kMaxGroups) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("vulkan: ", std::string(name), " dispatch too large")));
  }
  absl::StatusOr<VkPipeline> pipeline = context_->Pipeline(name);
  if (!pipeline.ok()) return Fail(pipeline.status());
  recorder_.Dispatch(*pipeline, &params, sizeof(Params), gx, gy, gz);
}

uint64_t VulkanStream::UploadArray(const void* data, uint64_t bytes) {
  absl::StatusOr<HostArena::Slice> s = upload_.Allocate(bytes);
  if (!s.ok()) {
    Fail(s.status());
    return 0;
  }
  std::memcpy(s->host, data, bytes);
  return s->address;
}

absl::Status VulkanStream::Synchronize() {
  Fail(recorder_.SubmitAndWait());
  if (status_.ok()) {
    for (const PendingRead& r : reads_) std::memcpy(r.to, r.from, r.bytes);
  }
  reads_.clear();
  upload_.Reset();
  readback_.Reset();
  // The step layout lives in the upload arena: bound states need it again.
  if (!states_.empty() && status_.ok()) {
    std::vector<int32_t> begin(layout_.seq_begin.begin(), layout_.seq_begin.end());
    std::vector<int32_t> row_seq(static_cast<size_t>(layout_.n_rows()));
    for (int64_t s = 0; s < layout_.n_seq(); ++s) {
      for (int64_t r = layout_.seq_begin[s]; r < layout_.seq_begin[s + 1]; ++r) row_seq[r] = I32(s);
    }
    seq_begin_ = UploadArray(begin.data(), begin.size() * 4);
    row_seq_ = UploadArray(row_seq.data(), std::max<size_t>(1, row_seq.size()) * 4);
  }
  return status_;
}

bool VulkanStream::CheckLayer(int layer) {
  if (states_.empty()) {
    Fail(absl::FailedPreconditionError("vulkan stream: no states bound"));
    return false;
  }
  if (layer < 0 || static_cast<uint32_t>(layer) >= shape_.n_layer) {
    Fail(absl::InvalidArgumentError(absl::StrCat("vulkan stream: layer ", layer, " out of range")));
    return false;
  }
  return true;
}

absl::Status VulkanStream::BindStates(std::span<RecurrentState* const> states,
                                      const backend::StepLayout& layout) {
  if (static_cast<int64_t>(states.size()) != layout.n_seq()) {
    return absl::InvalidArgumentError(absl::StrCat("vulkan stream: ", states.size(), " states for ",
                                                   layout.n_seq(), " sequences"));
  }
  for (RecurrentState* s : states) {
    if (s == nullptr) return absl::InvalidArgumentError("vulkan stream: null state");
    if (s->shape != states[0]->shape ||
        s->shift.size() != s->shape.n_layer * s->shape.shift_floats_per_layer() ||
        s->wkv.size() != s->shape.n_layer * s->shape.wkv_floats_per_layer()) {
      return absl::InvalidArgumentError("vulkan stream: state buffers do not match their shape");
    }
  }
  // Whatever was recorded before runs first: the state buffers are about to be rewritten.
  states_.clear();
  status_ = init_status_;
  if (absl::Status s = Synchronize(); !s.ok()) return s;
  if (states.empty()) return absl::OkStatus();

  shape_ = states[0]->shape;
  const uint64_t shift_floats = shape_.n_layer * shape_.shift_floats_per_layer();
  seq_floats_ = shift_floats + shape_.n_layer * shape_.wkv_floats_per_layer();
  const uint64_t bytes = seq_floats_ * states.size() * 4;
  if (state_.size < bytes) {
    recorder_.Forget();  // kept steps copy between the old buffers
    context_->DestroyBuffer(state_);
    context_->DestroyBuffer(state_staging_);
    absl::StatusOr<DeviceBuffer> d = context_->CreateBuffer(bytes, MemoryUse::kDevice);
    if (!d.ok()) return d.status();
    state_ = *d;
    absl::StatusOr<DeviceBuffer> h = context_->CreateBuffer(bytes, MemoryUse::kReadback);
    if (!h.ok()) return h.status();
    state_staging_ = *h;
  }
  for (size_t s = 0; s < states.size(); ++s) {
    float* dst = reinterpret_cast<float*>(state_staging_.mapped) + s * seq_floats_;
    std::memcpy(dst, states[s]->shift.data(), shift_floats * 4);
    std::memcpy(dst + shift_floats, states[s]->wkv.data(), states[s]->wkv.size() * 4);
  }
  states_.assign(states.begin(), states.end());
  layout_ = layout;
  if (absl::Status s = Synchronize(); !s.ok()) return s;  // uploads the layout
  if (!status_.ok()) return status_;
  recorder_.Copy(state_staging_.buffer, state_.buffer, bytes);
  return absl::OkStatus();
}

absl::Status VulkanStream::UnbindStates() {
  if (!states_.empty() && status_.ok()) {
    recorder_.Copy(state_.buffer, state_staging_.buffer, seq_floats_ * states_.size() * 4);
  }
  std::vector<RecurrentState*> states;
  states.swap(states_);
  absl::Status status = Synchronize();
  if (status.ok()) {
    const uint64_t shift_floats = shape_.n_layer * shape_.shift_floats_per_layer();
    for (size_t s = 0; s < states.size(); ++s) {
      const float* src = reinterpret_cast<const float*>(state_staging_.mapped) + s * seq_floats_;
      std::memcpy(states[s]->shift.data(), src, shift_floats * 4);
      std::memcpy(states[s]->wkv.data(), src + shift_floats, states[s]->wkv.size() * 4);
    }
  }
  layout_ = {};
  return status;
}

void VulkanStream::Embed(const WeightView& table, std::span<const int32_t> tokens, Tensor out) {
  if (tokens.empty()) return;
  const uint64_t ids = UploadArray(tokens.data(), tokens.size_bytes());
  if (ids == 0) return;
  EmbedParams p{Addr(table.data), ids,
                Addr(out.data),   table.row_bytes,
                I32(table.cols),  I32(static_cast<int64_t>(tokens.size())),
                I32(out.stride)};
  Dispatch("embed_" + ShaderSuffix(table.type), p, Groups(Groups(table.cols, 32), kLocal),
           static_cast<uint32_t>(tokens.size()));
}

void VulkanStream::LayerNorm(Tensor x, const WeightView& w, const WeightView& b, float eps,
                             Tensor out) {
  LayerNormParams p{Addr(x.data), Addr(w.data),  Addr(b.data),    Addr(out.data),
                    I32(x.cols),  I32(x.stride), I32(out.stride), eps};
  Dispatch("layer_norm", p, static_cast<uint32_t>(x.rows), 1);
}

void VulkanStream::GroupNormMul(Tensor y, int64_t group, const WeightView& w, const WeightView& b,
                                float eps, Tensor gate) {
  if (group <= 0 || y.cols % group != 0) {
    return Fail(absl::InvalidArgumentError("vulkan stream: group norm width"));
  }
  GroupNormParams p{Addr(y.data), Addr(w.data),  Addr(b.data),     Addr(gate.data),
                    I32(group),   I32(y.stride), I32(gate.stride), eps};
  Dispatch("group_norm_mul", p, static_cast<uint32_t>(y.cols / group),
           static_cast<uint32_t>(y.rows));
}

void VulkanStream::ShiftDelta(int layer, int slot, Tensor cur, Tensor delta) {
  if (!CheckLayer(layer)) return;
  if (static_cast<uint64_t>(cur.cols) != shape_.n_embd || cur.rows != layout_.n_rows()) {
    return Fail(absl::InvalidArgumentError("vulkan stream: token shift differs from the state"));
  }
  const uint64_t shift =
      state_.address + (static_cast<uint64_t>(layer) * 2 + slot) * shape_.n_embd * 4;
  ShiftDeltaParams d{Addr(cur.data),
                     Addr(delta.data),
                     row_seq_,
                     seq_begin_,
                     shift,
                     I32(cur.cols),
                     I32(cur.rows),
                     I32(cur.stride),
                     I32(delta.stride),
                     I32(static_cast<int64_t>(seq_floats_))};
  Dispatch("shift_delta", d, Groups(cur.cols, kLocal), static_cast<uint32_t>(cur.rows));
  ShiftStoreParams s{Addr(cur.data),
                     seq_begin_,
                     shift,
                     I32(cur.cols),
                     I32(layout_.n_seq()),
                     I32(cur.stride),
                     I32(static_cast<int64_t>(seq_floats_))};
  Dispatch("shift_store", s, Groups(cur.cols, kLocal), static_cast<uint32_t>(layout_.n_seq()));
}

void VulkanStream::Lerp(Tensor base, Tensor delta, const WeightView& mix, const Tensor* extra,
                        Tensor out) {
  ElementParams p;
  p.op = ElementOp::kLerp;
  p.out = Addr(out.data);
  p.out_stride = I32(out.stride);
  p.a = Addr(base.data);
  p.a_stride = I32(base.stride);
  p.b = Addr(delta.data);
  p.b_stride = I32(delta.stride);
  if (extra != nullptr) {
    p.c = Addr(extra->data);
    p.c_stride = I32(extra->stride);
  }
  p.vec = Addr(mix.data);
  p.cols = I32(base.cols);
  p.rows = I32(base.rows);
  Dispatch("elementwise", p, Groups(base.cols, kLocal), static_cast<uint32_t>(base.rows));
}

void VulkanStream::MatMul(const WeightView& w, Tensor x, Tensor y, backend::Epilogue epilogue,
                          bool accumulate) {
  if (x.cols != w.cols || y.cols != w.rows || x.rows != y.rows) {
    return Fail(absl::InvalidArgumentError(absl::StrCat("vulkan stream: matmul shapes differ (w ",
                                                        w.rows, "x", w.cols, ", x ", x.rows, "x",
                                                        x.cols, ", y ", y.rows, "x", y.cols, ")")));
  }
  if (x.rows == 0 || w.rows == 0) return;
  // Invocations per row: one subgroup where the device allows, else the power of two nearest
  // the row's 32-element chunks, at most 64.
  const int64_t chunks = (w.cols + 31) / 32;
  const int32_t subgroup = static_cast<int32_t>(subgroup_lanes_);
  int32_t lanes = 1;
  while (lanes < 64 && lanes < chunks) lanes *= 2;
  if (subgroup != 0) lanes = subgroup;
  MatMulParams p{Addr(w.data),       Addr(x.data),
                 Addr(y.data),       w.row_bytes,
                 I32(w.cols),        I32(w.rows),
                 I32(x.rows),        I32(x.stride),
                 I32(y.stride),      static_cast<int32_t>(epilogue),
                 accumulate ? 1 : 0, lanes};
  const int64_t groups = Groups(w.rows, kLocal / lanes);
  const uint32_t gx = static_cast<uint32_t>(std::min<int64_t>(groups, kMaxGroups));
  Dispatch((subgroup != 0 ? "matmul_sg_" : "matmul_") + ShaderSuffix(w.type), p, gx,
           Groups(groups, gx), Groups(x.rows, kMatMulCols));
}

void VulkanStream::Decay(Tensor x, const WeightView& time_decay) {
  ElementParams p;
  p.op = ElementOp::kDecay;
  p.out = Addr(x.data);
  p.out_stride = I32(x.stride);
  p.vec = Addr(time_decay.data);
  p.cols = I32(x.cols);
  p.rows = I32(x.rows);
  Dispatch("elementwise", p, Groups(x.cols, kLocal), static_cast<uint32_t>(x.rows));
}

void VulkanStream::Wkv6(int layer, int64_t head_size, Tensor r, Tensor k, Tensor v, Tensor w,
                        const WeightView& u, Tensor y) {
  if (!CheckLayer(layer)) return;
  if (static_cast<uint64_t>(head_size) != shape_.head_size ||
      static_cast<uint64_t>(r.cols) != shape_.n_embd || r.rows != layout_.n_rows()) {
    return Fail(absl::InvalidArgumentError("vulkan stream: wkv shape differs from the state"));
  }
  if (r.stride != k.stride || r.stride != v.stride || r.stride != w.stride ||
      r.stride != y.stride) {
    return Fail(absl::InvalidArgumentError("vulkan stream: wkv operands need one row stride"));
  }
  const uint64_t shift_floats = shape_.n_layer * shape_.shift_floats_per_layer();
  const uint64_t state =
      state_.address + (shift_floats + layer * shape_.wkv_floats_per_layer()) * 4;
  Wkv6Params p{Addr(r.data),
               Addr(k.data),
               Addr(v.data),
               Addr(w.data),
               Addr(y.data),
               Addr(u.data),
               state,
               seq_begin_,
               I32(head_size),
               I32(r.stride),
               I32(static_cast<int64_t>(seq_floats_))};
  Dispatch("wkv6", p, static_cast<uint32_t>(r.cols / head_size),
           static_cast<uint32_t>(layout_.n_seq()));
}

void VulkanStream::MulAdd(Tensor acc, Tensor a, Tensor b) {
  ElementParams p;
  p.op = ElementOp::kMulAdd;
  p.out = Addr(acc.data);
  p.out_stride = I32(acc.stride);
  p.a = Addr(a.data);
  p.a_stride = I32(a.stride);
  p.b = Addr(b.data);
  p.b_stride = I32(b.stride);
  p.cols = I32(acc.cols);
  p.rows = I32(acc.rows);
  Dispatch("elementwise", p, Groups(acc.cols, kLocal), static_cast<uint32_t>(acc.rows));
}

void VulkanStream::Scale(Tensor x, float s) {
  ElementParams p;
  p.op = ElementOp::kScale;
  p.out = Addr(x.data);
  p.out_stride = I32(x.stride);
  p.scalar = s;
  p.cols = I32(x.cols);
  p.rows = I32(x.rows);
  Dispatch("elementwise", p, Groups(x.cols, kLocal), static_cast<uint32_t>(x.rows));
}

void VulkanStream::GatherRows(Tensor src, std::span<const int64_t> rows, Tensor dst) {
  if (rows.empty()) return;
  std::vector<int32_t> index(rows.begin(), rows.end());
  ElementParams p;
  p.op = ElementOp::kCopy;
  p.index = UploadArray(index.data(), index.size() * 4);
  if (p.index == 0) return;
  p.out = Addr(dst.data);
  p.out_stride = I32(dst.stride);
  p.a = Addr(src.data);
  p.a_stride = I32(src.stride);
  p.cols = I32(src.cols);
  p.rows = I32(static_cast<int64_t>(rows.size()));
  Dispatch("elementwise", p, Groups(src.cols, kLocal), static_cast<uint32_t>(rows.size()));
}

void VulkanStream::ReadRows(Tensor src, int64_t row, int64_t count, float* host) {
  if (count <= 0) return;
  const uint64_t bytes = static_cast<uint64_t>(count * src.cols) * 4;
  absl::StatusOr<HostArena::Slice> slice = readback_.Allocate(bytes);
  if (!slice.ok()) return Fail(slice.status());
  ElementParams p;
  p.op = ElementOp::kCopy;
  p.out = slice->address;
  p.out_stride = I32(src.cols);
  p.a = Addr(src.data);
  p.a_stride = I32(src.stride);
  p.first = I32(row);
  p.cols = I32(src.cols);
  p.rows = I32(count);
  Dispatch("elementwise", p, Groups(src.cols, kLocal), static_cast<uint32_t>(count));
  reads_.push_back(PendingRead{slice->host, host, bytes});
}

}  // namespace rwkv::engine::vulkan
