// Feeds arbitrary bytes to the PyTorch checkpoint reader. The first byte picks the mode:
//  * even: the remaining bytes are the whole file (zip, legacy stream, or junk);
//  * odd: the remaining bytes become `archive/data.pkl` of a stored zip that also holds a
//    64-byte storage `archive/data/0`, so the fuzzer reaches the unpickler directly.
// Whatever parses must read every (small) floating-point tensor without faults.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "rwkv/engine/pth_reader.h"

namespace {

void U16(std::vector<uint8_t>* out, uint16_t v) {
  out->push_back(static_cast<uint8_t>(v));
  out->push_back(static_cast<uint8_t>(v >> 8));
}
void U32(std::vector<uint8_t>* out, uint32_t v) {
  U16(out, static_cast<uint16_t>(v));
  U16(out, static_cast<uint16_t>(v >> 16));
}

// A stored (uncompressed) zip with the given entries.
std::vector<uint8_t> StoredZip(
    const std::vector<std::pair<std::string, std::vector<uint8_t>>>& files) {
  std::vector<uint8_t> out, cd;
  for (const auto& [name, data] : files) {
    const uint32_t crc =
        static_cast<uint32_t>(crc32(0, data.data(), static_cast<uInt>(data.size())));
    const auto offset = static_cast<uint32_t>(out.size());
    for (std::vector<uint8_t>* v : {&out, &cd}) {
      const bool central = v == &cd;
      U32(v, central ? 0x02014b50 : 0x04034b50);
      if (central) U16(v, 20);
      U16(v, 20);
      U16(v, 0);
      U16(v, 0);
      U16(v, 0);
      U16(v, 0);
      U32(v, crc);
      U32(v, static_cast<uint32_t>(data.size()));
      U32(v, static_cast<uint32_t>(data.size()));
      U16(v, static_cast<uint16_t>(name.size()));
      U16(v, 0);
      if (central) {
        U16(v, 0);
        U16(v, 0);
        U16(v, 0);
        U32(v, 0);
        U32(v, offset);
      }
      v->insert(v->end(), name.begin(), name.end());
    }
    out.insert(out.end(), data.begin(), data.end());
  }
  const auto cd_offset = static_cast<uint32_t>(out.size());
  out.insert(out.end(), cd.begin(), cd.end());
  U32(&out, 0x06054b50);
  U16(&out, 0);
  U16(&out, 0);
  U16(&out, static_cast<uint16_t>(files.size()));
  U16(&out, static_cast<uint16_t>(files.size()));
  U32(&out, static_cast<uint32_t>(cd.size()));
  U32(&out, cd_offset);
  U16(&out, 0);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::vector<uint8_t> file;
  if (data[0] & 1) {
    std::vector<uint8_t> storage(64);
    for (size_t i = 0; i < storage.size(); ++i) storage[i] = static_cast<uint8_t>(i * 7);
    file = StoredZip({{"archive/data.pkl", std::vector<uint8_t>(data + 1, data + size)},
                      {"archive/data/0", storage}});
  } else {
    file.assign(data + 1, data + size);
  }
  auto ckpt = rwkv::engine::PthCheckpoint::Parse(file, "fuzz.pth");
  if (!ckpt.ok()) return 0;
  for (const rwkv::engine::PthTensorInfo& t : (*ckpt)->tensors()) {
    if (t.numel > (1u << 20)) continue;
    std::vector<float> out(t.numel);
    (void)(*ckpt)->ReadAsFloat32(t, out);
  }
  return 0;
}
