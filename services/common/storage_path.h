// Resolution of artifact names (relative, '/'-separated) under a storage root such as
// RWKV_STORAGE_ROOT. Every name a client sends goes through ResolveStoragePath before any file
// is opened, so no request can reach a file outside the root.
#pragma once

#include <filesystem>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rwkv::services {

// Maximum accepted name length in bytes.
inline constexpr size_t kMaxStorageNameBytes = 1024;

// Returns root/name with symlinks in the existing part resolved. InvalidArgument (naming the
// name) for: an empty or over-long name, an absolute name, a NUL or backslash, an empty, "."
// or ".." component, or a result that leaves the root through a symlink. Symlinks that stay
// inside the root are followed. The target itself need not exist. Thread-safe.
absl::StatusOr<std::filesystem::path> ResolveStoragePath(const std::filesystem::path& root,
                                                         absl::string_view name);

// The storage root made absolute with symlinks resolved; NotFound when it does not exist,
// InvalidArgument when it is not a directory.
absl::StatusOr<std::filesystem::path> CanonicalStorageRoot(const std::filesystem::path& root);

}  // namespace rwkv::services
