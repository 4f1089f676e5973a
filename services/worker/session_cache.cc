#include "services/worker/session_cache.h"

#include <utility>

namespace rwkv::worker {

SessionCache::SessionCache(uint64_t max_bytes, absl::Duration idle_timeout)
    : max_bytes_(max_bytes), idle_timeout_(idle_timeout) {}

size_t SessionCache::ExpireLocked(absl::Time now) {
  size_t expired = 0;
  // The list is ordered by last use, so expired entries sit at the back.
  while (!lru_.empty() && now - lru_.back().last_used > idle_timeout_) {
    EraseLocked(std::prev(lru_.end()));
    ++expired;
  }
  return expired;
}

void SessionCache::EraseLocked(List::iterator it) {
  bytes_ -= it->entry.bytes();
  index_.erase(it->id);
  lru_.erase(it);
}

bool SessionCache::CopyTo(const std::string& id, engine::RecurrentState& state,
                          std::vector<int32_t>& tokens, absl::Time now) {
  absl::MutexLock lock(&mu_);
  ExpireLocked(now);
  auto found = index_.find(id);
  if (found == index_.end()) return false;
  List::iterator it = found->second;
  it->last_used = now;
  lru_.splice(lru_.begin(), lru_, it);
  // Vector copy-assignment reuses out's capacity, so a slot's buffers are not reallocated.
  state.shape = it->entry.state.shape;
  state.shift = it->entry.state.shift;
  state.wkv = it->entry.state.wkv;
  tokens.insert(tokens.end(), it->entry.pending_tokens.begin(), it->entry.pending_tokens.end());
  return true;
}

bool SessionCache::Contains(const std::string& id, absl::Time now) {
  absl::MutexLock lock(&mu_);
  ExpireLocked(now);
  return index_.contains(id);
}

size_t SessionCache::Put(const std::string& id, SessionEntry entry, absl::Time now) {
  absl::MutexLock lock(&mu_);
  size_t evicted = ExpireLocked(now);
  if (auto found = index_.find(id); found != index_.end()) EraseLocked(found->second);
  const uint64_t size = entry.bytes();
  if (size > max_bytes_) return evicted;
  while (!lru_.empty() && bytes_ + size > max_bytes_) {
    EraseLocked(std::prev(lru_.end()));
    ++evicted;
  }
  lru_.push_front(Node{id, std::move(entry), now});
  index_[id] = lru_.begin();
  bytes_ += size;
  return evicted;
}

void SessionCache::Erase(const std::string& id) {
  absl::MutexLock lock(&mu_);
  if (auto found = index_.find(id); found != index_.end()) EraseLocked(found->second);
}

size_t SessionCache::size() const {
  absl::MutexLock lock(&mu_);
  return lru_.size();
}

uint64_t SessionCache::bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

}  // namespace rwkv::worker
