// A double-array trie over byte strings for longest-prefix matching: one transition is
// base[s] + byte, valid when check[] of the target names s. Built once, then read-only and
// safe for concurrent lookups.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rwkv::engine {

class ByteTrie {
 public:
  // Key i maps to value i. Empty keys are skipped; among equal keys the highest index wins
  // (llama.cpp's trie overwrites on re-insert).
  explicit ByteTrie(const std::vector<std::string>& keys);

  // Length of the longest key that is a prefix of [p, p + n) and its value in *value;
  // 0 (and *value untouched) when no key matches.
  size_t LongestPrefix(const uint8_t* p, size_t n, int32_t* value) const {
    const Unit* units = units_.data();
    int32_t s = 0;
    size_t best = 0;
    for (size_t i = 0; i < n; ++i) {
      // Every base leaves room for 256 slots (the array is padded), so t is in range.
      const int32_t t = units[s].base + p[i];
      if (units[t].check != s) break;
      s = t;
      if (units[s].value >= 0) {
        *value = units[s].value;
        best = i + 1;
      }
    }
    return best;
  }

  size_t num_units() const { return units_.size(); }

  struct Unit {
    int32_t base = 0;    // children of this unit live at base + byte
    int32_t check = -1;  // parent unit; -1 for a free slot
    int32_t value = -1;  // key index ending here, or -1
  };

 private:
  std::vector<Unit> units_;
};

}  // namespace rwkv::engine
