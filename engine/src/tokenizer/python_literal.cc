// Python str/bytes literal decoding for the World vocabulary file. The file is meant to be
// read with ast.literal_eval, so this follows CPython's tokenizer and escape decoder
// (Objects/unicodeobject.c, Objects/bytesobject.c) for single-line literals.
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rwkv/engine/world_vocab.h"

namespace rwkv::engine {
namespace {

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Length of the well-formed UTF-8 sequence at s[i] (as Python's strict decoder accepts it:
// no overlongs, no surrogates, nothing above U+10FFFF), or 0 if there is none.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b0 = byte(i);
  if (b0 < 0x80) return 1;
  size_t n;
  uint8_t lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return n;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads exactly `digits` hex digits at body[*i]; advances *i.
absl::StatusOr<uint32_t> ReadHex(std::string_view body, size_t* i, int digits, char escape) {
  uint32_t v = 0;
  for (int k = 0; k < digits; ++k) {
    const int h = *i < body.size() ? HexValue(body[*i]) : -1;
    if (h < 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("truncated \\%c escape (needs %d hex digits)", escape, digits));
    }
    v = (v << 4) | static_cast<uint32_t>(h);
    ++*i;
  }
  return v;
}

absl::Status AppendCodePoint(uint32_t cp, bool is_bytes, std::string* out) {
  if (is_bytes) {
    if (cp > 0xFF) {
      return absl::InvalidArgumentError(
          absl::StrFormat("escape value 0x%x does not fit in a byte", cp));
    }
    out->push_back(static_cast<char>(cp));
    return absl::OkStatus();
  }
  if (cp > 0x10FFFF) {
    return absl::InvalidArgumentError(absl::StrFormat("code point 0x%x is above U+10FFFF", cp));
  }
  if (cp >= 0xD800 && cp <= 0xDFFF) {
    return absl::InvalidArgumentError(
        absl::StrFormat("surrogate U+%04X cannot be encoded as UTF-8", cp));
  }
  AppendUtf8(cp, out);
  return absl::OkStatus();
}

absl::StatusOr<std::string> DecodeBody(std::string_view body, bool is_bytes, bool is_raw) {
  std::string out;
  out.reserve(body.size());
  for (size_t i = 0; i < body.size();) {
    const char c = body[i];
    const auto uc = static_cast<uint8_t>(c);
    if (c == '\n' || c == '\r') {
      return absl::InvalidArgumentError("line break inside a single-quoted literal");
    }
    if (uc >= 0x80) {
      if (is_bytes) {
        return absl::InvalidArgumentError("bytes literal contains a non-ASCII character");
      }
      const size_t n = Utf8SequenceLength(body, i);
      if (n == 0) {
        return absl::InvalidArgumentError(absl::StrFormat("invalid UTF-8 at literal offset %d", i));
      }
      out.append(body.substr(i, n));
      i += n;
      continue;
    }
    if (c != '\\' || is_raw) {
      out.push_back(c);
      ++i;
      continue;
    }
    // An escape; the closing-quote scan guarantees a character follows the backslash.
    const char e = body[i + 1];
    i += 2;
    switch (e) {
      case '\\':
        out.push_back('\\');
        break;
      case '\'':
        out.push_back('\'');
        break;
      case '"':
        out.push_back('"');
        break;
      case 'a':
        out.push_back('\a');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'v':
        out.push_back('\v');
        break;
      case 'x': {
        absl::StatusOr<uint32_t> v = ReadHex(body, &i, 2, 'x');
        if (!v.ok()) return v.status();
        if (absl::Status s = AppendCodePoint(*v, is_bytes, &out); !s.ok()) return s;
        break;
      }
      case '0':
      case '1':
      case '2':
      case '3':
      case '4':
      case '5':
      case '6':
      case '7': {
        uint32_t v = static_cast<uint32_t>(e - '0');
        for (int k = 0; k < 2 && i < body.size() && body[i] >= '0' && body[i] <= '7'; ++k) {
          v = v * 8 + static_cast<uint32_t>(body[i++] - '0');
        }
        if (absl::Status s = AppendCodePoint(v, is_bytes, &out); !s.ok()) return s;
        break;
      }
      case 'u':
      case 'U':
        if (is_bytes) {  // not an escape in bytes literals: kept verbatim
          out.push_back('\\');
          out.push_back(e);
          break;
        } else {
          absl::StatusOr<uint32_t> v = ReadHex(body, &i, e == 'u' ? 4 : 8, e);
          if (!v.ok()) return v.status();
          if (absl::Status s = AppendCodePoint(*v, false, &out); !s.ok()) return s;
          break;
        }
      case 'N':
        if (!is_bytes) {
          return absl::InvalidArgumentError("\\N{name} escapes are not supported");
        }
        [[fallthrough]];
      default:
        // Unknown escapes keep the backslash (CPython warns but accepts them).
        out.push_back('\\');
        --i;
        break;
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> ParsePythonLiteral(std::string_view literal) {
  const size_t q = literal.find_first_of("'\"");
  const std::string prefix = q == std::string_view::npos || q > 2
                                 ? "?"
                                 : absl::AsciiStrToLower(std::string(literal.substr(0, q)));
  if (prefix != "" && prefix != "b" && prefix != "r" && prefix != "u" && prefix != "br" &&
      prefix != "rb") {
    return absl::InvalidArgumentError(
        absl::StrCat("not a Python str or bytes literal: ", std::string(literal.substr(0, 40))));
  }
  const bool is_bytes = prefix.find('b') != std::string::npos;
  const bool is_raw = prefix.find('r') != std::string::npos;
  const char quote = literal[q];
  if (literal.size() - q >= 3 && literal[q + 1] == quote && literal[q + 2] == quote) {
    return absl::InvalidArgumentError("triple-quoted literals are not supported");
  }
  // Find the closing quote: a backslash always protects the next character (raw too).
  size_t end = q + 1;
  while (end < literal.size() && literal[end] != quote) {
    end += literal[end] == '\\' ? 2 : 1;
  }
  if (end >= literal.size()) {
    return absl::InvalidArgumentError("unterminated literal");
  }
  if (end + 1 != literal.size()) {
    return absl::InvalidArgumentError(absl::StrCat("unexpected text after the closing quote: ",
                                                   std::string(literal.substr(end + 1, 40))));
  }
  return DecodeBody(literal.substr(q + 1, end - q - 1), is_bytes, is_raw);
}

}  // namespace rwkv::engine
