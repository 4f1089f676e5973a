// Name resolution behind an interface, so discovery can be tested with names that answer
// 127.0.0.2, 127.0.0.3, ... without touching the machine's DNS or hosts file.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace rwkv::gateway {

class Resolver {
 public:
  virtual ~Resolver() = default;
  // The addresses `host` resolves to now, as numeric text ("10.0.0.7", "fd00::7"), sorted and
  // without duplicates. NOT_FOUND when the name has no address; UNAVAILABLE when resolution
  // itself failed. Thread-compatible.
  virtual absl::StatusOr<std::vector<std::string>> Resolve(const std::string& host) = 0;
};

// The system resolver (getaddrinfo: /etc/hosts, then DNS). A Kubernetes headless Service
// answers one address per ready pod.
class SystemResolver : public Resolver {
 public:
  absl::StatusOr<std::vector<std::string>> Resolve(const std::string& host) override;
};

// Answers from a hosts-format file ("ADDRESS NAME [NAME...]" lines, '#' comments) read afresh
// on every call, so a test or a static setup can change the answers while the gateway runs.
// UNAVAILABLE naming the file when it cannot be read.
class HostsFileResolver : public Resolver {
 public:
  explicit HostsFileResolver(std::string path) : path_(std::move(path)) {}
  absl::StatusOr<std::vector<std::string>> Resolve(const std::string& host) override;

 private:
  std::string path_;
};

}  // namespace rwkv::gateway
