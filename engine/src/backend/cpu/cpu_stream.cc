#include "backend/cpu/cpu_stream.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace rwkv::engine::cpu {
namespace {

using backend::Tensor;
using backend::WeightView;

const float* Vec(const WeightView& w) { return static_cast<const float*>(w.data); }

// Rows per parallel task so that a task carries roughly this many floats of work.
constexpr int64_t kFloatsPerTask = 16384;

// Mean and variance in double, the scale 1/sqrt in float, as ggml_norm does.
void NormalizeRow(const float* x, int64_t n, float eps, float* out) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  double sum2 = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float d = x[i] - mean;
    out[i] = d;
    sum2 += static_cast<double>(d * d);
  }
  const float variance = static_cast<float>(sum2 / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(variance + eps);
  for (int64_t i = 0; i < n; ++i) out[i] *= scale;
}

}  // namespace

void CpuStream::Fail(absl::Status status) {
  if (status_.ok()) status_ = std::move(status);
}

void CpuStream::ForRows(int64_t rows, int64_t cost_per_row,
                        const std::function<void(int64_t, int64_t)>& fn) {
  const int64_t grain = std::max<int64_t>(1, kFloatsPerTask / std::max<int64_t>(1, cost_per_row));
  pool_.ParallelFor(rows, grain, fn);
}

bool CpuStream::CheckLayer(int layer) {
  if (states_.empty()) {
    Fail(absl::FailedPreconditionError("cpu stream: no states bound"));
    return false;
  }
  if (layer < 0 || static_cast<uint32_t>(layer) >= shape_.n_layer) {
    Fail(absl::InvalidArgumentError(absl::StrCat("cpu stream: layer ", layer, " out of range")));
    return false;
  }
  return true;
}

absl::Status CpuStream::BindStates(std::span<RecurrentState* const> states,
                                   const backend::StepLayout& layout) {
  if (static_cast<int64_t>(states.size()) != layout.n_seq()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cpu stream: ", states.size(), " states for ", layout.n_seq(), " sequences"));
  }
  for (RecurrentState* s : states) {
    if (s == nullptr) return absl::InvalidArgumentError("cpu stream: null state");
    if (s->shape != states[0]->shape ||
        s->shift.size() != s->shape.n_layer * s->shape.shift_floats_per_layer() ||
        s->wkv.size() != s->shape.n_layer * s->shape.wkv_floats_per_layer()) {
      return absl::InvalidArgumentError("cpu stream: state buffers do not match their shape");
    }
  }
  states_.assign(states.begin(), states.end());
  layout_ = layout;
  shape_ = states.empty() ? StateShape{} : states[0]->shape;
  status_ = absl::OkStatus();
  return absl::OkStatus();
}

absl::Status CpuStream::UnbindStates() {
  states_.clear();
  layout_ = {};
  return Synchronize();
}

void CpuStream::Embed(const WeightView& table, std::span<const int32_t> tokens, Tensor out) {
  ForRows(static_cast<int64_t>(tokens.size()), out.cols, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const auto* row = static_cast<const uint8_t*>(table.data) + tokens[i] * table.row_bytes;
      DequantizeRow(table.type, row, out.data + i * out.stride, table.cols);
    }
  });
}

void CpuStream::LayerNorm(Tensor x, const WeightView& w, const WeightView& b, float eps,
                          Tensor out) {
  const float* gw = Vec(w);
  const float* gb = Vec(b);
  ForRows(x.rows, x.cols, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      float* o = out.data + r * out.stride;
      NormalizeRow(x.data + r * x.stride, x.cols, eps, o);
      for (int64_t i = 0; i < x.cols; ++i) o[i] = o[i] * gw[i] + gb[i];
    }
  });
}

void CpuStream::GroupNormMul(Tensor y, int64_t group, const WeightView& w, const WeightView& b,
                             float eps, Tensor gate) {
  const float* gw = Vec(w);
  const float* gb = Vec(b);
  ForRows(y.rows, y.cols, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      float* yr = y.data + r * y.stride;
      const float* g = gate.data + r * gate.stride;
      for (int64_t h = 0; h < y.cols / group; ++h) {
        NormalizeRow(yr + h * group, group, eps, yr + h * group);
      }
      for (int64_t i = 0; i < y.cols; ++i) yr[i] = (yr[i] * gw[i] + gb[i]) * g[i];
    }
  });
}

void CpuStream::ShiftDelta(int layer, int slot, Tensor cur, Tensor delta) {
  if (!CheckLayer(layer)) return;
  const int64_t c = cur.cols;
  if (static_cast<uint64_t>(c) != shape_.n_embd) {
    return Fail(absl::InvalidArgumentError("cpu stream: token shift width differs from state"));
  }
  pool_.ParallelFor(layout_.n_seq(), 1, [&](int64_t sb, int64_t se) {
    for (int64_t s = sb; s < se; ++s) {
      float* shift = states_[s]->shift.data() + layer * 2 * c + slot * c;
      const int64_t r0 = layout_.seq_begin[s], r1 = layout_.seq_begin[s + 1];
      for (int64_t r = r0; r < r1; ++r) {
        const float* prev = r == r0 ? shift : cur.data + (r - 1) * cur.stride;
        const float* x = cur.data + r * cur.stride;
        float* d = delta.data + r * delta.stride;
        for (int64_t i = 0; i < c; ++i) d[i] = prev[i] - x[i];
      }
      std::memcpy(shift, cur.data + (r1 - 1) * cur.stride, static_cast<size_t>(c) * 4);
    }
  });
}

void CpuStream::Lerp(Tensor base, Tensor delta, const WeightView& mix, const Tensor* extra,
                     Tensor out) {
  const float* m = Vec(mix);
  ForRows(base.rows, base.cols, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      const float* x = base.data + r * base.stride;
      const float* d = delta.data + r * delta.stride;
      float* o = out.data + r * out.stride;
      if (extra != nullptr) {
        const float* e = extra->data + r * extra->stride;
        for (int64_t i = 0; i < base.cols; ++i) o[i] = x[i] + d[i] * (m[i] + e[i]);
      } else {
        for (int64_t i = 0; i < base.cols; ++i) o[i] = x[i] + d[i] * m[i];
      }
    }
  });
}

void CpuStream::MatMul(const WeightView& w, Tensor x, Tensor y, backend::Epilogue epilogue,
                       bool accumulate) {
  if (x.cols != w.cols || y.cols != w.rows || x.rows != y.rows) {
    return Fail(absl::InvalidArgumentError(absl::StrCat("cpu stream: matmul shapes differ (w ",
                                                        w.rows, "x", w.cols, ", x ", x.rows, "x",
                                                        x.cols, ", y ", y.rows, "x", y.cols, ")")));
  }
  cpu::MatMul(pool_, kernels_, w, x.data, x.stride, x.rows, y.data, y.stride, epilogue, accumulate,
              matmul_scratch_, precision_);
}

void CpuStream::Decay(Tensor x, const WeightView& time_decay) {
  const float* td = Vec(time_decay);
  ForRows(x.rows, x.cols * 8, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      float* v = x.data + r * x.stride;
      for (int64_t i = 0; i < x.cols; ++i) v[i] = std::exp(-std::exp(td[i] + v[i]));
    }
  });
}

void CpuStream::Wkv6(int layer, int64_t head_size, Tensor r, Tensor k, Tensor v, Tensor w,
                     const WeightView& u, Tensor y) {
  if (!CheckLayer(layer)) return;
  if (static_cast<uint64_t>(head_size) != shape_.head_size ||
      static_cast<uint64_t>(r.cols) != shape_.n_embd) {
    return Fail(absl::InvalidArgumentError("cpu stream: wkv shape differs from the state"));
  }
  if (r.stride != k.stride || r.stride != v.stride || r.stride != w.stride ||
      r.stride != y.stride) {
    return Fail(absl::InvalidArgumentError("cpu stream: wkv operands need one row stride"));
  }
  const int64_t heads = r.cols / head_size;
  const float* uf = Vec(u);
  const uint64_t per_layer = shape_.wkv_floats_per_layer();
  pool_.ParallelFor(layout_.n_seq() * heads, 1, [&](int64_t tb, int64_t te) {
    for (int64_t task = tb; task < te; ++task) {
      const int64_t s = task / heads, h = task % heads;
      const int64_t r0 = layout_.seq_begin[s], r1 = layout_.seq_begin[s + 1];
      const int64_t off = r0 * r.stride + h * head_size;
      float* state = states_[s]->wkv.data() + layer * per_layer + h * head_size * head_size;
      kernels_.wkv6(r1 - r0, 1, head_size, r.data + off, k.data + off, v.data + off, w.data + off,
                    r.stride, uf + h * head_size, state, y.data + off);
    }
  });
}

void CpuStream::MulAdd(Tensor acc, Tensor a, Tensor b) {
  ForRows(acc.rows, acc.cols, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      float* o = acc.data + r * acc.stride;
      const float* x = a.data + r * a.stride;
      const float* z = b.data + r * b.stride;
      for (int64_t i = 0; i < acc.cols; ++i) o[i] += x[i] * z[i];
    }
  });
}

void CpuStream::Scale(Tensor x, float s) {
  for (int64_t r = 0; r < x.rows; ++r) {
    float* o = x.data + r * x.stride;
    for (int64_t i = 0; i < x.cols; ++i) o[i] *= s;
  }
}

void CpuStream::GatherRows(Tensor src, std::span<const int64_t> rows, Tensor dst) {
  for (size_t i = 0; i < rows.size(); ++i) {
    std::memcpy(dst.data + static_cast<int64_t>(i) * dst.stride, src.data + rows[i] * src.stride,
                static_cast<size_t>(src.cols) * 4);
  }
}

void CpuStream::ReadRows(Tensor src, int64_t row, int64_t count, float* host) {
  for (int64_t i = 0; i < count; ++i) {
    std::memcpy(host + i * src.cols, src.data + (row + i) * src.stride,
                static_cast<size_t>(src.cols) * 4);
  }
}

absl::Status CpuStream::Synchronize() { return status_; }

}  // namespace rwkv::engine::cpu
