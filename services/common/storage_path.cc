#include "services/common/storage_path.h"

#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace rwkv::services {
namespace {

bool IsWithin(const std::filesystem::path& root, const std::filesystem::path& path) {
  auto r = root.begin();
  auto p = path.begin();
  for (; r != root.end(); ++r, ++p) {
    // A trailing separator shows up as an empty final component of the root.
    if (r->empty() && std::next(r) == root.end()) return true;
    if (p == path.end() || *r != *p) return false;
  }
  return true;
}

absl::Status Invalid(absl::string_view name, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("path '", name, "' ", why));
}

}  // namespace

absl::StatusOr<std::filesystem::path> CanonicalStorageRoot(const std::filesystem::path& root) {
  std::error_code ec;
  const std::filesystem::path canonical = std::filesystem::canonical(root, ec);
  if (ec) {
    return absl::NotFoundError(absl::StrCat("storage root ", root.string(), ": ", ec.message()));
  }
  if (!std::filesystem::is_directory(canonical, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("storage root ", root.string(), " is not a directory"));
  }
  return canonical;
}

absl::StatusOr<std::filesystem::path> ResolveStoragePath(const std::filesystem::path& root,
                                                         absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("path is empty");
  if (name.size() > kMaxStorageNameBytes) {
    return Invalid(name.substr(0, 64), "is longer than 1024 bytes");
  }
  if (name.front() == '/') return Invalid(name, "is absolute; names are relative to the root");
  if (name.find('\0') != absl::string_view::npos) return Invalid(name, "contains a NUL byte");
  if (name.find('\\') != absl::string_view::npos) return Invalid(name, "contains a backslash");
  for (absl::string_view part : absl::StrSplit(name, '/')) {
    if (part.empty() || part == ".") return Invalid(name, "has an empty or '.' component");
    if (part == "..") return Invalid(name, "contains '..'");
  }
  absl::StatusOr<std::filesystem::path> canonical_root = CanonicalStorageRoot(root);
  if (!canonical_root.ok()) return canonical_root.status();
  std::error_code ec;
  // weakly_canonical leaves a dangling symlink unresolved, and writing through one could create
  // a file outside the root, so any dangling link on the way is refused.
  std::filesystem::path prefix = *canonical_root;
  for (absl::string_view part : absl::StrSplit(name, '/')) {
    prefix /= std::string(part);
    const auto st = std::filesystem::symlink_status(prefix, ec);
    if (ec || st.type() == std::filesystem::file_type::not_found) break;
    if (st.type() == std::filesystem::file_type::symlink && !std::filesystem::exists(prefix, ec)) {
      return Invalid(name, "goes through a dangling symlink");
    }
  }
  ec.clear();
  const std::filesystem::path resolved =
      std::filesystem::weakly_canonical(*canonical_root / std::string(name), ec);
  if (ec) return Invalid(name, absl::StrCat("cannot be resolved: ", ec.message()));
  if (!IsWithin(*canonical_root, resolved) || resolved == *canonical_root) {
    return Invalid(name, "leaves the storage root through a symlink");
  }
  return resolved;
}

}  // namespace rwkv::services
