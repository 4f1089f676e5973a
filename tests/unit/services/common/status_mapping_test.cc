#include "services/common/status_mapping.h"

#include "gtest/gtest.h"

namespace rwkv::services {
namespace {

TEST(StatusMappingTest, MapsOk) { EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok()); }

TEST(StatusMappingTest, KeepsArchitectureCodesAndMessages) {
  const struct {
    absl::Status in;
    grpc::StatusCode out;
  } cases[] = {
      {absl::InvalidArgumentError("path 'x' contains '..'"), grpc::StatusCode::INVALID_ARGUMENT},
      {absl::NotFoundError("job j-1 not found"), grpc::StatusCode::NOT_FOUND},
      {absl::ResourceExhaustedError("job queue is full"), grpc::StatusCode::RESOURCE_EXHAUSTED},
      {absl::UnavailableError("no worker"), grpc::StatusCode::UNAVAILABLE},
      {absl::UnauthenticatedError("token missing"), grpc::StatusCode::UNAUTHENTICATED},
      {absl::AlreadyExistsError("output exists"), grpc::StatusCode::ALREADY_EXISTS},
      {absl::FailedPreconditionError("job done"), grpc::StatusCode::FAILED_PRECONDITION},
      {absl::CancelledError("cancelled"), grpc::StatusCode::CANCELLED},
      {absl::DeadlineExceededError("late"), grpc::StatusCode::DEADLINE_EXCEEDED},
      {absl::InternalError("disk"), grpc::StatusCode::INTERNAL},
  };
  for (const auto& c : cases) {
    const grpc::Status s = ToGrpcStatus(c.in);
    EXPECT_EQ(s.error_code(), c.out) << c.in;
    EXPECT_EQ(s.error_message(), std::string(c.in.message()));
    const absl::Status back = FromGrpcStatus(s);
    EXPECT_EQ(back, c.in);
  }
}

TEST(StatusMappingTest, FillsEmptyMessageWithCodeName) {
  const grpc::Status s = ToGrpcStatus(absl::Status(absl::StatusCode::kNotFound, ""));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_FALSE(s.error_message().empty());
}

TEST(StatusMappingTest, MapsUnknownCodeToUnknown) {
  const grpc::Status s = ToGrpcStatus(absl::Status(static_cast<absl::StatusCode>(99), "odd"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNKNOWN);
}

}  // namespace
}  // namespace rwkv::services
