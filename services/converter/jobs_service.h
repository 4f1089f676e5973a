// rwkv.v1.Jobs on gRPC's callback API: thin adapters that convert the request, call the
// JobStore and map the Status (services/common/status_mapping.h). Watch is a write reactor with
// one write in flight; updates arriving meanwhile are coalesced to the newest snapshot.
#pragma once

#include "rwkv/v1/jobs.grpc.pb.h"
#include "services/converter/job_store.h"

namespace rwkv::converter {

class JobsService final : public rwkv::v1::Jobs::CallbackService {
 public:
  // `store` must outlive the server.
  explicit JobsService(JobStore& store) : store_(store) {}

  grpc::ServerUnaryReactor* Submit(grpc::CallbackServerContext* context,
                                   const rwkv::v1::SubmitJobRequest* request,
                                   rwkv::v1::Job* response) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* context,
                                const rwkv::v1::GetJobRequest* request,
                                rwkv::v1::Job* response) override;
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* context,
                                 const rwkv::v1::ListJobsRequest* request,
                                 rwkv::v1::ListJobsResponse* response) override;
  grpc::ServerUnaryReactor* Cancel(grpc::CallbackServerContext* context,
                                   const rwkv::v1::CancelJobRequest* request,
                                   rwkv::v1::Job* response) override;
  grpc::ServerWriteReactor<rwkv::v1::Job>* Watch(grpc::CallbackServerContext* context,
                                                 const rwkv::v1::WatchJobRequest* request) override;

 private:
  JobStore& store_;
};

}  // namespace rwkv::converter
