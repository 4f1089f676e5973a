// The one place where absl::Status and grpc::Status meet. Services return
// ToGrpcStatus(status) from every handler; clients use FromGrpcStatus to get an absl::Status
// back. Codes follow docs/architecture.md and docs/errors.md.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace rwkv::services {

// Keeps the code (absl and gRPC share numbering) and the message. An OK status maps to OK;
// a non-OK status with an empty message gets the code's name as its message, and an absl
// code gRPC does not know becomes UNKNOWN.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The inverse: a client-side grpc::Status as an absl::Status with the same code and message.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace rwkv::services
