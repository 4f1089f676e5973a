// The recurrent states of sessions between requests: an LRU bounded in bytes, with an idle
// expiry. A session's entry holds its state and the tokens that were produced but not yet
// fed (the last sampled token), so the next request continues exactly where the previous
// one stopped. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "rwkv/engine/recurrent_state.h"

namespace rwkv::worker {

struct SessionEntry {
  engine::RecurrentState state;
  std::vector<int32_t> pending_tokens;  // to feed before the next request's prompt
  uint64_t bytes() const { return state.bytes() + pending_tokens.size() * sizeof(int32_t); }
};

class SessionCache {
 public:
  // `max_bytes` 0 disables sessions (Put drops everything). Entries idle longer than
  // `idle_timeout` are dropped lazily.
  SessionCache(uint64_t max_bytes, absl::Duration idle_timeout);

  // Copies the entry's state into `state` (reusing its buffers), appends its pending tokens
  // to `tokens` and marks it recently used. False when the session is unknown or expired.
  bool CopyTo(const std::string& id, engine::RecurrentState& state, std::vector<int32_t>& tokens,
              absl::Time now = absl::Now());
  bool Contains(const std::string& id, absl::Time now = absl::Now());
  // Inserts or replaces, then evicts least recently used entries until within budget. An
  // entry larger than the whole budget is not kept. Returns how many entries were evicted.
  size_t Put(const std::string& id, SessionEntry entry, absl::Time now = absl::Now());
  void Erase(const std::string& id);

  size_t size() const;
  uint64_t bytes() const;

 private:
  struct Node {
    std::string id;
    SessionEntry entry;
    absl::Time last_used;
  };
  using List = std::list<Node>;  // most recently used first

  size_t ExpireLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseLocked(List::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint64_t max_bytes_;
  const absl::Duration idle_timeout_;
  mutable absl::Mutex mu_;
  List lru_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, List::iterator> index_ ABSL_GUARDED_BY(mu_);
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rwkv::worker
