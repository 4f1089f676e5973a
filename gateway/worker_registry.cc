#include "gateway/worker_registry.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gateway/picker.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "services/common/log.h"

namespace rwkv::gateway {
namespace {

std::shared_ptr<grpc::Channel> MakeWorkerChannel(const std::string& address) {
  grpc::ChannelArguments args;
  // gRPC's default reconnect back-off grows to 120 s; a restarted worker must rejoin in
  // seconds.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // Each worker gets its own connection even when two addresses share a subchannel key.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

}  // namespace

WorkerRegistry::WorkerRegistry(Options options, GatewayMetrics* metrics)
    : options_(options), metrics_(metrics) {}

WorkerRegistry::~WorkerRegistry() { StopWatches(absl::InfiniteFuture()); }

bool WorkerRegistry::StopWatches(absl::Time deadline) {
  std::vector<std::shared_ptr<WorkerWatch>> watches;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [address, entry] : workers_) {
      if (entry.watch) watches.push_back(std::move(entry.watch));
      ++entry.generation;  // late events of these watches are ignored
    }
  }
  for (auto& w : watches) w->Cancel();
  watches.clear();
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return live_watches_ == 0; };
  return mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
}

void WorkerRegistry::SetHealthListener(HealthListener listener) {
  {
    // Publish calls the listener under publish_mu_: once this lock is held no call of the old
    // listener is running, and none starts after.
    absl::MutexLock publish_lock(&publish_mu_);
    absl::MutexLock lock(&mu_);
    listener_ = std::move(listener);
    published_any_healthy_ = -1;
  }
  Publish();
}

void WorkerRegistry::SetWorkers(const std::vector<std::string>& addresses) {
  std::vector<std::shared_ptr<WorkerWatch>> dropped;
  std::vector<std::string> removed;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (std::find(addresses.begin(), addresses.end(), it->first) != addresses.end()) {
        ++it;
        continue;
      }
      services::LogLine(absl::StrCat("worker ", it->first, " left discovery"));
      if (it->second.watch) dropped.push_back(std::move(it->second.watch));
      removed.push_back(it->first);
      it = workers_.erase(it);
    }
    for (const std::string& address : addresses) {
      if (workers_.count(address) != 0) continue;
      Entry& entry = workers_[address];
      entry.view.address = address;
      entry.channel = MakeWorkerChannel(address);
      entry.backoff = options_.min_backoff;
      services::LogLine(absl::StrCat("worker ", address, " discovered"));
    }
  }
  for (auto& w : dropped) w->Cancel();
  if (metrics_ != nullptr) {
    for (const std::string& address : removed) metrics_->RemoveWorker(address);
  }
  Publish();
  Maintain();
}

void WorkerRegistry::Maintain() {
  const absl::Time now = absl::Now();
  std::vector<std::pair<std::string, uint64_t>> due;
  std::vector<std::shared_ptr<WorkerWatch>> stale;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [address, entry] : workers_) {
      if (entry.watch == nullptr) {
        if (now >= entry.restart_at) due.emplace_back(address, ++entry.generation);
        continue;
      }
      if (entry.status_up && now - entry.status_time > options_.stale_after) {
        stale.push_back(entry.watch);
      }
      if (metrics_ != nullptr && entry.status_up) {
        metrics_->SetStatusAge(address, absl::ToDoubleSeconds(now - entry.status_time));
      }
    }
  }
  for (auto& w : stale) w->Cancel();  // OnWatchEnded takes it out of the rotation
  StartWatches(due);
}

void WorkerRegistry::StartWatches(const std::vector<std::pair<std::string, uint64_t>>& due) {
  for (const auto& [address, generation] : due) {
    std::shared_ptr<grpc::Channel> channel;
    {
      absl::MutexLock lock(&mu_);
      auto it = workers_.find(address);
      if (it == workers_.end() || it->second.generation != generation) continue;
      channel = it->second.channel;
      ++live_watches_;
    }
    std::shared_ptr<WorkerWatch> watch =
        WorkerWatch::Start(channel, address, generation, options_.status_interval_ms, *this);
    bool keep = false;
    {
      absl::MutexLock lock(&mu_);
      auto it = workers_.find(address);
      keep = it != workers_.end() && it->second.generation == generation &&
             it->second.restart_at != absl::InfiniteFuture();
      if (keep) it->second.watch = watch;
      if (it != workers_.end() && it->second.restart_at == absl::InfiniteFuture()) {
        // The watch ended before it was stored: schedule the next one now.
        it->second.restart_at = absl::Now() + it->second.backoff;
      }
    }
    if (!keep) watch->Cancel();
  }
}

std::vector<WorkerView> WorkerRegistry::Snapshot() const {
  absl::MutexLock lock(&mu_);
  std::vector<WorkerView> views;
  views.reserve(workers_.size());
  for (const auto& [address, entry] : workers_) views.push_back(entry.view);
  return views;
}

std::vector<rwkv::v1::ModelInfo> WorkerRegistry::HealthyModels() const {
  std::map<std::string, rwkv::v1::ModelInfo> models;
  absl::MutexLock lock(&mu_);
  for (const auto& [address, entry] : workers_) {
    if (!entry.view.healthy) continue;
    auto [it, inserted] = models.try_emplace(entry.view.model, entry.model_info);
    rwkv::v1::ModelInfo& info = it->second;
    if (inserted) {
      info.clear_backends();
      info.clear_pools();
    }
    const auto& backends = info.backends();
    if (std::find(backends.begin(), backends.end(), entry.view.backend) == backends.end()) {
      info.add_backends(entry.view.backend);
    }
    const auto& pools = info.pools();
    if (std::find(pools.begin(), pools.end(), entry.view.pool) == pools.end()) {
      info.add_pools(entry.view.pool);
    }
  }
  std::vector<rwkv::v1::ModelInfo> out;
  for (auto& [name, info] : models) out.push_back(std::move(info));
  return out;
}

std::shared_ptr<grpc::Channel> WorkerRegistry::Channel(const std::string& address) const {
  absl::MutexLock lock(&mu_);
  auto it = workers_.find(address);
  return it == workers_.end() ? nullptr : it->second.channel;
}

void WorkerRegistry::StreamStarted(const std::string& address, uint64_t max_tokens) {
  absl::MutexLock lock(&mu_);
  auto it = workers_.find(address);
  if (it == workers_.end()) return;
  WorkerView& v = it->second.view;
  ++v.own_streams;
  ++v.own_unreported;
  v.own_outstanding_tokens += max_tokens;
}

void WorkerRegistry::TokensReceived(const std::string& address, uint64_t count) {
  absl::MutexLock lock(&mu_);
  auto it = workers_.find(address);
  if (it == workers_.end()) return;
  WorkerView& v = it->second.view;
  v.own_outstanding_tokens -= std::min(count, v.own_outstanding_tokens);
}

void WorkerRegistry::StreamEnded(const std::string& address, uint64_t tokens_not_received) {
  absl::MutexLock lock(&mu_);
  auto it = workers_.find(address);
  if (it == workers_.end()) return;
  WorkerView& v = it->second.view;
  if (v.own_streams > 0) --v.own_streams;
  v.own_outstanding_tokens -= std::min(tokens_not_received, v.own_outstanding_tokens);
}

void WorkerRegistry::OnStatus(const std::string& address, uint64_t generation,
                              const rwkv::v1::WorkerStatus& status) {
  {
    absl::MutexLock lock(&mu_);
    auto it = workers_.find(address);
    if (it == workers_.end() || it->second.generation != generation) return;
    Entry& e = it->second;
    WorkerView& v = e.view;
    v.model = status.model().name();
    e.model_info = status.model();
    v.pool = status.pool();
    v.backend = status.backend();
    v.slots_busy = status.slots_busy();
    v.slots_free = status.slots_free();
    v.queue_depth = status.queue_depth();
    // A rate measured while idle says nothing about speed; keep the last busy one.
    if (status.slots_busy() > 0 && status.generated_tokens_per_second() > 0) {
      v.tokens_per_second = status.generated_tokens_per_second();
    }
    v.own_unreported = 0;
    e.status_up = true;
    e.accepting = status.accepting();
    e.status_time = absl::Now();
    e.backoff = options_.min_backoff;
    if (metrics_ != nullptr) metrics_->SetStatusAge(address, 0);
    UpdateHealthLocked(e, status.accepting() ? "status stream up" : "worker is not accepting");
  }
  Publish();
}

void WorkerRegistry::OnServing(const std::string& address, uint64_t generation, bool serving) {
  {
    absl::MutexLock lock(&mu_);
    auto it = workers_.find(address);
    if (it == workers_.end() || it->second.generation != generation) return;
    it->second.serving = serving;
    UpdateHealthLocked(it->second, serving ? "health SERVING" : "health NOT_SERVING");
  }
  Publish();
}

void WorkerRegistry::OnWatchEnded(const std::string& address, uint64_t generation,
                                  const std::string& why) {
  {
    absl::MutexLock lock(&mu_);
    auto it = workers_.find(address);
    if (it == workers_.end() || it->second.generation != generation) return;
    Entry& e = it->second;
    e.serving = false;
    e.status_up = false;
    if (e.watch == nullptr) {
      e.restart_at = absl::InfiniteFuture();  // StartWatches has not stored it yet
    } else {
      e.watch.reset();
      e.restart_at = absl::Now() + e.backoff;
    }
    e.backoff = std::min(e.backoff * 2, options_.max_backoff);
    UpdateHealthLocked(e, why);
  }
  Publish();
}

void WorkerRegistry::OnWatchReleased() {
  absl::MutexLock lock(&mu_);
  --live_watches_;
}

void WorkerRegistry::UpdateHealthLocked(Entry& e, const std::string& why) {
  const bool healthy = e.serving && e.status_up && e.accepting;
  if (healthy == e.view.healthy) return;
  e.view.healthy = healthy;
  if (healthy) {
    services::LogLine(absl::StrCat("worker ", e.view.address, " joined the rotation (model ",
                                   e.view.model, ", pool ", e.view.pool, ", backend ",
                                   BackendLabel(e.view.backend), ")"));
  } else {
    services::LogLine(absl::StrCat("worker ", e.view.address, " left the rotation: ", why));
  }
}

void WorkerRegistry::Publish() {
  absl::MutexLock publish_lock(&publish_mu_);
  std::map<std::string, int> by_pool;
  int healthy = 0;
  HealthListener listener;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [address, entry] : workers_) {
      if (entry.view.model.empty()) continue;
      int& count = by_pool[entry.view.pool];
      if (entry.view.healthy) {
        ++count;
        ++healthy;
      }
    }
    listener = listener_;
  }
  if (metrics_ != nullptr) metrics_->SetHealthyWorkers(by_pool);
  const int any = healthy > 0 ? 1 : 0;
  if (any == published_any_healthy_) return;
  published_any_healthy_ = any;
  if (listener) listener(any == 1);
}

}  // namespace rwkv::gateway
