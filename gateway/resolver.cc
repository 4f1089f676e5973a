#include "gateway/resolver.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace rwkv::gateway {
namespace {

void SortUnique(std::vector<std::string>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

}  // namespace

absl::StatusOr<std::vector<std::string>> SystemResolver::Resolve(const std::string& host) {
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &result);
  if (rc == EAI_NONAME || rc == EAI_NODATA) {
    return absl::NotFoundError(absl::StrCat("name '", host, "' has no address"));
  }
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve '", host, "': ", gai_strerror(rc)));
  }
  std::vector<std::string> addresses;
  for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* raw = nullptr;
    if (ai->ai_family == AF_INET) {
      raw = &reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr;
    } else if (ai->ai_family == AF_INET6) {
      raw = &reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr;
    }
    if (raw != nullptr && ::inet_ntop(ai->ai_family, raw, text, sizeof(text)) != nullptr) {
      addresses.emplace_back(text);
    }
  }
  ::freeaddrinfo(result);
  SortUnique(addresses);
  if (addresses.empty()) {
    return absl::NotFoundError(absl::StrCat("name '", host, "' has no address"));
  }
  return addresses;
}

absl::StatusOr<std::vector<std::string>> HostsFileResolver::Resolve(const std::string& host) {
  std::ifstream in(path_);
  if (!in) return absl::UnavailableError(absl::StrCat("cannot read hosts file ", path_));
  std::vector<std::string> addresses;
  std::string line;
  while (std::getline(in, line)) {
    line = line.substr(0, line.find('#'));
    std::istringstream fields(line);
    std::string address, name;
    if (!(fields >> address)) continue;
    while (fields >> name) {
      if (name == host) addresses.push_back(address);
    }
  }
  SortUnique(addresses);
  if (addresses.empty()) {
    return absl::NotFoundError(absl::StrCat("name '", host, "' has no address in ", path_));
  }
  return addresses;
}

}  // namespace rwkv::gateway
