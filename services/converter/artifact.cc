#include "services/converter/artifact.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <system_error>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "services/common/durable_file.h"
#include "services/converter/job_journal.h"

namespace rwkv::converter {
namespace {

std::string ArtifactType(const JobSpec& spec) {
  switch (spec.kind) {
    case JobKind::kConvertCheckpoint:
      return spec.outtype;
    case JobKind::kQuantize:
      return absl::AsciiStrToUpper(spec.quant_type);
    case JobKind::kConvertState:
      return "state";
  }
  return "";
}

std::filesystem::path ShaPath(const std::filesystem::path& artifact) {
  return artifact.string() + ".sha256";
}
std::filesystem::path ManifestPath(const std::filesystem::path& artifact) {
  return artifact.string() + ".manifest.json";
}

std::string ShaLine(absl::string_view sha, const std::filesystem::path& artifact) {
  return absl::StrCat(sha, "  ", artifact.filename().string(), "\n");
}

std::optional<std::string> ReadSmallFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return ss.str();
}

// Whether the sidecar pair at (`sha_path`, `manifest_path`) describes `artifact` with `sha`.
bool SidecarPairMatches(const std::filesystem::path& sha_path,
                        const std::filesystem::path& manifest_path,
                        const std::filesystem::path& artifact, const std::string& sha) {
  const std::optional<std::string> line = ReadSmallFile(sha_path);
  if (!line.has_value() || *line != ShaLine(sha, artifact)) return false;
  const std::optional<std::string> manifest = ReadSmallFile(manifest_path);
  if (!manifest.has_value()) return false;
  google::protobuf::Struct parsed;
  if (!google::protobuf::util::JsonStringToMessage(*manifest, &parsed).ok()) return false;
  auto it = parsed.fields().find("sha256");
  return it != parsed.fields().end() && it->second.string_value() == sha;
}

absl::Status RemoveSidecars(const std::filesystem::path& artifact) {
  std::error_code ec;
  std::filesystem::remove(ShaPath(artifact), ec);
  if (!ec) std::filesystem::remove(ManifestPath(artifact), ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot remove the sidecars of ", artifact.string(), ": ", ec.message()));
  }
  return services::SyncPath(artifact.parent_path());
}

}  // namespace

absl::StatusOr<std::string> Sha256OfFile(const std::filesystem::path& path,
                                         const std::atomic<bool>* cancel) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(
        absl::StrCat("cannot open ", path.string(), ": ", std::string(std::strerror(errno))));
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<unsigned char> buf(1 << 20);
  while (true) {
    if (cancel != nullptr && cancel->load()) {
      ::close(fd);
      return absl::CancelledError(absl::StrCat("hashing ", path.string(), " cancelled"));
    }
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return absl::InternalError(
          absl::StrCat("cannot read ", path.string(), ": ", std::string(std::strerror(err))));
    }
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &len);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) absl::StrAppendFormat(&hex, "%02x", digest[i]);
  return hex;
}

std::string ManifestJson(const Job& job, const ExecuteResult& result, absl::string_view sha256,
                         double seconds) {
  google::protobuf::Struct s;
  auto& f = *s.mutable_fields();
  f["artifact"].set_string_value(job.spec.output);
  f["source"].set_string_value(job.spec.input);
  if (!job.spec.vocab.empty()) f["vocab"].set_string_value(job.spec.vocab);
  f["kind"].set_string_value(std::string(KindName(job.spec.kind)));
  f["type"].set_string_value(ArtifactType(job.spec));
  f["job_id"].set_string_value(job.id);
  f["input_bytes"].set_number_value(static_cast<double>(result.input_bytes));
  f["output_bytes"].set_number_value(static_cast<double>(result.output_bytes));
  f["tensor_count"].set_number_value(static_cast<double>(result.tensor_count));
  f["sha256"].set_string_value(std::string(sha256));
  f["duration_seconds"].set_number_value(seconds);
  if (result.quality.has_value()) {
    *f["quality"].mutable_struct_value() = QualityToStruct(*result.quality);
  }
  f["created_at"].set_string_value(absl::FormatTime(absl::Now(), absl::UTCTimeZone()));
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(s, &out, options);
  return out;
}

absl::StatusOr<Artifact> PublishArtifact(const Job& job, const ExecuteResult& result,
                                         double seconds, const std::filesystem::path& tmp_dir,
                                         const std::filesystem::path& tmp_output,
                                         const std::filesystem::path& final_path,
                                         const std::atomic<bool>* cancel) {
  if (absl::Status s = services::SyncPath(tmp_output); !s.ok()) return s;
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(tmp_output, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot stat ", tmp_output.string(), ": ", ec.message()));
  }
  absl::StatusOr<std::string> sha = Sha256OfFile(tmp_output, cancel);
  if (!sha.ok()) return sha.status();
  ExecuteResult actual = result;
  actual.output_bytes = size;

  const std::string base = final_path.filename().string();
  const std::filesystem::path tmp_sha = tmp_dir / (base + ".sha256");
  const std::filesystem::path tmp_manifest = tmp_dir / (base + ".manifest.json");
  absl::Status s = services::WriteFileAtomically(tmp_sha, ShaLine(*sha, final_path));
  if (s.ok()) {
    s = services::WriteFileAtomically(tmp_manifest, ManifestJson(job, actual, *sha, seconds));
  }
  if (!s.ok()) return s;

  if (cancel != nullptr && cancel->load()) return absl::CancelledError("publishing cancelled");
  s = services::CreateDirectoriesDurably(final_path.parent_path());
  if (!s.ok()) return s;
  // The artifact goes first: until its sidecars follow, any old ones no longer match it, and
  // a reader trusts an artifact only with matching sidecars (SidecarsMatch). A failure here
  // leaves the old artifact and its sidecars as they were.
  // Without overwrite the filesystem decides atomically: another converter on the same
  // storage may have published this name since the job was accepted.
  s = job.spec.overwrite ? services::RenameDurably(tmp_output, final_path)
                         : services::RenameNoReplaceDurably(tmp_output, final_path);
  if (!s.ok()) return s;
  s = services::RenameDurably(tmp_sha, ShaPath(final_path));
  if (s.ok()) s = services::RenameDurably(tmp_manifest, ManifestPath(final_path));
  if (!s.ok()) {
    // Old sidecars beside the new artifact would vouch for the wrong file.
    (void)RemoveSidecars(final_path);
    return s;
  }
  Artifact artifact;
  artifact.path = job.spec.output;
  artifact.size_bytes = size;
  artifact.sha256 = *sha;
  artifact.manifest_path = job.spec.output + ".manifest.json";
  artifact.tensor_count = result.tensor_count;
  artifact.input_bytes = result.input_bytes;
  artifact.quality = result.quality;
  return artifact;
}

bool SidecarsMatch(const std::filesystem::path& artifact) {
  absl::StatusOr<std::string> sha = Sha256OfFile(artifact);
  return sha.ok() && SidecarPairMatches(ShaPath(artifact), ManifestPath(artifact), artifact, *sha);
}

absl::StatusOr<Artifact> ReadPublishedArtifact(const std::filesystem::path& artifact,
                                               const JobSpec& spec, const std::string& job_id,
                                               const std::string& known_sha256) {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(artifact, ec);
  if (ec) return absl::NotFoundError(absl::StrCat(artifact.string(), " is not published"));
  absl::StatusOr<std::string> sha =
      known_sha256.empty() ? Sha256OfFile(artifact) : absl::StatusOr<std::string>(known_sha256);
  if (!sha.ok()) return sha.status();
  if (!SidecarPairMatches(ShaPath(artifact), ManifestPath(artifact), artifact, *sha)) {
    return absl::FailedPreconditionError(
        absl::StrCat("the sidecars of ", artifact.string(), " do not match it"));
  }
  const std::optional<std::string> manifest = ReadSmallFile(ManifestPath(artifact));
  google::protobuf::Struct parsed;
  if (!manifest.has_value() ||
      !google::protobuf::util::JsonStringToMessage(*manifest, &parsed).ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read the manifest of ", artifact.string()));
  }
  const auto& fields = parsed.fields();
  auto text = [&fields](const std::string& key) {
    auto it = fields.find(key);
    return it == fields.end() ? std::string() : it->second.string_value();
  };
  auto count = [&fields](const std::string& key) -> uint64_t {
    auto it = fields.find(key);
    if (it == fields.end()) return 0;
    const double v = it->second.number_value();
    if (!(v >= 0)) return 0;
    return v >= 18446744073709551615.0 ? UINT64_MAX : static_cast<uint64_t>(v);
  };
  if (text("job_id") != job_id || text("artifact") != spec.output) {
    return absl::FailedPreconditionError(
        absl::StrCat(artifact.string(), " was published by another job"));
  }
  Artifact record;
  record.path = spec.output;
  record.size_bytes = size;
  record.sha256 = *sha;
  record.manifest_path = spec.output + ".manifest.json";
  record.tensor_count = count("tensor_count");
  record.input_bytes = count("input_bytes");
  if (auto it = fields.find("quality"); it != fields.end() && it->second.has_struct_value()) {
    record.quality = QualityFromStruct(it->second.struct_value());
  }
  return record;
}

absl::StatusOr<std::string> ReconcileSidecars(const std::filesystem::path& artifact,
                                              const std::filesystem::path& staged_dir) {
  std::error_code ec;
  if (!std::filesystem::exists(artifact, ec)) {
    if (absl::Status s = RemoveSidecars(artifact); !s.ok()) return s;
    return std::string();
  }
  absl::StatusOr<std::string> sha = Sha256OfFile(artifact);
  if (!sha.ok()) return sha.status();
  if (SidecarPairMatches(ShaPath(artifact), ManifestPath(artifact), artifact, *sha)) return sha;
  const std::filesystem::path base = artifact.filename();
  const std::filesystem::path staged_sha = staged_dir / ShaPath(base);
  const std::filesystem::path staged_manifest = staged_dir / ManifestPath(base);
  if (SidecarPairMatches(staged_sha, staged_manifest, artifact, *sha)) {
    absl::Status s = services::RenameDurably(staged_sha, ShaPath(artifact));
    if (s.ok()) s = services::RenameDurably(staged_manifest, ManifestPath(artifact));
    if (s.ok()) return sha;
  }
  if (absl::Status s = RemoveSidecars(artifact); !s.ok()) return s;
  return std::string();
}

}  // namespace rwkv::converter
