// Conversions between rwkv.v1 Jobs messages and the converter's domain types. Only the
// service layer (jobs_service.cc) uses these.
#pragma once

#include "absl/status/statusor.h"
#include "rwkv/v1/jobs.pb.h"
#include "services/converter/job.h"
#include "services/converter/job_store.h"

namespace rwkv::converter {

// InvalidArgument for JOB_KIND_UNSPECIFIED or an unknown enum value.
absl::StatusOr<JobSpec> SpecFromProto(const rwkv::v1::JobSpec& proto);
absl::StatusOr<ListFilter> FilterFromProto(const rwkv::v1::ListJobsRequest& proto);
void JobToProto(const Job& job, rwkv::v1::Job& proto);

}  // namespace rwkv::converter
