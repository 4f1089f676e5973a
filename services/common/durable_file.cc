#include "services/common/durable_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace rwkv::services {
namespace {

absl::Status Errno(absl::string_view what, const std::filesystem::path& path, int err) {
  std::string message =
      absl::StrCat(what, " ", path.string(), ": ", std::string(std::strerror(err)));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::InternalError(message);
  }
}

}  // namespace

absl::Status SyncPath(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", path, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Errno("cannot fsync", path, err);
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::filesystem::path& path, absl::string_view contents) {
  const std::filesystem::path tmp =
      path.parent_path() / absl::StrCat(".", path.filename().string(), ".tmp");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create", tmp, errno);
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return Errno("cannot write", tmp, err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Errno("cannot fsync", tmp, err);
  }
  absl::Status s = RenameDurably(tmp, path);
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

absl::Status RenameDurably(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return Errno("cannot rename to", to, errno);
  const std::filesystem::path dir = to.has_parent_path() ? to.parent_path() : ".";
  return SyncPath(dir);
}

absl::Status RenameNoReplaceDurably(const std::filesystem::path& from,
                                    const std::filesystem::path& to) {
  int rc = ::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE);
  if (rc != 0 && (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP)) {
    // Filesystems without RENAME_NOREPLACE: link(2) fails atomically when `to` exists.
    rc = ::link(from.c_str(), to.c_str());
    if (rc == 0) ::unlink(from.c_str());
  }
  if (rc != 0 && errno == EEXIST) {
    return absl::AlreadyExistsError(absl::StrCat(to.string(), " already exists"));
  }
  if (rc != 0) return Errno("cannot rename to", to, errno);
  const std::filesystem::path dir = to.has_parent_path() ? to.parent_path() : ".";
  return SyncPath(dir);
}

absl::Status CreateDirectoriesDurably(const std::filesystem::path& path) {
  std::vector<std::filesystem::path> missing;  // deepest first
  std::error_code ec;
  for (std::filesystem::path p = path; !p.empty() && !std::filesystem::exists(p, ec);
       p = p.parent_path()) {
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0755) != 0 && errno != EEXIST)
      return Errno("cannot create", *it, errno);
    if (absl::Status s = SyncPath(*it); !s.ok()) return s;
    const std::filesystem::path parent = it->has_parent_path() ? it->parent_path() : ".";
    if (absl::Status s = SyncPath(parent); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace rwkv::services
