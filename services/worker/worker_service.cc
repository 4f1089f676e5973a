#include "services/worker/worker_service.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/worker/request_convert.h"

namespace rwkv::worker {

namespace v1 = ::rwkv::v1;

namespace {
constexpr absl::Duration kTick = absl::Milliseconds(50);
constexpr absl::Duration kHeartbeat = absl::Seconds(5);
}  // namespace

// One WatchStatus stream. Its flags are guarded by the service's mutex; gRPC operations are
// started outside it, and only by the thread that set `writing` or `finished`, so the object
// is alive for each of them (gRPC calls OnDone only after Finish).
class WorkerStatusService::Watch : public grpc::ServerWriteReactor<v1::WorkerStatus> {
 public:
  Watch(WorkerStatusService& service, absl::Duration min_interval)
      : service_(service), min_interval_(min_interval) {}

  void OnWriteDone(bool ok) override {
    grpc::Status status;
    {
      absl::MutexLock lock(&service_.mu_);
      writing = false;
      if (ok && !cancelled && !end_unavailable) return;
      finished = true;
      status = EndStatus();
    }
    Finish(status);
  }

  void OnCancel() override {
    {
      absl::MutexLock lock(&service_.mu_);
      cancelled = true;
      if (writing || finished) return;
      finished = true;
    }
    Finish(grpc::Status(grpc::StatusCode::CANCELLED, "status watch cancelled"));
  }

  void OnDone() override {
    {
      absl::MutexLock lock(&service_.mu_);
      service_.watches_.erase(this);
    }
    delete this;
  }

  grpc::Status EndStatus() const {
    if (end_unavailable) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "worker is draining");
    }
    return grpc::Status(grpc::StatusCode::CANCELLED, "status watch cancelled");
  }

  WorkerStatusService& service_;
  const absl::Duration min_interval_;
  // Guarded by service_.mu_.
  absl::Time last_sent = absl::InfinitePast();
  uint64_t last_version = ~uint64_t{0};
  bool writing = false;
  bool finished = false;
  bool cancelled = false;
  bool end_unavailable = false;
  v1::WorkerStatus message;  // being written; changed only while `writing` is false
};

WorkerStatusService::WorkerStatusService(ModelHost& host, std::string version)
    : host_(host), version_(std::move(version)) {
  ticker_ = std::thread([this] {
    for (;;) {
      {
        absl::MutexLock lock(&mu_);
        auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
        mu_.AwaitWithTimeout(absl::Condition(&stop), kTick);
        if (stop_) return;
      }
      Tick();
    }
  });
}

WorkerStatusService::~WorkerStatusService() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  ticker_.join();
}

v1::WorkerStatus WorkerStatusService::Snapshot(uint64_t* version) const {
  v1::WorkerStatus status;
  const WorkerConfig& config = host_.config();
  status.set_backend(BackendFromName(config.backend));
  status.set_pool(config.pool);
  status.set_version(version_);
  if (!host_.ready()) {
    status.mutable_model()->set_name(host_.model_name());
    status.set_device(absl::StrCat(config.backend, " device ", config.device, " (loading)"));
    status.set_accepting(false);
    if (version != nullptr) *version = 0;
    return status;
  }
  FillModelInfo(host_, *status.mutable_model());
  status.set_device(host_.summary().device);
  const SchedulerStats stats = host_.scheduler().Stats();
  status.set_slots_busy(stats.slots_busy);
  status.set_slots_free(stats.slots_free);
  status.set_queue_depth(stats.queue_depth);
  status.set_prompt_tokens_per_second(stats.prompt_tokens_per_second);
  status.set_generated_tokens_per_second(stats.generated_tokens_per_second);
  status.set_accepting(stats.accepting);
  if (version != nullptr) *version = stats.version + 1;
  return status;
}

grpc::ServerUnaryReactor* WorkerStatusService::GetStatus(grpc::CallbackServerContext* context,
                                                         const v1::GetStatusRequest* /*request*/,
                                                         v1::WorkerStatus* response) {
  *response = Snapshot();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<v1::WorkerStatus>* WorkerStatusService::WatchStatus(
    grpc::CallbackServerContext* /*context*/, const v1::WatchStatusRequest* request) {
  const uint32_t ms = request->min_interval_ms() == 0
                          ? 250
                          : std::clamp<uint32_t>(request->min_interval_ms(), 50, 60000);
  auto* watch = new Watch(*this, absl::Milliseconds(ms));
  uint64_t version = 0;
  v1::WorkerStatus first = Snapshot(&version);
  bool refused = false;
  {
    absl::MutexLock lock(&mu_);
    watches_.insert(watch);
    if (shutdown_) {
      watch->finished = true;
      refused = true;
    } else {
      watch->message = std::move(first);
      watch->writing = true;
      watch->last_sent = absl::Now();
      watch->last_version = version;
    }
  }
  if (refused) {
    watch->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "worker is draining"));
  } else {
    watch->StartWrite(&watch->message);
  }
  return watch;
}

void WorkerStatusService::Tick() {
  uint64_t version = 0;
  const v1::WorkerStatus snapshot = Snapshot(&version);
  const absl::Time now = absl::Now();
  std::vector<Watch*> writes;
  std::vector<std::pair<Watch*, grpc::Status>> finishes;
  {
    absl::MutexLock lock(&mu_);
    for (Watch* w : watches_) {
      if (w->finished || w->writing) continue;
      if (shutdown_) {
        w->end_unavailable = true;
        w->finished = true;
        finishes.emplace_back(w, w->EndStatus());
        continue;
      }
      const absl::Duration since = now - w->last_sent;
      const bool changed = version != w->last_version && since >= w->min_interval_;
      if (!changed && since < kHeartbeat) continue;
      w->message = snapshot;
      w->writing = true;
      w->last_sent = now;
      w->last_version = version;
      writes.push_back(w);
    }
  }
  for (Watch* w : writes) w->StartWrite(&w->message);
  for (auto& [w, status] : finishes) w->Finish(status);
}

void WorkerStatusService::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    for (Watch* w : watches_) w->end_unavailable = true;
  }
  Tick();
}

}  // namespace rwkv::worker
