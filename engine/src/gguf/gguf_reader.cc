// Validating GGUF parser (docs/engine/gguf.md, "What the reader checks"). Every length and count
// is checked against the bytes that remain before anything is allocated, so a hostile header
// cannot make the reader allocate more than a small multiple of the file size.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "rwkv/engine/gguf.h"

namespace rwkv::engine {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF"
constexpr uint64_t kMaxNameLength = 63;  // GGML_MAX_NAME - 1

class Cursor {
 public:
  Cursor(std::span<const uint8_t> bytes, const std::string& name) : bytes_(bytes), name_(name) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return bytes_.size() - pos_; }

  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(name_, ": ", std::string(what), " (at byte ", pos_, ")"));
  }

  template <typename T>
  absl::Status Read(T* out, std::string_view what) {
    if (remaining() < sizeof(T))
      return Error(absl::StrCat("truncated while reading ", std::string(what)));
    std::memcpy(out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return absl::OkStatus();
  }

  absl::Status ReadString(std::string* out, std::string_view what) {
    uint64_t len = 0;
    if (auto s = Read(&len, what); !s.ok()) return s;
    if (len > remaining()) {
      return Error(absl::StrCat(std::string(what), " length ", len, " exceeds the file size"));
    }
    out->assign(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
    pos_ += len;
    return absl::OkStatus();
  }

  absl::Status ReadRaw(uint64_t n, std::vector<uint8_t>* out, std::string_view what) {
    if (n > remaining()) return Error(absl::StrCat("truncated while reading ", std::string(what)));
    out->assign(bytes_.data() + pos_, bytes_.data() + pos_ + n);
    pos_ += n;
    return absl::OkStatus();
  }

 private:
  std::span<const uint8_t> bytes_;
  const std::string& name_;
  uint64_t pos_ = 0;
};

bool IsValidValueType(uint32_t t) { return t <= 12; }

absl::Status ReadValue(Cursor& c, GgufValueType type, const std::string& key, GgufValue* out) {
  const std::string what = absl::StrCat("value of ", key);
  switch (type) {
    case GgufValueType::kString: {
      std::string s;
      if (auto st = c.ReadString(&s, what); !st.ok()) return st;
      *out = GgufValue::String(std::move(s));
      return absl::OkStatus();
    }
    case GgufValueType::kArray: {
      uint32_t elem;
      uint64_t count;
      if (auto st = c.Read(&elem, what); !st.ok()) return st;
      if (auto st = c.Read(&count, what); !st.ok()) return st;
      if (!IsValidValueType(elem)) {
        return c.Error(absl::StrCat("key ", key, " has unknown array element type ", elem));
      }
      const auto et = static_cast<GgufValueType>(elem);
      if (et == GgufValueType::kArray) {
        return c.Error(absl::StrCat("key ", key, " is an array of arrays"));
      }
      if (et == GgufValueType::kString) {
        // Each string needs at least its 8-byte length.
        if (count > c.remaining() / 8) {
          return c.Error(
              absl::StrCat("key ", key, " declares ", count,
                           " strings, more than the file can hold (truncated or corrupt file)"));
        }
        std::vector<std::string> strings(count);
        for (auto& s : strings) {
          if (auto st = c.ReadString(&s, what); !st.ok()) return st;
        }
        *out = GgufValue::StringArray(std::move(strings));
        return absl::OkStatus();
      }
      const uint64_t es = GgufValueElementSize(et);
      if (count > c.remaining() / es) {
        return c.Error(
            absl::StrCat("key ", key, " declares ", count,
                         " elements, more than the file can hold (truncated or corrupt file)"));
      }
      std::vector<uint8_t> raw;
      if (auto st = c.ReadRaw(count * es, &raw, what); !st.ok()) return st;
      *out = GgufValue::NumericArray(et, std::move(raw));
      return absl::OkStatus();
    }
    default: {
      const uint64_t es = GgufValueElementSize(type);
      uint64_t bits = 0;
      if (es > c.remaining())
        return c.Error(absl::StrCat("truncated while reading ", std::string(what)));
      std::vector<uint8_t> raw;
      if (auto st = c.ReadRaw(es, &raw, what); !st.ok()) return st;
      std::memcpy(&bits, raw.data(), es);
      switch (type) {
        case GgufValueType::kUint8:
          *out = GgufValue::Uint8(static_cast<uint8_t>(bits));
          break;
        case GgufValueType::kInt8:
          *out = GgufValue::Int8(static_cast<int8_t>(bits));
          break;
        case GgufValueType::kBool:
          *out = GgufValue::Bool(bits != 0);
          break;
        case GgufValueType::kUint16:
          *out = GgufValue::Uint16(static_cast<uint16_t>(bits));
          break;
        case GgufValueType::kInt16:
          *out = GgufValue::Int16(static_cast<int16_t>(bits));
          break;
        case GgufValueType::kUint32:
          *out = GgufValue::Uint32(static_cast<uint32_t>(bits));
          break;
        case GgufValueType::kInt32:
          *out = GgufValue::Int32(static_cast<int32_t>(bits));
          break;
        case GgufValueType::kFloat32: {
          float f;
          const uint32_t b = static_cast<uint32_t>(bits);
          std::memcpy(&f, &b, 4);
          *out = GgufValue::Float32(f);
          break;
        }
        case GgufValueType::kUint64:
          *out = GgufValue::Uint64(bits);
          break;
        case GgufValueType::kInt64:
          *out = GgufValue::Int64(static_cast<int64_t>(bits));
          break;
        case GgufValueType::kFloat64: {
          double d;
          std::memcpy(&d, &bits, 8);
          *out = GgufValue::Float64(d);
          break;
        }
        default:
          break;
      }
      return absl::OkStatus();
    }
  }
}

uint64_t RoundUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace

uint32_t GgufTensorInfo::effective_dims() const {
  for (int i = 3; i > 0; --i) {
    if (ne[i] != 1) return static_cast<uint32_t>(i + 1);
  }
  return 1;
}

GgufFile::~GgufFile() {
  if (mapping_ != nullptr) munmap(mapping_, mapping_size_);
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string msg = absl::StrCat(path, ": cannot open: ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(msg) : absl::PermissionDeniedError(msg);
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  auto file = std::unique_ptr<GgufFile>(new GgufFile());
  file->path_ = path;
  const size_t size = static_cast<size_t>(st.st_size);
  if (size > 0) {
    void* map = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return absl::InternalError(absl::StrCat(path, ": mmap failed: ", std::strerror(err)));
    }
    // Decode streams every weight once per token: 2 MB pages, where the file system and the
    // kernel can give them, spare a TLB miss (and a stop of the hardware prefetchers) every
    // 4 KB. Only advice: it can fail without harm.
    (void)madvise(map, size, MADV_HUGEPAGE);
    file->mapping_ = map;
    file->mapping_size_ = size;
    file->bytes_ = std::span<const uint8_t>(static_cast<const uint8_t*>(map), size);
  }
  ::close(fd);
  if (auto s = file->ParseAll(); !s.ok()) return s;
  return file;
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Parse(std::span<const uint8_t> bytes,
                                                          std::string name) {
  auto file = std::unique_ptr<GgufFile>(new GgufFile());
  file->path_ = std::move(name);
  file->bytes_ = bytes;
  if (auto s = file->ParseAll(); !s.ok()) return s;
  return file;
}

absl::Status GgufFile::ParseAll() {
  Cursor c(bytes_, path_);
  uint32_t magic;
  if (bytes_.size() < 4) return c.Error("file too small to be a GGUF");
  if (auto s = c.Read(&magic, "magic"); !s.ok()) return s;
  if (magic != kMagic) return c.Error("bad magic: not a GGUF file");
  if (auto s = c.Read(&version_, "version"); !s.ok()) return s;
  if (version_ != 2 && version_ != 3) {
    return c.Error(absl::StrCat("unsupported GGUF version ", version_, " (expected 2 or 3)"));
  }
  int64_t n_tensors, n_kv;
  if (auto s = c.Read(&n_tensors, "tensor count"); !s.ok()) return s;
  if (auto s = c.Read(&n_kv, "metadata count"); !s.ok()) return s;
  // A KV needs at least 12 bytes (key length + type), a tensor info at least 28.
  if (n_kv < 0 || static_cast<uint64_t>(n_kv) > c.remaining() / 12) {
    return c.Error(absl::StrCat("metadata count ", n_kv,
                                " is impossible for the file size (truncated or corrupt file)"));
  }
  if (n_tensors < 0 || static_cast<uint64_t>(n_tensors) > c.remaining() / 28) {
    return c.Error(absl::StrCat("tensor count ", n_tensors,
                                " is impossible for the file size (truncated or corrupt file)"));
  }

  absl::flat_hash_set<std::string> keys;
  kvs_.reserve(n_kv);
  for (int64_t i = 0; i < n_kv; ++i) {
    GgufKv kv;
    if (auto s = c.ReadString(&kv.key, "metadata key"); !s.ok()) return s;
    if (kv.key.empty()) return c.Error("empty metadata key");
    if (!keys.insert(kv.key).second) return c.Error(absl::StrCat("duplicate key ", kv.key));
    uint32_t type;
    if (auto s = c.Read(&type, "value type"); !s.ok()) return s;
    if (!IsValidValueType(type)) {
      return c.Error(absl::StrCat("key ", kv.key, " has unknown value type ", type));
    }
    if (auto s = ReadValue(c, static_cast<GgufValueType>(type), kv.key, &kv.value); !s.ok()) {
      return s;
    }
    if (kv.key == "general.alignment") {
      if (kv.value.type() != GgufValueType::kUint32) {
        return c.Error("general.alignment must be uint32");
      }
      const uint32_t a = kv.value.AsUint32();
      if (a == 0 || (a & (a - 1)) != 0) {
        return c.Error(absl::StrCat("general.alignment ", a, " is not a power of two"));
      }
      alignment_ = a;
    }
    kvs_.push_back(std::move(kv));
  }

  absl::flat_hash_set<std::string> names;
  tensors_.reserve(n_tensors);
  for (int64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    if (auto s = c.ReadString(&t.name, "tensor name"); !s.ok()) return s;
    if (t.name.size() > kMaxNameLength) {
      return c.Error(
          absl::StrCat("tensor name '", t.name.substr(0, 80), "' is longer than 63 bytes"));
    }
    if (!names.insert(t.name).second) return c.Error(absl::StrCat("duplicate tensor ", t.name));
    if (auto s = c.Read(&t.n_dims, "tensor dimension count"); !s.ok()) return s;
    if (t.n_dims == 0 || t.n_dims > 4) {
      return c.Error(
          absl::StrCat("tensor ", t.name, " has ", t.n_dims, " dimensions (1..4 allowed)"));
    }
    for (uint32_t d = 0; d < t.n_dims; ++d) {
      if (auto s = c.Read(&t.ne[d], "tensor dimension"); !s.ok()) return s;
      if (t.ne[d] < 0) return c.Error(absl::StrCat("tensor ", t.name, " has a negative dimension"));
    }
    uint32_t type;
    if (auto s = c.Read(&type, "tensor type"); !s.ok()) return s;
    const auto info = GetGgmlTypeInfo(type);
    if (!info.has_value()) {
      return c.Error(absl::StrCat("tensor ", t.name, " has unknown type id ", type));
    }
    t.type = info->type;
    if (auto s = c.Read(&t.offset, "tensor offset"); !s.ok()) return s;
    auto size = TensorBytes(t.type, t.ne);
    if (!size.ok()) return c.Error(absl::StrCat("tensor ", t.name, ": ", size.status().message()));
    t.size_bytes = *size;
    tensors_.push_back(std::move(t));
  }

  data_offset_ = RoundUp(c.pos(), alignment_);
  uint64_t expected = 0;
  for (auto& t : tensors_) {
    if (t.offset != expected) {
      return absl::InvalidArgumentError(absl::StrCat(path_, ": tensor ", t.name, " has offset ",
                                                     t.offset, ", expected ", expected));
    }
    if (data_offset_ > bytes_.size() || t.size_bytes > bytes_.size() - data_offset_ ||
        t.offset > bytes_.size() - data_offset_ - t.size_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          path_, ": tensor ", t.name, " data (", t.size_bytes, " bytes at offset ", t.offset,
          ") extends past the end of the file (", bytes_.size(), " bytes): file is truncated"));
    }
    t.data = bytes_.data() + data_offset_ + t.offset;
    expected = RoundUp(t.offset + t.size_bytes, alignment_);
  }
  return absl::OkStatus();
}

const GgufValue* GgufFile::FindKv(std::string_view key) const {
  for (const auto& kv : kvs_) {
    if (kv.key == key) return &kv.value;
  }
  return nullptr;
}

const GgufTensorInfo* GgufFile::FindTensor(std::string_view name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

namespace {
absl::Status TypeError(const std::string& path, std::string_view key, GgufValueType want,
                       const GgufValue& v) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": key ", std::string(key), " has wrong type ",
                   std::string(GgufValueTypeName(v.type())), " (expected ",
                   std::string(GgufValueTypeName(want)), ")"));
}
absl::Status Missing(const std::string& path, std::string_view key) {
  return absl::NotFoundError(absl::StrCat(path, ": missing key ", std::string(key)));
}
}  // namespace

absl::StatusOr<uint32_t> GgufFile::GetUint32(std::string_view key) const {
  const GgufValue* v = FindKv(key);
  if (v == nullptr) return Missing(path_, key);
  if (v->type() != GgufValueType::kUint32) return TypeError(path_, key, GgufValueType::kUint32, *v);
  return v->AsUint32();
}

absl::StatusOr<float> GgufFile::GetFloat32(std::string_view key) const {
  const GgufValue* v = FindKv(key);
  if (v == nullptr) return Missing(path_, key);
  if (v->type() != GgufValueType::kFloat32) {
    return TypeError(path_, key, GgufValueType::kFloat32, *v);
  }
  return v->AsFloat32();
}

absl::StatusOr<std::string> GgufFile::GetString(std::string_view key) const {
  const GgufValue* v = FindKv(key);
  if (v == nullptr) return Missing(path_, key);
  if (v->type() != GgufValueType::kString) return TypeError(path_, key, GgufValueType::kString, *v);
  return v->AsString();
}

absl::StatusOr<const std::vector<std::string>*> GgufFile::GetStringArray(
    std::string_view key) const {
  const GgufValue* v = FindKv(key);
  if (v == nullptr) return Missing(path_, key);
  if (v->type() != GgufValueType::kArray || v->array_type() != GgufValueType::kString) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": key ", std::string(key), " is not an array of strings"));
  }
  return &v->strings();
}

}  // namespace rwkv::engine
