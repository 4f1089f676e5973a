// `rwkv client ...`: the gRPC client for a gateway, worker or converter. Dispatches on the
// first word to the client_*.cc helpers.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/cli/client_jobs.h"
#include "services/cli/command.h"
#if __has_include("services/cli/client_generate.h")
#include "services/cli/client_generate.h"
#define RWKV_CLI_HAVE_CLIENT_GENERATE 1
#endif

namespace rwkv::cli {
namespace {

constexpr char kUsage[] =
    "usage: rwkv client <command> --addr HOST:PORT [options]\n\n"
    "commands:\n"
#ifdef RWKV_CLI_HAVE_CLIENT_GENERATE
    "  generate          stream a completion from a gateway or worker\n"
    "  models            list the models a gateway or worker serves\n"
#endif
    "  jobs submit       queue a convert / quantize / convert-state job on a converter\n"
    "  jobs get ID       show one job\n"
    "  jobs list         list jobs, newest first\n"
    "  jobs cancel ID    cancel a queued or running job\n"
    "  jobs watch ID     follow a job's progress until it ends\n\n"
    "run 'rwkv client <command> --help' for its options\n";

int RunClient(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "jobs") return RunClientJobs(rest);
#ifdef RWKV_CLI_HAVE_CLIENT_GENERATE
  if (args[0] == "generate") return RunClientGenerate(rest);
  if (args[0] == "models") return RunClientModels(rest);
#endif
  return Fail("client", absl::InvalidArgumentError(absl::StrCat("unknown client command '", args[0],
                                                                "' (see 'rwkv client --help')")));
}

}  // namespace

RWKV_CLI_COMMAND("client", "talk to a cluster: generate, models, jobs submit/get/list/cancel/watch",
                 RunClient);

}  // namespace rwkv::cli
