#include "services/cli/command.h"

#include <cstdio>

namespace rwkv::cli {
namespace {
std::vector<Command>& Registry() {
  static std::vector<Command> commands;
  return commands;
}
}  // namespace

bool RegisterCommand(const Command& command) {
  Registry().push_back(command);
  return true;
}

const std::vector<Command>& Commands() { return Registry(); }

int Fail(std::string_view command, const absl::Status& status) {
  std::fprintf(stderr, "rwkv %.*s: %.*s\n", static_cast<int>(command.size()), command.data(),
               static_cast<int>(status.message().size()), status.message().data());
  return 1;
}

}  // namespace rwkv::cli
