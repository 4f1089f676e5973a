// Minimal structured-enough logging for the servers: one line per event on stderr,
// "<RFC3339 UTC time> <program>: <message>". Thread-safe (one write(2) per line).
#pragma once

#include "absl/strings/string_view.h"

namespace rwkv::services {

// Sets the program name printed on every line (call once from main).
void SetLogProgram(absl::string_view program);
void LogLine(absl::string_view message);

}  // namespace rwkv::services
