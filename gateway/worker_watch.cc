#include "gateway/worker_watch.h"

#include <atomic>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/client_callback.h"
#include "rwkv/v1/worker.grpc.pb.h"

namespace rwkv::gateway {

namespace v1 = ::rwkv::v1;
namespace health = ::grpc::health::v1;

struct WorkerWatch::Shared {
  Shared(std::string a, uint64_t g, WorkerWatchEvents& e)
      : released(e), address(std::move(a)), generation(g), events(e) {}

  void End(const std::string& why) {
    if (ended.exchange(true)) return;
    status_context.TryCancel();
    health_context.TryCancel();
    events.OnWatchEnded(address, generation, why);
  }

  // First member, so destroyed last: the sink hears OnWatchReleased only after the client
  // contexts (and their calls) are gone, and may then tear everything down.
  struct ReleaseNotice {
    explicit ReleaseNotice(WorkerWatchEvents& e) : events(e) {}
    ~ReleaseNotice() { events.OnWatchReleased(); }
    WorkerWatchEvents& events;
  } released;
  const std::string address;
  const uint64_t generation;
  WorkerWatchEvents& events;
  grpc::ClientContext status_context;
  grpc::ClientContext health_context;
  // Sent by pointer when the calls start, so they live as long as the calls.
  v1::WatchStatusRequest status_request;
  health::HealthCheckRequest health_request;  // "" = the whole server
  std::atomic<bool> ended{false};
};

namespace {

// Reads one server stream until it ends, handing each message to `on_message`. Holds the
// shared state alive until gRPC is done with the call, then deletes itself.
template <typename Message>
class StreamReader : public grpc::ClientReadReactor<Message> {
 public:
  StreamReader(std::shared_ptr<WorkerWatch::Shared> shared, std::string name,
               std::function<void(const Message&)> on_message)
      : shared_(std::move(shared)), name_(std::move(name)), on_message_(std::move(on_message)) {}

  void Begin() {
    this->StartRead(&message_);
    this->StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows with the status
    on_message_(message_);
    this->StartRead(&message_);
  }

  void OnDone(const grpc::Status& status) override {
    shared_->End(
        absl::StrCat(name_, " ended: ", status.ok() ? "stream closed" : status.error_message()));
    delete this;
  }

 private:
  std::shared_ptr<WorkerWatch::Shared> shared_;
  std::string name_;
  std::function<void(const Message&)> on_message_;
  Message message_;
};

}  // namespace

std::shared_ptr<WorkerWatch> WorkerWatch::Start(std::shared_ptr<grpc::Channel> channel,
                                                std::string address, uint64_t generation,
                                                uint32_t status_interval_ms,
                                                WorkerWatchEvents& events) {
  auto shared = std::make_shared<Shared>(std::move(address), generation, events);
  Shared* s = shared.get();

  auto* status_reader = new StreamReader<v1::WorkerStatus>(
      shared, "status stream",
      [s](const v1::WorkerStatus& m) { s->events.OnStatus(s->address, s->generation, m); });
  s->status_request.set_min_interval_ms(status_interval_ms);
  v1::Worker::NewStub(channel)->async()->WatchStatus(&s->status_context, &s->status_request,
                                                     status_reader);

  auto* health_reader = new StreamReader<health::HealthCheckResponse>(
      shared, "health watch", [s](const health::HealthCheckResponse& m) {
        s->events.OnServing(s->address, s->generation,
                            m.status() == health::HealthCheckResponse::SERVING);
      });
  health::Health::NewStub(channel)->async()->Watch(&s->health_context, &s->health_request,
                                                   health_reader);
  status_reader->Begin();
  health_reader->Begin();
  return std::shared_ptr<WorkerWatch>(new WorkerWatch(std::move(shared)));
}

void WorkerWatch::Cancel() { shared_->End("cancelled by the gateway"); }

}  // namespace rwkv::gateway
