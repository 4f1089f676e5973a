// Feeds arbitrary bytes to the llama.cpp state-file parser. Whatever parses must re-encode in
// the layout it was read in to exactly the same bytes, and parse again to the same contents.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "rwkv/engine/state_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  auto f = rwkv::engine::ParseStateFile(bytes, "fuzz.bin");
  if (!f.ok()) return 0;
  auto encoded = rwkv::engine::EncodeStateFile(*f, f->layout);
  if (!encoded.ok()) std::abort();
  if (encoded->size() != size || !std::equal(encoded->begin(), encoded->end(), data)) std::abort();
  auto again = rwkv::engine::ParseStateFile(*encoded, "fuzz-again.bin");
  if (!again.ok() || again->layout != f->layout || again->tokens != f->tokens ||
      again->state.shape != f->state.shape) {
    std::abort();
  }
  return 0;
}
