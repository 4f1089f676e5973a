// Command-line flags for the rwkv-* servers, where every flag falls back to an environment
// variable (as Kubernetes sets them): --storage-root falls back to RWKV_STORAGE_ROOT,
// --max-concurrent-jobs to RWKV_MAX_CONCURRENT_JOBS. Precedence: command line, then the
// environment, then the default already in the bound variable. Not thread-safe; use from main.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace rwkv::services {

class FlagSet {
 public:
  // Looks up an environment variable; std::nullopt when unset.
  using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

  FlagSet(std::string program, std::string summary);

  // `name` is given without dashes ("storage-root"). The pointers must outlive Parse.
  void AddString(std::string name, std::string* value, std::string help);
  void AddInt(std::string name, int64_t* value, std::string help);
  // Accepts absl durations ("30s", "1m30s") or a plain number of seconds ("2.5").
  void AddDuration(std::string name, absl::Duration* value, std::string help);
  // "--name" alone means true; values true/false/1/0/yes/no.
  void AddBool(std::string name, bool* value, std::string help);

  // Applies the environment then `args` (without the program name): "--name value",
  // "--name=value". InvalidArgument naming the flag (or variable) for an unknown flag, a
  // missing value or a malformed number. "--help" sets help_requested() and stops.
  absl::Status Parse(const std::vector<std::string>& args, const EnvLookup& env);
  // The same with the process environment and argv.
  absl::Status Parse(int argc, char** argv);

  bool help_requested() const { return help_requested_; }
  std::string Usage() const;

  // "storage-root" -> "RWKV_STORAGE_ROOT".
  static std::string EnvName(absl::string_view flag);

 private:
  enum class Kind { kString, kInt, kDuration, kBool };
  struct Flag {
    std::string name;
    Kind kind;
    void* value;
    std::string help;
  };
  absl::Status Set(const Flag& flag, absl::string_view value, absl::string_view source) const;
  const Flag* Find(absl::string_view name) const;

  std::string program_;
  std::string summary_;
  std::vector<Flag> flags_;
  bool help_requested_ = false;
};

}  // namespace rwkv::services
