// GGUF writer: llama.cpp's layout (header, KVs, tensor infos, zero padding to the alignment,
// then each tensor padded to the alignment, the last one included).
#include <cstring>

#include "absl/strings/str_cat.h"
#include "rwkv/engine/gguf.h"
#include "util/atomic_file.h"

namespace rwkv::engine {
namespace {

constexpr uint64_t kChunk = 4 << 20;

uint64_t RoundUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

class Encoder {
 public:
  template <typename T>
  void Put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    out_.insert(out_.end(), p, p + sizeof(T));
  }
  void PutString(std::string_view s) {
    Put<uint64_t>(s.size());
    out_.insert(out_.end(), s.begin(), s.end());
  }
  void PutValue(const GgufValue& v) {
    switch (v.type()) {
      case GgufValueType::kString:
        PutString(v.AsString());
        return;
      case GgufValueType::kArray:
        Put<uint32_t>(static_cast<uint32_t>(v.array_type()));
        Put<uint64_t>(v.array_size());
        if (v.array_type() == GgufValueType::kString) {
          for (const auto& s : v.strings()) PutString(s);
        } else {
          out_.insert(out_.end(), v.raw_elements().begin(), v.raw_elements().end());
        }
        return;
      default: {
        const uint64_t bits = v.bits();
        const auto* p = reinterpret_cast<const uint8_t*>(&bits);
        out_.insert(out_.end(), p, p + GgufValueElementSize(v.type()));
      }
    }
  }
  std::vector<uint8_t>& bytes() { return out_; }

 private:
  std::vector<uint8_t> out_;
};

}  // namespace

void GgufWriter::AddKv(std::string key, GgufValue value) {
  if (key == "general.alignment" && value.type() == GgufValueType::kUint32 &&
      value.AsUint32() != 0) {
    alignment_ = value.AsUint32();
  }
  for (auto& kv : kvs_) {
    if (kv.key == key) {
      kv.value = std::move(value);
      return;
    }
  }
  kvs_.push_back({std::move(key), std::move(value)});
}

absl::Status GgufWriter::AddTensor(std::string name, GgmlType type, std::vector<int64_t> ne,
                                   DataFn data) {
  if (name.empty() || name.size() > 63) {
    return absl::InvalidArgumentError(absl::StrCat("tensor name '", name, "' must be 1..63 bytes"));
  }
  if (ne.empty() || ne.size() > 4) {
    return absl::InvalidArgumentError(absl::StrCat("tensor ", name, " must have 1..4 dimensions"));
  }
  for (const auto& t : tensors_) {
    if (t.name == name) return absl::InvalidArgumentError(absl::StrCat("duplicate tensor ", name));
  }
  auto size = TensorBytes(type, ne);
  if (!size.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("tensor ", name, ": ", size.status().message()));
  }
  tensors_.push_back({std::move(name), type, std::move(ne), *size, std::move(data)});
  return absl::OkStatus();
}

absl::Status GgufWriter::AddAllFrom(const GgufFile& file) {
  set_version(file.version());
  for (const auto& kv : file.kvs()) AddKv(kv.key, kv.value);
  for (const auto& t : file.tensors()) {
    const uint8_t* src = t.data;
    const uint64_t n = t.size_bytes;
    std::vector<int64_t> ne(t.ne.begin(), t.ne.begin() + t.n_dims);
    auto s = AddTensor(t.name, t.type, ne, [src, n](std::span<uint8_t> out) {
      std::memcpy(out.data(), src, n);
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

std::vector<uint8_t> GgufWriter::EncodeHeader() const {
  Encoder e;
  e.Put<uint32_t>(0x46554747);
  e.Put<uint32_t>(version_);
  e.Put<uint64_t>(tensors_.size());
  e.Put<uint64_t>(kvs_.size());
  for (const auto& kv : kvs_) {
    e.PutString(kv.key);
    e.Put<uint32_t>(static_cast<uint32_t>(kv.value.type()));
    e.PutValue(kv.value);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    e.PutString(t.name);
    e.Put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) e.Put<int64_t>(d);
    e.Put<uint32_t>(static_cast<uint32_t>(t.type));
    e.Put<uint64_t>(offset);
    offset = RoundUp(offset + t.size_bytes, alignment_);
  }
  e.bytes().resize(RoundUp(e.bytes().size(), alignment_), 0);
  return std::move(e.bytes());
}

absl::Status GgufWriter::StreamData(
    const std::function<absl::Status(std::span<const uint8_t>)>& sink) const {
  uint64_t total = 0;
  for (const auto& t : tensors_) total += t.size_bytes;
  uint64_t done = 0;
  std::vector<uint8_t> buffer;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const auto& t = tensors_[i];
    const uint64_t padded = RoundUp(t.size_bytes, alignment_);
    buffer.assign(padded, 0);
    if (auto s = t.data(std::span<uint8_t>(buffer.data(), t.size_bytes)); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("tensor ", t.name, ": ", s.message()));
    }
    for (uint64_t off = 0; off < padded; off += kChunk) {
      const uint64_t n = std::min<uint64_t>(kChunk, padded - off);
      if (auto s = sink(std::span<const uint8_t>(buffer.data() + off, n)); !s.ok()) return s;
    }
    done += t.size_bytes;
    if (progress_) progress_(i + 1, tensors_.size(), done, total);
  }
  return absl::OkStatus();
}

absl::Status GgufWriter::WriteFile(const std::string& path) const {
  auto file = AtomicFile::Create(path);
  if (!file.ok()) return file.status();
  const std::vector<uint8_t> header = EncodeHeader();
  if (auto s = file->Write(header); !s.ok()) return s;
  auto s = StreamData([&](std::span<const uint8_t> chunk) { return file->Write(chunk); });
  if (!s.ok()) return s;  // ~AtomicFile removes the temporary file
  return file->Commit();
}

absl::StatusOr<std::vector<uint8_t>> GgufWriter::WriteToBuffer() const {
  std::vector<uint8_t> out = EncodeHeader();
  auto s = StreamData([&](std::span<const uint8_t> chunk) {
    out.insert(out.end(), chunk.begin(), chunk.end());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace rwkv::engine
