#include "rwkv/engine/precision.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace rwkv::engine {

std::string_view PrecisionName(Precision precision) {
  return precision == Precision::kFast ? "fast" : "exact";
}

absl::StatusOr<Precision> ParsePrecision(std::string_view name) {
  if (name == "exact") return Precision::kExact;
  if (name == "fast") return Precision::kFast;
  return absl::InvalidArgumentError(
      absl::StrCat("precision must be exact or fast, got '", std::string(name), "'"));
}

}  // namespace rwkv::engine
