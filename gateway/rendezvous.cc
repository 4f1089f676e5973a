#include "gateway/rendezvous.h"

#include <algorithm>
#include <utility>

namespace rwkv::gateway {
namespace {

constexpr uint64_t kFnvOffset = 14695981039346656037ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;

uint64_t FnvAppend(uint64_t hash, absl::string_view bytes) {
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= kFnvPrime;
  }
  return hash;
}

// splitmix64's finalizer: FNV alone leaves weights of similar strings correlated.
uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

}  // namespace

uint64_t RendezvousWeight(absl::string_view key, absl::string_view worker) {
  uint64_t hash = FnvAppend(kFnvOffset, key);
  hash = FnvAppend(hash, absl::string_view("\0", 1));  // "ab"+"c" differs from "a"+"bc"
  return Mix(FnvAppend(hash, worker));
}

std::vector<std::string> RendezvousRanking(absl::string_view key,
                                           absl::Span<const std::string> workers) {
  std::vector<std::pair<uint64_t, std::string>> weighted;
  weighted.reserve(workers.size());
  for (const std::string& w : workers) weighted.emplace_back(RendezvousWeight(key, w), w);
  std::sort(weighted.begin(), weighted.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<std::string> ranking;
  ranking.reserve(weighted.size());
  for (auto& [weight, address] : weighted) ranking.push_back(std::move(address));
  return ranking;
}

}  // namespace rwkv::gateway
