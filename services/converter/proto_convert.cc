#include "services/converter/proto_convert.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace rwkv::converter {
namespace {

constexpr uint32_t kDefaultListLimit = 100;
constexpr uint32_t kMaxListLimit = 1000;

absl::StatusOr<JobKind> KindFromProto(int kind) {
  switch (kind) {
    case rwkv::v1::JOB_KIND_CONVERT_CHECKPOINT:
      return JobKind::kConvertCheckpoint;
    case rwkv::v1::JOB_KIND_QUANTIZE:
      return JobKind::kQuantize;
    case rwkv::v1::JOB_KIND_CONVERT_STATE:
      return JobKind::kConvertState;
    default:
      return absl::InvalidArgumentError(absl::StrCat("job kind ", kind, " is not supported"));
  }
}

rwkv::v1::JobKind KindToProto(JobKind kind) {
  switch (kind) {
    case JobKind::kConvertCheckpoint:
      return rwkv::v1::JOB_KIND_CONVERT_CHECKPOINT;
    case JobKind::kQuantize:
      return rwkv::v1::JOB_KIND_QUANTIZE;
    case JobKind::kConvertState:
      return rwkv::v1::JOB_KIND_CONVERT_STATE;
  }
  return rwkv::v1::JOB_KIND_UNSPECIFIED;
}

rwkv::v1::JobState StateToProto(JobState state) {
  switch (state) {
    case JobState::kQueued:
      return rwkv::v1::JOB_STATE_QUEUED;
    case JobState::kRunning:
      return rwkv::v1::JOB_STATE_RUNNING;
    case JobState::kSucceeded:
      return rwkv::v1::JOB_STATE_SUCCEEDED;
    case JobState::kFailed:
      return rwkv::v1::JOB_STATE_FAILED;
    case JobState::kCancelled:
      return rwkv::v1::JOB_STATE_CANCELLED;
  }
  return rwkv::v1::JOB_STATE_UNSPECIFIED;
}

void TimeToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t nanos = absl::ToUnixNanos(t);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

}  // namespace

absl::StatusOr<JobSpec> SpecFromProto(const rwkv::v1::JobSpec& proto) {
  absl::StatusOr<JobKind> kind = KindFromProto(proto.kind());
  if (!kind.ok()) return kind.status();
  JobSpec spec;
  spec.kind = *kind;
  spec.input = proto.input();
  spec.output = proto.output();
  spec.vocab = proto.vocab();
  spec.outtype = proto.outtype();
  spec.quant_type = proto.quant_type();
  spec.overwrite = proto.overwrite();
  spec.eval_text = proto.eval_text();
  spec.eval_ctx = proto.eval_ctx();
  spec.eval_chunks = proto.eval_chunks();
  return spec;
}

absl::StatusOr<ListFilter> FilterFromProto(const rwkv::v1::ListJobsRequest& proto) {
  ListFilter filter;
  for (int s : proto.states()) {
    if (s < rwkv::v1::JOB_STATE_QUEUED || s > rwkv::v1::JOB_STATE_CANCELLED) {
      return absl::InvalidArgumentError(absl::StrCat("job state ", s, " is not supported"));
    }
    filter.states.push_back(static_cast<JobState>(s - rwkv::v1::JOB_STATE_QUEUED));
  }
  if (proto.kind() != rwkv::v1::JOB_KIND_UNSPECIFIED) {
    absl::StatusOr<JobKind> kind = KindFromProto(proto.kind());
    if (!kind.ok()) return kind.status();
    filter.kind = *kind;
  }
  filter.limit = proto.limit() == 0 ? kDefaultListLimit : std::min(proto.limit(), kMaxListLimit);
  return filter;
}

void JobToProto(const Job& job, rwkv::v1::Job& proto) {
  proto.Clear();
  proto.set_id(job.id);
  rwkv::v1::JobSpec* spec = proto.mutable_spec();
  spec->set_kind(KindToProto(job.spec.kind));
  spec->set_input(job.spec.input);
  spec->set_output(job.spec.output);
  spec->set_vocab(job.spec.vocab);
  spec->set_outtype(job.spec.outtype);
  spec->set_quant_type(job.spec.quant_type);
  spec->set_overwrite(job.spec.overwrite);
  spec->set_eval_text(job.spec.eval_text);
  spec->set_eval_ctx(job.spec.eval_ctx);
  spec->set_eval_chunks(job.spec.eval_chunks);
  proto.set_state(StateToProto(job.state));
  rwkv::v1::JobProgress* progress = proto.mutable_progress();
  progress->set_tensors_done(job.progress.tensors_done);
  progress->set_tensors_total(job.progress.tensors_total);
  progress->set_bytes_done(job.progress.bytes_done);
  progress->set_bytes_total(job.progress.bytes_total);
  progress->set_eta_seconds(job.progress.eta_seconds);
  proto.set_error(job.error);
  proto.set_error_code(static_cast<int32_t>(job.error_code));
  proto.set_cancel_requested(job.cancel_requested);
  proto.set_attempts(job.attempts);
  if (job.created_at != absl::InfinitePast())
    TimeToProto(job.created_at, proto.mutable_created_at());
  if (job.started_at != absl::InfinitePast())
    TimeToProto(job.started_at, proto.mutable_started_at());
  if (job.finished_at != absl::InfinitePast()) {
    TimeToProto(job.finished_at, proto.mutable_finished_at());
  }
  if (job.artifact.has_value()) {
    rwkv::v1::Artifact* a = proto.mutable_artifact();
    a->set_path(job.artifact->path);
    a->set_size_bytes(job.artifact->size_bytes);
    a->set_sha256(job.artifact->sha256);
    a->set_manifest_path(job.artifact->manifest_path);
    a->set_tensor_count(job.artifact->tensor_count);
    a->set_input_bytes(job.artifact->input_bytes);
    if (job.artifact->quality.has_value()) {
      const QuantizationQuality& q = *job.artifact->quality;
      rwkv::v1::QuantizationQuality* pq = a->mutable_quality();
      pq->set_eval_text(q.eval_text);
      pq->set_ctx(q.ctx);
      pq->set_chunks(q.chunks);
      pq->set_tokens_scored(q.tokens_scored);
      pq->set_ppl_source(q.ppl_source);
      pq->set_ppl_source_error(q.ppl_source_error);
      pq->set_ppl_result(q.ppl_result);
      pq->set_ppl_result_error(q.ppl_result_error);
      pq->set_mean_kld(q.mean_kld);
      pq->set_mean_kld_error(q.mean_kld_error);
      pq->set_kld_p99(q.kld_p99);
      pq->set_same_top_fraction(q.same_top_fraction);
    }
  }
}

}  // namespace rwkv::converter
