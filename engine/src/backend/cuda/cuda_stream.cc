#include "backend/cuda/cuda_stream.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "backend/cuda/cuda_check.h"

namespace rwkv::engine::cuda {
namespace {

using backend::Tensor;
using backend::WeightView;

DeviceTensor D(Tensor t) { return DeviceTensor{t.data, t.rows, t.cols, t.stride}; }
DeviceMatrix M(const WeightView& w) {
  return DeviceMatrix{static_cast<uint32_t>(w.type), w.cols, w.rows, w.row_bytes, w.data};
}
const float* Vec(const WeightView& w) { return static_cast<const float*>(w.data); }

uint64_t Align(uint64_t n) { return (n + 255) / 256 * 256; }

bool GraphsEnabled() {
  const char* env = std::getenv("RWKV_CUDA_GRAPHS");
  return env == nullptr || std::string(env) != "0";
}

}  // namespace

CudaStream::CudaStream(int device, bool keep_states_on_device)
    : device_(device), keep_states_(keep_states_on_device), graphs_(GraphsEnabled()) {
  cudaSetDevice(device_);
  if (OpProfile::Enabled()) {
    profile_ = std::make_unique<OpProfile>();
    graphs_ = false;
  }
  if (absl::Status s =
          CudaStatus(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "stream create");
      !s.ok()) {
    Fail(std::move(s));
    stream_ = nullptr;
  }
}

CudaStream::~CudaStream() {
  if (stream_ != nullptr) {
    cudaStreamSynchronize(stream_);
    if (profile_ != nullptr) profile_->Collect();
    cudaStreamDestroy(stream_);
  }
  if (profile_ != nullptr) profile_->Print();
  if (graph_ != nullptr) cudaGraphExecDestroy(graph_);
  if (workspace_ != nullptr) cudaFree(workspace_);
  if (state_arena_ != nullptr) cudaFree(state_arena_);
  if (tables_dev_ != nullptr) cudaFree(tables_dev_);
  if (tables_host_ != nullptr) cudaFreeHost(tables_host_);
}

void CudaStream::Fail(absl::Status status) {
  if (status_.ok()) status_ = std::move(status);
}

void CudaStream::CheckLaunch(const char* op) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) Fail(CudaStatus(err, op));
}

bool CudaStream::CheckLayer(int layer) {
  if (states_.empty()) {
    Fail(absl::FailedPreconditionError("cuda stream: no states bound"));
    return false;
  }
  if (layer < 0 || static_cast<uint32_t>(layer) >= shape_.n_layer) {
    Fail(absl::InvalidArgumentError(absl::StrCat("cuda stream: layer ", layer, " out of range")));
    return false;
  }
  return true;
}

void CudaStream::RunOps() {
  if (profile_ != nullptr) {
    for (size_t i = 0; i < ops_.size(); ++i) {
      profile_->Before(i, stream_);
      ops_[i]();
    }
    profile_->End(stream_);
    return;
  }
  for (const std::function<void()>& op : ops_) op();
}

void CudaStream::Flush() {
  if (ops_.empty()) return;
  if (!status_.ok()) {
    ops_.clear();
    sig_.clear();
    return;
  }
  if (graphs_ && graph_ != nullptr && sig_ == graph_sig_) {
    if (absl::Status s = CudaStatus(cudaGraphLaunch(graph_, stream_), "graph launch"); !s.ok()) {
      Fail(std::move(s));
    }
  } else if (graphs_ && sig_ == last_sig_) {
    cudaGraph_t graph = nullptr;
    absl::Status s =
        CudaStatus(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "capture");
    if (s.ok()) {
      RunOps();
      s = CudaStatus(cudaStreamEndCapture(stream_, &graph), "end capture");
    }
    if (s.ok() && graph_ != nullptr) {
      cudaGraphExecUpdateResultInfo info;
      if (cudaGraphExecUpdate(graph_, graph, &info) != cudaSuccess) {
        cudaGetLastError();
        cudaGraphExecDestroy(graph_);
        graph_ = nullptr;
      }
    }
    if (s.ok() && graph_ == nullptr) {
      s = CudaStatus(cudaGraphInstantiate(&graph_, graph, 0), "graph instantiate");
    }
    if (graph != nullptr) cudaGraphDestroy(graph);
    if (s.ok()) s = CudaStatus(cudaGraphLaunch(graph_, stream_), "graph launch");
    if (s.ok()) {
      graph_sig_ = sig_;
    } else {
      Fail(std::move(s));
    }
  } else {
    RunOps();
  }
  CheckLaunch("launch");
  ops_.clear();
  last_sig_.swap(sig_);
  sig_.clear();
}

absl::Status CudaStream::Drain() {
  if (stream_ == nullptr) return status_;
  Flush();
  const cudaError_t err = cudaStreamSynchronize(stream_);
  if (err != cudaSuccess) Fail(CudaStatus(err, "synchronize"));
  if (profile_ != nullptr) profile_->Collect();
  staging_.Deliver();
  return status_;
}

bool CudaStream::Stage(uint64_t upload_bytes, uint64_t download_bytes) {
  if (!status_.ok() || stream_ == nullptr) return false;
  if (staging_.Fits(upload_bytes, download_bytes)) return true;
  if (!Drain().ok()) return false;
  if (absl::Status s = staging_.Reserve(upload_bytes, download_bytes); !s.ok()) {
    Fail(std::move(s));
    return false;
  }
  return true;
}

uint64_t CudaStream::FloatsPerState() const {
  return shape_.n_layer * (shape_.shift_floats_per_layer() + shape_.wkv_floats_per_layer());
}

void CudaStream::DownloadState(int64_t s, RecurrentState& state) {
  const uint64_t shift_floats = shape_.n_layer * shape_.shift_floats_per_layer();
  const uint64_t wkv_floats = shape_.n_layer * shape_.wkv_floats_per_layer();
  const float* base = state_arena_ + s * FloatsPerState();
  cudaMemcpyAsync(state.shift.data(), base, shift_floats * 4, cudaMemcpyDeviceToHost, stream_);
  cudaMemcpyAsync(state.wkv.data(), base + shift_floats, wkv_floats * 4, cudaMemcpyDeviceToHost,
                  stream_);
}

absl::Status CudaStream::FlushStates() {
  if (stream_ == nullptr) return status_;
  cudaSetDevice(device_);
  if (absl::Status s = Drain(); !s.ok()) {
    resident_.clear();
    return s;
  }
  for (size_t i = 0; i < resident_.size(); ++i) {
    DownloadState(static_cast<int64_t>(i), *resident_[i].state);
  }
  CheckLaunch("download states");
  resident_.clear();
  return Drain();
}

absl::Status CudaStream::BindStates(std::span<RecurrentState* const> states,
                                    const backend::StepLayout& layout) {
  if (static_cast<int64_t>(states.size()) != layout.n_seq()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cuda stream: ", states.size(), " states for ", layout.n_seq(), " sequences"));
  }
  for (RecurrentState* s : states) {
    if (s == nullptr) return absl::InvalidArgumentError("cuda stream: null state");
    if (s->shape != states[0]->shape ||
        s->shift.size() != s->shape.n_layer * s->shape.shift_floats_per_layer() ||
        s->wkv.size() != s->shape.n_layer * s->shape.wkv_floats_per_layer()) {
      return absl::InvalidArgumentError("cuda stream: state buffers do not match their shape");
    }
  }
  if (stream_ == nullptr) return status_;
  status_ = absl::OkStatus();
  cudaSetDevice(device_);
  std::vector<Resident> wanted;
  for (RecurrentState* s : states) wanted.push_back({s, s->shift.data(), s->wkv.data()});
  const bool already_there =
      !resident_.empty() && wanted == resident_ && states[0]->shape == shape_;
  if (!already_there) {
    if (absl::Status s = FlushStates(); !s.ok()) return s;
  } else if (absl::Status s = Drain(); !s.ok()) {
    return s;
  }
  resident_.clear();
  states_.assign(states.begin(), states.end());
  shape_ = states.empty() ? StateShape{} : states[0]->shape;
  n_seq_ = layout.n_seq();
  one_row_per_seq_ = layout.n_rows() == layout.n_seq();
  const uint64_t shift_floats = shape_.n_layer * shape_.shift_floats_per_layer();
  const uint64_t wkv_floats = shape_.n_layer * shape_.wkv_floats_per_layer();
  const uint64_t per_state = shift_floats + wkv_floats;

  const uint64_t need_floats = per_state * static_cast<uint64_t>(n_seq_);
  if (need_floats > state_arena_floats_) {
    if (state_arena_ != nullptr) cudaFree(state_arena_);
    state_arena_ = nullptr;
    state_arena_floats_ = 0;
    void* p = nullptr;
    if (absl::Status s = CudaStatus(cudaMalloc(&p, need_floats * 4), "state alloc"); !s.ok()) {
      return s;
    }
    state_arena_ = static_cast<float*>(p);
    state_arena_floats_ = need_floats;
  }
  // Pointer tables and row maps, laid out in one pinned block and copied in one transfer.
  const uint64_t shift_bytes = Align(shape_.n_layer * 2ull * n_seq_ * sizeof(float*));
  const uint64_t wkv_bytes = Align(shape_.n_layer * 1ull * n_seq_ * sizeof(float*));
  const uint64_t begin_bytes = Align(static_cast<uint64_t>(n_seq_ + 1) * 4);
  const uint64_t table_bytes = shift_bytes + wkv_bytes + begin_bytes;
  if (table_bytes > tables_cap_) {
    tables_uploaded_ = 0;
    if (tables_dev_ != nullptr) cudaFree(tables_dev_);
    if (tables_host_ != nullptr) cudaFreeHost(tables_host_);
    tables_dev_ = tables_host_ = nullptr;
    tables_cap_ = 0;
    const uint64_t cap = std::max<uint64_t>(table_bytes, 64 << 10);
    if (absl::Status s = CudaStatus(cudaMalloc(&tables_dev_, cap), "table alloc"); !s.ok()) {
      return s;
    }
    if (absl::Status s = CudaStatus(cudaHostAlloc(&tables_host_, cap, 0), "pinned alloc");
        !s.ok()) {
      return s;
    }
    tables_cap_ = cap;
  }
  auto* host = static_cast<uint8_t*>(tables_host_);
  auto* dev = static_cast<uint8_t*>(tables_dev_);
  auto** shift_host = reinterpret_cast<float**>(host);
  auto** wkv_host = reinterpret_cast<float**>(host + shift_bytes);
  auto* begin_host = reinterpret_cast<int32_t*>(host + shift_bytes + wkv_bytes);
  for (int64_t s = 0; s < n_seq_; ++s) {
    float* base = state_arena_ + s * per_state;
    for (uint32_t l = 0; l < shape_.n_layer; ++l) {
      for (int slot = 0; slot < 2; ++slot) {
        shift_host[(l * 2 + slot) * n_seq_ + s] =
            base + l * 2ull * shape_.n_embd + slot * shape_.n_embd;
      }
      wkv_host[l * n_seq_ + s] = base + shift_floats + l * shape_.wkv_floats_per_layer();
    }
  }
  for (int64_t s = 0; s <= n_seq_; ++s) begin_host[s] = static_cast<int32_t>(layout.seq_begin[s]);
  shift_ptrs_ = reinterpret_cast<float**>(dev);
  wkv_ptrs_ = reinterpret_cast<float**>(dev + shift_bytes);
  seq_begin_ = reinterpret_cast<int32_t*>(dev + shift_bytes + wkv_bytes);
  // A decode loop binds the same states with the same layout every step: the tables on the
  // device are already these (the host copy is only written here, after the last step drained).
  const bool tables_same =
      tables_uploaded_ == table_bytes && std::memcmp(last_tables_.data(), host, table_bytes) == 0;
  if (!tables_same) {
    if (absl::Status s =
            CudaStatus(cudaMemcpyAsync(dev, host, table_bytes, cudaMemcpyHostToDevice, stream_),
                       "upload tables");
        !s.ok()) {
      tables_uploaded_ = 0;
      return s;
    }
    last_tables_.assign(host, host + table_bytes);
    tables_uploaded_ = table_bytes;
  }
  for (int64_t s = 0; s < n_seq_ && !already_there; ++s) {
    float* base = state_arena_ + s * per_state;
    cudaMemcpyAsync(base, states_[s]->shift.data(), shift_floats * 4, cudaMemcpyHostToDevice,
                    stream_);
    cudaMemcpyAsync(base + shift_floats, states_[s]->wkv.data(), wkv_floats * 4,
                    cudaMemcpyHostToDevice, stream_);
  }
  CheckLaunch("upload states");
  return status_;
}

absl::Status CudaStream::UnbindStates() {
  if (stream_ != nullptr) Flush();
  if (stream_ != nullptr && !states_.empty() && status_.ok()) {
    if (keep_states_) {
      for (RecurrentState* s : states_) resident_.push_back({s, s->shift.data(), s->wkv.data()});
    } else {
      for (int64_t s = 0; s < n_seq_; ++s) DownloadState(s, *states_[s]);
      CheckLaunch("download states");
    }
  }
  absl::Status s = Drain();
  if (!s.ok()) resident_.clear();
  states_.clear();
  n_seq_ = 0;
  return s;
}

void CudaStream::Embed(const WeightView& table, std::span<const int32_t> tokens, Tensor out) {
  if (!Stage(tokens.size_bytes(), 0)) return;
  const void* pinned = nullptr;
  const void* dev = staging_.Upload(tokens.data(), tokens.size_bytes(), &pinned);
  const uint64_t bytes = tokens.size_bytes();
  const int64_t n = static_cast<int64_t>(tokens.size());
  const DeviceMatrix m = M(table);
  const DeviceTensor o = D(out);
  cudaStream_t st = stream_;
  Enqueue(
      [=] {
        cudaMemcpyAsync(const_cast<void*>(dev), pinned, bytes, cudaMemcpyHostToDevice, st);
        LaunchEmbed(m, static_cast<const int32_t*>(dev), n, o, st);
      },
      1, dev, pinned, bytes, m, n, o);
}

void CudaStream::LayerNorm(Tensor x, const WeightView& w, const WeightView& b, float eps,
                           Tensor out) {
  const DeviceTensor dx = D(x), dout = D(out);
  const float *vw = Vec(w), *vb = Vec(b);
  cudaStream_t st = stream_;
  Enqueue([=] { LaunchLayerNorm(dx, vw, vb, eps, dout, st); }, 2, dx, vw, vb, eps, dout);
}

void CudaStream::GroupNormMul(Tensor y, int64_t group, const WeightView& w, const WeightView& b,
                              float eps, Tensor gate) {
  if (group <= 0 || y.cols % group != 0) {
    return Fail(absl::InvalidArgumentError("cuda stream: group norm width"));
  }
  const DeviceTensor dy = D(y), dg = D(gate);
  const float *vw = Vec(w), *vb = Vec(b);
  cudaStream_t st = stream_;
  Enqueue([=] { LaunchGroupNormMul(dy, group, vw, vb, eps, dg, st); }, 3, dy, group, vw, vb, eps,
          dg);
}

void CudaStream::ShiftDelta(int layer, int slot, Tensor cur, Tensor delta) {
  if (!CheckLayer(layer)) return;
  if (static_cast<uint64_t>(cur.cols) != shape_.n_embd || slot < 0 || slot > 1) {
    return Fail(absl::InvalidArgumentError("cuda stream: token shift width differs from state"));
  }
  float* const* shift = shift_ptrs_ + (layer * 2 + slot) * n_seq_;
  const DeviceTensor dc = D(cur), dd = D(delta);
  const int64_t n_seq = n_seq_;
  const int32_t* seq_begin = seq_begin_;
  cudaStream_t st = stream_;
  Enqueue([=] { LaunchShiftDelta(dc, dd, n_seq, seq_begin, shift, st); }, 4, dc, dd, n_seq,
          seq_begin, shift);
}

void CudaStream::Lerp(Tensor base, Tensor delta, const WeightView& mix, const Tensor* extra,
                      Tensor out) {
  DeviceTensor e;
  const bool has_extra = extra != nullptr;
  if (has_extra) e = D(*extra);
  const DeviceTensor db = D(base), dd = D(delta), dout = D(out);
  const float* m = Vec(mix);
  cudaStream_t st = stream_;
  Enqueue([=] { LaunchLerp(db, dd, m, has_extra ? &e : nullptr, dout, st); }, 5, db, dd, m,
          has_extra, e, dout);
}

void CudaStream::MatMul(const WeightView& w, Tensor x, Tensor y, backend::Epilogue epilogue,
                        bool accumulate) {
  if (x.cols != w.cols || y.cols != w.rows || x.rows != y.rows) {
    return Fail(absl::InvalidArgumentError(absl::StrCat("cuda stream: matmul shapes differ (w ",
                                                        w.rows, "x", w.cols, ", x ", x.rows, "x",
                                                        x.cols, ", y ", y.rows, "x", y.cols, ")")));
  }
  const DeviceMatrix m = M(w);
  const DeviceTensor dx = D(x), dy = D(y);
  const Act act = static_cast<Act>(epilogue);
  const uint64_t need = static_cast<uint64_t>(MatMulWorkspaceFloats(m, x.rows));
  if (need > workspace_floats_) {
    // Ops already queued may use the current workspace: run them before replacing it.
    if (!Drain().ok()) return;
    if (workspace_ != nullptr) cudaFree(workspace_);
    workspace_ = nullptr;
    workspace_floats_ = 0;
    void* p = nullptr;
    if (absl::Status s = CudaStatus(cudaMalloc(&p, need * 4), "matmul workspace"); !s.ok()) {
      return Fail(std::move(s));
    }
    workspace_ = static_cast<float*>(p);
    workspace_floats_ = need;
  }
  float* ws = need > 0 ? workspace_ : nullptr;
  if (profile_ != nullptr) label_ = absl::StrCat(w.rows, "x", w.cols, " n=", x.rows);
  cudaStream_t st = stream_;
  Enqueue([=] { LaunchMatMul(m, dx, dy, act, accumulate, ws, st); }, 6, m, dx, dy, act, accumulate,
          ws);
}

void CudaStream::Decay(Tensor x, const WeightView& time_decay) {
  const DeviceTensor dx = D(x);
  const float* td = Vec(time_decay);
  cudaStream_t st = stream_;
  Enqueue([=] { LaunchDecay(dx, td, st); }, 7, dx, td);
}

void CudaStream::Wkv6(int layer, int64_t head_size, Tensor r, Tensor k, Tensor v, Tensor w,
                      const WeightView& u, Tensor y) {
  if (!CheckLayer(layer)) return;
  if (static_cast<uint64_t>(head_size) != shape_.head_size ||
      static_cast<uint64_t>(r.cols) != shape_.n_embd) {
    return Fail(absl::InvalidArgumentError("cuda stream: wkv shape differs from the state"));
  }
  if (r.stride != k.stride || r.stride != v.stride || r.stride != w.stride ||
      r.stride != y.stride) {
    return Fail(absl::InvalidArgumentError("cuda stream: wkv operands need one row stride"));
  }
  const int64_t n_seq = n_seq_, heads = r.cols / head_size;
  const int32_t* seq_begin = seq_begin_;
  const DeviceTensor dr = D(r), dk = D(k), dv = D(v), dw = D(w), dy = D(y);
  const float* uf = Vec(u);
  float* const* state = wkv_ptrs_ + layer * n_seq_;
  cudaStream_t st = stream_;
  Enqueue(
      [=] { LaunchWkv6(n_seq, seq_begin, heads, head_size, dr, dk, dv, dw, uf, state, dy, st); }, 8,
      n_seq, seq_begin, heads, head_size, dr, dk, dv, dw, uf, state, dy);
}

void CudaStream::MulAdd(Tensor acc, Tensor a, Tensor b) {
  const DeviceTensor dacc = D(acc), da = D(a), db = D(b);
  cudaStream_t st = stream_;
  Enqueue([=] { LaunchMulAdd(dacc, da, db, st); }, 9, dacc, da, db);
}

void CudaStream::Scale(Tensor x, float s) {
  const DeviceTensor dx = D(x);
  cudaStream_t st = stream_;
  Enqueue([=] { LaunchScale(dx, s, st); }, 10, dx, s);
}

void CudaStream::GatherRows(Tensor src, std::span<const int64_t> rows, Tensor dst) {
  if (!Stage(rows.size_bytes(), 0)) return;
  const void* pinned = nullptr;
  const void* dev = staging_.Upload(rows.data(), rows.size_bytes(), &pinned);
  const uint64_t bytes = rows.size_bytes();
  const int64_t n = static_cast<int64_t>(rows.size());
  const DeviceTensor ds = D(src), dd = D(dst);
  cudaStream_t st = stream_;
  Enqueue(
      [=] {
        cudaMemcpyAsync(const_cast<void*>(dev), pinned, bytes, cudaMemcpyHostToDevice, st);
        LaunchGatherRows(ds, static_cast<const int64_t*>(dev), n, dd, st);
      },
      11, dev, pinned, bytes, n, ds, dd);
}

void CudaStream::ReadRows(Tensor src, int64_t row, int64_t count, float* host) {
  const uint64_t bytes = static_cast<uint64_t>(count * src.cols) * 4;
  if (count <= 0 || bytes == 0 || !Stage(0, bytes)) return;
  void* pinned = staging_.Download(host, bytes);
  const float* from = src.data + row * src.stride;
  const size_t width = static_cast<size_t>(src.cols) * 4;
  const size_t pitch = static_cast<size_t>(src.stride) * 4;
  const size_t height = static_cast<size_t>(count);
  cudaStream_t st = stream_;
  Enqueue(
      [=] {
        cudaMemcpy2DAsync(pinned, width, from, pitch, width, height, cudaMemcpyDeviceToHost, st);
      },
      12, pinned, from, width, pitch, height);
}

absl::Status CudaStream::Synchronize() { return Drain(); }

void CudaStream::NormShiftLerps(int layer, int slot, Tensor x, const WeightView& w,
                                const WeightView& b, float eps, Tensor xa, Tensor sx,
                                std::span<const WeightView* const> mixes,
                                std::span<const Tensor> outs) {
  if (!CheckLayer(layer)) return;
  if (static_cast<uint64_t>(x.cols) != shape_.n_embd || slot < 0 || slot > 1) {
    return Fail(absl::InvalidArgumentError("cuda stream: token shift width differs from state"));
  }
  if (mixes.size() != outs.size() || mixes.size() > 4) {
    return Fail(absl::InvalidArgumentError("cuda stream: up to four lerps, one output each"));
  }
  const int n_mix = static_cast<int>(mixes.size());
  std::array<const float*, 4> mix{};
  std::array<DeviceTensor, 4> out{};
  for (int i = 0; i < n_mix; ++i) {
    mix[i] = Vec(*mixes[i]);
    out[i] = D(outs[i]);
    AppendSig(mix[i]), AppendSig(out[i]);
  }
  float* const* shift = shift_ptrs_ + (layer * 2 + slot) * n_seq_;
  const DeviceTensor dx = D(x), dxa = D(xa), dsx = D(sx);
  cudaStream_t st = stream_;
  if (OneRowPerSequence(x.rows)) {
    const float *vw = Vec(w), *vb = Vec(b);
    Enqueue(
        [=] {
          LaunchNormShiftLerps(dx, vw, vb, eps, dxa, dsx, shift, mix.data(), out.data(), n_mix, st);
        },
        13, dx, vw, vb, eps, dxa, dsx, shift, n_mix);
    return;
  }
  LayerNorm(x, w, b, eps, xa);
  const int64_t n_seq = n_seq_;
  const int32_t* seq_begin = seq_begin_;
  Enqueue(
      [=] {
        LaunchShiftLerps(dxa, dsx, n_seq, seq_begin, shift, mix.data(), out.data(), n_mix, st);
      },
      14, dxa, dsx, n_seq, seq_begin, shift, n_mix);
}

void CudaStream::LoraLerps(std::span<const WeightView* const> w2, Tensor h, int64_t dm, Tensor xa,
                           Tensor sx, std::span<const WeightView* const> mixes, Tensor tmp,
                           std::span<const Tensor> outs) {
  // Each thread of the fused kernel reads its dm weights itself, once per row: right for decode
  // batches; prompt chunks (hundreds of rows) go through the tile kernel instead.
  constexpr int64_t kFusedLoraMaxRows = 64;
  bool fits = w2.size() == 5 && mixes.size() == 5 && outs.size() == 5 && dm > 0 && dm % 8 == 0 &&
              h.cols >= 5 * dm && h.rows == xa.rows && sx.rows == xa.rows && sx.cols == xa.cols &&
              xa.rows <= kFusedLoraMaxRows;
  for (size_t j = 0; fits && j < w2.size(); ++j) {
    fits = w2[j]->type == w2[0]->type && w2[j]->row_bytes == w2[0]->row_bytes &&
           w2[j]->cols == dm && w2[j]->rows == xa.cols && outs[j].rows == xa.rows &&
           outs[j].cols == xa.cols;
  }
  if (!fits) return Stream::LoraLerps(w2, h, dm, xa, sx, mixes, tmp, outs);
  std::array<DeviceMatrix, 5> m{};
  std::array<const float*, 5> mix{};
  std::array<DeviceTensor, 5> out{};
  for (size_t j = 0; j < 5; ++j) {
    m[j] = M(*w2[j]);
    mix[j] = Vec(*mixes[j]);
    out[j] = D(outs[j]);
    AppendSig(m[j]), AppendSig(mix[j]), AppendSig(out[j]);
  }
  const DeviceTensor dh = D(h), dxa = D(xa), dsx = D(sx);
  cudaStream_t st = stream_;
  Enqueue([=] { LaunchLoraLerps(m.data(), dh, dm, dxa, dsx, mix.data(), out.data(), st); }, 15, dh,
          dm, dxa, dsx);
}

void CudaStream::EnqueueMatVecs(std::vector<VecProduct> products) {
  for (const VecProduct& p : products) {
    AppendSig(p.w), AppendSig(p.x), AppendSig(p.y), AppendSig(p.act), AppendSig(p.accumulate);
    AppendSig(p.aux), AppendSig(p.aux_stride);
  }
  if (profile_ != nullptr) {
    for (const VecProduct& p : products) {
      absl::StrAppend(&label_, label_.empty() ? "" : "+", p.w.rows, "x", p.w.cols);
    }
    absl::StrAppend(&label_, " n=", products[0].x.rows);
  }
  cudaStream_t st = stream_;
  const int n = static_cast<int>(products.size());
  Enqueue([=] { LaunchMatVecs(products.data(), n, st); }, 16, n);
}

void CudaStream::MatMuls(std::span<const Product> products) {
  // Products on the mat-vec kernel are grouped by weight type and reduced dimension (products
  // are independent, so their order does not matter); the others run one by one.
  std::vector<std::vector<VecProduct>> groups;
  for (const Product& p : products) {
    const DeviceMatrix m = M(*p.w);
    const bool shapes = p.x.cols == p.w->cols && p.y.cols == p.w->rows && p.x.rows == p.y.rows;
    if (!shapes || !UsesMatVec(m, p.x.rows) || p.x.rows != products[0].x.rows) {
      MatMul(*p.w, p.x, p.y, p.epilogue, false);
      continue;
    }
    VecProduct v{m, D(p.x), D(p.y), static_cast<Act>(p.epilogue), false, nullptr, 0};
    auto it = std::find_if(groups.begin(), groups.end(), [&](const std::vector<VecProduct>& g) {
      return g[0].w.type == m.type && g[0].w.cols == m.cols;
    });
    if (it == groups.end()) {
      groups.push_back({v});
    } else {
      it->push_back(v);
    }
  }
  for (std::vector<VecProduct>& g : groups) EnqueueMatVecs(std::move(g));
}

void CudaStream::MatMulDecay(const WeightView& w, Tensor x, Tensor y,
                             const WeightView& time_decay) {
  const DeviceMatrix m = M(w);
  if (x.cols != w.cols || y.cols != w.rows || x.rows != y.rows || !UsesMatVec(m, x.rows)) {
    return Stream::MatMulDecay(w, x, y, time_decay);
  }
  EnqueueMatVecs({VecProduct{m, D(x), D(y), Act::kDecay, false, Vec(time_decay), 0}});
}

void CudaStream::MatMulGatedAdd(const WeightView& w, Tensor x, Tensor y, Tensor acc, Tensor gate) {
  const DeviceMatrix m = M(w);
  if (x.cols != w.cols || acc.cols != w.rows || x.rows != acc.rows || gate.rows != acc.rows ||
      gate.cols != acc.cols || !UsesMatVec(m, x.rows)) {
    return Stream::MatMulGatedAdd(w, x, y, acc, gate);
  }
  EnqueueMatVecs({VecProduct{m, D(x), D(acc), Act::kGatedAdd, true, gate.data, gate.stride}});
}

void CudaStream::Wkv6GroupNorm(int layer, int64_t head_size, Tensor r, Tensor k, Tensor v, Tensor w,
                               const WeightView& u, Tensor y, const WeightView& norm_w,
                               const WeightView& norm_b, float eps, Tensor gate) {
  if (!OneRowPerSequence(r.rows) || !WkvGroupNormFits(head_size) || gate.rows != y.rows ||
      gate.cols != y.cols) {
    return Stream::Wkv6GroupNorm(layer, head_size, r, k, v, w, u, y, norm_w, norm_b, eps, gate);
  }
  if (!CheckLayer(layer)) return;
  if (static_cast<uint64_t>(head_size) != shape_.head_size ||
      static_cast<uint64_t>(r.cols) != shape_.n_embd || y.cols != r.cols) {
    return Fail(absl::InvalidArgumentError("cuda stream: wkv shape differs from the state"));
  }
  if (r.stride != k.stride || r.stride != v.stride || r.stride != w.stride ||
      r.stride != y.stride) {
    return Fail(absl::InvalidArgumentError("cuda stream: wkv operands need one row stride"));
  }
  const int64_t n_seq = n_seq_, heads = r.cols / head_size;
  const DeviceTensor dr = D(r), dk = D(k), dv = D(v), dw = D(w), dy = D(y), dg = D(gate);
  const float *uf = Vec(u), *nw = Vec(norm_w), *nb = Vec(norm_b);
  float* const* state = wkv_ptrs_ + layer * n_seq_;
  cudaStream_t st = stream_;
  Enqueue(
      [=] {
        LaunchWkv6GroupNorm(n_seq, heads, head_size, dr, dk, dv, dw, uf, state, dy, nw, nb, eps, dg,
                            st);
      },
      17, n_seq, heads, head_size, dr, dk, dv, dw, uf, state, dy, nw, nb, eps, dg);
}

}  // namespace rwkv::engine::cuda
