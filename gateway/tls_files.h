// Checks the gateway's --tls-cert/--tls-key before any listener uses them, so a wrong file is
// one clear error naming it rather than a failure inside a TLS library.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace rwkv::gateway {

// OK when `cert` holds a PEM certificate (chain) and `key` the PEM private key matching its
// first certificate; otherwise INVALID_ARGUMENT naming the flag, the file and the problem.
absl::Status CheckTlsFiles(const std::string& cert, const std::string& key);

}  // namespace rwkv::gateway
