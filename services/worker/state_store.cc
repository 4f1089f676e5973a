#include "services/worker/state_store.h"

#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "rwkv/engine/state_file.h"
#include "services/common/storage_path.h"

namespace rwkv::worker {

absl::Status ValidateArtifactName(const std::string& what, const std::string& name) {
  if (name.empty() || name.size() > 128) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " name must be 1 to 128 bytes, got ", name.size()));
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " name '", name, "' may only contain [A-Za-z0-9._-]"));
    }
  }
  if (name == "." || name == "..") {
    return absl::InvalidArgumentError(absl::StrCat(what, " name '", name, "' is not allowed"));
  }
  return absl::OkStatus();
}

StateStore::StateStore(std::filesystem::path storage_root, engine::StateShape shape,
                       int32_t n_vocab, uint64_t budget_bytes)
    : root_(std::move(storage_root)),
      shape_(shape),
      n_vocab_(n_vocab),
      budget_bytes_(budget_bytes) {}

uint64_t StateStore::cached_bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

size_t StateStore::cached_count() const {
  absl::MutexLock lock(&mu_);
  return cache_.size();
}

void StateStore::Insert(const std::string& name, Cached entry) {
  if (auto it = cache_.find(name); it != cache_.end()) {
    bytes_ -= it->second.bytes;
    lru_.erase(it->second.lru);
    cache_.erase(it);
  }
  if (entry.bytes > budget_bytes_) return;  // served, but never kept
  lru_.push_front(name);
  entry.lru = lru_.begin();
  bytes_ += entry.bytes;
  cache_[name] = std::move(entry);
  while (bytes_ > budget_bytes_ && lru_.size() > 1) {
    auto victim = cache_.find(lru_.back());
    bytes_ -= victim->second.bytes;
    cache_.erase(victim);
    lru_.pop_back();
  }
}

absl::StatusOr<std::shared_ptr<const InitialState>> StateStore::Get(const std::string& name) {
  if (absl::Status s = ValidateArtifactName("state", name); !s.ok()) return s;
  if (root_.empty()) {
    return absl::NotFoundError(
        absl::StrCat("state '", name, "' not found: the worker has no storage root"));
  }
  absl::StatusOr<std::filesystem::path> path =
      services::ResolveStoragePath(root_, absl::StrCat("states/", name, ".bin"));
  if (!path.ok()) return path.status();
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(*path, ec);
  const auto mtime =
      ec ? std::filesystem::file_time_type{} : std::filesystem::last_write_time(*path, ec);
  if (ec) {
    return absl::NotFoundError(absl::StrCat("state '", name, "' not found (", path->string(), ")"));
  }
  {
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(name);
    if (it != cache_.end() && it->second.size == size && it->second.mtime == mtime) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      return it->second.state;
    }
  }
  absl::StatusOr<engine::StateFile> file = engine::ReadStateFile(path->string());
  if (!file.ok()) {
    return absl::Status(file.status().code(),
                        absl::StrCat("state '", name, "': ", file.status().message()));
  }
  const engine::StateShape& got = file->state.shape;
  if (got != shape_ ||
      file->state.shift.size() != shape_.n_layer * shape_.shift_floats_per_layer() ||
      file->state.wkv.size() != shape_.n_layer * shape_.wkv_floats_per_layer()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "state '", name, "' has shape (n_layer ", got.n_layer, ", n_embd ", got.n_embd,
        ", head_size ", got.head_size, ") but the model needs (n_layer ", shape_.n_layer,
        ", n_embd ", shape_.n_embd, ", head_size ", shape_.head_size, ")"));
  }
  auto state = std::make_shared<InitialState>();
  state->name = name;
  state->state = std::move(file->state);
  const uint64_t vocab = file->n_vocab();
  if (vocab == static_cast<uint64_t>(n_vocab_) && !file->logits.empty()) {
    state->logits.assign(file->logits.end() - n_vocab_, file->logits.end());
  }
  const uint64_t bytes = state->state.bytes() + state->logits.size() * sizeof(float);
  absl::MutexLock lock(&mu_);
  Insert(name, Cached{state, mtime, size, bytes, {}});
  return std::shared_ptr<const InitialState>(state);
}

}  // namespace rwkv::worker
