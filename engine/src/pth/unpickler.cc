#include "pth/unpickler.h"

#include <cstring>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace rwkv::engine::pth {
namespace {

bool StorageDtype(std::string_view name, PthDtype* dtype) {
  static constexpr std::pair<std::string_view, PthDtype> kTypes[] = {
      {"FloatStorage", PthDtype::kF32},     {"HalfStorage", PthDtype::kF16},
      {"BFloat16Storage", PthDtype::kBF16}, {"DoubleStorage", PthDtype::kF64},
      {"LongStorage", PthDtype::kI64},      {"IntStorage", PthDtype::kI32},
      {"ShortStorage", PthDtype::kI16},     {"CharStorage", PthDtype::kI8},
      {"ByteStorage", PthDtype::kU8},       {"BoolStorage", PthDtype::kBool},
  };
  for (const auto& [n, d] : kTypes) {
    if (n == name) {
      *dtype = d;
      return true;
    }
  }
  return false;
}

}  // namespace

absl::Status Unpickler::Error(size_t offset, std::string_view what) const {
  return absl::InvalidArgumentError(
      absl::StrCat(name_, ": pickle offset ", offset, ": ", std::string(what)));
}

uint32_t Unpickler::Push(Object obj) {
  objects_.push_back(std::move(obj));
  const auto id = static_cast<uint32_t>(objects_.size() - 1);
  stack_.push_back(id);
  return id;
}

absl::StatusOr<uint32_t> Unpickler::Pop(size_t at) {
  const size_t floor = marks_.empty() ? 0 : marks_.back();
  if (stack_.size() <= floor) return Error(at, "stack underflow");
  const uint32_t id = stack_.back();
  stack_.pop_back();
  return id;
}

absl::StatusOr<std::vector<uint32_t>> Unpickler::PopToMark(size_t at) {
  if (marks_.empty()) return Error(at, "no MARK on the stack");
  const size_t mark = marks_.back();
  marks_.pop_back();
  std::vector<uint32_t> items(stack_.begin() + static_cast<ptrdiff_t>(mark), stack_.end());
  stack_.resize(mark);
  return items;
}

absl::StatusOr<uint32_t> Unpickler::Global(std::string_view module, std::string_view name,
                                           size_t at) {
  Object g;
  g.kind = Kind::kGlobal;
  g.s = absl::StrCat(std::string(module), ".", std::string(name));
  if (module == "collections" && name == "OrderedDict") {
    g.i = static_cast<int64_t>(GlobalId::kOrderedDict);
  } else if (module == "torch._utils" && name == "_rebuild_tensor_v2") {
    g.i = static_cast<int64_t>(GlobalId::kRebuildTensorV2);
  } else if (module == "torch._utils" && name == "_rebuild_parameter") {
    g.i = static_cast<int64_t>(GlobalId::kRebuildParameter);
  } else if (module == "torch" && StorageDtype(name, &g.dtype)) {
    g.i = static_cast<int64_t>(GlobalId::kStorageType);
  } else {
    return Error(at, absl::StrCat("refusing global ", absl::CHexEscape(std::string(module)), ".",
                                  absl::CHexEscape(std::string(name))));
  }
  return Push(std::move(g));
}

absl::StatusOr<std::vector<int64_t>> Unpickler::IntTuple(uint32_t id, std::string_view what,
                                                         size_t at) {
  const Object& o = objects_[id];
  if (o.kind != Kind::kTuple)
    return Error(at, absl::StrCat("tensor ", std::string(what), " is not a tuple"));
  std::vector<int64_t> out;
  for (uint32_t item : o.items) {
    if (objects_[item].kind != Kind::kInt) {
      return Error(at, absl::StrCat("tensor ", std::string(what), " holds a non-integer"));
    }
    out.push_back(objects_[item].i);
  }
  return out;
}

absl::StatusOr<uint32_t> Unpickler::RebuildTensor(const std::vector<uint32_t>& args, size_t at) {
  if (args.size() < 6 || args.size() > 7) {
    return Error(at, absl::StrCat("_rebuild_tensor_v2 takes 6 or 7 arguments, got ", args.size()));
  }
  const Object& storage = objects_[args[0]];
  if (storage.kind != Kind::kStorage) return Error(at, "_rebuild_tensor_v2 without a storage");
  if (objects_[args[1]].kind != Kind::kInt) return Error(at, "tensor storage offset is not an int");
  TensorRef t;
  t.storage = static_cast<uint32_t>(storage.i);
  t.offset = objects_[args[1]].i;
  auto shape = IntTuple(args[2], "size", at);
  if (!shape.ok()) return shape.status();
  auto stride = IntTuple(args[3], "stride", at);
  if (!stride.ok()) return stride.status();
  t.shape = *std::move(shape);
  t.stride = *std::move(stride);
  tensors_.push_back(std::move(t));
  Object o;
  o.kind = Kind::kTensor;
  o.i = static_cast<int64_t>(tensors_.size() - 1);
  return Push(std::move(o));
}

absl::StatusOr<uint32_t> Unpickler::Reduce(uint32_t callable, uint32_t args_id, size_t at) {
  const Object& fn = objects_[callable];
  if (fn.kind != Kind::kGlobal) return Error(at, "REDUCE of a value that is not a global");
  if (objects_[args_id].kind != Kind::kTuple) return Error(at, "REDUCE arguments are not a tuple");
  const std::vector<uint32_t> args = objects_[args_id].items;
  switch (static_cast<GlobalId>(fn.i)) {
    case GlobalId::kOrderedDict: {
      if (!args.empty()) return Error(at, "OrderedDict with arguments is not supported");
      Object d;
      d.kind = Kind::kDict;
      return Push(std::move(d));
    }
    case GlobalId::kRebuildTensorV2:
      return RebuildTensor(args, at);
    case GlobalId::kRebuildParameter: {
      if (args.empty() || objects_[args[0]].kind != Kind::kTensor) {
        return Error(at, "_rebuild_parameter without a tensor");
      }
      stack_.push_back(args[0]);
      return args[0];
    }
    case GlobalId::kStorageType:
      break;
  }
  return Error(at, absl::StrCat("refusing call of ", fn.s));
}

absl::StatusOr<uint32_t> Unpickler::PersistentLoad(uint32_t pid, size_t at) {
  const Object& t = objects_[pid];
  const size_t want = legacy_ids_ ? 6 : 5;
  if (t.kind != Kind::kTuple || t.items.size() != want) {
    return Error(at, absl::StrCat("persistent id is not a ", want, "-tuple"));
  }
  const Object& tag = objects_[t.items[0]];
  const Object& type = objects_[t.items[1]];
  const Object& key = objects_[t.items[2]];
  const Object& numel = objects_[t.items[4]];
  if (tag.kind != Kind::kString || tag.s != "storage") {
    return Error(at, "persistent id is not a storage reference");
  }
  if (type.kind != Kind::kGlobal || static_cast<GlobalId>(type.i) != GlobalId::kStorageType) {
    return Error(at, "persistent id names no storage type");
  }
  if (key.kind != Kind::kString || key.s.empty() || key.s.size() > 64) {
    return Error(at, "storage key is not a short string");
  }
  if (numel.kind != Kind::kInt || numel.i < 0) return Error(at, "storage size is not a count");
  if (legacy_ids_ && objects_[t.items[5]].kind != Kind::kNone) {
    return Error(at, "storage views are not supported");
  }
  uint32_t index;
  if (auto it = storage_by_key_.find(key.s); it != storage_by_key_.end()) {
    index = it->second;
    const StorageRef& s = storages_[index];
    if (s.dtype != type.dtype || s.numel != static_cast<uint64_t>(numel.i)) {
      return Error(at, absl::StrCat("storage ", key.s, " is declared twice differently"));
    }
  } else {
    index = static_cast<uint32_t>(storages_.size());
    storages_.push_back({type.dtype, key.s, static_cast<uint64_t>(numel.i)});
    storage_by_key_[key.s] = index;
  }
  Object o;
  o.kind = Kind::kStorage;
  o.i = index;
  return Push(std::move(o));
}

absl::Status Unpickler::SetItems(uint32_t dict, const std::vector<uint32_t>& kv, size_t at) {
  if (objects_[dict].kind != Kind::kDict) return Error(at, "SETITEM(S) target is not a dict");
  if (kv.size() % 2 != 0) return Error(at, "SETITEMS with an odd number of values");
  auto& items = objects_[dict].items;
  items.insert(items.end(), kv.begin(), kv.end());
  return absl::OkStatus();
}

absl::Status Unpickler::Append(uint32_t list, const std::vector<uint32_t>& values, size_t at) {
  if (objects_[list].kind != Kind::kList) return Error(at, "APPEND(S) target is not a list");
  auto& items = objects_[list].items;
  items.insert(items.end(), values.begin(), values.end());
  return absl::OkStatus();
}

}  // namespace rwkv::engine::pth
