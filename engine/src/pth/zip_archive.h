// Minimal read-only zip archive access for torch.save files: central directory (with zip64),
// stored and deflated entries. Sizes are validated against the archive bytes; inflating is
// bounded by the entry's declared size, so a zip bomb cannot allocate more than it declares.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rwkv::engine::pth {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflated
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;
  uint64_t uncompressed_size = 0;
  uint64_t data_offset = 0;  // of the entry's (compressed) bytes in the archive
};

// Whether `bytes` starts like a zip archive (local file header signature).
bool LooksLikeZip(std::span<const uint8_t> bytes);

// Parses the central directory and every local header. InvalidArgument "<name>: ..." for a
// truncated or malformed archive, encrypted or unsupported entries.
absl::StatusOr<std::vector<ZipEntry>> ReadZipDirectory(std::span<const uint8_t> bytes,
                                                       std::string_view name);

// A stored entry's bytes, in place.
std::span<const uint8_t> StoredEntryBytes(std::span<const uint8_t> archive, const ZipEntry& entry);

// Writes the entry's uncompressed bytes into `out` (exactly uncompressed_size bytes), checking
// the CRC-32. Deflate streams that produce more or fewer bytes are rejected.
absl::Status ExtractZipEntry(std::span<const uint8_t> archive, const ZipEntry& entry,
                             std::span<uint8_t> out, std::string_view name);

}  // namespace rwkv::engine::pth
