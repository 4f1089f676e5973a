// Rendezvous (highest-random-weight) hashing: ranks workers for a key so that every gateway
// replica computes the same order from the same worker set without sharing state, and removing
// a worker only moves the keys it ranked first. The hash is fixed (FNV-1a + a 64-bit
// finalizer), not absl::Hash, because it must agree across processes and builds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace rwkv::gateway {

// The weight of `worker` for `key`; stable across processes.
uint64_t RendezvousWeight(absl::string_view key, absl::string_view worker);

// `workers` ordered by descending weight for `key` (ties by address); the first is the owner.
std::vector<std::string> RendezvousRanking(absl::string_view key,
                                           absl::Span<const std::string> workers);

}  // namespace rwkv::gateway
