// A restricted pickle interpreter for PyTorch state dicts. It builds plain values in an arena
// (no reference counting, so self-referencing or deeply nested input cannot leak or overflow
// the stack) and evaluates only the few callables a state dict needs. Everything else is
// refused with InvalidArgument naming the opcode or the global.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rwkv/engine/pth_reader.h"

namespace rwkv::engine::pth {

enum class Kind : uint8_t {
  kNone,
  kBool,
  kInt,
  kBigInt,
  kFloat,
  kString,
  kTuple,
  kList,
  kDict,
  kGlobal,
  kStorage,
  kTensor,
};

enum class GlobalId : uint8_t { kOrderedDict, kRebuildTensorV2, kRebuildParameter, kStorageType };

struct Object {
  Kind kind = Kind::kNone;
  int64_t i = 0;  // int/bool value, GlobalId, storage or tensor index
  double f = 0;
  std::string s;                    // string bytes, big-int little-endian bytes
  std::vector<uint32_t> items;      // tuple/list elements; dict keys and values interleaved
  PthDtype dtype = PthDtype::kF32;  // storage type globals
};

struct StorageRef {
  PthDtype dtype;
  std::string key;
  uint64_t numel = 0;
};

struct TensorRef {
  uint32_t storage = 0;  // index into storages()
  int64_t offset = 0;
  std::vector<int64_t> shape;
  std::vector<int64_t> stride;
};

class Unpickler {
 public:
  // Legacy (pre-zip) persistent ids carry a sixth view-metadata field.
  explicit Unpickler(std::string name, bool legacy_ids)
      : name_(std::move(name)), legacy_ids_(legacy_ids) {}

  // Runs one pickle from data[*pos] up to its STOP; *pos is left just after it.
  absl::StatusOr<uint32_t> Run(std::span<const uint8_t> data, size_t* pos);

  const Object& at(uint32_t id) const { return objects_[id]; }
  const std::vector<StorageRef>& storages() const { return storages_; }
  const std::vector<TensorRef>& tensors() const { return tensors_; }

 private:
  absl::Status Error(size_t offset, std::string_view what) const;
  uint32_t Push(Object obj);
  absl::StatusOr<uint32_t> Pop(size_t at);
  absl::StatusOr<std::vector<uint32_t>> PopToMark(size_t at);
  absl::StatusOr<uint32_t> Global(std::string_view module, std::string_view name, size_t at);
  absl::StatusOr<uint32_t> Reduce(uint32_t callable, uint32_t args, size_t at);
  absl::StatusOr<uint32_t> PersistentLoad(uint32_t pid, size_t at);
  absl::StatusOr<uint32_t> RebuildTensor(const std::vector<uint32_t>& args, size_t at);
  absl::StatusOr<std::vector<int64_t>> IntTuple(uint32_t id, std::string_view what, size_t at);
  absl::Status SetItems(uint32_t dict, const std::vector<uint32_t>& kv, size_t at);
  absl::Status Append(uint32_t list, const std::vector<uint32_t>& values, size_t at);

  std::string name_;
  bool legacy_ids_;
  std::vector<Object> objects_;
  std::vector<uint32_t> stack_;
  std::vector<size_t> marks_;
  absl::flat_hash_map<uint32_t, uint32_t> memo_;
  std::vector<StorageRef> storages_;
  absl::flat_hash_map<std::string, uint32_t> storage_by_key_;
  std::vector<TensorRef> tensors_;
};

}  // namespace rwkv::engine::pth
