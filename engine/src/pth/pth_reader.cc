#include "rwkv/engine/pth_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "pth/pth_storage.h"
#include "pth/unpickler.h"
#include "pth/zip_archive.h"

namespace rwkv::engine {
namespace {

constexpr uint64_t kMaxPickleBytes = 256ull << 20;
constexpr size_t kMaxDims = 8;
constexpr int64_t kMaxDim = int64_t{1} << 40;
// 0x1950a86a20f9469cfc6c, the legacy torch.save magic number, little-endian.
constexpr uint8_t kLegacyMagic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

absl::Status Bad(std::string_view name, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(std::string(name), ": ", std::string(what)));
}

// Turns the unpickled top-level dict into tensor infos (non-tensor values are skipped).
absl::StatusOr<std::vector<PthTensorInfo>> CollectTensors(const pth::Unpickler& u, uint32_t root,
                                                          std::string_view name) {
  const pth::Object& dict = u.at(root);
  if (dict.kind != pth::Kind::kDict) return Bad(name, "checkpoint is not a state dict");
  std::vector<PthTensorInfo> out;
  absl::flat_hash_set<std::string> seen;
  for (size_t k = 0; k + 1 < dict.items.size(); k += 2) {
    const pth::Object& key = u.at(dict.items[k]);
    const pth::Object& value = u.at(dict.items[k + 1]);
    if (value.kind != pth::Kind::kTensor) continue;
    if (key.kind != pth::Kind::kString) return Bad(name, "state dict key is not a string");
    if (!seen.insert(key.s).second) {
      return Bad(name, absl::StrCat("tensor ", absl::CHexEscape(key.s), " appears twice"));
    }
    const pth::TensorRef& t = u.tensors()[value.i];
    const pth::StorageRef& s = u.storages()[t.storage];
    PthTensorInfo info;
    info.name = key.s;
    info.dtype = s.dtype;
    info.shape = t.shape;
    info.stride = t.stride;
    info.storage_offset = t.offset;
    info.storage_key = s.key;
    info.storage_index = t.storage;
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace

PthCheckpoint::~PthCheckpoint() {
  if (mapping_ != nullptr) munmap(mapping_, mapping_size_);
}

absl::StatusOr<std::unique_ptr<PthCheckpoint>> PthCheckpoint::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot open"));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::ErrnoToStatus(err, absl::StrCat(path, ": cannot stat"));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Bad(path, "not a regular file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    return Bad(path, "empty file");
  }
  void* map = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);
  if (map == MAP_FAILED) return absl::ErrnoToStatus(err, absl::StrCat(path, ": cannot map"));
  std::unique_ptr<PthCheckpoint> ckpt(new PthCheckpoint());
  ckpt->name_ = path;
  ckpt->mapping_ = map;
  ckpt->mapping_size_ = static_cast<size_t>(st.st_size);
  ckpt->bytes_ = {static_cast<const uint8_t*>(map), ckpt->mapping_size_};
  if (absl::Status s = ckpt->ParseAll(); !s.ok()) return s;
  return ckpt;
}

absl::StatusOr<std::unique_ptr<PthCheckpoint>> PthCheckpoint::Parse(std::span<const uint8_t> bytes,
                                                                    std::string name) {
  std::unique_ptr<PthCheckpoint> ckpt(new PthCheckpoint());
  ckpt->name_ = std::move(name);
  ckpt->bytes_ = bytes;
  if (absl::Status s = ckpt->ParseAll(); !s.ok()) return s;
  return ckpt;
}

const PthTensorInfo* PthCheckpoint::Find(std::string_view name) const {
  for (const PthTensorInfo& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

absl::Status PthCheckpoint::ParseAll() {
  absl::Status st;
  if (pth::LooksLikeZip(bytes_)) {
    is_zip_ = true;
    st = ParseZip();
  } else if (!bytes_.empty() && bytes_[0] == 0x80) {
    st = ParseLegacy();
  } else {
    return Bad(name_, "not a PyTorch checkpoint (neither a zip archive nor a pickle)");
  }
  if (!st.ok()) return st;
  for (const PthTensorInfo& t : tensors_) {
    if (absl::Status s = CheckTensor(t); !s.ok()) return s;
  }
  // CheckTensor validated sizes; numel is now safe to compute.
  for (PthTensorInfo& t : tensors_) {
    t.numel = 1;
    for (int64_t d : t.shape) t.numel *= static_cast<uint64_t>(d);
  }
  return absl::OkStatus();
}

absl::Status PthCheckpoint::ParseZip() {
  auto entries = pth::ReadZipDirectory(bytes_, name_);
  if (!entries.ok()) return entries.status();
  const pth::ZipEntry* pkl = nullptr;
  for (const pth::ZipEntry& e : *entries) {
    if (absl::EndsWith(e.name, "/data.pkl") && e.name.find('/') == e.name.size() - 9) {
      if (pkl != nullptr) return Bad(name_, "zip archive holds more than one data.pkl");
      pkl = &e;
    }
  }
  if (pkl == nullptr)
    return Bad(name_, "zip archive has no <root>/data.pkl (not a torch.save file)");
  const std::string root = pkl->name.substr(0, pkl->name.size() - 8);
  absl::flat_hash_map<std::string_view, const pth::ZipEntry*> by_name;
  for (const pth::ZipEntry& e : *entries) by_name[e.name] = &e;

  if (auto it = by_name.find(root + "byteorder"); it != by_name.end()) {
    if (it->second->uncompressed_size > 16) return Bad(name_, "byteorder entry is too long");
    std::vector<uint8_t> order(it->second->uncompressed_size);
    if (absl::Status s = pth::ExtractZipEntry(bytes_, *it->second, order, name_); !s.ok()) return s;
    if (std::string_view(reinterpret_cast<const char*>(order.data()), order.size()) != "little") {
      return Bad(name_, "big-endian checkpoints are not supported");
    }
  }
  if (pkl->uncompressed_size > kMaxPickleBytes) {
    return Bad(name_,
               absl::StrCat("data.pkl is ", pkl->uncompressed_size, " bytes, over the limit"));
  }
  std::vector<uint8_t> pickle(pkl->uncompressed_size);
  if (absl::Status s = pth::ExtractZipEntry(bytes_, *pkl, pickle, name_); !s.ok()) return s;
  pth::Unpickler u(name_, /*legacy_ids=*/false);
  size_t pos = 0;
  auto top = u.Run(pickle, &pos);
  if (!top.ok()) return top.status();
  auto tensors = CollectTensors(u, *top, name_);
  if (!tensors.ok()) return tensors.status();
  tensors_ = *std::move(tensors);

  for (const pth::StorageRef& ref : u.storages()) {
    auto it = by_name.find(root + "data/" + ref.key);
    if (it == by_name.end()) {
      return Bad(name_, absl::StrCat("storage data/", absl::CHexEscape(ref.key),
                                     " is missing from the zip archive"));
    }
    const uint64_t elem = PthDtypeSize(ref.dtype);
    if (ref.numel > it->second->uncompressed_size / elem ||
        ref.numel * elem != it->second->uncompressed_size) {
      return Bad(name_,
                 absl::StrCat("storage data/", ref.key, " holds ", it->second->uncompressed_size,
                              " bytes but declares ", ref.numel, " ",
                              std::string(PthDtypeName(ref.dtype)), " elements"));
    }
    storages_.push_back({ref.dtype, ref.key, ref.numel, *it->second});
  }
  return absl::OkStatus();
}

absl::Status PthCheckpoint::ParseLegacy() {
  pth::Unpickler u(name_, /*legacy_ids=*/true);
  size_t pos = 0;
  auto magic = u.Run(bytes_, &pos);
  if (!magic.ok()) return magic.status();
  const pth::Object& m = u.at(*magic);
  if (m.kind != pth::Kind::kBigInt ||
      m.s != std::string_view(reinterpret_cast<const char*>(kLegacyMagic), sizeof(kLegacyMagic))) {
    return Bad(name_, "not a PyTorch checkpoint (legacy magic number missing)");
  }
  auto proto = u.Run(bytes_, &pos);
  if (!proto.ok()) return proto.status();
  if (u.at(*proto).kind != pth::Kind::kInt || u.at(*proto).i != 1001) {
    return Bad(name_, "unsupported legacy checkpoint protocol");
  }
  auto sys_info = u.Run(bytes_, &pos);
  if (!sys_info.ok()) return sys_info.status();
  const pth::Object& info = u.at(*sys_info);
  for (size_t k = 0; info.kind == pth::Kind::kDict && k + 1 < info.items.size(); k += 2) {
    const pth::Object& key = u.at(info.items[k]);
    const pth::Object& value = u.at(info.items[k + 1]);
    if (key.kind == pth::Kind::kString && key.s == "little_endian" &&
        !(value.kind == pth::Kind::kBool && value.i == 1)) {
      return Bad(name_, "big-endian checkpoints are not supported");
    }
  }
  auto top = u.Run(bytes_, &pos);
  if (!top.ok()) return top.status();
  auto tensors = CollectTensors(u, *top, name_);
  if (!tensors.ok()) return tensors.status();
  tensors_ = *std::move(tensors);
  auto keys = u.Run(bytes_, &pos);
  if (!keys.ok()) return keys.status();
  if (u.at(*keys).kind != pth::Kind::kList) return Bad(name_, "legacy storage key list missing");

  absl::flat_hash_map<std::string, size_t> ref_by_key;
  for (size_t k = 0; k < u.storages().size(); ++k) ref_by_key[u.storages()[k].key] = k;
  std::vector<pth::ZipEntry> located(u.storages().size());
  std::vector<bool> found(u.storages().size(), false);
  for (uint32_t key_id : u.at(*keys).items) {
    const pth::Object& key = u.at(key_id);
    auto it = key.kind == pth::Kind::kString ? ref_by_key.find(key.s) : ref_by_key.end();
    if (it == ref_by_key.end() || found[it->second]) {
      return Bad(name_, "legacy storage list names an unknown or repeated storage");
    }
    const pth::StorageRef& ref = u.storages()[it->second];
    if (bytes_.size() - pos < 8) return Bad(name_, "truncated legacy checkpoint");
    uint64_t numel = 0;
    for (int b = 0; b < 8; ++b) numel |= static_cast<uint64_t>(bytes_[pos + b]) << (8 * b);
    pos += 8;
    const uint64_t elem = PthDtypeSize(ref.dtype);
    if (numel != ref.numel || numel > (bytes_.size() - pos) / elem) {
      return Bad(name_,
                 absl::StrCat("truncated legacy checkpoint or wrong size of storage ", ref.key));
    }
    pth::ZipEntry& e = located[it->second];
    e.name = ref.key;
    e.compressed_size = e.uncompressed_size = numel * elem;
    e.data_offset = pos;
    pos += numel * elem;
    found[it->second] = true;
  }
  for (size_t k = 0; k < found.size(); ++k) {
    if (!found[k]) return Bad(name_, absl::StrCat("storage ", u.storages()[k].key, " has no data"));
    const pth::StorageRef& ref = u.storages()[k];
    storages_.push_back({ref.dtype, ref.key, ref.numel, located[k]});
  }
  return absl::OkStatus();
}

absl::Status PthCheckpoint::CheckTensor(const PthTensorInfo& t) const {
  const std::string who = absl::StrCat(name_, ": tensor ", absl::CHexEscape(t.name));
  if (t.shape.size() > kMaxDims) return absl::InvalidArgumentError(who + " has too many dims");
  if (t.stride.size() != t.shape.size()) {
    return absl::InvalidArgumentError(who + " has a stride of the wrong rank");
  }
  const Storage& s = storages_[t.storage_index];
  uint64_t numel = 1;
  unsigned __int128 extent = 0;  // largest element index reached, relative to the offset
  for (size_t d = 0; d < t.shape.size(); ++d) {
    if (t.shape[d] < 0 || t.shape[d] > kMaxDim) {
      return absl::InvalidArgumentError(absl::StrCat(who, " has bad size ", t.shape[d]));
    }
    if (t.stride[d] < 0 || t.stride[d] > kMaxDim) {
      return absl::InvalidArgumentError(absl::StrCat(who, " has bad stride ", t.stride[d]));
    }
    if (t.shape[d] != 0 && numel > std::numeric_limits<uint64_t>::max() / t.shape[d]) {
      return absl::InvalidArgumentError(who + " has an overflowing element count");
    }
    numel *= static_cast<uint64_t>(t.shape[d]);
    if (t.shape[d] > 0) {
      extent += static_cast<unsigned __int128>(t.shape[d] - 1) * static_cast<uint64_t>(t.stride[d]);
    }
  }
  if (t.storage_offset < 0) {
    return absl::InvalidArgumentError(absl::StrCat(who, " has negative storage offset"));
  }
  if (numel == 0) return absl::OkStatus();
  if (numel > s.numel) {
    return absl::InvalidArgumentError(absl::StrCat(
        who, " has ", numel, " elements, more than its storage holds (", s.numel, ")"));
  }
  const uint64_t offset = static_cast<uint64_t>(t.storage_offset);
  if (offset >= s.numel || extent >= s.numel - offset) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, " reaches past the end of its storage (offset ", offset,
                     ") of a storage of ", s.numel, " elements"));
  }
  return absl::OkStatus();
}

}  // namespace rwkv::engine
