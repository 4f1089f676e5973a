// rwkv_vocab_v20230424.txt reader and llama.cpp's GGUF token escaping (docs/engine/tokenizer.md).
#include "rwkv/engine/world_vocab.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rwkv/engine/tokenizer.h"

namespace rwkv::engine {
namespace {

// The real file is about 1 MB; anything this large is not a vocabulary.
constexpr uint64_t kMaxVocabFileBytes = 256ull << 20;
// Bounds the padding WorldVocabGgufTokens appends (the World vocabulary has 65,536 rows).
constexpr uint32_t kMaxGgufVocab = 1u << 24;

bool ParseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

absl::Status LineError(std::string_view name, uint64_t line, std::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(name), ":", line, ": ", std::string(problem)));
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseWorldVocab(std::string_view body,
                                                         std::string_view name) {
  std::vector<std::string> vocab;
  uint64_t line_no = 0;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t eol = body.find('\n', pos);
    if (eol == std::string_view::npos) eol = body.size();
    std::string_view line = body.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    const size_t first = line.find(' ');
    const size_t last = line.rfind(' ');
    if (first == std::string_view::npos || first == last) {
      return LineError(name, line_no, "expected '<id> <literal> <byte length>'");
    }
    uint64_t id = 0, length = 0;
    if (!ParseDecimal(line.substr(0, first), &id)) {
      return LineError(name, line_no,
                       absl::StrCat("bad token id '",
                                    std::string(line.substr(0, std::min<size_t>(first, 20))), "'"));
    }
    if (id != line_no) {
      return LineError(name, line_no,
                       absl::StrCat("token id ", id, " out of order (expected ", line_no, ")"));
    }
    if (!ParseDecimal(line.substr(last + 1), &length)) {
      return LineError(
          name, line_no,
          absl::StrCat("bad byte length '", std::string(line.substr(last + 1, 20)), "'"));
    }
    absl::StatusOr<std::string> bytes =
        ParsePythonLiteral(line.substr(first + 1, last - first - 1));
    if (!bytes.ok()) {
      return LineError(name, line_no, absl::StrCat("token ", id, ": ", bytes.status().message()));
    }
    if (bytes->size() != length) {
      return LineError(
          name, line_no,
          absl::StrCat("token ", id, " has ", bytes->size(), " bytes but the line says ", length));
    }
    vocab.push_back(*std::move(bytes));
  }
  if (vocab.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(name), ": vocabulary file has no tokens"));
  }
  return vocab;
}

absl::StatusOr<std::vector<std::string>> ReadWorldVocabFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    const std::string what =
        absl::StrCat(path, ": cannot open vocabulary file: ", std::strerror(err));
    return err == EACCES ? absl::PermissionDeniedError(what) : absl::NotFoundError(what);
  }
  std::string body;
  char buf[1 << 16];
  while (in) {
    in.read(buf, sizeof(buf));
    body.append(buf, static_cast<size_t>(in.gcount()));
    if (body.size() > kMaxVocabFileBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": vocabulary file is larger than ", kMaxVocabFileBytes, " bytes"));
    }
  }
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat(path, ": read error"));
  }
  return ParseWorldVocab(body, path);
}

std::string EscapeGgufToken(std::string_view bytes) {
  const bool has_single = bytes.find('\'') != std::string_view::npos;
  const bool has_double = bytes.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out;
  out.reserve(bytes.size() + 8);
  for (const char ch : bytes) {
    const auto c = static_cast<uint8_t>(ch);
    if (ch == '\\' || ch == quote) {
      out.push_back('\\');
      out.push_back(ch);
    } else if (ch == '\t') {
      out.append("\\t");
    } else if (ch == '\n') {
      out.append("\\n");
    } else if (ch == '\r') {
      out.append("\\r");
    } else if (c < 0x20 || c >= 0x7F) {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

std::string UnescapeGgufToken(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool escaping = false;
  int hex_remaining = 0;
  uint8_t hex_acc = 0;
  for (const char c : text) {
    if (hex_remaining != 0) {
      // llama.cpp's arithmetic: only lowercase hex is right; other characters wrap in uint8.
      const auto value = static_cast<uint8_t>(c >= 'a' ? c - 'a' + 10 : c - '0');
      hex_acc = static_cast<uint8_t>((hex_acc << 4) + value);
      if (--hex_remaining == 0) {
        out.push_back(static_cast<char>(hex_acc));
        hex_acc = 0;
      }
      continue;
    }
    if (escaping) {
      escaping = false;
      switch (c) {
        case 't':
          out.push_back('\t');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 'x':
          hex_remaining = 2;
          break;
        default:
          out.push_back(c);
          break;
      }
      continue;
    }
    if (c == '\\') {
      escaping = true;
      continue;
    }
    out.push_back(c);
  }
  return out;
}

absl::StatusOr<GgufVocab> WorldVocabGgufTokens(const std::vector<std::string>& vocab,
                                               uint32_t n_vocab) {
  if (static_cast<uint64_t>(n_vocab) < vocab.size() + 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("model has ", n_vocab, " token rows but the vocabulary needs ",
                     vocab.size() + 1, " (", vocab.size(), " entries plus <s>)"));
  }
  if (n_vocab > kMaxGgufVocab) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model has ", n_vocab, " token rows, more than the supported ", kMaxGgufVocab));
  }
  GgufVocab out;
  out.tokens.reserve(n_vocab);
  out.types.reserve(n_vocab);
  out.tokens.push_back("<s>");
  out.types.push_back(static_cast<int32_t>(TokenType::kControl));
  for (const std::string& token : vocab) {
    out.tokens.push_back(EscapeGgufToken(token));
    out.types.push_back(static_cast<int32_t>(TokenType::kNormal));
  }
  for (uint32_t i = static_cast<uint32_t>(out.tokens.size()); i < n_vocab; ++i) {
    out.tokens.push_back(absl::StrCat("[PAD", i, "]"));
    out.types.push_back(static_cast<int32_t>(TokenType::kUnused));
  }
  return out;
}

}  // namespace rwkv::engine
