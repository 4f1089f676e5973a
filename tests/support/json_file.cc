#include "support/json_file.h"

#include "gtest/gtest.h"
#include "support/test_paths.h"

namespace rwkv::testing {

nlohmann::json ParseJsonOrFail(const std::string& text) {
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    ADD_FAILURE() << "not JSON: " << text.substr(0, 200);
    return nullptr;
  }
  return parsed;
}

nlohmann::json ReadJsonFile(const std::string& path) {
  return ParseJsonOrFail(ReadFileOrDie(path));
}

}  // namespace rwkv::testing
