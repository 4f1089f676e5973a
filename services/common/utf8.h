// Making byte strings valid UTF-8 for proto3 `string` fields, which parsers reject when the
// bytes are not UTF-8. Header-only so clients and tests can use it without linking.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rwkv::services {

// Length of the well-formed UTF-8 sequence at s[i], or 0 when the bytes there do not start
// one; *maximal_subpart is then the length of the longest prefix that could have started
// one (at least 1), as Unicode §3.9 "U+FFFD substitution of maximal subparts" defines.
inline size_t Utf8SequenceAt(std::string_view s, size_t i, size_t* maximal_subpart) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b0 = b(i);
  *maximal_subpart = 1;
  if (b0 < 0x80) return 1;
  size_t len = 0;
  uint8_t lo = 0x80, hi = 0xBF;  // range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (size_t k = 1; k < len; ++k) {
    if (i + k >= s.size()) return 0;
    const uint8_t c = b(i + k);
    const bool ok = k == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
    if (!ok) return 0;
    *maximal_subpart = k + 1;
  }
  return len;
}

// `bytes` with every ill-formed subsequence replaced by U+FFFD; valid input comes back as is.
inline std::string ToValidUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    size_t subpart = 1;
    const size_t n = Utf8SequenceAt(bytes, i, &subpart);
    if (n > 0) {
      out.append(bytes.substr(i, n));
      i += n;
    } else {
      out.append("\xEF\xBF\xBD");
      i += subpart;
    }
  }
  return out;
}

}  // namespace rwkv::services
