#include "gateway/discovery.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace rwkv::gateway {
namespace {

// Splits "host:port" / "[v6]:port"; false when malformed.
bool SplitHostPort(absl::string_view entry, std::string* host, int* port) {
  const size_t colon = entry.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) return false;
  absl::string_view h = entry.substr(0, colon);
  if (absl::ConsumePrefix(&h, "[") && !absl::ConsumeSuffix(&h, "]")) return false;
  if (h.empty() || h.find_first_of(" \t/") != absl::string_view::npos) return false;
  int p = 0;
  if (!absl::SimpleAtoi(entry.substr(colon + 1), &p) || p < 1 || p > 65535) return false;
  *host = std::string(h);
  *port = p;
  return true;
}

std::vector<absl::string_view> Entries(absl::string_view list) {
  return absl::StrSplit(list, ',', absl::SkipWhitespace());
}

}  // namespace

absl::Status CheckHostPort(absl::string_view entry) {
  std::string host;
  int port = 0;
  if (!SplitHostPort(entry, &host, &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", entry, "' is not host:port with a port in 1..65535"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ParseWorkerList(absl::string_view list) {
  std::vector<std::string> out;
  for (absl::string_view raw : Entries(list)) {
    absl::string_view entry = absl::StripAsciiWhitespace(raw);
    if (absl::Status s = CheckHostPort(entry); !s.ok()) return s;
    out.emplace_back(entry);
  }
  return out;
}

absl::StatusOr<std::vector<DnsTarget>> ParseDnsTargets(absl::string_view list) {
  std::vector<DnsTarget> out;
  for (absl::string_view raw : Entries(list)) {
    absl::string_view entry = absl::StripAsciiWhitespace(raw);
    absl::ConsumePrefix(&entry, "dns:///");
    DnsTarget target;
    if (!SplitHostPort(entry, &target.name, &target.port)) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", entry, "' is not NAME:PORT with a port in 1..65535"));
    }
    out.push_back(std::move(target));
  }
  return out;
}

std::string JoinHostPort(absl::string_view host, int port) {
  if (host.find(':') != absl::string_view::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

std::vector<std::string> WorkerDiscovery::Refresh(std::vector<std::string>* errors) {
  std::vector<std::string> all = static_;
  for (const DnsTarget& target : dns_) {
    const std::string key = JoinHostPort(target.name, target.port);
    absl::StatusOr<std::vector<std::string>> answer = resolver_.Resolve(target.name);
    if (answer.ok()) {
      std::vector<std::string>& workers = last_answer_[key];
      workers.clear();
      for (const std::string& ip : *answer) workers.push_back(JoinHostPort(ip, target.port));
    } else if (absl::IsNotFound(answer.status())) {
      last_answer_[key].clear();
    } else if (errors != nullptr) {
      errors->push_back(absl::StrCat(key, ": ", answer.status().message()));
    }
    const std::vector<std::string>& current = last_answer_[key];
    all.insert(all.end(), current.begin(), current.end());
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  return all;
}

}  // namespace rwkv::gateway
