// Internal: where a checkpoint's storage lives in the file.
#pragma once

#include <cstdint>
#include <string>

#include "pth/zip_archive.h"
#include "rwkv/engine/pth_reader.h"

namespace rwkv::engine {

struct PthCheckpoint::Storage {
  PthDtype dtype = PthDtype::kF32;
  std::string key;
  uint64_t numel = 0;
  // For zip files the archive entry; for legacy files a stored "entry" at the raw bytes.
  pth::ZipEntry entry;
};

}  // namespace rwkv::engine
