// rwkv devices: what each backend compiled into this build sees on this machine.
#include <cstdio>
#include <string>
#include <vector>

#include "rwkv/engine/devices.h"
#include "services/cli/args.h"
#include "services/cli/command.h"
#include "services/cli/devices_vulkan.h"

namespace rwkv::cli {
namespace {

int RunDevices(const std::vector<std::string>& args) {
  ArgParser parser("devices", "rwkv devices");
  if (absl::Status s = parser.Parse(args); !s.ok()) return Fail("devices", s);
  if (parser.help_requested()) {
    std::printf("%s", parser.Usage().c_str());
    return 0;
  }
  for (const engine::BackendDevices& b : engine::ListBackendDevices()) {
    if (b.devices.empty()) {
      std::printf("%s: none (%s)\n", b.backend.c_str(), b.unavailable.c_str());
      continue;
    }
    for (const std::string& d : b.devices) std::printf("%s: %s\n", b.backend.c_str(), d.c_str());
  }
  PrintVulkanDevices();
  return 0;
}

}  // namespace

RWKV_CLI_COMMAND("devices", "list the devices each compiled-in backend sees", RunDevices);

}  // namespace rwkv::cli
