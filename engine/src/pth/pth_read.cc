// Reading tensor elements: storage bytes (in place or inflated) widened to f32.
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "pth/pth_storage.h"
#include "rwkv/engine/fp16.h"
#include "rwkv/engine/pth_reader.h"

namespace rwkv::engine {
namespace {

template <typename Load>
void Gather(const PthTensorInfo& t, const uint8_t* base, uint32_t elem, std::span<float> out,
            Load load) {
  const uint8_t* start = base + static_cast<uint64_t>(t.storage_offset) * elem;
  if (t.is_contiguous()) {
    for (uint64_t k = 0; k < t.numel; ++k) out[k] = load(start + k * elem);
    return;
  }
  // Odometer over all but the last dimension; the last one is walked with its stride.
  const size_t rank = t.shape.size();
  const int64_t inner = t.shape[rank - 1];
  const uint64_t inner_step = static_cast<uint64_t>(t.stride[rank - 1]) * elem;
  std::vector<int64_t> index(rank - 1, 0);
  uint64_t written = 0;
  while (written < t.numel) {
    uint64_t off = 0;
    for (size_t d = 0; d + 1 < rank; ++d) off += static_cast<uint64_t>(index[d] * t.stride[d]);
    const uint8_t* p = start + off * elem;
    for (int64_t k = 0; k < inner; ++k) out[written++] = load(p + k * inner_step);
    for (size_t d = rank - 1; d-- > 0;) {
      if (++index[d] < t.shape[d]) break;
      index[d] = 0;
    }
  }
}

}  // namespace

std::string_view PthDtypeName(PthDtype dtype) {
  switch (dtype) {
    case PthDtype::kF32:
      return "float32";
    case PthDtype::kF16:
      return "float16";
    case PthDtype::kBF16:
      return "bfloat16";
    case PthDtype::kF64:
      return "float64";
    case PthDtype::kI64:
      return "int64";
    case PthDtype::kI32:
      return "int32";
    case PthDtype::kI16:
      return "int16";
    case PthDtype::kI8:
      return "int8";
    case PthDtype::kU8:
      return "uint8";
    case PthDtype::kBool:
      return "bool";
  }
  return "unknown";
}

uint32_t PthDtypeSize(PthDtype dtype) {
  switch (dtype) {
    case PthDtype::kF64:
    case PthDtype::kI64:
      return 8;
    case PthDtype::kF32:
    case PthDtype::kI32:
      return 4;
    case PthDtype::kF16:
    case PthDtype::kBF16:
    case PthDtype::kI16:
      return 2;
    case PthDtype::kI8:
    case PthDtype::kU8:
    case PthDtype::kBool:
      return 1;
  }
  return 1;
}

bool PthTensorInfo::is_contiguous() const {
  int64_t expected = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    if (shape[d] != 1 && stride[d] != expected) return false;
    expected *= shape[d];
  }
  return true;
}

absl::StatusOr<std::span<const uint8_t>> PthCheckpoint::StorageBytes(
    const PthTensorInfo& tensor, std::vector<uint8_t>* scratch) const {
  const Storage& s = storages_[tensor.storage_index];
  if (s.entry.method == 0) return pth::StoredEntryBytes(bytes_, s.entry);
  scratch->resize(s.entry.uncompressed_size);
  if (absl::Status st = pth::ExtractZipEntry(bytes_, s.entry, *scratch, name_); !st.ok()) return st;
  return std::span<const uint8_t>(*scratch);
}

absl::Status PthCheckpoint::ReadAsFloat32(const PthTensorInfo& tensor, std::span<float> out) const {
  // Always use the validated info held here, never a caller's copy.
  const PthTensorInfo* own = Find(tensor.name);
  if (own == nullptr) {
    return absl::NotFoundError(absl::StrCat(name_, ": no tensor ", absl::CHexEscape(tensor.name)));
  }
  const PthTensorInfo& t = *own;
  if (out.size() != t.numel) {
    return absl::InvalidArgumentError(absl::StrCat(name_, ": tensor ", absl::CHexEscape(t.name),
                                                   " has ", t.numel, " elements, buffer holds ",
                                                   out.size()));
  }
  if (t.numel == 0) return absl::OkStatus();
  std::vector<uint8_t> scratch;
  auto bytes = StorageBytes(t, &scratch);
  if (!bytes.ok()) return bytes.status();
  const uint8_t* base = bytes->data();
  switch (t.dtype) {
    case PthDtype::kF32:
      Gather(t, base, 4, out, [](const uint8_t* p) {
        float f;
        std::memcpy(&f, p, 4);
        return f;
      });
      return absl::OkStatus();
    case PthDtype::kF16:
      Gather(t, base, 2, out, [](const uint8_t* p) {
        return Fp16ToFp32(static_cast<uint16_t>(p[0] | (p[1] << 8)));
      });
      return absl::OkStatus();
    case PthDtype::kBF16:
      Gather(t, base, 2, out, [](const uint8_t* p) {
        return Bf16ToFp32(static_cast<uint16_t>(p[0] | (p[1] << 8)));
      });
      return absl::OkStatus();
    case PthDtype::kF64:
      Gather(t, base, 8, out, [](const uint8_t* p) {
        double d;
        std::memcpy(&d, p, 8);
        return static_cast<float>(d);
      });
      return absl::OkStatus();
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(name_, ": tensor ", absl::CHexEscape(t.name), " has dtype ",
                       std::string(PthDtypeName(t.dtype)), ", not a floating-point type"));
  }
}

absl::StatusOr<std::vector<float>> PthCheckpoint::ReadAsFloat32(std::string_view name) const {
  const PthTensorInfo* t = Find(name);
  if (t == nullptr) {
    return absl::NotFoundError(
        absl::StrCat(name_, ": no tensor ", absl::CHexEscape(std::string(name))));
  }
  std::vector<float> out(t->numel);
  if (absl::Status s = ReadAsFloat32(*t, out); !s.ok()) return s;
  return out;
}

}  // namespace rwkv::engine
