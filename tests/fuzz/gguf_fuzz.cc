// Feeds arbitrary bytes to the GGUF parser; when a file parses, its tensors must lie inside the
// input and a rewrite must parse to the same metadata.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "rwkv/engine/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using rwkv::engine::GgufFile;
  auto file = GgufFile::Parse(std::span<const uint8_t>(data, size), "fuzz.gguf");
  if (!file.ok()) return 0;
  for (const auto& t : (*file)->tensors()) {
    if (t.data < data || t.data + t.size_bytes > data + size) std::abort();
  }
  rwkv::engine::GgufWriter writer;
  if (!writer.AddAllFrom(**file).ok()) return 0;
  auto bytes = writer.WriteToBuffer();
  if (!bytes.ok()) std::abort();
  auto again = GgufFile::Parse(*bytes, "rewrite.gguf");
  if (!again.ok() || (*again)->kvs().size() != (*file)->kvs().size() ||
      (*again)->tensors().size() != (*file)->tensors().size()) {
    std::abort();
  }
  return 0;
}
