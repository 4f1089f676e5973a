// rwkv devices: what each backend of this build can run on (`--backend B --device N` picks one).
#include <cstdio>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "services/cli/args.h"
#include "services/cli/command.h"
#include "services/cli/devices_vulkan.h"

namespace rwkv::cli {
namespace {

int RunDevices(const std::vector<std::string>& args) {
  ArgParser p("devices", "rwkv devices");
  if (absl::Status s = p.Parse(args); !s.ok()) return Fail("devices", s);
  if (p.help_requested()) {
    std::printf("%s", p.Usage().c_str());
    return 0;
  }
  absl::StatusOr<std::unique_ptr<engine::backend::Device>> cpu =
      engine::backend::CreateDevice("cpu", engine::backend::DeviceOptions{});
  if (!cpu.ok()) return Fail("devices", cpu.status());
  std::printf("cpu: %s\n", (*cpu)->description().c_str());
  PrintVulkanDevices();
  return 0;
}

}  // namespace

RWKV_CLI_COMMAND("devices", "list the devices each backend can run on", RunDevices);

}  // namespace rwkv::cli
