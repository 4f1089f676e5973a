#include "services/converter/metrics.h"

#include <string>

#include "services/common/metrics_endpoint.h"

namespace rwkv::converter {

ConverterMetrics::ConverterMetrics(prometheus::Registry& registry)
    : queued_(prometheus::BuildGauge()
                  .Name("rwkv_converter_queued_jobs")
                  .Help("Jobs waiting for a worker thread")
                  .Register(registry)
                  .Add({})),
      running_(prometheus::BuildGauge()
                   .Name("rwkv_converter_running_jobs")
                   .Help("Jobs being executed")
                   .Register(registry)
                   .Add({})) {
  auto& jobs = prometheus::BuildCounter()
                   .Name("rwkv_converter_jobs_total")
                   .Help("Jobs that entered a state, by kind and state")
                   .Register(registry);
  auto& duration = prometheus::BuildHistogram()
                       .Name("rwkv_converter_job_duration_seconds")
                       .Help("Run time of finished jobs (start to final state)")
                       .Register(registry);
  auto& queue_wait = prometheus::BuildHistogram()
                         .Name("rwkv_converter_job_queue_wait_seconds")
                         .Help("Time jobs spent queued before they started")
                         .Register(registry);
  auto& written = prometheus::BuildCounter()
                      .Name("rwkv_converter_written_bytes_total")
                      .Help("Bytes of artifacts published")
                      .Register(registry);
  auto& rejected = prometheus::BuildCounter()
                       .Name("rwkv_converter_rejected_submissions_total")
                       .Help("Submit calls refused, by reason")
                       .Register(registry);
  for (size_t k = 0; k < kKinds; ++k) {
    const std::string kind(KindName(static_cast<JobKind>(k)));
    for (size_t s = 0; s < kStates; ++s) {
      const std::string state(StateName(static_cast<JobState>(s)));
      jobs_[k][s] = &jobs.Add({{"kind", kind}, {"state", state}});
      if (IsTerminal(static_cast<JobState>(s))) {
        duration_[k][s] =
            &duration.Add({{"kind", kind}, {"state", state}}, services::buckets::JobSeconds());
      }
    }
    queue_wait_[k] = &queue_wait.Add({{"kind", kind}}, services::buckets::JobSeconds());
    written_bytes_[k] = &written.Add({{"kind", kind}});
  }
  rejected_queue_full_ = &rejected.Add({{"reason", "queue_full"}});
  rejected_invalid_ = &rejected.Add({{"reason", "invalid"}});
  rejected_draining_ = &rejected.Add({{"reason", "draining"}});
}

void ConverterMetrics::JobEntered(JobKind kind, JobState state) {
  jobs_[static_cast<size_t>(kind)][static_cast<size_t>(state)]->Increment();
}

void ConverterMetrics::JobFinished(JobKind kind, JobState state, double run_seconds,
                                   uint64_t bytes_written) {
  if (prometheus::Histogram* h = duration_[static_cast<size_t>(kind)][static_cast<size_t>(state)]) {
    h->Observe(run_seconds);
  }
  if (bytes_written > 0) {
    written_bytes_[static_cast<size_t>(kind)]->Increment(static_cast<double>(bytes_written));
  }
}

void ConverterMetrics::JobStarted(JobKind kind, double queue_seconds) {
  queue_wait_[static_cast<size_t>(kind)]->Observe(queue_seconds);
}

void ConverterMetrics::SubmissionRejected(absl::string_view reason) {
  if (reason == "queue_full") {
    rejected_queue_full_->Increment();
  } else if (reason == "draining") {
    rejected_draining_->Increment();
  } else {
    rejected_invalid_->Increment();
  }
}

}  // namespace rwkv::converter
