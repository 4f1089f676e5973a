// Which workers exist: a static list (--workers host:port,...) plus DNS names re-resolved
// periodically (--worker-dns NAME:PORT,...; a Kubernetes headless Service answers one address
// per ready pod). The periodic loop lives in the app; this class is the pure step, tested with
// a fake Resolver.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gateway/resolver.h"

namespace rwkv::gateway {

struct DnsTarget {
  std::string name;
  int port = 0;
};

// "host:port" or "[v6]:port" with port 1..65535; INVALID_ARGUMENT naming the entry otherwise.
absl::Status CheckHostPort(absl::string_view entry);
// Comma-separated host:port list (empty entries ignored); INVALID_ARGUMENT naming a bad one.
absl::StatusOr<std::vector<std::string>> ParseWorkerList(absl::string_view list);
// Comma-separated NAME:PORT list; a "dns:///" prefix on an entry is accepted and dropped.
absl::StatusOr<std::vector<DnsTarget>> ParseDnsTargets(absl::string_view list);
// "10.0.0.7", 50052 -> "10.0.0.7:50052"; IPv6 gets brackets.
std::string JoinHostPort(absl::string_view host, int port);

class WorkerDiscovery {
 public:
  // `resolver` must outlive this object.
  WorkerDiscovery(std::vector<std::string> static_workers, std::vector<DnsTarget> dns,
                  Resolver& resolver)
      : static_(std::move(static_workers)), dns_(std::move(dns)), resolver_(resolver) {}

  // Resolves every DNS name now and returns the whole worker set, sorted, without duplicates.
  // A name that answers NOT_FOUND has no workers (its pool scaled to zero); a name whose
  // resolution fails keeps its previous answer, so a DNS hiccup does not empty the rotation.
  // `errors` (optional) receives one line per failed name.
  std::vector<std::string> Refresh(std::vector<std::string>* errors = nullptr);

 private:
  std::vector<std::string> static_;
  std::vector<DnsTarget> dns_;
  Resolver& resolver_;
  std::map<std::string, std::vector<std::string>> last_answer_;  // by "name:port"
};

}  // namespace rwkv::gateway
