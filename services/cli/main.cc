// rwkv: local generation, quantization, conversion, benchmarking and a cluster client.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "services/cli/command.h"

int main(int argc, char** argv) {
  std::vector<rwkv::cli::Command> commands = rwkv::cli::Commands();
  std::sort(commands.begin(), commands.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  const std::string name = argc > 1 ? argv[1] : "";
  if (name.empty() || name == "-h" || name == "--help" || name == "help") {
    std::printf("usage: rwkv <command> [options]\n\ncommands:\n");
    for (const auto& c : commands) {
      std::printf("  %-16.*s %.*s\n", static_cast<int>(c.name.size()), c.name.data(),
                  static_cast<int>(c.summary.size()), c.summary.data());
    }
    std::printf("\nrun 'rwkv <command> --help' for the options of one command\n");
    return name.empty() ? 2 : 0;
  }
  for (const auto& c : commands) {
    if (c.name == name) return c.run(std::vector<std::string>(argv + 2, argv + argc));
  }
  std::fprintf(stderr, "rwkv: unknown command '%s' (see 'rwkv --help')\n", name.c_str());
  return 2;
}
