// The internal backend interface the RWKV-6 layer loop runs on (docs/architecture.md, "Backends").
//
// Device: properties and capability queries ("can you"), weight preparation, buffers.
// Buffer: device memory tagged weights/state/scratch, with upload and download.
// Stream: the fixed set of RWKV-6 ops, enqueued in order and completed by Synchronize().
//
// The model code never dereferences a Tensor or WeightView pointer: those are device
// addresses. On the CPU they are host pointers (weights point into the GGUF mapping); a GPU
// backend hands out device pointers. Ops do not return errors; a backend records the first
// failure and reports it from Synchronize() or UnbindStates(). None of these classes is
// thread-safe: one stream is driven by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rwkv/engine/ggml_types.h"
#include "rwkv/engine/gguf.h"
#include "rwkv/engine/precision.h"
#include "rwkv/engine/recurrent_state.h"

namespace rwkv::engine::backend {

// A weight matrix as the device holds it: `rows` rows of `cols` elements (cols = ggml ne[0],
// the reduced dimension of a product), `row_bytes` apart, in the tensor's own type.
struct WeightView {
  GgmlType type = GgmlType::kF32;
  int64_t cols = 0;
  int64_t rows = 0;
  uint64_t row_bytes = 0;
  const void* data = nullptr;

  bool empty() const { return data == nullptr; }
  // Rows [begin, begin + count) as a matrix of their own (a slice of time_mix_w2).
  WeightView Rows(int64_t begin, int64_t count) const {
    WeightView v = *this;
    v.rows = count;
    v.data = static_cast<const uint8_t*>(data) + begin * row_bytes;
    return v;
  }
};

// A dense f32 matrix in device memory: `rows` rows of `cols` floats, `stride` floats apart.
struct Tensor {
  float* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t stride = 0;

  Tensor Cols(int64_t begin, int64_t count) const {
    return Tensor{data + begin, rows, count, stride};
  }
  Tensor RowRange(int64_t begin, int64_t count) const {
    return Tensor{data + begin * stride, count, cols, stride};
  }
};

// Which rows of one step belong to which sequence: sequence s owns rows
// [seq_begin[s], seq_begin[s + 1]), in token order. Every sequence has at least one row.
struct StepLayout {
  std::vector<int64_t> seq_begin;  // n_seq + 1 entries, seq_begin[0] == 0

  int64_t n_seq() const { return static_cast<int64_t>(seq_begin.size()) - 1; }
  int64_t n_rows() const { return seq_begin.empty() ? 0 : seq_begin.back(); }
};

// Applied to each element of a matrix product before it is stored.
enum class Epilogue { kNone, kTanh, kSigmoid, kSilu, kReluSquare };

enum class BufferKind { kWeights, kState, kScratch };

class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual BufferKind kind() const = 0;
  virtual uint64_t size() const = 0;
  // Device address of the first byte (what Tensor::data points into).
  virtual void* base() = 0;
  virtual absl::Status Upload(uint64_t offset, std::span<const uint8_t> bytes) = 0;
  virtual absl::Status Download(uint64_t offset, std::span<uint8_t> bytes) const = 0;
};

class Stream {
 public:
  virtual ~Stream() = default;

  // Binds one state per sequence of `layout` for the ops that follow (ShiftDelta, Wkv6).
  // States are read and updated in place; a device backend uploads them here and writes them
  // back in UnbindStates(). InvalidArgument when the counts or shapes disagree.
  virtual absl::Status BindStates(std::span<RecurrentState* const> states,
                                  const StepLayout& layout) = 0;
  // Completes pending work and releases the states. Returns the first op failure, if any.
  virtual absl::Status UnbindStates() = 0;

  // out[i] = row tokens[i] of `table`, converted to f32. Tokens were validated by the caller.
  virtual void Embed(const WeightView& table, std::span<const int32_t> tokens, Tensor out) = 0;
  // out = LayerNorm(x) per row with affine w, b (F32 vectors of x.cols).
  virtual void LayerNorm(Tensor x, const WeightView& w, const WeightView& b, float eps,
                         Tensor out) = 0;
  // y = GroupNorm(y) over consecutive groups of `group` columns, affine w, b, then y *= gate.
  virtual void GroupNormMul(Tensor y, int64_t group, const WeightView& w, const WeightView& b,
                            float eps, Tensor gate) = 0;
  // Token shift: delta = previous - cur, where "previous" of a sequence's first row is the
  // bound state's shift vector `slot` (0: att, 1: ffn) of `layer`, then stores each
  // sequence's last row of `cur` as its new shift vector.
  virtual void ShiftDelta(int layer, int slot, Tensor cur, Tensor delta) = 0;
  // out = base + delta * (mix + extra), mix an F32 vector of base.cols; extra may be null.
  virtual void Lerp(Tensor base, Tensor delta, const WeightView& mix, const Tensor* extra,
                    Tensor out) = 0;
  // y (+)= epilogue(x · wᵀ): y[n][m] = Σ_k w[m][k]·x[n][k]. x.cols == w.cols,
  // y.cols == w.rows. With `accumulate` the result is added to y.
  virtual void MatMul(const WeightView& w, Tensor x, Tensor y, Epilogue epilogue,
                      bool accumulate) = 0;
  // x = exp(-exp(time_decay + x)), time_decay an F32 vector of x.cols.
  virtual void Decay(Tensor x, const WeightView& time_decay) = 0;
  // The WKV6 recurrence of `layer` (docs/engine/forward-pass.md, "WKV6") over every sequence of the
  // layout, heads of `head_size` columns, u = time_mix_first; writes y.
  virtual void Wkv6(int layer, int64_t head_size, Tensor r, Tensor k, Tensor v, Tensor w,
                    const WeightView& u, Tensor y) = 0;
  // acc += a * b, elementwise.
  virtual void MulAdd(Tensor acc, Tensor a, Tensor b) = 0;
  // x *= s.
  virtual void Scale(Tensor x, float s) = 0;
  // dst[i] = src[rows[i]].
  virtual void GatherRows(Tensor src, std::span<const int64_t> rows, Tensor dst) = 0;
  // Copies rows [row, row + count) of src to host memory (count·src.cols floats).
  virtual void ReadRows(Tensor src, int64_t row, int64_t count, float* host) = 0;
  // Waits for everything enqueued; returns the first op failure, if any.
  virtual absl::Status Synchronize() = 0;
  // With DeviceOptions::keep_states_on_device: writes the states still held on the device back
  // into their host objects and forgets them. Nothing to do elsewhere.
  virtual absl::Status FlushStates() { return absl::OkStatus(); }

  // Compound ops: each is defined as the sequence of the ops above that its default runs, in
  // that order. A backend whose ops are cheap to call one by one (the CPU) keeps the defaults;
  // a GPU backend overrides them with fused kernels to launch fewer, larger kernels.

  // xa = LayerNorm(x); ShiftDelta(layer, slot, xa, sx); outs[i] = Lerp(xa, sx, *mixes[i]).
  virtual void NormShiftLerps(int layer, int slot, Tensor x, const WeightView& w,
                              const WeightView& b, float eps, Tensor xa, Tensor sx,
                              std::span<const WeightView* const> mixes,
                              std::span<const Tensor> outs) {
    LayerNorm(x, w, b, eps, xa);
    ShiftDelta(layer, slot, xa, sx);
    for (size_t i = 0; i < mixes.size(); ++i) Lerp(xa, sx, *mixes[i], nullptr, outs[i]);
  }
  // The five data-dependent lerps of the time mix: for each j, tmp = h[:, j·dm, (j+1)·dm) ·
  // w2[j]ᵀ and outs[j] = Lerp(xa, sx, *mixes[j], &tmp).
  virtual void LoraLerps(std::span<const WeightView* const> w2, Tensor h, int64_t dm, Tensor xa,
                         Tensor sx, std::span<const WeightView* const> mixes, Tensor tmp,
                         std::span<const Tensor> outs) {
    for (size_t j = 0; j < w2.size(); ++j) {
      MatMul(*w2[j], h.Cols(static_cast<int64_t>(j) * dm, dm), tmp, Epilogue::kNone, false);
      Lerp(xa, sx, *mixes[j], &tmp, outs[j]);
    }
  }
  // Independent products (no y is another's x), in order, without accumulation.
  struct Product {
    const WeightView* w;
    Tensor x, y;
    Epilogue epilogue;
  };
  virtual void MatMuls(std::span<const Product> products) {
    for (const Product& p : products) MatMul(*p.w, p.x, p.y, p.epilogue, false);
  }
  // y = x · wᵀ, then Decay(y, time_decay).
  virtual void MatMulDecay(const WeightView& w, Tensor x, Tensor y, const WeightView& time_decay) {
    MatMul(w, x, y, Epilogue::kNone, false);
    Decay(y, time_decay);
  }
  // y = x · wᵀ, then MulAdd(acc, gate, y): acc += gate * y (y may be left unwritten).
  virtual void MatMulGatedAdd(const WeightView& w, Tensor x, Tensor y, Tensor acc, Tensor gate) {
    MatMul(w, x, y, Epilogue::kNone, false);
    MulAdd(acc, gate, y);
  }
  // Wkv6(...) then GroupNormMul(y, head_size, w, b, eps, gate).
  virtual void Wkv6GroupNorm(int layer, int64_t head_size, Tensor r, Tensor k, Tensor v, Tensor w,
                             const WeightView& u, Tensor y, const WeightView& norm_w,
                             const WeightView& norm_b, float eps, Tensor gate) {
    Wkv6(layer, head_size, r, k, v, w, u, y);
    GroupNormMul(y, head_size, norm_w, norm_b, eps, gate);
  }
};

struct DeviceOptions {
  int threads = 0;  // CPU worker threads; 0 = all available cores
  int device = 0;   // accelerator index on machines with several (`rwkv devices` lists them)
  // GPU backends: UnbindStates() leaves the states in device memory (their host copies go
  // stale) and the next BindStates() of the very same states (same objects, same buffers, same
  // order) skips both transfers; binding others, or FlushStates(), writes them back first.
  bool keep_states_on_device = false;
  // CPU: how block-quantized weights are multiplied. The GPU backends always run exact.
  Precision precision = Precision::kExact;
};

class Device {
 public:
  virtual ~Device() = default;

  virtual std::string name() const = 0;         // "cpu"
  virtual std::string description() const = 0;  // "cpu avx2, 2 threads"
  virtual int threads() const = 0;

  // Capability queries. Ops are only called with what these accept.
  virtual bool SupportsWeightType(GgmlType type) const = 0;
  virtual bool SupportsHeadSize(int64_t head_size) const = 0;

  // Makes a GGUF tensor usable as a weight (no copy on the CPU: the view points into the
  // mapping, which must outlive the device's use of it).
  virtual absl::StatusOr<WeightView> PrepareWeight(const GgufTensorInfo& tensor) = 0;
  virtual absl::StatusOr<std::unique_ptr<Buffer>> Allocate(BufferKind kind, uint64_t bytes) = 0;
  virtual std::unique_ptr<Stream> CreateStream() = 0;
};

// Backends compiled into this build ("cpu" always first).
std::vector<std::string> AvailableBackends();
// NotFound naming the backend when it is unknown or not compiled in; Unavailable when it is
// compiled in but no device was found (no driver, no GPU).
absl::StatusOr<std::unique_ptr<Device>> CreateDevice(std::string_view backend,
                                                     const DeviceOptions& options);

}  // namespace rwkv::engine::backend
