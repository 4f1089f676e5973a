#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "rwkv/engine/state_file.h"
#include "util/atomic_file.h"

namespace rwkv::engine {
namespace {

class Sink {
 public:
  template <typename T>
  void Put(T v) {
    const size_t old = out_.size();
    out_.resize(old + sizeof(T));
    std::memcpy(out_.data() + old, &v, sizeof(T));
  }
  template <typename T>
  void PutArray(const T* data, size_t n) {
    const size_t old = out_.size();
    out_.resize(old + n * sizeof(T));
    if (n > 0) std::memcpy(out_.data() + old, data, n * sizeof(T));
  }
  std::vector<uint8_t> Take() { return std::move(out_); }
  void Reserve(size_t n) { out_.reserve(n); }

 private:
  std::vector<uint8_t> out_;
};

absl::Status Validate(const StateFile& f) {
  const StateShape& s = f.state.shape;
  if (s.n_layer == 0 || s.n_embd == 0 || s.head_size == 0 || s.n_embd % s.head_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat("state file: bad state shape L=", s.n_layer,
                                                   " C=", s.n_embd, " S=", s.head_size));
  }
  if (f.state.shift.size() != s.n_layer * s.shift_floats_per_layer() ||
      f.state.wkv.size() != s.n_layer * s.wkv_floats_per_layer()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "state file: state holds ", f.state.shift.size(), " shift and ", f.state.wkv.size(),
        " wkv floats, shape needs ", s.n_layer * s.shift_floats_per_layer(), " and ",
        s.n_layer * s.wkv_floats_per_layer()));
  }
  if (f.output_ids.empty() ? !f.logits.empty() : f.logits.size() % f.output_ids.size() != 0) {
    return absl::InvalidArgumentError(absl::StrCat("state file: ", f.logits.size(),
                                                   " logits are not a whole number of rows for ",
                                                   f.output_ids.size(), " outputs"));
  }
  for (int32_t id : f.output_ids) {
    if (id < 0) return absl::InvalidArgumentError("state file: negative output id");
  }
  if (f.has_seq_id && f.seq_id < 0) {
    return absl::InvalidArgumentError("state file: negative sequence id");
  }
  return absl::OkStatus();
}

}  // namespace

StateFile InitialStateFile(RecurrentState state) {
  StateFile f;
  f.state = std::move(state);
  return f;
}

StateFile SessionStateFile(std::vector<int32_t> tokens, std::vector<float> last_logits,
                           int32_t last_batch_index, RecurrentState state) {
  StateFile f;
  f.pos = tokens.empty() ? 0 : static_cast<int32_t>(tokens.size() - 1);
  f.tokens = std::move(tokens);
  if (!last_logits.empty()) {
    f.output_ids = {last_batch_index};
    f.logits = std::move(last_logits);
  }
  f.has_seq_id = true;
  f.seq_id = 0;
  f.state = std::move(state);
  return f;
}

absl::StatusOr<std::vector<uint8_t>> EncodeStateFile(const StateFile& f, StateFileLayout layout) {
  if (absl::Status s = Validate(f); !s.ok()) return s;
  const StateShape& shape = f.state.shape;
  Sink out;
  out.Reserve(64 + 4 * (f.tokens.size() + f.logits.size() + f.embeddings.size()) + f.state.bytes() +
              24ull * shape.n_layer);
  out.Put<uint32_t>(kSessionMagic);
  out.Put<uint32_t>(kSessionVersion);
  out.Put<uint32_t>(static_cast<uint32_t>(f.tokens.size()));
  out.PutArray(f.tokens.data(), f.tokens.size());
  out.Put<uint32_t>(5);
  out.PutArray("rwkv6", 5);
  if (layout == StateFileLayout::kWithOutputs) {
    out.Put<uint32_t>(static_cast<uint32_t>(f.output_ids.size()));
    out.PutArray(f.output_ids.data(), f.output_ids.size());
    out.Put<uint64_t>(f.logits.size());
    out.PutArray(f.logits.data(), f.logits.size());
    out.Put<uint64_t>(f.embeddings.size());
    out.PutArray(f.embeddings.data(), f.embeddings.size());
  }
  out.Put<uint32_t>(1);  // one cell
  out.Put<int32_t>(f.pos);
  out.Put<uint32_t>(f.has_seq_id ? 1 : 0);
  if (f.has_seq_id) out.Put<int32_t>(f.seq_id);
  out.Put<uint32_t>(0);  // v_trans
  out.Put<uint32_t>(shape.n_layer);
  const uint64_t k_floats = shape.shift_floats_per_layer();
  const uint64_t v_floats = shape.wkv_floats_per_layer();
  for (uint32_t l = 0; l < shape.n_layer; ++l) {
    out.Put<int32_t>(0);
    out.Put<uint64_t>(k_floats * 4);
    out.PutArray(f.state.shift.data() + l * k_floats, k_floats);
  }
  for (uint32_t l = 0; l < shape.n_layer; ++l) {
    out.Put<int32_t>(0);
    out.Put<uint64_t>(v_floats * 4);
    out.PutArray(f.state.wkv.data() + l * v_floats, v_floats);
  }
  return out.Take();
}

absl::Status WriteStateFile(const std::string& path, const StateFile& contents,
                            StateFileLayout layout) {
  auto bytes = EncodeStateFile(contents, layout);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", bytes.status().message()));
  }
  return WriteFileAtomically(path, *bytes);
}

}  // namespace rwkv::engine
