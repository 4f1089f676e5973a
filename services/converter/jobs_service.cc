#include "services/converter/jobs_service.h"

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "services/common/status_mapping.h"
#include "services/converter/proto_convert.h"

namespace rwkv::converter {
namespace {

using services::ToGrpcStatus;

absl::Status RequireId(const std::string& id) {
  if (id.empty()) return absl::InvalidArgumentError("job id is required");
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* FinishJob(grpc::CallbackServerContext* context,
                                    const absl::StatusOr<Job>& job, rwkv::v1::Job* response) {
  if (job.ok()) JobToProto(*job, *response);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(job.status()));
  return reactor;
}

// Streams snapshots of one job. The store calls OnUpdate (with its lock held) from any thread
// until Unwatch returns, so also after Finish; gRPC calls OnWriteDone / OnCancel / OnDone.
// Once finished_ is set no write is started. Finish is always called outside mu_ because it
// may run OnDone, which deletes the reactor (after Unwatch, so never under an OnUpdate).
class WatchReactor final : public grpc::ServerWriteReactor<rwkv::v1::Job> {
 public:
  WatchReactor(JobStore& store, const std::string& id) : store_(store) {
    absl::StatusOr<WatchId> watch =
        store_.Watch(id, [this](const absl::StatusOr<Job>& update) { OnUpdate(update); });
    if (!watch.ok()) {
      FinishOnce(ToGrpcStatus(watch.status()));
      return;
    }
    // Writes start only now: until the constructor is done nothing may Finish (and so delete)
    // the reactor.
    std::optional<grpc::Status> finish;
    {
      absl::MutexLock lock(&mu_);
      watch_id_ = *watch;
      ready_ = true;
      finish =
          cancelled_ ? grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled") : NextLocked();
    }
    if (finish.has_value()) FinishOnce(*finish);
  }

  void OnWriteDone(bool ok) override {
    std::optional<grpc::Status> finish;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        finish = grpc::Status(grpc::StatusCode::CANCELLED, "watch stream closed");
      } else {
        finish = NextLocked();
      }
    }
    if (finish.has_value()) FinishOnce(*finish);
  }

  void OnCancel() override {
    bool idle;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      idle = ready_ && !writing_;
    }
    if (idle) FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled"));
  }

  void OnDone() override {
    WatchId id;
    {
      absl::MutexLock lock(&mu_);
      id = watch_id_;
    }
    store_.Unwatch(id);
    delete this;
  }

 private:
  void OnUpdate(const absl::StatusOr<Job>& update) {
    std::optional<grpc::Status> finish;
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      if (!update.ok()) {
        end_status_ = ToGrpcStatus(update.status());
        ended_ = true;
      } else {
        JobToProto(*update, pending_);
        has_pending_ = true;
        if (IsTerminal(update->state)) ended_ = true;
      }
      if (ready_ && !writing_) finish = NextLocked();
    }
    if (finish.has_value()) FinishOnce(*finish);
  }

  // Starts the next write, or returns the status to finish with when the stream is complete.
  std::optional<grpc::Status> NextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return std::nullopt;
    if (cancelled_) return grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled");
    if (has_pending_) {
      current_.Swap(&pending_);
      has_pending_ = false;
      writing_ = true;
      StartWrite(&current_);
      return std::nullopt;
    }
    if (ended_) return end_status_;
    return std::nullopt;
  }

  void FinishOnce(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      finished_ = true;
    }
    Finish(status);
  }

  JobStore& store_;
  absl::Mutex mu_;
  WatchId watch_id_ ABSL_GUARDED_BY(mu_) = 0;
  rwkv::v1::Job current_;
  rwkv::v1::Job pending_ ABSL_GUARDED_BY(mu_);
  bool has_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool ready_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status end_status_ ABSL_GUARDED_BY(mu_) = grpc::Status::OK;
};

}  // namespace

grpc::ServerUnaryReactor* JobsService::Submit(grpc::CallbackServerContext* context,
                                              const rwkv::v1::SubmitJobRequest* request,
                                              rwkv::v1::Job* response) {
  absl::StatusOr<JobSpec> spec = SpecFromProto(request->spec());
  return FinishJob(context, spec.ok() ? store_.Submit(*std::move(spec)) : spec.status(), response);
}

grpc::ServerUnaryReactor* JobsService::Get(grpc::CallbackServerContext* context,
                                           const rwkv::v1::GetJobRequest* request,
                                           rwkv::v1::Job* response) {
  absl::Status valid = RequireId(request->id());
  return FinishJob(context, valid.ok() ? store_.Get(request->id()) : valid, response);
}

grpc::ServerUnaryReactor* JobsService::List(grpc::CallbackServerContext* context,
                                            const rwkv::v1::ListJobsRequest* request,
                                            rwkv::v1::ListJobsResponse* response) {
  absl::StatusOr<ListFilter> filter = FilterFromProto(*request);
  if (filter.ok()) {
    for (const Job& job : store_.List(*filter)) JobToProto(job, *response->add_jobs());
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(filter.status()));
  return reactor;
}

grpc::ServerUnaryReactor* JobsService::Cancel(grpc::CallbackServerContext* context,
                                              const rwkv::v1::CancelJobRequest* request,
                                              rwkv::v1::Job* response) {
  absl::Status valid = RequireId(request->id());
  return FinishJob(context, valid.ok() ? store_.Cancel(request->id()) : valid, response);
}

grpc::ServerWriteReactor<rwkv::v1::Job>* JobsService::Watch(
    grpc::CallbackServerContext* context, const rwkv::v1::WatchJobRequest* request) {
  return new WatchReactor(store_, request->id());
}

}  // namespace rwkv::converter
