#include "gateway/token_auth.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "services/common/log.h"

namespace rwkv::gateway {

absl::StatusOr<std::unique_ptr<TokenAuthenticator>> TokenAuthenticator::Load(std::string path) {
  std::unique_ptr<TokenAuthenticator> auth(new TokenAuthenticator(std::move(path)));
  absl::MutexLock lock(&auth->mu_);
  if (absl::Status s = auth->Reload(true); !s.ok()) return s;
  return auth;
}

absl::Status TokenAuthenticator::Reload(bool force) {
  const absl::Time now = absl::Now();
  if (!force && now - last_check_ < absl::Seconds(1)) return absl::OkStatus();
  last_check_ = now;
  struct stat st = {};
  if (::stat(path_.c_str(), &st) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read token file ", path_));
  }
  const int64_t mtime_ns =
      static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (!force && mtime_ns == mtime_ns_ && st.st_size == size_) return absl::OkStatus();
  std::ifstream in(path_);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read token file ", path_));
  std::stringstream text;
  text << in.rdbuf();
  absl::flat_hash_set<std::string> tokens;
  for (absl::string_view line : absl::StrSplit(text.str(), '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    tokens.emplace(line);
  }
  if (tokens.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("token file ", path_, " holds no token"));
  }
  if (!force) services::LogLine(absl::StrCat("reloaded ", tokens.size(), " tokens from ", path_));
  tokens_ = std::move(tokens);
  mtime_ns_ = mtime_ns;
  size_ = st.st_size;
  return absl::OkStatus();
}

absl::Status TokenAuthenticator::Check(absl::string_view header) {
  if (header.empty()) {
    return absl::UnauthenticatedError("missing authorization metadata (Bearer token)");
  }
  absl::string_view token = absl::StripAsciiWhitespace(header);
  if (!absl::StartsWithIgnoreCase(token, "bearer ")) {
    return absl::UnauthenticatedError("authorization metadata is not a Bearer token");
  }
  token = absl::StripAsciiWhitespace(token.substr(7));
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Reload(false); !s.ok()) {
    services::LogLine(absl::StrCat(s.message(), "; keeping the previous tokens"));
  }
  if (!tokens_.contains(token)) return absl::UnauthenticatedError("invalid bearer token");
  return absl::OkStatus();
}

absl::Status TokenAuthenticator::Check(const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return Check(absl::string_view());
  return Check(absl::string_view(it->second.data(), it->second.size()));
}

}  // namespace rwkv::gateway
