#include <cstring>

#include "rwkv/engine/gguf.h"

namespace rwkv::engine {
namespace {

uint64_t ElementSize(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
      return 2;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32:
      return 4;
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kFloat64:
      return 8;
    default:
      return 0;
  }
}

}  // namespace

std::string_view GgufValueTypeName(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
      return "uint8";
    case GgufValueType::kInt8:
      return "int8";
    case GgufValueType::kUint16:
      return "uint16";
    case GgufValueType::kInt16:
      return "int16";
    case GgufValueType::kUint32:
      return "uint32";
    case GgufValueType::kInt32:
      return "int32";
    case GgufValueType::kFloat32:
      return "float32";
    case GgufValueType::kBool:
      return "bool";
    case GgufValueType::kString:
      return "string";
    case GgufValueType::kArray:
      return "array";
    case GgufValueType::kUint64:
      return "uint64";
    case GgufValueType::kInt64:
      return "int64";
    case GgufValueType::kFloat64:
      return "float64";
  }
  return "unknown";
}

uint64_t GgufValueElementSize(GgufValueType t) { return ElementSize(t); }

#define RWKV_GGUF_SCALAR(Name, CType, Tag) \
  GgufValue GgufValue::Name(CType v) {     \
    GgufValue out;                         \
    out.type_ = GgufValueType::Tag;        \
    uint64_t bits = 0;                     \
    std::memcpy(&bits, &v, sizeof(CType)); \
    out.bits_ = bits;                      \
    return out;                            \
  }
RWKV_GGUF_SCALAR(Uint8, uint8_t, kUint8)
RWKV_GGUF_SCALAR(Int8, int8_t, kInt8)
RWKV_GGUF_SCALAR(Uint16, uint16_t, kUint16)
RWKV_GGUF_SCALAR(Int16, int16_t, kInt16)
RWKV_GGUF_SCALAR(Uint32, uint32_t, kUint32)
RWKV_GGUF_SCALAR(Int32, int32_t, kInt32)
RWKV_GGUF_SCALAR(Float32, float, kFloat32)
RWKV_GGUF_SCALAR(Uint64, uint64_t, kUint64)
RWKV_GGUF_SCALAR(Int64, int64_t, kInt64)
RWKV_GGUF_SCALAR(Float64, double, kFloat64)
#undef RWKV_GGUF_SCALAR

GgufValue GgufValue::Bool(bool v) {
  GgufValue out;
  out.type_ = GgufValueType::kBool;
  out.bits_ = v ? 1 : 0;
  return out;
}

GgufValue GgufValue::String(std::string v) {
  GgufValue out;
  out.type_ = GgufValueType::kString;
  out.string_ = std::move(v);
  return out;
}

GgufValue GgufValue::StringArray(std::vector<std::string> v) {
  GgufValue out;
  out.type_ = GgufValueType::kArray;
  out.array_type_ = GgufValueType::kString;
  out.strings_ = std::move(v);
  return out;
}

GgufValue GgufValue::NumericArray(GgufValueType elem, std::vector<uint8_t> raw) {
  GgufValue out;
  out.type_ = GgufValueType::kArray;
  out.array_type_ = elem;
  out.raw_ = std::move(raw);
  return out;
}

GgufValue GgufValue::Int32Array(std::span<const int32_t> v) {
  std::vector<uint8_t> raw(v.size() * 4);
  if (!v.empty()) std::memcpy(raw.data(), v.data(), raw.size());
  return NumericArray(GgufValueType::kInt32, std::move(raw));
}

GgufValue GgufValue::Float32Array(std::span<const float> v) {
  std::vector<uint8_t> raw(v.size() * 4);
  if (!v.empty()) std::memcpy(raw.data(), v.data(), raw.size());
  return NumericArray(GgufValueType::kFloat32, std::move(raw));
}

uint64_t GgufValue::array_size() const {
  if (type_ != GgufValueType::kArray) return 0;
  if (array_type_ == GgufValueType::kString) return strings_.size();
  const uint64_t es = ElementSize(array_type_);
  return es == 0 ? 0 : raw_.size() / es;
}

float GgufValue::AsFloat32() const {
  float f;
  const uint32_t b = static_cast<uint32_t>(bits_);
  std::memcpy(&f, &b, sizeof(f));
  return f;
}

double GgufValue::AsFloat64() const {
  double d;
  std::memcpy(&d, &bits_, sizeof(d));
  return d;
}

int64_t GgufValue::IntElement(uint64_t i) const {
  const uint8_t* p = raw_.data() + i * ElementSize(array_type_);
  switch (array_type_) {
    case GgufValueType::kUint8:
      return *p;
    case GgufValueType::kInt8:
      return static_cast<int8_t>(*p);
    case GgufValueType::kBool:
      return *p != 0;
    case GgufValueType::kUint16: {
      uint16_t v;
      std::memcpy(&v, p, 2);
      return v;
    }
    case GgufValueType::kInt16: {
      int16_t v;
      std::memcpy(&v, p, 2);
      return v;
    }
    case GgufValueType::kUint32: {
      uint32_t v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case GgufValueType::kInt32: {
      int32_t v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case GgufValueType::kUint64: {
      uint64_t v;
      std::memcpy(&v, p, 8);
      return static_cast<int64_t>(v);
    }
    case GgufValueType::kInt64: {
      int64_t v;
      std::memcpy(&v, p, 8);
      return v;
    }
    default:
      return 0;
  }
}

bool GgufValue::operator==(const GgufValue& other) const {
  return type_ == other.type_ && array_type_ == other.array_type_ && bits_ == other.bits_ &&
         string_ == other.string_ && strings_ == other.strings_ && raw_ == other.raw_;
}

}  // namespace rwkv::engine
