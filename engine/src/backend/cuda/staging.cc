#include "backend/cuda/staging.h"

#include <algorithm>
#include <cstring>

#include "backend/cuda/cuda_check.h"

namespace rwkv::engine::cuda {

Staging::~Staging() {
  if (up_host_ != nullptr) cudaFreeHost(up_host_);
  if (up_dev_ != nullptr) cudaFree(up_dev_);
  if (down_host_ != nullptr) cudaFreeHost(down_host_);
}

bool Staging::Fits(uint64_t upload_bytes, uint64_t download_bytes) const {
  return up_used_ + Align(upload_bytes) <= up_cap_ &&
         down_used_ + Align(download_bytes) <= down_cap_;
}

absl::Status Staging::Reserve(uint64_t upload_bytes, uint64_t download_bytes) {
  upload_bytes = Align(upload_bytes);
  download_bytes = Align(download_bytes);
  if (upload_bytes > up_cap_) {
    const uint64_t cap = std::max<uint64_t>(upload_bytes, std::max<uint64_t>(2 * up_cap_, 1 << 20));
    if (up_host_ != nullptr) cudaFreeHost(up_host_);
    if (up_dev_ != nullptr) cudaFree(up_dev_);
    up_host_ = up_dev_ = nullptr;
    up_cap_ = 0;
    void* h = nullptr;
    void* d = nullptr;
    if (absl::Status s = CudaStatus(cudaHostAlloc(&h, cap, cudaHostAllocDefault), "pinned alloc");
        !s.ok()) {
      return s;
    }
    up_host_ = static_cast<uint8_t*>(h);
    if (absl::Status s = CudaStatus(cudaMalloc(&d, cap), "staging alloc"); !s.ok()) return s;
    up_dev_ = static_cast<uint8_t*>(d);
    up_cap_ = cap;
  }
  if (download_bytes > down_cap_) {
    const uint64_t cap =
        std::max<uint64_t>(download_bytes, std::max<uint64_t>(2 * down_cap_, 4 << 20));
    if (down_host_ != nullptr) cudaFreeHost(down_host_);
    down_host_ = nullptr;
    down_cap_ = 0;
    void* h = nullptr;
    if (absl::Status s = CudaStatus(cudaHostAlloc(&h, cap, cudaHostAllocDefault), "pinned alloc");
        !s.ok()) {
      return s;
    }
    down_host_ = static_cast<uint8_t*>(h);
    down_cap_ = cap;
  }
  return absl::OkStatus();
}

void* Staging::Upload(const void* src, uint64_t bytes, const void** pinned) {
  uint8_t* host = up_host_ + up_used_;
  uint8_t* dev = up_dev_ + up_used_;
  up_used_ += Align(bytes);
  std::memcpy(host, src, bytes);
  *pinned = host;
  return dev;
}

void* Staging::Download(void* dst, uint64_t bytes) {
  uint8_t* host = down_host_ + down_used_;
  down_used_ += Align(bytes);
  pending_.push_back({dst, host, bytes});
  return host;
}

void Staging::Deliver() {
  for (const Pending& p : pending_) std::memcpy(p.dst, p.src, p.bytes);
  pending_.clear();
  up_used_ = 0;
  down_used_ = 0;
}

}  // namespace rwkv::engine::cuda
