// Writes a file so that it appears at its final path only when complete: data goes to a
// temporary file in the same directory, which is fsynced and renamed into place by Commit().
// Destroying an uncommitted AtomicFile removes the temporary file.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rwkv::engine {

class AtomicFile {
 public:
  // Creates "<dir>/.<name>.tmp.XXXXXX" beside `path`.
  static absl::StatusOr<AtomicFile> Create(const std::string& path);
  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  ~AtomicFile();

  absl::Status Write(std::span<const uint8_t> data);
  uint64_t bytes_written() const { return written_; }
  // fsync, rename over `path`, fsync the directory.
  absl::Status Commit();
  const std::string& temp_path() const { return temp_path_; }

 private:
  AtomicFile(std::string path, std::string temp_path, int fd);
  void Abandon();

  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  uint64_t written_ = 0;
  bool committed_ = false;
};

// Convenience: writes `data` to `path` atomically.
absl::Status WriteFileAtomically(const std::string& path, std::span<const uint8_t> data);

}  // namespace rwkv::engine
