// Pinned host memory for the small per-step uploads (token ids, row indices, pointer tables)
// and the downloads (logits), with a device mirror for the uploads. Allocation is a bump
// pointer reset at every stream synchronization: a region is never rewritten while a copy
// that reads or writes it may still be pending.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"

namespace rwkv::engine::cuda {

class Staging {
 public:
  Staging() = default;
  ~Staging();
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;

  // Bytes left before the next allocation needs a synchronization.
  bool Fits(uint64_t upload_bytes, uint64_t download_bytes) const;
  // Grows the arenas to hold at least these sizes; only call with no copy pending.
  absl::Status Reserve(uint64_t upload_bytes, uint64_t download_bytes);
  // Copies `bytes` to pinned memory; the caller enqueues the copy from *pinned to the returned
  // device address.
  void* Upload(const void* src, uint64_t bytes, const void** pinned);
  // A pinned region for a download whose content is copied to `dst` by Deliver().
  void* Download(void* dst, uint64_t bytes);
  // After the stream completed: hands the downloads out and resets both arenas.
  void Deliver();

 private:
  struct Pending {
    void* dst;
    const void* src;
    uint64_t bytes;
  };
  static uint64_t Align(uint64_t n) { return (n + 255) / 256 * 256; }

  uint8_t* up_host_ = nullptr;
  uint8_t* up_dev_ = nullptr;
  uint64_t up_cap_ = 0, up_used_ = 0;
  uint8_t* down_host_ = nullptr;
  uint64_t down_cap_ = 0, down_used_ = 0;
  std::vector<Pending> pending_;
};

}  // namespace rwkv::engine::cuda
