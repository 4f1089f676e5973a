#include "gateway/discovery.h"

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "support/test_paths.h"

namespace rwkv::gateway {
namespace {

// Answers from a table the test edits; a name mapped to a status fails with it.
class FakeResolver : public Resolver {
 public:
  absl::StatusOr<std::vector<std::string>> Resolve(const std::string& host) override {
    ++calls;
    auto failure = failures.find(host);
    if (failure != failures.end()) return failure->second;
    auto it = answers.find(host);
    if (it == answers.end()) return absl::NotFoundError("no such name");
    return it->second;
  }
  std::map<std::string, std::vector<std::string>> answers;
  std::map<std::string, absl::Status> failures;
  int calls = 0;
};

TEST(DiscoveryTest, ParsesWorkerListsAndRejectsBadEntries) {
  auto list = ParseWorkerList("127.0.0.1:1, host-a:50052,,[::1]:9");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(*list, (std::vector<std::string>{"127.0.0.1:1", "host-a:50052", "[::1]:9"}));
  for (const char* bad : {"host", "host:0", "host:65536", ":80", "host:x", "[::1:9"}) {
    auto parsed = ParseWorkerList(bad);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(parsed.status().message().find(bad), std::string::npos) << parsed.status();
  }
}

TEST(DiscoveryTest, ParsesDnsTargetsWithOptionalScheme) {
  auto targets = ParseDnsTargets("workers.ns.svc:50052,dns:///other:7");
  ASSERT_TRUE(targets.ok()) << targets.status();
  ASSERT_EQ(targets->size(), 2u);
  EXPECT_EQ((*targets)[0].name, "workers.ns.svc");
  EXPECT_EQ((*targets)[0].port, 50052);
  EXPECT_EQ((*targets)[1].name, "other");
  EXPECT_EQ((*targets)[1].port, 7);
  EXPECT_FALSE(ParseDnsTargets("workers").ok());
}

TEST(DiscoveryTest, CombinesStaticWorkersAndEveryResolvedAddress) {
  FakeResolver resolver;
  resolver.answers["pool-a"] = {"127.0.0.2", "127.0.0.3"};
  resolver.answers["pool-b"] = {"fd00::5"};
  WorkerDiscovery discovery({"127.0.0.1:9000"}, *ParseDnsTargets("pool-a:7000,pool-b:7001"),
                            resolver);
  EXPECT_EQ(discovery.Refresh(), (std::vector<std::string>{"127.0.0.1:9000", "127.0.0.2:7000",
                                                           "127.0.0.3:7000", "[fd00::5]:7001"}));
}

TEST(DiscoveryTest, FollowsScalingAndKeepsTheLastAnswerWhenResolutionFails) {
  FakeResolver resolver;
  resolver.answers["pool"] = {"127.0.0.2", "127.0.0.3"};
  WorkerDiscovery discovery({}, *ParseDnsTargets("pool:7000"), resolver);
  EXPECT_EQ(discovery.Refresh().size(), 2u);
  resolver.answers["pool"] = {"127.0.0.2", "127.0.0.3", "127.0.0.4"};
  EXPECT_EQ(discovery.Refresh().size(), 3u);
  // A DNS outage must not empty the rotation.
  resolver.failures["pool"] = absl::UnavailableError("timeout");
  std::vector<std::string> errors;
  EXPECT_EQ(discovery.Refresh(&errors).size(), 3u);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("pool:7000"), std::string::npos) << errors[0];
  // A name without addresses (pool scaled to zero) has no workers.
  resolver.failures.clear();
  resolver.answers.erase("pool");
  EXPECT_TRUE(discovery.Refresh().empty());
  EXPECT_EQ(resolver.calls, 4);
}

TEST(DiscoveryTest, HostsFileResolverReadsTheFileOnEveryCall) {
  const std::string path = rwkv::testing::MakeTempDir("discovery") + "/hosts";
  {
    std::ofstream out(path);
    out << "# test names\n127.0.0.2 workers other\n127.0.0.3 workers # second\n";
  }
  HostsFileResolver resolver(path);
  auto first = resolver.Resolve("workers");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, (std::vector<std::string>{"127.0.0.2", "127.0.0.3"}));
  EXPECT_EQ(resolver.Resolve("nothing").status().code(), absl::StatusCode::kNotFound);
  {
    std::ofstream out(path);
    out << "127.0.0.4 workers\n";
  }
  EXPECT_EQ(*resolver.Resolve("workers"), (std::vector<std::string>{"127.0.0.4"}));
  HostsFileResolver missing(path + ".absent");
  EXPECT_EQ(missing.Resolve("workers").status().code(), absl::StatusCode::kUnavailable);
}

TEST(DiscoveryTest, SystemResolverResolvesLocalhost) {
  SystemResolver resolver;
  auto addresses = resolver.Resolve("localhost");
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  EXPECT_FALSE(addresses->empty());
}

}  // namespace
}  // namespace rwkv::gateway
