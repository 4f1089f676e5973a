// A minimal fork-join loop for the quantizer: no pool, threads live for one call.
#pragma once

#include <cstdint>
#include <functional>

#include "absl/status/status.h"

namespace rwkv::engine::quant {

// Calls fn(begin, end) for consecutive chunks of at most `grain` items covering [0, n), on up
// to `threads` threads (the caller's included). Chunks are handed out in order; after the
// first error, or once `stop` returns true, no new chunk starts. Returns the first error, or
// the status `stop_status` when stopped early.
absl::Status ParallelFor(int64_t n, int64_t grain, int threads,
                         const std::function<absl::Status(int64_t, int64_t)>& fn,
                         const std::function<bool()>& stop, const absl::Status& stop_status);

}  // namespace rwkv::engine::quant
