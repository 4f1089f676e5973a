#include "services/converter/job_journal.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "services/common/durable_file.h"

namespace rwkv::converter {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

void PutString(Struct& s, const std::string& key, absl::string_view v) {
  (*s.mutable_fields())[key].set_string_value(std::string(v));
}
void PutNumber(Struct& s, const std::string& key, double v) {
  (*s.mutable_fields())[key].set_number_value(v);
}
void PutTime(Struct& s, const std::string& key, absl::Time t) {
  if (t != absl::InfinitePast()) PutString(s, key, absl::FormatTime(t, absl::UTCTimeZone()));
}

std::string GetString(const Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? std::string() : it->second.string_value();
}
uint64_t GetU64(const Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  if (it == s.fields().end()) return 0;
  const double v = it->second.number_value();
  // Hostile records: NaN, negatives and values beyond uint64 must not reach the cast.
  if (!(v >= 0)) return 0;
  if (v >= 18446744073709551615.0) return UINT64_MAX;
  return static_cast<uint64_t>(v);
}
absl::Time GetTime(const Struct& s, const std::string& key) {
  absl::Time t = absl::InfinitePast();
  const std::string v = GetString(s, key);
  if (!v.empty() && !absl::ParseTime(absl::RFC3339_full, v, &t, nullptr)) {
    t = absl::InfinitePast();
  }
  return t;
}

double GetDouble(const Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? 0.0 : it->second.number_value();
}

}  // namespace

Struct QualityToStruct(const QuantizationQuality& q) {
  Struct s;
  PutString(s, "eval_text", q.eval_text);
  PutNumber(s, "ctx", q.ctx);
  PutNumber(s, "chunks", q.chunks);
  PutNumber(s, "tokens_scored", static_cast<double>(q.tokens_scored));
  PutNumber(s, "ppl_source", q.ppl_source);
  PutNumber(s, "ppl_source_error", q.ppl_source_error);
  PutNumber(s, "ppl_result", q.ppl_result);
  PutNumber(s, "ppl_result_error", q.ppl_result_error);
  PutNumber(s, "mean_kld", q.mean_kld);
  PutNumber(s, "mean_kld_error", q.mean_kld_error);
  PutNumber(s, "kld_p99", q.kld_p99);
  PutNumber(s, "same_top_fraction", q.same_top_fraction);
  return s;
}

QuantizationQuality QualityFromStruct(const Struct& s) {
  QuantizationQuality q;
  q.eval_text = GetString(s, "eval_text");
  q.ctx = static_cast<uint32_t>(std::min<uint64_t>(GetU64(s, "ctx"), UINT32_MAX));
  q.chunks = static_cast<uint32_t>(std::min<uint64_t>(GetU64(s, "chunks"), UINT32_MAX));
  q.tokens_scored = GetU64(s, "tokens_scored");
  q.ppl_source = GetDouble(s, "ppl_source");
  q.ppl_source_error = GetDouble(s, "ppl_source_error");
  q.ppl_result = GetDouble(s, "ppl_result");
  q.ppl_result_error = GetDouble(s, "ppl_result_error");
  q.mean_kld = GetDouble(s, "mean_kld");
  q.mean_kld_error = GetDouble(s, "mean_kld_error");
  q.kld_p99 = GetDouble(s, "kld_p99");
  q.same_top_fraction = GetDouble(s, "same_top_fraction");
  return q;
}

std::string JobToJson(const Job& job) {
  Struct s;
  PutString(s, "id", job.id);
  PutString(s, "kind", KindName(job.spec.kind));
  PutString(s, "state", StateName(job.state));
  PutString(s, "input", job.spec.input);
  PutString(s, "output", job.spec.output);
  PutString(s, "vocab", job.spec.vocab);
  PutString(s, "outtype", job.spec.outtype);
  PutString(s, "quant_type", job.spec.quant_type);
  (*s.mutable_fields())["overwrite"].set_bool_value(job.spec.overwrite);
  if (!job.spec.eval_text.empty()) {
    PutString(s, "eval_text", job.spec.eval_text);
    PutNumber(s, "eval_ctx", job.spec.eval_ctx);
    PutNumber(s, "eval_chunks", job.spec.eval_chunks);
  }
  PutString(s, "error", job.error);
  PutNumber(s, "error_code", static_cast<double>(job.error_code));
  (*s.mutable_fields())["cancel_requested"].set_bool_value(job.cancel_requested);
  PutNumber(s, "attempts", static_cast<double>(job.attempts));
  PutTime(s, "created_at", job.created_at);
  PutTime(s, "started_at", job.started_at);
  PutTime(s, "finished_at", job.finished_at);
  if (job.artifact.has_value()) {
    Struct a;
    PutString(a, "path", job.artifact->path);
    PutNumber(a, "size_bytes", static_cast<double>(job.artifact->size_bytes));
    PutString(a, "sha256", job.artifact->sha256);
    PutString(a, "manifest_path", job.artifact->manifest_path);
    PutNumber(a, "tensor_count", static_cast<double>(job.artifact->tensor_count));
    PutNumber(a, "input_bytes", static_cast<double>(job.artifact->input_bytes));
    if (job.artifact->quality.has_value()) {
      *(*a.mutable_fields())["quality"].mutable_struct_value() =
          QualityToStruct(*job.artifact->quality);
    }
    *(*s.mutable_fields())["artifact"].mutable_struct_value() = std::move(a);
  }
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(s, &out, options);
  return out;
}

absl::StatusOr<Job> JobFromJson(const std::string& json) {
  Struct s;
  if (!google::protobuf::util::JsonStringToMessage(json, &s).ok()) {
    return absl::InvalidArgumentError("job record is not valid JSON");
  }
  Job job;
  job.id = GetString(s, "id");
  if (job.id.empty()) return absl::InvalidArgumentError("job record has no id");
  std::optional<JobKind> kind = ParseKindName(GetString(s, "kind"));
  std::optional<JobState> state = ParseStateName(GetString(s, "state"));
  if (!kind.has_value() || !state.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("job record ", job.id, " has an unknown kind or state"));
  }
  job.spec.kind = *kind;
  job.state = *state;
  job.spec.input = GetString(s, "input");
  job.spec.output = GetString(s, "output");
  job.spec.vocab = GetString(s, "vocab");
  job.spec.outtype = GetString(s, "outtype");
  job.spec.quant_type = GetString(s, "quant_type");
  if (auto it = s.fields().find("overwrite"); it != s.fields().end()) {
    job.spec.overwrite = it->second.bool_value();
  }
  job.spec.eval_text = GetString(s, "eval_text");
  job.spec.eval_ctx = static_cast<uint32_t>(std::min<uint64_t>(GetU64(s, "eval_ctx"), UINT32_MAX));
  job.spec.eval_chunks =
      static_cast<uint32_t>(std::min<uint64_t>(GetU64(s, "eval_chunks"), UINT32_MAX));
  job.error = GetString(s, "error");
  job.error_code = static_cast<absl::StatusCode>(GetU64(s, "error_code"));
  if (auto it = s.fields().find("cancel_requested"); it != s.fields().end()) {
    job.cancel_requested = it->second.bool_value();
  }
  job.attempts = static_cast<uint32_t>(std::min<uint64_t>(GetU64(s, "attempts"), UINT32_MAX));
  job.created_at = GetTime(s, "created_at");
  job.started_at = GetTime(s, "started_at");
  job.finished_at = GetTime(s, "finished_at");
  if (auto it = s.fields().find("artifact"); it != s.fields().end()) {
    const Struct& a = it->second.struct_value();
    Artifact artifact;
    artifact.path = GetString(a, "path");
    artifact.size_bytes = GetU64(a, "size_bytes");
    artifact.sha256 = GetString(a, "sha256");
    artifact.manifest_path = GetString(a, "manifest_path");
    artifact.tensor_count = GetU64(a, "tensor_count");
    artifact.input_bytes = GetU64(a, "input_bytes");
    if (auto q = a.fields().find("quality"); q != a.fields().end()) {
      artifact.quality = QualityFromStruct(q->second.struct_value());
    }
    job.artifact = std::move(artifact);
  }
  return job;
}

absl::Status JobJournal::Init() const {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot create ", dir_.string(), ": ", ec.message()));
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (absl::StartsWith(name, ".") && absl::EndsWith(name, ".tmp")) {
      std::filesystem::remove(entry.path(), ec);
    }
  }
  return absl::OkStatus();
}

absl::Status JobJournal::Write(const Job& job) const {
  return services::WriteFileAtomically(dir_ / absl::StrCat(job.id, ".json"), JobToJson(job));
}

absl::Status JobJournal::Remove(const std::string& id) const {
  std::error_code ec;
  std::filesystem::remove(dir_ / absl::StrCat(id, ".json"), ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot remove job ", id, ": ", ec.message()));
  return absl::OkStatus();
}

std::vector<Job> JobJournal::LoadAll(std::vector<std::string>* errors) const {
  std::vector<Job> jobs;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (absl::StartsWith(name, ".") || !absl::EndsWith(name, ".json")) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    absl::StatusOr<Job> job = JobFromJson(ss.str());
    if (!job.ok()) {
      if (errors != nullptr) {
        errors->push_back(absl::StrCat(entry.path().string(), ": ", job.status().message()));
      }
      continue;
    }
    jobs.push_back(*std::move(job));
  }
  return jobs;
}

}  // namespace rwkv::converter
