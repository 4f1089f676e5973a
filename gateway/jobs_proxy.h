// rwkv.v1.Jobs at the gateway, forwarded to the converter (--converter host:port) so a client
// needs one address for generation and jobs. Unary calls are forwarded as they are; Watch is
// relayed message by message (one read or write in flight, so a slow client slows only its
// own stream). Deadlines reach the converter, and a cancelled Watch cancels its converter
// call. The bearer token and drain
// state are checked as for Inference.
#pragma once

#include <atomic>
#include <memory>

#include "gateway/token_auth.h"
#include "grpcpp/channel.h"
#include "rwkv/v1/jobs.grpc.pb.h"

namespace rwkv::gateway {

class JobsProxy : public rwkv::v1::Jobs::CallbackService {
 public:
  // `auth` may be null (no authentication); otherwise it must outlive the service.
  JobsProxy(std::shared_ptr<grpc::Channel> converter, TokenAuthenticator* auth)
      : converter_(std::move(converter)), auth_(auth) {}

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

  void StartDraining() { draining_.store(true); }

 private:
  grpc::Status Admit(const grpc::CallbackServerContext& context);

  std::shared_ptr<grpc::Channel> converter_;
  TokenAuthenticator* const auth_;
  std::atomic<bool> draining_{false};
};

}  // namespace rwkv::gateway
