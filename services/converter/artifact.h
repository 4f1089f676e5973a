// Publishing a finished job's output: checksum, manifest, and the durable renames that make
// models/NAME.gguf (plus NAME.gguf.sha256 and NAME.gguf.manifest.json) appear complete or not
// at all. The artifact itself is renamed last, so an artifact under its final name always has
// its sidecars.
#pragma once

#include <filesystem>
#include <string>

#include "absl/status/statusor.h"
#include "services/converter/job.h"
#include "services/converter/job_executor.h"

namespace rwkv::converter {

// Lowercase hex SHA-256 of a file; NotFound / Internal naming the path.
absl::StatusOr<std::string> Sha256OfFile(const std::filesystem::path& path);

// The manifest written beside an artifact: a JSON object with artifact, source, vocab, kind,
// type, job_id, input_bytes, output_bytes, tensor_count, sha256, duration_seconds, created_at.
std::string ManifestJson(const Job& job, const ExecuteResult& result, absl::string_view sha256,
                         double seconds);

// Moves `tmp_output` (in `tmp_dir`, same filesystem as the root) to `final_path` with its
// sidecars. On error nothing new is left under the final names.
absl::StatusOr<Artifact> PublishArtifact(const Job& job, const ExecuteResult& result,
                                         double seconds, const std::filesystem::path& tmp_dir,
                                         const std::filesystem::path& tmp_output,
                                         const std::filesystem::path& final_path);

}  // namespace rwkv::converter
