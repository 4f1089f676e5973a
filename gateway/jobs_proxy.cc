#include "gateway/jobs_proxy.h"

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "gateway/unary_forward.h"
#include "grpcpp/support/client_callback.h"
#include "services/common/status_mapping.h"

namespace rwkv::gateway {

namespace v1 = ::rwkv::v1;

namespace {

// Relays one Watch stream: read a job from the converter, write it to the client, read the
// next. The converter call gets the client's deadline; OnCancel cancels it. Deletes itself
// when both calls are done.
class WatchRelay : public grpc::ServerWriteReactor<v1::Job> {
 public:
  WatchRelay(grpc::CallbackServerContext* context, std::shared_ptr<grpc::Channel> converter,
             const v1::WatchJobRequest& request)
      : client_(this), request_(request) {
    client_context_ = std::make_unique<grpc::ClientContext>();
    client_context_->set_deadline(context->deadline());
    v1::Jobs::NewStub(std::move(converter))
        ->async()
        ->Watch(client_context_.get(), &request_, &client_);
    client_.StartRead(&message_);
    client_.StartCall();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      client_context_->TryCancel();
      absl::MutexLock lock(&mu_);
      broken_ = true;
    }
    client_.StartRead(&message_);  // on a broken stream it fails at once after the cancel
  }
  void OnCancel() override { client_context_->TryCancel(); }
  void OnDone() override {
    bool done = false;
    {
      absl::MutexLock lock(&mu_);
      server_done_ = true;
      done = client_done_;
    }
    if (done) delete this;
  }

 private:
  class Client : public grpc::ClientReadReactor<v1::Job> {
   public:
    explicit Client(WatchRelay* relay) : relay_(relay) {}
    void OnReadDone(bool ok) override {
      if (ok) relay_->StartWrite(&relay_->message_);
    }
    void OnDone(const grpc::Status& status) override { relay_->OnClientDone(status); }

   private:
    WatchRelay* relay_;
  };

  void OnClientDone(const grpc::Status& status) {
    bool broken = false;
    {
      absl::MutexLock lock(&mu_);
      broken = broken_;
    }
    Finish(broken ? grpc::Status(grpc::StatusCode::CANCELLED, "client stopped reading") : status);
    bool done = false;
    {
      absl::MutexLock lock(&mu_);
      client_done_ = true;
      done = server_done_;
    }
    if (done) delete this;
  }

  Client client_;
  v1::WatchJobRequest request_;
  std::unique_ptr<grpc::ClientContext> client_context_;
  v1::Job message_;
  absl::Mutex mu_;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool client_done_ ABSL_GUARDED_BY(mu_) = false;
  bool server_done_ ABSL_GUARDED_BY(mu_) = false;
};

class RefusedWatch : public grpc::ServerWriteReactor<v1::Job> {
 public:
  explicit RefusedWatch(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::Status JobsProxy::Admit(const grpc::CallbackServerContext& context) {
  if (auth_ != nullptr) {
    if (absl::Status s = auth_->Check(context); !s.ok()) return services::ToGrpcStatus(s);
  }
  if (draining_.load()) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "gateway is draining");
  }
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* JobsProxy::Submit(grpc::CallbackServerContext* context,
                                            const v1::SubmitJobRequest* request,
                                            v1::Job* response) {
  if (grpc::Status s = Admit(*context); !s.ok()) return FinishUnary(context, s);
  return ForwardUnary<v1::Jobs>(
      context, converter_, request, response,
      [](auto* a, auto* c, auto* q, auto* r, auto d) { a->Submit(c, q, r, std::move(d)); });
}

grpc::ServerUnaryReactor* JobsProxy::Get(grpc::CallbackServerContext* context,
                                         const v1::GetJobRequest* request, v1::Job* response) {
  if (grpc::Status s = Admit(*context); !s.ok()) return FinishUnary(context, s);
  return ForwardUnary<v1::Jobs>(
      context, converter_, request, response,
      [](auto* a, auto* c, auto* q, auto* r, auto d) { a->Get(c, q, r, std::move(d)); });
}

grpc::ServerUnaryReactor* JobsProxy::List(grpc::CallbackServerContext* context,
                                          const v1::ListJobsRequest* request,
                                          v1::ListJobsResponse* response) {
  if (grpc::Status s = Admit(*context); !s.ok()) return FinishUnary(context, s);
  return ForwardUnary<v1::Jobs>(
      context, converter_, request, response,
      [](auto* a, auto* c, auto* q, auto* r, auto d) { a->List(c, q, r, std::move(d)); });
}

grpc::ServerUnaryReactor* JobsProxy::Cancel(grpc::CallbackServerContext* context,
                                            const v1::CancelJobRequest* request,
                                            v1::Job* response) {
  if (grpc::Status s = Admit(*context); !s.ok()) return FinishUnary(context, s);
  return ForwardUnary<v1::Jobs>(
      context, converter_, request, response,
      [](auto* a, auto* c, auto* q, auto* r, auto d) { a->Cancel(c, q, r, std::move(d)); });
}

grpc::ServerWriteReactor<v1::Job>* JobsProxy::Watch(grpc::CallbackServerContext* context,
                                                    const v1::WatchJobRequest* request) {
  if (grpc::Status s = Admit(*context); !s.ok()) return new RefusedWatch(s);
  return new WatchRelay(context, converter_, *request);
}

}  // namespace rwkv::gateway
