// Read-only access to PyTorch checkpoints written by torch.save: the zip format
// (`<root>/data.pkl` + `<root>/data/<key>` storages, stored or deflated) and the legacy
// pre-1.6 stream format. The pickle is interpreted by a restricted unpickler that knows only
// what a state dict needs (dicts, tuples, lists, scalars, strings, the memo, OrderedDict,
// torch._utils._rebuild_tensor_v2 / _rebuild_parameter and torch.*Storage persistent ids).
// Nothing in the file is ever executed; any other global or opcode is refused with an
// InvalidArgument that names it ("refusing global os.system").
//
// Tensor data stays in the file mapping (stored zip entries) and is widened to f32 one tensor
// at a time on request. Every size, stride and storage offset is checked against the bytes the
// file holds before anything is allocated. Errors start with the checkpoint's name.
// A PthCheckpoint is immutable after Open/Parse; reads from several threads are safe.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rwkv::engine {

enum class PthDtype : uint8_t { kF32, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool };

std::string_view PthDtypeName(PthDtype dtype);
uint32_t PthDtypeSize(PthDtype dtype);

struct PthTensorInfo {
  std::string name;
  PthDtype dtype = PthDtype::kF32;
  std::vector<int64_t> shape;   // PyTorch order, slowest first
  std::vector<int64_t> stride;  // in elements
  int64_t storage_offset = 0;   // in elements
  uint64_t numel = 0;
  std::string storage_key;     // `<root>/data/<key>` in the zip
  uint32_t storage_index = 0;  // internal: index of the storage in the checkpoint

  bool is_contiguous() const;
};

class PthCheckpoint {
 public:
  ~PthCheckpoint();
  PthCheckpoint(const PthCheckpoint&) = delete;
  PthCheckpoint& operator=(const PthCheckpoint&) = delete;

  // Maps and validates `path`. NotFound/PermissionDenied for I/O problems, InvalidArgument
  // for anything malformed or refused.
  static absl::StatusOr<std::unique_ptr<PthCheckpoint>> Open(const std::string& path);
  // Validates an in-memory image; `bytes` must outlive the result. `name` prefixes errors.
  static absl::StatusOr<std::unique_ptr<PthCheckpoint>> Parse(std::span<const uint8_t> bytes,
                                                              std::string name);

  const std::string& name() const { return name_; }
  bool is_zip() const { return is_zip_; }
  // Tensors in the order of the state dict.
  const std::vector<PthTensorInfo>& tensors() const { return tensors_; }
  const PthTensorInfo* Find(std::string_view name) const;

  // The tensor's elements in row-major order of its shape, widened to f32 (f64 is narrowed
  // with round-to-nearest). Non-contiguous views are materialised. Integer and bool tensors
  // are refused. `out` must hold exactly numel elements.
  absl::Status ReadAsFloat32(const PthTensorInfo& tensor, std::span<float> out) const;
  absl::StatusOr<std::vector<float>> ReadAsFloat32(std::string_view name) const;

  struct Storage;  // implementation detail, public for the source files

 private:
  PthCheckpoint() = default;
  absl::Status ParseAll();
  absl::Status ParseZip();
  absl::Status ParseLegacy();
  absl::Status CheckTensor(const PthTensorInfo& tensor) const;
  absl::StatusOr<std::span<const uint8_t>> StorageBytes(const PthTensorInfo& tensor,
                                                        std::vector<uint8_t>* scratch) const;

  std::string name_;
  std::span<const uint8_t> bytes_;
  void* mapping_ = nullptr;
  size_t mapping_size_ = 0;
  bool is_zip_ = false;
  std::vector<PthTensorInfo> tensors_;
  std::vector<Storage> storages_;
};

}  // namespace rwkv::engine
