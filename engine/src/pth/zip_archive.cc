#include "pth/zip_archive.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"

namespace rwkv::engine::pth {
namespace {

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr size_t kEndSize = 22;
constexpr size_t kCentralHeaderSize = 46;
constexpr size_t kLocalHeaderSize = 30;
// Deflate cannot expand data by more than about 1032:1.
constexpr uint64_t kMaxDeflateRatio = 1100;

uint16_t U16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t U32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t U64(const uint8_t* p) {
  return static_cast<uint64_t>(U32(p)) | (static_cast<uint64_t>(U32(p + 4)) << 32);
}

absl::Status Bad(std::string_view name, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(std::string(name), ": ", std::string(what)));
}

struct Directory {
  uint64_t entries = 0;
  uint64_t size = 0;
  uint64_t offset = 0;
};

absl::StatusOr<Directory> FindDirectory(std::span<const uint8_t> b, std::string_view name) {
  if (b.size() < kEndSize) return Bad(name, "truncated zip archive (no end of central directory)");
  const size_t lowest = b.size() > kEndSize + 0xFFFF ? b.size() - kEndSize - 0xFFFF : 0;
  size_t pos = b.size() - kEndSize;
  for (;;) {
    if (U32(&b[pos]) == kEndSig && pos + kEndSize + U16(&b[pos + 20]) == b.size()) break;
    if (pos == lowest) return Bad(name, "truncated zip archive (no end of central directory)");
    --pos;
  }
  const uint8_t* e = &b[pos];
  if (U16(e + 4) != 0 || U16(e + 6) != 0)
    return Bad(name, "multi-disk zip archives are not supported");
  Directory d{U16(e + 10), U32(e + 12), U32(e + 16)};
  const bool needs64 = d.entries == 0xFFFF || d.size == 0xFFFFFFFF || d.offset == 0xFFFFFFFF;
  if (pos >= 20 && U32(&b[pos - 20]) == kZip64LocatorSig) {
    const uint64_t z64 = U64(&b[pos - 20 + 8]);
    if (z64 > b.size() || b.size() - z64 < 56 || U32(&b[z64]) != kZip64EndSig) {
      return Bad(name, "bad zip64 end of central directory");
    }
    d.entries = U64(&b[z64 + 32]);
    d.size = U64(&b[z64 + 40]);
    d.offset = U64(&b[z64 + 48]);
  } else if (needs64) {
    return Bad(name, "truncated zip archive (zip64 locator missing)");
  }
  if (d.offset > b.size() || d.size > b.size() - d.offset) {
    return Bad(name, "truncated zip archive (central directory outside the file)");
  }
  if (d.entries > d.size / kCentralHeaderSize) {
    return Bad(name, absl::StrCat("zip central directory claims ", d.entries, " entries in ",
                                  d.size, " bytes"));
  }
  return d;
}

// Reads the zip64 extra field of a central header, replacing saturated 32-bit fields.
absl::Status ApplyZip64Extra(const uint8_t* extra, size_t len, uint64_t* usize, uint64_t* csize,
                             uint64_t* offset, std::string_view name) {
  while (len >= 4) {
    const uint16_t id = U16(extra);
    const uint16_t size = U16(extra + 2);
    if (size > len - 4) return Bad(name, "malformed zip extra field");
    if (id == 0x0001) {
      const uint8_t* p = extra + 4;
      size_t left = size;
      for (uint64_t* field : {usize, csize, offset}) {
        if (*field != 0xFFFFFFFF) continue;
        if (left < 8) return Bad(name, "malformed zip64 extra field");
        *field = U64(p);
        p += 8;
        left -= 8;
      }
    }
    extra += 4 + size;
    len -= 4 + size;
  }
  return absl::OkStatus();
}

}  // namespace

bool LooksLikeZip(std::span<const uint8_t> bytes) {
  return bytes.size() >= 4 && U32(bytes.data()) == kLocalHeaderSig;
}

absl::StatusOr<std::vector<ZipEntry>> ReadZipDirectory(std::span<const uint8_t> b,
                                                       std::string_view name) {
  auto dir = FindDirectory(b, name);
  if (!dir.ok()) return dir.status();
  std::vector<ZipEntry> entries;
  entries.reserve(dir->entries);
  uint64_t pos = dir->offset;
  const uint64_t end = dir->offset + dir->size;
  for (uint64_t i = 0; i < dir->entries; ++i) {
    if (end - pos < kCentralHeaderSize || U32(&b[pos]) != kCentralHeaderSig) {
      return Bad(name, absl::StrCat("malformed zip central directory at entry ", i));
    }
    const uint8_t* h = &b[pos];
    const uint16_t flags = U16(h + 8);
    ZipEntry e;
    e.method = U16(h + 10);
    e.crc32 = U32(h + 16);
    e.compressed_size = U32(h + 20);
    e.uncompressed_size = U32(h + 24);
    const size_t name_len = U16(h + 28), extra_len = U16(h + 30), comment_len = U16(h + 32);
    uint64_t local = U32(h + 42);
    if (end - pos - kCentralHeaderSize < name_len + extra_len + comment_len) {
      return Bad(name, absl::StrCat("malformed zip central directory at entry ", i));
    }
    e.name.assign(reinterpret_cast<const char*>(h + kCentralHeaderSize), name_len);
    absl::Status st = ApplyZip64Extra(h + kCentralHeaderSize + name_len, extra_len,
                                      &e.uncompressed_size, &e.compressed_size, &local, name);
    if (!st.ok()) return st;
    pos += kCentralHeaderSize + name_len + extra_len + comment_len;
    if (flags & 0x0001) return Bad(name, absl::StrCat("zip entry ", e.name, " is encrypted"));
    if (e.method != 0 && e.method != 8) {
      return Bad(name, absl::StrCat("zip entry ", e.name, " uses unsupported compression method ",
                                    e.method));
    }
    if (local > b.size() || b.size() - local < kLocalHeaderSize ||
        U32(&b[local]) != kLocalHeaderSig) {
      return Bad(name,
                 absl::StrCat("truncated zip archive (local header of ", e.name, " missing)"));
    }
    const uint64_t data = local + kLocalHeaderSize + U16(&b[local + 26]) + U16(&b[local + 28]);
    if (data > b.size() || e.compressed_size > b.size() - data) {
      return Bad(name,
                 absl::StrCat("truncated zip archive (entry ", e.name, " needs ", e.compressed_size,
                              " bytes at offset ", data, ", file has ", b.size(), ")"));
    }
    if (e.method == 0 && e.compressed_size != e.uncompressed_size) {
      return Bad(name, absl::StrCat("stored zip entry ", e.name, " has compressed size ",
                                    e.compressed_size, " != size ", e.uncompressed_size));
    }
    if (e.method == 8 && e.uncompressed_size > e.compressed_size * kMaxDeflateRatio + 1024) {
      return Bad(name,
                 absl::StrCat("zip entry ", e.name, " declares ", e.uncompressed_size,
                              " bytes from ", e.compressed_size, " compressed bytes (zip bomb?)"));
    }
    e.data_offset = data;
    entries.push_back(std::move(e));
  }
  return entries;
}

std::span<const uint8_t> StoredEntryBytes(std::span<const uint8_t> archive, const ZipEntry& entry) {
  return archive.subspan(entry.data_offset, entry.compressed_size);
}

absl::Status ExtractZipEntry(std::span<const uint8_t> archive, const ZipEntry& entry,
                             std::span<uint8_t> out, std::string_view name) {
  if (out.size() != entry.uncompressed_size) {
    return absl::InternalError(
        absl::StrCat(std::string(name), ": bad extraction buffer for ", entry.name));
  }
  std::span<const uint8_t> in = StoredEntryBytes(archive, entry);
  if (entry.method == 0) {
    if (!in.empty()) std::memcpy(out.data(), in.data(), in.size());
  } else {
    z_stream zs{};
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
      return absl::InternalError(absl::StrCat(std::string(name), ": inflateInit failed"));
    }
    uint64_t in_done = 0, out_done = 0;
    int rc = Z_OK;
    uint8_t overflow = 0;
    while (rc == Z_OK) {
      const uInt in_chunk = static_cast<uInt>(
          std::min<uint64_t>(in.size() - in_done, std::numeric_limits<uInt>::max()));
      zs.next_in = const_cast<Bytef*>(in.data() + in_done);
      zs.avail_in = in_chunk;
      // Once the declared size is reached, offer one spare byte to detect overlong streams.
      const bool full = out_done == out.size();
      const uInt out_chunk = full ? 1u
                                  : static_cast<uInt>(std::min<uint64_t>(
                                        out.size() - out_done, std::numeric_limits<uInt>::max()));
      zs.next_out = full ? &overflow : out.data() + out_done;
      zs.avail_out = out_chunk;
      rc = inflate(&zs, Z_NO_FLUSH);
      in_done += in_chunk - zs.avail_in;
      const uint64_t produced = out_chunk - zs.avail_out;
      if (full && produced > 0) {
        inflateEnd(&zs);
        return Bad(name, absl::StrCat("zip entry ", entry.name, " inflates to more than its ",
                                      "declared ", entry.uncompressed_size, " bytes"));
      }
      out_done += produced;
      if (rc == Z_OK && in_chunk - zs.avail_in == 0 && produced == 0) rc = Z_BUF_ERROR;
    }
    inflateEnd(&zs);
    if (rc != Z_STREAM_END) {
      return Bad(name, absl::StrCat("zip entry ", entry.name, " has a corrupt deflate stream"));
    }
    if (out_done != out.size()) {
      return Bad(name, absl::StrCat("zip entry ", entry.name, " inflates to ", out_done,
                                    " bytes, declared ", entry.uncompressed_size));
    }
  }
  uLong crc = crc32(0L, Z_NULL, 0);
  for (uint64_t done = 0; done < out.size();) {
    const uInt chunk = static_cast<uInt>(std::min<uint64_t>(out.size() - done, 1u << 30));
    crc = crc32(crc, out.data() + done, chunk);
    done += chunk;
  }
  if (static_cast<uint32_t>(crc) != entry.crc32) {
    return Bad(name, absl::StrCat("zip entry ", entry.name, " fails its CRC-32 check"));
  }
  return absl::OkStatus();
}

}  // namespace rwkv::engine::pth
