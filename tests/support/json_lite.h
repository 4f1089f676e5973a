// A small JSON reader for tests that read reference data (tokenizer cases, logit indexes).
// Parses RFC 8259 JSON into a tree; \u escapes (with surrogate pairs) become UTF-8. Not
// for production input: no streaming, depth limited to 256.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace rwkv::testing {

class JsonValue {
 public:
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_array() const { return kind_ == Kind::kArray; }
  bool is_object() const { return kind_ == Kind::kObject; }

  bool AsBool() const { return bool_; }
  double AsNumber() const { return number_; }
  // The number as an integer (exact for integers written without fraction or exponent).
  int64_t AsInt() const { return integer_; }
  const std::string& AsString() const { return string_; }

  // Array elements, or object members in file order.
  const std::vector<JsonValue>& items() const { return items_; }
  const std::vector<std::pair<std::string, JsonValue>>& members() const { return members_; }
  size_t size() const { return kind_ == Kind::kObject ? members_.size() : items_.size(); }
  const JsonValue& operator[](size_t i) const { return items_[i]; }
  // Member lookup; nullptr when absent or not an object.
  const JsonValue* Find(std::string_view key) const;
  // Member lookup; a null value when absent.
  const JsonValue& operator[](std::string_view key) const;
  // Array of integers as int64 (non-numbers become 0).
  std::vector<int64_t> AsIntVector() const;

 private:
  friend class JsonParser;
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  double number_ = 0;
  int64_t integer_ = 0;
  std::string string_;
  std::vector<JsonValue> items_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

// InvalidArgument with the byte offset on malformed input.
absl::StatusOr<JsonValue> ParseJson(std::string_view text);

}  // namespace rwkv::testing
