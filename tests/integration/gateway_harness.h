// Helpers for gateway integration tests: a gateway process in front of real workers, request
// builders, and reads of the gateway's /metrics. Header only (each test file is its own
// executable).
#pragma once

#include <chrono>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "integration/worker_harness.h"

namespace rwkv::testing {

// bin/rwkv-gateway with `args` (plus --listen/--metrics-listen/--port-file).
class GatewayProcess : public ServerProcess {
 public:
  GatewayProcess(const std::string& dir, std::vector<std::string> args,
                 std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr,
                 grpc::ChannelArguments channel_args = {})
      : ServerProcess("rwkv-gateway", dir, std::move(args), "127.0.0.1", std::move(credentials),
                      std::move(channel_args)) {}

  // The value of the series `name{labels}` on /metrics (labels exactly as exposed, e.g.
  // pool="alpha"); -1 when absent.
  double Metric(const std::string& name, const std::string& labels = "") const {
    const std::string body = HttpGet(MetricsPort(), "/metrics");
    const std::string key = labels.empty() ? name + " " : name + "{" + labels + "} ";
    std::istringstream lines(body);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.rfind(key, 0) == 0) return std::atof(line.c_str() + key.size());
    }
    return -1;
  }

  // Polls until `count` workers of `pool` are in the rotation; false after `timeout`.
  bool WaitHealthy(const std::string& pool, int count,
                   std::chrono::seconds timeout = std::chrono::seconds(60)) const {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      if (Metric("rwkv_gateway_healthy_workers", "pool=\"" + pool + "\"") == count) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "pool " << pool << " never had " << count << " healthy workers:\n" << Log();
    return false;
  }
};

inline std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : ",") + p;
  return out;
}

inline rwkv::v1::GenerateRequest Greedy(const std::string& prompt, uint32_t max_tokens,
                                        const std::string& pool = "",
                                        const std::string& session = "") {
  rwkv::v1::GenerateRequest r;
  r.set_model("demo");
  r.set_text(prompt);
  r.set_max_tokens(max_tokens);
  r.set_ignore_eos(true);
  r.mutable_sampling()->set_temperature(0);
  if (!pool.empty()) r.mutable_placement()->set_pool(pool);
  r.set_session_id(session);
  return r;
}

// Polls `worker`'s status until `done(status)`; false after `timeout`.
template <typename Predicate>
bool WaitWorkerStatus(ServerProcess& worker, Predicate done,
                      std::chrono::seconds timeout = std::chrono::seconds(30)) {
  auto stub = worker.Worker();
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    rwkv::v1::WorkerStatus status;
    if (stub->GetStatus(&context, {}, &status).ok() && done(status)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace rwkv::testing
