// The KLD base file (docs/perplexity.md, "The KLD base file"): parser, streaming writer and
// chunk reader. Every count is checked against the file size before anything is allocated.
#include <cerrno>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "rwkv/engine/perplexity.h"
#include "util/atomic_file.h"

namespace rwkv::engine {
namespace {

constexpr uint64_t kFixedBytes = 8 + 4 + 4 + 4;
constexpr uint32_t kMaxCtx = 1u << 20;
constexpr int32_t kMaxVocab = 1 << 24;

uint32_t LoadU32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

absl::Status Corrupt(const std::string& name, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("kld base file ", name, ": ", what));
}

// Checks the fixed part and the file size; fills the counts of *h (not the tokens).
absl::Status ParseFixed(std::span<const uint8_t> prefix, uint64_t file_size,
                        const std::string& name, LogProbFileHeader* h) {
  if (prefix.size() < kFixedBytes || file_size < kFixedBytes) {
    return Corrupt(name, "truncated header");
  }
  if (std::memcmp(prefix.data(), kLogProbFileMagic, 8) != 0) {
    return Corrupt(name, "bad magic (not a KLD base file written with --kl-divergence-base)");
  }
  h->n_ctx = LoadU32(prefix.data() + 8);
  h->n_vocab = static_cast<int32_t>(LoadU32(prefix.data() + 12));
  h->n_chunk = static_cast<int32_t>(LoadU32(prefix.data() + 16));
  if (h->n_ctx < 4 || h->n_ctx > kMaxCtx) {
    return Corrupt(name, absl::StrCat("n_ctx ", h->n_ctx, " is out of range [4, ", kMaxCtx, "]"));
  }
  if (h->n_vocab < 1 || h->n_vocab > kMaxVocab) {
    return Corrupt(name, absl::StrCat("n_vocab ", h->n_vocab, " is out of range"));
  }
  if (h->n_chunk < 1) {
    return Corrupt(name, absl::StrCat("n_chunk ", h->n_chunk, " is out of range"));
  }
  // n_chunk < 2^31, n_ctx <= 2^20, row words < 2^25: every product fits in 64 bits except
  // the data size, which is checked by division.
  const uint64_t n_tokens = static_cast<uint64_t>(h->n_chunk) * h->n_ctx;
  const uint64_t header_bytes = LogProbFileHeaderBytes(n_tokens);
  const uint64_t chunk_bytes = h->chunk_words() * sizeof(uint16_t);
  const uint64_t chunks = static_cast<uint64_t>(h->n_chunk);
  if (file_size < header_bytes || (file_size - header_bytes) / chunk_bytes != chunks ||
      (file_size - header_bytes) % chunk_bytes != 0) {
    return Corrupt(name,
                   absl::StrCat("size ", file_size, " does not match its header (n_ctx ", h->n_ctx,
                                ", n_vocab ", h->n_vocab, ", n_chunk ", h->n_chunk, ")"));
  }
  return absl::OkStatus();
}

absl::Status ParseTokens(std::span<const uint8_t> bytes, const std::string& name,
                         LogProbFileHeader* h) {
  const size_t n = bytes.size() / 4;
  h->tokens.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const int32_t t = static_cast<int32_t>(LoadU32(bytes.data() + 4 * i));
    if (t < 0 || t >= h->n_vocab) {
      return Corrupt(
          name, absl::StrCat("token ", i, " (", t, ") is outside the vocabulary of ", h->n_vocab));
    }
    h->tokens[i] = t;
  }
  return absl::OkStatus();
}

}  // namespace

uint64_t LogProbFileHeaderBytes(uint64_t n_tokens) { return kFixedBytes + 4 * n_tokens; }

absl::StatusOr<LogProbFileHeader> ParseLogProbFileHeader(std::span<const uint8_t> prefix,
                                                         uint64_t file_size,
                                                         const std::string& name) {
  LogProbFileHeader h;
  if (absl::Status s = ParseFixed(prefix, file_size, name, &h); !s.ok()) return s;
  const uint64_t header_bytes = LogProbFileHeaderBytes(static_cast<uint64_t>(h.n_chunk) * h.n_ctx);
  if (prefix.size() < header_bytes) return Corrupt(name, "truncated token list");
  if (absl::Status s =
          ParseTokens(prefix.subspan(kFixedBytes, header_bytes - kFixedBytes), name, &h);
      !s.ok()) {
    return s;
  }
  return h;
}

// --- writer ------------------------------------------------------------------------------

class LogProbFileWriter::Impl {
 public:
  Impl(AtomicFile file, LogProbFileHeader header)
      : file(std::move(file)), header(std::move(header)) {}
  AtomicFile file;
  LogProbFileHeader header;
  uint64_t rows_written = 0;
};

LogProbFileWriter::LogProbFileWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LogProbFileWriter::~LogProbFileWriter() = default;

absl::StatusOr<std::unique_ptr<LogProbFileWriter>> LogProbFileWriter::Create(
    const std::string& path, const LogProbFileHeader& h) {
  if (h.n_ctx < 4 || h.n_vocab < 1 || h.n_chunk < 1 ||
      h.tokens.size() != static_cast<size_t>(h.n_chunk) * h.n_ctx) {
    return absl::InvalidArgumentError("kld base file: inconsistent header");
  }
  absl::StatusOr<AtomicFile> file = AtomicFile::Create(path);
  if (!file.ok()) return file.status();
  std::vector<uint8_t> bytes(LogProbFileHeaderBytes(h.tokens.size()));
  std::memcpy(bytes.data(), kLogProbFileMagic, 8);
  const uint32_t fixed[3] = {h.n_ctx, static_cast<uint32_t>(h.n_vocab),
                             static_cast<uint32_t>(h.n_chunk)};
  std::memcpy(bytes.data() + 8, fixed, sizeof(fixed));
  std::memcpy(bytes.data() + kFixedBytes, h.tokens.data(), h.tokens.size() * sizeof(int32_t));
  if (absl::Status s = file->Write(bytes); !s.ok()) return s;
  return std::unique_ptr<LogProbFileWriter>(
      new LogProbFileWriter(std::make_unique<Impl>(std::move(*file), h)));
}

absl::Status LogProbFileWriter::WriteRows(std::span<const uint16_t> words) {
  const size_t row_words = LogProbRowWords(impl_->header.n_vocab);
  const uint64_t total =
      static_cast<uint64_t>(impl_->header.n_chunk) * impl_->header.scored_per_chunk();
  if (words.size() % row_words != 0 || impl_->rows_written + words.size() / row_words > total) {
    return absl::InternalError("kld base file: partial row or more rows than the header holds");
  }
  impl_->rows_written += words.size() / row_words;
  return impl_->file.Write(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(words.data()),
                                                    words.size() * sizeof(uint16_t)));
}

absl::Status LogProbFileWriter::Commit() {
  if (impl_->rows_written !=
      static_cast<uint64_t>(impl_->header.n_chunk) * impl_->header.scored_per_chunk()) {
    return absl::InternalError("kld base file: not every row was written");
  }
  return impl_->file.Commit();
}

// --- reader ------------------------------------------------------------------------------

LogProbFileReader::LogProbFileReader(std::string path, std::FILE* file, LogProbFileHeader header)
    : path_(std::move(path)), file_(file), header_(std::move(header)) {}

LogProbFileReader::~LogProbFileReader() {
  if (file_ != nullptr) std::fclose(file_);
}

absl::StatusOr<std::unique_ptr<LogProbFileReader>> LogProbFileReader::Open(
    const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    const int err = errno;
    const std::string msg = absl::StrCat("kld base file ", path, ": ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(msg) : absl::InvalidArgumentError(msg);
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> guard(f, &std::fclose);
  if (std::fseek(f, 0, SEEK_END) != 0) return Corrupt(path, "cannot seek (not a regular file?)");
  const long end = std::ftell(f);
  if (end < 0 || std::fseek(f, 0, SEEK_SET) != 0) return Corrupt(path, "cannot read its size");
  const uint64_t size = static_cast<uint64_t>(end);
  uint8_t fixed[kFixedBytes];
  const size_t got = std::fread(fixed, 1, sizeof(fixed), f);
  LogProbFileHeader h;
  if (absl::Status s = ParseFixed(std::span<const uint8_t>(fixed, got), size, path, &h); !s.ok()) {
    return s;
  }
  // The size check above bounds the token list by the file size.
  std::vector<uint8_t> token_bytes(static_cast<size_t>(h.n_chunk) * h.n_ctx * 4);
  if (std::fread(token_bytes.data(), 1, token_bytes.size(), f) != token_bytes.size()) {
    return Corrupt(path, "truncated token list");
  }
  if (absl::Status s = ParseTokens(token_bytes, path, &h); !s.ok()) return s;
  return std::unique_ptr<LogProbFileReader>(
      new LogProbFileReader(path, guard.release(), std::move(h)));
}

absl::Status LogProbFileReader::ReadRows(int32_t chunk, size_t first_row,
                                         std::span<uint16_t> words) {
  const size_t row_words = LogProbRowWords(header_.n_vocab);
  const size_t rows = words.size() / row_words;
  if (chunk < 0 || chunk >= header_.n_chunk || words.size() % row_words != 0 ||
      first_row > header_.scored_per_chunk() || rows > header_.scored_per_chunk() - first_row) {
    return absl::InternalError("kld base file: bad row request");
  }
  const uint64_t offset = LogProbFileHeaderBytes(header_.tokens.size()) +
                          (static_cast<uint64_t>(chunk) * header_.scored_per_chunk() + first_row) *
                              row_words * sizeof(uint16_t);
  if (offset > static_cast<uint64_t>(std::numeric_limits<long>::max()) ||
      std::fseek(file_, static_cast<long>(offset), SEEK_SET) != 0 ||
      std::fread(words.data(), sizeof(uint16_t), words.size(), file_) != words.size()) {
    return Corrupt(path_, absl::StrCat("cannot read chunk ", chunk + 1, " (file truncated?)"));
  }
  return absl::OkStatus();
}

}  // namespace rwkv::engine
