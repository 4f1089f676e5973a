// `rwkv client jobs submit|get|list|cancel|watch` (services/cli/client_jobs.cc): a client of
// the rwkv.v1.Jobs service of rwkv-converter. `args` are the words after "jobs".
#pragma once

#include <string>
#include <vector>

namespace rwkv::cli {

int RunClientJobs(const std::vector<std::string>& args);

}  // namespace rwkv::cli
