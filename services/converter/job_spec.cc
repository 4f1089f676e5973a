#include "services/converter/job_spec.h"

#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/common/storage_path.h"

namespace rwkv::converter {
namespace {

struct NameRule {
  absl::string_view folder;     // required first component, "" = any
  absl::string_view extension;  // required suffix
};

struct KindRules {
  NameRule input;
  NameRule output;
};

KindRules RulesFor(JobKind kind) {
  switch (kind) {
    case JobKind::kConvertCheckpoint:
      return {{"checkpoints", ".pth"}, {"models", ".gguf"}};
    case JobKind::kQuantize:
      return {{"models", ".gguf"}, {"models", ".gguf"}};
    case JobKind::kConvertState:
      return {{"checkpoints", ".pth"}, {"states", ".bin"}};
  }
  return {};
}

absl::Status CheckName(absl::string_view role, absl::string_view name, const NameRule& rule,
                       JobKind kind) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(role, " is required"));
  const bool folder_ok =
      rule.folder.empty() || absl::StartsWith(name, absl::StrCat(rule.folder, "/"));
  const bool ext_ok = absl::EndsWith(name, rule.extension) && name.size() > rule.extension.size() &&
                      name[name.size() - rule.extension.size() - 1] != '/';
  if (!folder_ok || !ext_ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        role, " '", name, "' must be ", rule.folder.empty() ? "" : absl::StrCat(rule.folder, "/"),
        "NAME", rule.extension, " for a ", KindName(kind), " job"));
  }
  return absl::OkStatus();
}

absl::Status CheckRegularFile(absl::string_view role, absl::string_view name,
                              const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat(role, " ", name, " does not exist"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<JobPaths> ResolveJobPaths(const std::filesystem::path& root, const JobSpec& spec) {
  JobPaths paths;
  absl::StatusOr<std::filesystem::path> p = services::ResolveStoragePath(root, spec.input);
  if (!p.ok()) return p.status();
  paths.input = *p;
  p = services::ResolveStoragePath(root, spec.output);
  if (!p.ok()) return p.status();
  paths.output = *p;
  if (spec.kind == JobKind::kConvertCheckpoint) {
    p = services::ResolveStoragePath(root, spec.vocab);
    if (!p.ok()) return p.status();
    paths.vocab = *p;
  }
  if (!spec.eval_text.empty()) {
    p = services::ResolveStoragePath(root, spec.eval_text);
    if (!p.ok()) return p.status();
    paths.eval_text = *p;
  }
  return paths;
}

absl::StatusOr<JobPaths> PrepareJobSpec(const std::filesystem::path& root, JobSpec& spec) {
  const KindRules rules = RulesFor(spec.kind);
  if (absl::Status s = CheckName("input", spec.input, rules.input, spec.kind); !s.ok()) return s;
  if (absl::Status s = CheckName("output", spec.output, rules.output, spec.kind); !s.ok()) {
    return s;
  }
  if (spec.kind == JobKind::kConvertCheckpoint) {
    if (spec.vocab.empty()) spec.vocab = kDefaultVocab;
    if (spec.outtype.empty()) spec.outtype = kDefaultOuttype;
    absl::AsciiStrToLower(&spec.outtype);
    if (spec.outtype != "f32" && spec.outtype != "f16" && spec.outtype != "bf16") {
      return absl::InvalidArgumentError(
          absl::StrCat("outtype '", spec.outtype, "' is not one of f32, f16, bf16"));
    }
    if (absl::Status s = CheckName("vocab", spec.vocab, {"", ".txt"}, spec.kind); !s.ok()) {
      return s;
    }
  } else if (!spec.vocab.empty() || !spec.outtype.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vocab and outtype apply only to convert_checkpoint jobs, not ", KindName(spec.kind)));
  }
  if (spec.kind == JobKind::kQuantize && spec.quant_type.empty()) {
    return absl::InvalidArgumentError("quant_type is required for a quantize job");
  }
  if (spec.kind != JobKind::kQuantize && !spec.quant_type.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("quant_type applies only to quantize jobs, not ", KindName(spec.kind)));
  }
  if (spec.kind != JobKind::kQuantize &&
      (!spec.eval_text.empty() || spec.eval_ctx != 0 || spec.eval_chunks != 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("eval_text, eval_ctx and eval_chunks apply only to quantize jobs, not ",
                     KindName(spec.kind)));
  }
  if (spec.eval_text.empty() && (spec.eval_ctx != 0 || spec.eval_chunks != 0)) {
    return absl::InvalidArgumentError("eval_ctx and eval_chunks need eval_text");
  }
  if (!spec.eval_text.empty()) {
    if (spec.eval_ctx == 0) spec.eval_ctx = kDefaultEvalCtx;
    if (spec.eval_ctx < 4 || spec.eval_ctx > kMaxEvalCtx) {
      return absl::InvalidArgumentError(
          absl::StrCat("eval_ctx ", spec.eval_ctx, " is outside [4, ", kMaxEvalCtx, "]"));
    }
  }
  absl::StatusOr<JobPaths> paths = ResolveJobPaths(root, spec);
  if (!paths.ok()) return paths.status();
  if (paths->input == paths->output) {
    return absl::InvalidArgumentError(
        absl::StrCat("output ", spec.output, " is the same file as the input"));
  }
  if (absl::Status s = CheckRegularFile("input", spec.input, paths->input); !s.ok()) return s;
  if (spec.kind == JobKind::kConvertCheckpoint) {
    if (absl::Status s = CheckRegularFile("vocab", spec.vocab, paths->vocab); !s.ok()) return s;
  }
  if (!spec.eval_text.empty()) {
    if (absl::Status s = CheckRegularFile("eval_text", spec.eval_text, paths->eval_text); !s.ok()) {
      return s;
    }
  }
  std::error_code ec;
  if (!spec.overwrite && std::filesystem::exists(paths->output, ec)) {
    return absl::AlreadyExistsError(
        absl::StrCat("output ", spec.output, " already exists (set overwrite to replace it)"));
  }
  return paths;
}

}  // namespace rwkv::converter
