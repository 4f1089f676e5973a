// `rwkv client generate` and `rwkv client models` (services/cli/client_generate.cc), called
// from the `rwkv client` dispatch. `args` are the words after the subcommand name.
#pragma once

#include <string>
#include <vector>

namespace rwkv::cli {

int RunClientGenerate(const std::vector<std::string>& args);
int RunClientModels(const std::vector<std::string>& args);

}  // namespace rwkv::cli
