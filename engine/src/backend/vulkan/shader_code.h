// The embedded SPIR-V of the compute shaders (generated at build time from shaders/*.comp).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace rwkv::engine::vulkan {

// The words of shader `name` ("matmul_q8_0", "wkv6", ...); empty when there is none.
std::span<const uint32_t> ShaderCode(std::string_view name);

}  // namespace rwkv::engine::vulkan
