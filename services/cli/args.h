// A small per-subcommand option parser. It accepts llama-cli's single-dash long options
// (-ngl, -no-cnv) as well as --long and -s forms, "--flag=value" and "--flag value".
// Unknown options and malformed numbers are errors, never ignored.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace rwkv::cli {

class ArgParser {
 public:
  ArgParser(std::string command, std::string usage_line);

  void AddString(std::initializer_list<std::string_view> names, std::string* out, std::string help);
  void AddInt(std::initializer_list<std::string_view> names, int64_t* out, std::string help);
  void AddFloat(std::initializer_list<std::string_view> names, double* out, std::string help);
  void AddFlag(std::initializer_list<std::string_view> names, bool* out, std::string help);

  // Returns InvalidArgument naming the offending option. `--help` sets help_requested().
  absl::Status Parse(const std::vector<std::string>& args);
  bool help_requested() const { return help_requested_; }
  const std::vector<std::string>& positionals() const { return positionals_; }
  // Whether an option (by any of its names) appeared on the command line.
  bool WasSet(std::string_view name) const;
  std::string Usage() const;

 private:
  enum class Kind { kString, kInt, kFloat, kFlag };
  struct Option {
    std::vector<std::string> names;
    Kind kind;
    void* out;
    std::string help;
    bool set = false;
  };
  Option* Find(std::string_view name);
  const Option* Find(std::string_view name) const;

  std::string command_;
  std::string usage_line_;
  std::vector<Option> options_;
  std::vector<std::string> positionals_;
  bool help_requested_ = false;
};

}  // namespace rwkv::cli
