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

}  // namespace

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
    job.artifact = Artifact{GetString(a, "path"),      GetU64(a, "size_bytes"),
                            GetString(a, "sha256"),    GetString(a, "manifest_path"),
                            GetU64(a, "tensor_count"), GetU64(a, "input_bytes")};
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
