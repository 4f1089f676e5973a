// GGUF container: typed metadata values, a validating memory-mapped reader and a streaming
// writer that reproduces llama.cpp's byte layout (docs/engine/gguf.md).
//
// Reader errors are InvalidArgument (malformed content) or NotFound/PermissionDenied (I/O),
// with messages that start with the file path. The reader never allocates more than the
// file can justify: every count and length is checked against the bytes that remain.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rwkv/engine/ggml_types.h"

namespace rwkv::engine {

enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

std::string_view GgufValueTypeName(GgufValueType type);
// Bytes of one element of a numeric type; 0 for kString and kArray.
uint64_t GgufValueElementSize(GgufValueType type);

// One metadata value. Scalars keep their exact stored type; numeric arrays keep their raw
// little-endian element bytes so that a read-then-write round trip is byte-identical.
class GgufValue {
 public:
  GgufValue() = default;

  static GgufValue Uint8(uint8_t v);
  static GgufValue Int8(int8_t v);
  static GgufValue Uint16(uint16_t v);
  static GgufValue Int16(int16_t v);
  static GgufValue Uint32(uint32_t v);
  static GgufValue Int32(int32_t v);
  static GgufValue Float32(float v);
  static GgufValue Bool(bool v);
  static GgufValue String(std::string v);
  static GgufValue Uint64(uint64_t v);
  static GgufValue Int64(int64_t v);
  static GgufValue Float64(double v);
  static GgufValue StringArray(std::vector<std::string> v);
  static GgufValue Int32Array(std::span<const int32_t> v);
  static GgufValue Float32Array(std::span<const float> v);
  // A numeric array from raw little-endian element bytes (size must be a multiple of the
  // element size). `elem` must not be kString or kArray.
  static GgufValue NumericArray(GgufValueType elem, std::vector<uint8_t> raw);

  GgufValueType type() const { return type_; }
  bool is_array() const { return type_ == GgufValueType::kArray; }
  GgufValueType array_type() const { return array_type_; }
  uint64_t array_size() const;

  // Scalar access. The caller checks type() first; these return the stored bits.
  uint64_t bits() const { return bits_; }
  uint32_t AsUint32() const { return static_cast<uint32_t>(bits_); }
  int32_t AsInt32() const { return static_cast<int32_t>(bits_); }
  uint64_t AsUint64() const { return bits_; }
  float AsFloat32() const;
  double AsFloat64() const;
  bool AsBool() const { return bits_ != 0; }
  const std::string& AsString() const { return string_; }

  // Array access.
  const std::vector<std::string>& strings() const { return strings_; }
  const std::vector<uint8_t>& raw_elements() const { return raw_; }
  // Element i of a numeric integer array widened to int64 (i < array_size()).
  int64_t IntElement(uint64_t i) const;

  bool operator==(const GgufValue& other) const;

 private:
  GgufValueType type_ = GgufValueType::kUint8;
  GgufValueType array_type_ = GgufValueType::kUint8;
  uint64_t bits_ = 0;
  std::string string_;
  std::vector<std::string> strings_;
  std::vector<uint8_t> raw_;
};

struct GgufKv {
  std::string key;
  GgufValue value;
};

struct GgufTensorInfo {
  std::string name;
  uint32_t n_dims = 0;  // as stored (1..4)
  std::array<int64_t, 4> ne{1, 1, 1, 1};
  GgmlType type = GgmlType::kF32;
  uint64_t offset = 0;  // from the start of the data section
  uint64_t size_bytes = 0;
  const uint8_t* data = nullptr;  // points into the mapping; valid while the GgufFile lives

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  // ggml_n_dims: index of the last dim != 1, plus one (minimum 1).
  uint32_t effective_dims() const;
};

// A parsed GGUF. Tensor data stays in the read-only mapping (or caller's buffer).
class GgufFile {
 public:
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  // Maps and validates `path`.
  static absl::StatusOr<std::unique_ptr<GgufFile>> Open(const std::string& path);
  // Validates an in-memory image; `bytes` must outlive the result. `name` prefixes errors.
  static absl::StatusOr<std::unique_ptr<GgufFile>> Parse(std::span<const uint8_t> bytes,
                                                         std::string name);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return bytes_.size(); }

  const std::vector<GgufKv>& kvs() const { return kvs_; }
  const GgufValue* FindKv(std::string_view key) const;
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* FindTensor(std::string_view name) const;

  // Type-strict lookups (llama.cpp's loader rejects a u32 stored as i32).
  // NotFound when absent, InvalidArgument on a type mismatch; messages name file and key.
  absl::StatusOr<uint32_t> GetUint32(std::string_view key) const;
  absl::StatusOr<float> GetFloat32(std::string_view key) const;
  absl::StatusOr<std::string> GetString(std::string_view key) const;
  absl::StatusOr<const std::vector<std::string>*> GetStringArray(std::string_view key) const;

 private:
  GgufFile() = default;
  absl::Status ParseAll();

  std::string path_;
  std::span<const uint8_t> bytes_;
  void* mapping_ = nullptr;
  size_t mapping_size_ = 0;
  uint32_t version_ = 0;
  uint32_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<GgufKv> kvs_;
  std::vector<GgufTensorInfo> tensors_;
};

// Writes a GGUF v3 (or v2) file: header, KVs, tensor infos, padding, then each tensor's
// data produced on demand so that a whole model is never held in memory.
class GgufWriter {
 public:
  // Fills `out` (exactly the tensor's byte size) with the tensor's data.
  using DataFn = std::function<absl::Status(std::span<uint8_t> out)>;

  void set_version(uint32_t version) { version_ = version; }
  void set_alignment(uint32_t alignment) { alignment_ = alignment; }

  void AddKv(std::string key, GgufValue value);
  // n_dims is ne.size() (1..4), written as given.
  absl::Status AddTensor(std::string name, GgmlType type, std::vector<int64_t> ne, DataFn data);
  // Copies the KVs (alignment included) and tensors of `file` verbatim.
  absl::Status AddAllFrom(const GgufFile& file);

  // Optional progress callback: (tensors done, total, bytes done, total bytes).
  using ProgressFn = std::function<void(size_t, size_t, uint64_t, uint64_t)>;
  void set_progress(ProgressFn fn) { progress_ = std::move(fn); }

  // Writes to a temporary file beside `path`, fsyncs it and renames it into place. On any
  // failure the temporary file is removed and nothing appears at `path`.
  absl::Status WriteFile(const std::string& path) const;
  // Writes the whole image into memory (tests, small files).
  absl::StatusOr<std::vector<uint8_t>> WriteToBuffer() const;

 private:
  struct PendingTensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> ne;
    uint64_t size_bytes;
    DataFn data;
  };
  std::vector<uint8_t> EncodeHeader() const;
  absl::Status StreamData(const std::function<absl::Status(std::span<const uint8_t>)>& sink) const;

  uint32_t version_ = 3;
  uint32_t alignment_ = 32;
  std::vector<GgufKv> kvs_;
  std::vector<PendingTensor> tensors_;
  ProgressFn progress_;
};

}  // namespace rwkv::engine
