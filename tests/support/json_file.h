// Reading JSON data files in tests (reference manifests, logit indexes, tokenizer cases).
#pragma once

#include <string>

#include "nlohmann/json.hpp"

namespace rwkv::testing {

// The parsed file; fails the current test (and returns null) when it cannot be read or parsed.
nlohmann::json ReadJsonFile(const std::string& path);
// The parsed text; fails the current test (and returns null) when it is not JSON.
nlohmann::json ParseJsonOrFail(const std::string& text);

}  // namespace rwkv::testing
