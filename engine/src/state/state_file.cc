#include "rwkv/engine/state_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace rwkv::engine {
namespace {

constexpr uint32_t kMaxLayers = 4096;
constexpr uint32_t kMaxArchLength = 64;

// A bounds-checked little-endian cursor; errors carry the byte offset.
class Cursor {
 public:
  Cursor(std::span<const uint8_t> b, std::string_view name, size_t pos = 0)
      : b_(b), name_(name), pos_(pos) {}

  size_t pos() const { return pos_; }
  uint64_t remaining() const { return b_.size() - pos_; }

  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(name_), ": ", std::string(what), " (at byte ", pos_, ")"));
  }

  template <typename T>
  absl::Status Read(T* out, std::string_view what) {
    if (remaining() < sizeof(T)) return Error(absl::StrCat("truncated ", std::string(what)));
    std::memcpy(out, &b_[pos_], sizeof(T));
    pos_ += sizeof(T);
    return absl::OkStatus();
  }

  // Appends `count` items of T; the bytes are checked before anything is allocated.
  template <typename T>
  absl::Status ReadArray(uint64_t count, std::vector<T>* out, std::string_view what) {
    if (count > remaining() / sizeof(T)) {
      return Error(absl::StrCat(std::string(what), " needs ", count * sizeof(T), " bytes, only ",
                                remaining(), " left"));
    }
    const size_t old = out->size();
    out->resize(old + count);
    if (count > 0) std::memcpy(out->data() + old, &b_[pos_], count * sizeof(T));
    pos_ += count * sizeof(T);
    return absl::OkStatus();
  }

 private:
  std::span<const uint8_t> b_;
  std::string_view name_;
  size_t pos_;
};

#define RWKV_RETURN_IF_ERROR(expr)                        \
  do {                                                    \
    if (absl::Status st_ = (expr); !st_.ok()) return st_; \
  } while (0)

absl::Status ReadOutputs(Cursor& c, StateFile* f) {
  uint32_t n_outputs = 0;
  RWKV_RETURN_IF_ERROR(c.Read(&n_outputs, "output count"));
  RWKV_RETURN_IF_ERROR(c.ReadArray(n_outputs, &f->output_ids, "output ids"));
  for (int32_t id : f->output_ids) {
    if (id < 0) return c.Error(absl::StrCat("negative output id ", id));
  }
  uint64_t logits_size = 0;
  RWKV_RETURN_IF_ERROR(c.Read(&logits_size, "logits size"));
  if (logits_size > 0 && (n_outputs == 0 || logits_size % n_outputs != 0)) {
    return c.Error(
        absl::StrCat("logits size ", logits_size, " is not a multiple of ", n_outputs, " outputs"));
  }
  RWKV_RETURN_IF_ERROR(c.ReadArray(logits_size, &f->logits, "logits"));
  uint64_t embd_size = 0;
  RWKV_RETURN_IF_ERROR(c.Read(&embd_size, "embeddings size"));
  return c.ReadArray(embd_size, &f->embeddings, "embeddings");
}

absl::Status ReadCell(Cursor& c, StateFile* f) {
  uint32_t cell_count = 0;
  RWKV_RETURN_IF_ERROR(c.Read(&cell_count, "cell count"));
  if (cell_count != 1) {
    return c.Error(absl::StrCat(
        "holds ", cell_count, " memory cells; only single-sequence files (1 cell) are supported"));
  }
  uint32_t n_seq_id = 0;
  RWKV_RETURN_IF_ERROR(c.Read(&f->pos, "cell position"));
  RWKV_RETURN_IF_ERROR(c.Read(&n_seq_id, "cell sequence count"));
  if (n_seq_id > 1) return c.Error(absl::StrCat("cell belongs to ", n_seq_id, " sequences"));
  f->has_seq_id = n_seq_id == 1;
  if (f->has_seq_id) {
    RWKV_RETURN_IF_ERROR(c.Read(&f->seq_id, "cell sequence id"));
    if (f->seq_id < 0) return c.Error(absl::StrCat("negative sequence id ", f->seq_id));
  }
  return absl::OkStatus();
}

// Reads L sections of (i32 type, u64 row size, data); the first fixes the row size.
absl::Status ReadRows(Cursor& c, uint32_t n_layer, std::string_view what, uint64_t* row_size,
                      std::vector<float>* out) {
  for (uint32_t l = 0; l < n_layer; ++l) {
    int32_t type = -1;
    uint64_t row = 0;
    RWKV_RETURN_IF_ERROR(c.Read(&type, absl::StrCat(std::string(what), " type")));
    if (type != 0) {
      return c.Error(absl::StrCat(std::string(what), " of layer ", l, " has ggml type ", type,
                                  ", expected 0 (F32)"));
    }
    RWKV_RETURN_IF_ERROR(c.Read(&row, absl::StrCat(std::string(what), " row size")));
    if (l == 0) *row_size = row;
    if (row != *row_size || row == 0 || row % 4 != 0) {
      return c.Error(absl::StrCat(std::string(what), " row size of layer ", l, " is ", row,
                                  l == 0 ? "" : absl::StrCat(", layer 0 has ", *row_size)));
    }
    RWKV_RETURN_IF_ERROR(c.ReadArray(row / 4, out, what));
  }
  return absl::OkStatus();
}

absl::Status ReadMemory(Cursor& c, StateFile* f) {
  RWKV_RETURN_IF_ERROR(ReadCell(c, f));
  uint32_t v_trans = 0, n_layer = 0;
  RWKV_RETURN_IF_ERROR(c.Read(&v_trans, "v_trans"));
  if (v_trans != 0) return c.Error(absl::StrCat("v_trans is ", v_trans, ", expected 0"));
  RWKV_RETURN_IF_ERROR(c.Read(&n_layer, "layer count"));
  if (n_layer == 0 || n_layer > kMaxLayers)
    return c.Error(absl::StrCat("bad layer count ", n_layer));
  uint64_t k_row = 0, v_row = 0;
  RWKV_RETURN_IF_ERROR(ReadRows(c, n_layer, "token-shift", &k_row, &f->state.shift));
  if (k_row % 8 != 0)
    return c.Error(absl::StrCat("token-shift row of ", k_row, " bytes is not 8C"));
  const uint64_t n_embd = k_row / 8;
  RWKV_RETURN_IF_ERROR(ReadRows(c, n_layer, "wkv", &v_row, &f->state.wkv));
  if (v_row % (4 * n_embd) != 0 || n_embd % (v_row / (4 * n_embd)) != 0) {
    return c.Error(absl::StrCat("wkv row of ", v_row, " bytes does not fit n_embd ", n_embd));
  }
  if (n_embd > UINT32_MAX) return c.Error("n_embd too large");
  f->state.shape = {n_layer, static_cast<uint32_t>(n_embd),
                    static_cast<uint32_t>(v_row / (4 * n_embd))};
  if (c.remaining() != 0) return c.Error(absl::StrCat(c.remaining(), " trailing bytes"));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<StateFile> ParseStateFile(std::span<const uint8_t> bytes, std::string_view name) {
  Cursor c(bytes, name);
  StateFile head;
  uint32_t magic = 0, version = 0, n_tokens = 0, arch_len = 0;
  RWKV_RETURN_IF_ERROR(c.Read(&magic, "magic"));
  if (magic != kSessionMagic) {
    return c.Error(absl::StrFormat("not a llama.cpp session file (magic 0x%08x)", magic));
  }
  RWKV_RETURN_IF_ERROR(c.Read(&version, "version"));
  if (version != kSessionVersion) {
    return c.Error(absl::StrCat("unsupported session version ", version, ", expected 9"));
  }
  RWKV_RETURN_IF_ERROR(c.Read(&n_tokens, "token count"));
  RWKV_RETURN_IF_ERROR(c.ReadArray(n_tokens, &head.tokens, "tokens"));
  RWKV_RETURN_IF_ERROR(c.Read(&arch_len, "arch length"));
  if (arch_len > kMaxArchLength || arch_len > c.remaining()) {
    return c.Error(absl::StrCat("bad arch string length ", arch_len));
  }
  std::vector<char> arch;
  RWKV_RETURN_IF_ERROR(c.ReadArray(arch_len, &arch, "arch"));
  if (std::string_view(arch.data(), arch.size()) != "rwkv6") {
    return c.Error(absl::StrCat("session is for architecture '",
                                absl::CHexEscape(std::string(arch.begin(), arch.end())),
                                "', not rwkv6"));
  }
  // Try the layout with the output section first, then the later memory-only layout; when
  // both fail, report the attempt that got further into the file.
  StateFile with = head;
  Cursor cw(bytes, name, c.pos());
  absl::Status sw = ReadOutputs(cw, &with);
  if (sw.ok()) sw = ReadMemory(cw, &with);
  if (sw.ok()) {
    with.layout = StateFileLayout::kWithOutputs;
    return with;
  }
  StateFile without = std::move(head);
  Cursor cm(bytes, name, c.pos());
  absl::Status sm = ReadMemory(cm, &without);
  if (sm.ok()) {
    without.layout = StateFileLayout::kMemoryOnly;
    return without;
  }
  return cm.pos() > cw.pos() ? sm : sw;
}

absl::StatusOr<StateFile> ReadStateFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    if (!std::filesystem::exists(path, ec))
      return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot open"));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  return ParseStateFile(bytes, path);
}

}  // namespace rwkv::engine
