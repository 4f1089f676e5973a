// The backend a local command runs on: --backend when given; otherwise -ngl N > 0 picks the
// first GPU backend compiled in with a device present (as llama-cli offloads with -ngl), and
// says so on stderr; else the CPU.
#pragma once

#include <cstdint>
#include <string>

namespace rwkv::cli {

// `backend` is the --backend value ("" when not given), `gpu_layers` the -ngl value (-1 when
// not given).
std::string ChooseBackend(const std::string& command, const std::string& backend,
                          int64_t gpu_layers);

}  // namespace rwkv::cli
