// Publishing a finished job's output: checksum, manifest, and the durable renames that make
// models/NAME.gguf (plus NAME.gguf.sha256 and NAME.gguf.manifest.json) appear complete or not
// as a whole. The artifact is renamed first and its sidecars after it; a reader trusts an
// artifact only when its sidecars match it, and after a crash ReconcileSidecars repairs them.
#pragma once

#include <atomic>
#include <filesystem>
#include <string>

#include "absl/status/statusor.h"
#include "services/converter/job.h"
#include "services/converter/job_executor.h"

namespace rwkv::converter {

// Lowercase hex SHA-256 of a file; NotFound / Internal naming the path; Cancelled as soon as
// `cancel` (when given) is raised.
absl::StatusOr<std::string> Sha256OfFile(const std::filesystem::path& path,
                                         const std::atomic<bool>* cancel = nullptr);

// The manifest written beside an artifact: a JSON object with artifact, source, vocab, kind,
// type, job_id, input_bytes, output_bytes, tensor_count, sha256, duration_seconds, created_at,
// and for quantize jobs with eval_text a "quality" object (QualityToStruct).
std::string ManifestJson(const Job& job, const ExecuteResult& result, absl::string_view sha256,
                         double seconds);

// Moves `tmp_output` (in `tmp_dir`, same filesystem as the root) to `final_path`, then its
// sidecars, creating (and fsyncing) missing folders. Without job.spec.overwrite an existing
// artifact is never replaced (AlreadyExists). When the artifact cannot be moved nothing
// changes under the final names; when its sidecars cannot follow, the artifact stays without
// sidecars (and so untrusted) and the error is returned. `cancel` (when given) is honoured
// until the artifact is moved (Cancelled, nothing published), so a drain never waits for a
// long hash.
absl::StatusOr<Artifact> PublishArtifact(const Job& job, const ExecuteResult& result,
                                         double seconds, const std::filesystem::path& tmp_dir,
                                         const std::filesystem::path& tmp_output,
                                         const std::filesystem::path& final_path,
                                         const std::atomic<bool>* cancel = nullptr);

// True when `artifact`, NAME.sha256 and NAME.manifest.json beside it all exist and both
// sidecars name the artifact's actual SHA-256. Readers trust an artifact only then.
bool SidecarsMatch(const std::filesystem::path& artifact);

// The record of an artifact that job `job_id` published at `artifact` (the resolved path of
// spec.output): the artifact and both sidecars exist, the sidecars match its SHA-256 and the
// manifest names `job_id`. NotFound without the artifact; FailedPrecondition when the sidecars
// do not match or name another job. `known_sha256`, when not empty, is the artifact's SHA-256
// as just computed (ReconcileSidecars), so the file is not read again.
absl::StatusOr<Artifact> ReadPublishedArtifact(const std::filesystem::path& artifact,
                                               const JobSpec& spec, const std::string& job_id,
                                               const std::string& known_sha256 = "");

// Repairs the sidecars of an artifact whose publishing a crash interrupted: keeps them when
// they match; else moves in the ones staged in `staged_dir` (the job's temporary folder) when
// those match the artifact; else removes them. Without the artifact its sidecars are removed.
// Returns the artifact's SHA-256 when it ends with matching sidecars, else "".
absl::StatusOr<std::string> ReconcileSidecars(const std::filesystem::path& artifact,
                                              const std::filesystem::path& staged_dir);

}  // namespace rwkv::converter
