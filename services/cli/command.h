// Subcommand registry for the `rwkv` tool. Each subcommand file defines one Run function
// and registers it with RWKV_CLI_COMMAND; main.cc dispatches on argv[1].
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace rwkv::cli {

using CommandFn = int (*)(const std::vector<std::string>& args);

struct Command {
  std::string_view name;
  std::string_view summary;
  CommandFn run;
};

// Adds a command at static-initialisation time; returns true so it can seed a static.
bool RegisterCommand(const Command& command);
const std::vector<Command>& Commands();

// Prints "rwkv <command>: <message>" on one line to stderr and returns exit status 1.
int Fail(std::string_view command, const absl::Status& status);

}  // namespace rwkv::cli

#define RWKV_CLI_COMMAND(name, summary, fn) \
  static const bool rwkv_cli_registered_##fn = ::rwkv::cli::RegisterCommand({name, summary, fn})
