#include "util/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace rwkv::engine {
namespace {
absl::Status ErrnoError(const std::string& path, std::string_view what) {
  return absl::InternalError(
      absl::StrCat(path, ": ", std::string(what), ": ", std::strerror(errno)));
}
}  // namespace

AtomicFile::AtomicFile(std::string path, std::string temp_path, int fd)
    : path_(std::move(path)), temp_path_(std::move(temp_path)), fd_(fd) {}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : path_(std::move(other.path_)),
      temp_path_(std::move(other.temp_path_)),
      fd_(other.fd_),
      written_(other.written_),
      committed_(other.committed_) {
  other.fd_ = -1;
  other.committed_ = true;
}

AtomicFile::~AtomicFile() { Abandon(); }

void AtomicFile::Abandon() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
  committed_ = true;
}

absl::StatusOr<AtomicFile> AtomicFile::Create(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": not a file path"));
  std::string templ = absl::StrCat(dir, "/.", base, ".tmp.XXXXXX");
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  const int fd = mkstemp(buf.data());
  if (fd < 0) return ErrnoError(path, "cannot create temporary file");
  return AtomicFile(path, std::string(buf.data()), fd);
}

absl::Status AtomicFile::Write(std::span<const uint8_t> data) {
  const uint8_t* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(path_, "write failed");
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  written_ += data.size();
  return absl::OkStatus();
}

absl::Status AtomicFile::Commit() {
  if (::fsync(fd_) != 0) return ErrnoError(path_, "fsync failed");
  if (::close(fd_) != 0) {
    fd_ = -1;
    return ErrnoError(path_, "close failed");
  }
  fd_ = -1;
  // The temporary file is created 0600; published artifacts are world-readable.
  ::chmod(temp_path_.c_str(), 0644);
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) return ErrnoError(path_, "rename failed");
  committed_ = true;
  const size_t slash = path_.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path, std::span<const uint8_t> data) {
  auto file = AtomicFile::Create(path);
  if (!file.ok()) return file.status();
  if (auto s = file->Write(data); !s.ok()) return s;
  return file->Commit();
}

}  // namespace rwkv::engine
