#include "services/worker/state_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "rwkv/engine/state_file.h"
#include "services/common/storage_path.h"

namespace rwkv::worker {
namespace {

int64_t Nanoseconds(const struct timespec& t) {
  return static_cast<int64_t>(t.tv_sec) * 1000000000 + static_cast<int64_t>(t.tv_nsec);
}

// Reads `size` bytes from the start of `fd`; the file must not be shorter.
absl::StatusOr<std::vector<uint8_t>> ReadAll(int fd, size_t size) {
  std::vector<uint8_t> bytes(size);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, bytes.data() + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(absl::StrCat("read failed: ", std::strerror(errno)));
    if (n == 0) return absl::InvalidArgumentError("file shrank while it was read");
    done += static_cast<size_t>(n);
  }
  return bytes;
}

}  // namespace

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
  const int fd = ::open(path->c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(absl::StrCat("state '", name, "' not found (", path->string(), ")"));
  }
  absl::Cleanup close_fd = [fd] { ::close(fd); };
  struct stat st = {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("state '", name, "' is not a regular file (", path->string(), ")"));
  }
  const FileVersion version{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                            static_cast<int64_t>(st.st_size), Nanoseconds(st.st_mtim),
                            Nanoseconds(st.st_ctim)};
  {
    absl::MutexLock lock(&mu_);
    // One reader per name: the others wait for it and then find its result in the cache.
    auto not_loading = [this, &name]()
                           ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !loading_.contains(name); };
    mu_.Await(absl::Condition(&not_loading));
    auto it = cache_.find(name);
    if (it != cache_.end() && it->second.version == version) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      return it->second.state;
    }
    loading_.insert(name);
  }
  absl::StatusOr<std::shared_ptr<const InitialState>> loaded = Load(name, fd, version);
  absl::MutexLock lock(&mu_);
  loading_.erase(name);
  return loaded;
}

absl::StatusOr<std::shared_ptr<const InitialState>> StateStore::Load(const std::string& name,
                                                                     int fd,
                                                                     const FileVersion& version) {
  absl::StatusOr<std::vector<uint8_t>> bytes = ReadAll(fd, static_cast<size_t>(version.size));
  if (!bytes.ok()) {
    return absl::Status(bytes.status().code(),
                        absl::StrCat("state '", name, "': ", bytes.status().message()));
  }
  absl::StatusOr<engine::StateFile> file =
      engine::ParseStateFile(*bytes, absl::StrCat("states/", name, ".bin"));
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
  const uint64_t held = state->state.bytes() + state->logits.size() * sizeof(float);
  absl::MutexLock lock(&mu_);
  Insert(name, Cached{state, version, held, {}});
  return std::shared_ptr<const InitialState>(state);
}

}  // namespace rwkv::worker
