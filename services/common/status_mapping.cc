#include "services/common/status_mapping.h"

#include <string>

namespace rwkv::services {
namespace {

// absl::StatusCode and grpc::StatusCode both follow google.rpc.Code; only 0..16 exist.
constexpr int kMaxKnownCode = 16;

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  int code = static_cast<int>(status.code());
  if (code <= 0 || code > kMaxKnownCode) code = static_cast<int>(grpc::StatusCode::UNKNOWN);
  std::string message(status.message());
  if (message.empty()) message = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return grpc::Status(static_cast<grpc::StatusCode>(code), message);
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  int code = static_cast<int>(status.error_code());
  if (code <= 0 || code > kMaxKnownCode) code = static_cast<int>(absl::StatusCode::kUnknown);
  return absl::Status(static_cast<absl::StatusCode>(code), status.error_message());
}

}  // namespace rwkv::services
