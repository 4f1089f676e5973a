#include "services/common/log.h"

#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace rwkv::services {
namespace {
std::string& Program() {
  static std::string* program = new std::string("rwkv");
  return *program;
}
}  // namespace

void SetLogProgram(absl::string_view program) { Program() = std::string(program); }

void LogLine(absl::string_view message) {
  const std::string line =
      absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()), " ",
                   Program(), ": ", message, "\n");
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace rwkv::services
