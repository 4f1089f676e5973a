// Named initial states (states/NAME.bin under the storage root), read once and kept in
// memory, validated against the served model's state shape. Thread-safe.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "rwkv/engine/recurrent_state.h"
#include "services/worker/request.h"

namespace rwkv::worker {

// InvalidArgument unless `name` is 1..128 bytes of [A-Za-z0-9._-] and not "." or "..".
absl::Status ValidateArtifactName(const std::string& what, const std::string& name);

class StateStore {
 public:
  // `storage_root` may be empty (then every lookup is NotFound).
  StateStore(std::filesystem::path storage_root, engine::StateShape shape, int32_t n_vocab);

  // The state NAME: InvalidArgument for a malformed name or a file that is not a state file
  // or does not fit the model, NotFound when states/NAME.bin does not exist. A file that
  // changed on disk (size or mtime) is read again.
  absl::StatusOr<std::shared_ptr<const InitialState>> Get(const std::string& name);

 private:
  struct Cached {
    std::shared_ptr<const InitialState> state;
    std::filesystem::file_time_type mtime;
    uintmax_t size = 0;
  };

  const std::filesystem::path root_;
  const engine::StateShape shape_;
  const int32_t n_vocab_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Cached> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rwkv::worker
