// Bearer-token authentication (--auth-token-file): the file holds one token per line (blank
// lines and '#' comments ignored) and is re-read when its modification time or size changes,
// checked at most once per second, so tokens rotate without a restart. A call is accepted
// when its metadata carries "authorization: Bearer TOKEN" for a listed token. Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/server_context.h"

namespace rwkv::gateway {

class TokenAuthenticator {
 public:
  // Reads the file now: InvalidArgument naming it when it cannot be read or holds no token.
  static absl::StatusOr<std::unique_ptr<TokenAuthenticator>> Load(std::string path);

  // OK, or UNAUTHENTICATED saying whether the token was missing or wrong. If the file became
  // unreadable, the last good token set stays in force.
  absl::Status Check(absl::string_view authorization_header);
  // The same for a call's metadata.
  absl::Status Check(const grpc::CallbackServerContext& context);

 private:
  explicit TokenAuthenticator(std::string path) : path_(std::move(path)) {}
  // Re-reads the file if it changed since the last look.
  absl::Status Reload(bool force) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  absl::Mutex mu_;
  absl::flat_hash_set<std::string> tokens_ ABSL_GUARDED_BY(mu_);
  absl::Time last_check_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t mtime_ns_ ABSL_GUARDED_BY(mu_) = -1;
  int64_t size_ ABSL_GUARDED_BY(mu_) = -1;
};

}  // namespace rwkv::gateway
