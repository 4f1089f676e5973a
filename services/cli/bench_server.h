// `rwkv bench --server ADDR ...`: the load generator against a worker or gateway
// (services/cli/bench_server.cc). RunBench hands over its arguments when --server is given.
#pragma once

#include <string>
#include <vector>

namespace rwkv::cli {

// `args` are the words after "bench". Exit status: 0, or 1 when any request failed.
int RunBenchServer(const std::vector<std::string>& args);

}  // namespace rwkv::cli
