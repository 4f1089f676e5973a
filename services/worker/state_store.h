// Named initial states (states/NAME.bin under the storage root), read once and kept in
// memory up to a byte budget (least recently used dropped first; requests holding a dropped
// state keep it alive), validated against the served model's state shape. Thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <list>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "rwkv/engine/recurrent_state.h"
#include "services/worker/request.h"

namespace rwkv::worker {

// InvalidArgument unless `name` is 1..128 bytes of [A-Za-z0-9._-] and not "." or "..".
absl::Status ValidateArtifactName(const std::string& what, const std::string& name);

class StateStore {
 public:
  // `storage_root` may be empty (then every lookup is NotFound). States beyond
  // `budget_bytes` are read again on their next use.
  StateStore(std::filesystem::path storage_root, engine::StateShape shape, int32_t n_vocab,
             uint64_t budget_bytes = kDefaultBudgetBytes);

  static constexpr uint64_t kDefaultBudgetBytes = uint64_t{256} << 20;

  // The state NAME: InvalidArgument for a malformed name or a file that is not a state file
  // or does not fit the model, NotFound when states/NAME.bin does not exist. The cache is
  // keyed on the identity of the file actually read (device, inode, size, mtime and ctime
  // from the open descriptor), so a replaced or rewritten file is read again; concurrent
  // misses of one name read it once.
  absl::StatusOr<std::shared_ptr<const InitialState>> Get(const std::string& name);

  // Memory held by the cached states, and how many there are.
  uint64_t cached_bytes() const;
  size_t cached_count() const;

 private:
  // What fstat says about one version of a file.
  struct FileVersion {
    uint64_t device = 0;
    uint64_t inode = 0;
    int64_t size = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    bool operator==(const FileVersion&) const = default;
  };
  struct Cached {
    std::shared_ptr<const InitialState> state;
    FileVersion version;
    uint64_t bytes = 0;
    std::list<std::string>::iterator lru;  // position in lru_
  };

  // Inserts or replaces `name`, then drops least recently used states over the budget.
  void Insert(const std::string& name, Cached entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads and validates the open file `fd` (version `version`) as state `name`.
  absl::StatusOr<std::shared_ptr<const InitialState>> Load(const std::string& name, int fd,
                                                           const FileVersion& version);

  const std::filesystem::path root_;
  const engine::StateShape shape_;
  const int32_t n_vocab_;
  const uint64_t budget_bytes_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Cached> cache_ ABSL_GUARDED_BY(mu_);
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);  // most recently used first
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_set<std::string> loading_ ABSL_GUARDED_BY(mu_);  // names being read
};

}  // namespace rwkv::worker
