// The one model a worker serves and everything built on it: tokenizer, scheduler, session
// cache and named states. Load() runs on a background thread after the server started
// listening; until it succeeds ready() is false and the services answer UNAVAILABLE.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "rwkv/engine/model.h"
#include "rwkv/engine/tokenizer.h"
#include "services/worker/batch_evaluator.h"
#include "services/worker/metrics.h"
#include "services/worker/scheduler.h"
#include "services/worker/session_cache.h"
#include "services/worker/state_store.h"

namespace rwkv::worker {

struct WorkerConfig {
  std::string model;         // NAME (models/NAME.gguf under the storage root) or a .gguf path
  std::string storage_root;  // may be empty when `model` is a path
  std::string backend = "cpu";
  int device = 0;
  std::string pool = "default";
  int threads = 0;  // CPU threads, 0 = all cores
  // CPU backend: how quantized weights are multiplied (engine::ModelOptions::precision).
  engine::Precision precision = engine::Precision::kExact;
  SchedulerOptions scheduler;
  uint64_t session_cache_bytes = 1ull << 30;
  uint64_t state_cache_bytes = StateStore::kDefaultBudgetBytes;
  absl::Duration session_idle_timeout = absl::Minutes(30);
};

struct ResolvedModel {
  std::string name;  // as clients name it
  std::filesystem::path path;
};

// NAME -> <root>/models/NAME.gguf; anything with a '/' or ending in ".gguf" is a path whose
// file stem is the name. InvalidArgument for a bad name or a missing root.
absl::StatusOr<ResolvedModel> ResolveModel(const std::string& model,
                                           const std::string& storage_root);

// What ListModels and GetStatus report about the model.
struct ModelSummary {
  std::string name;
  uint32_t n_vocab = 0;
  uint32_t n_embd = 0;
  uint32_t n_layer = 0;
  std::string file_type;  // "F16", "Q8_0", ...
  uint64_t size_bytes = 0;
  std::string device;  // backend description
};

class ModelHost {
 public:
  // `metrics` must outlive the host. Resolve() must have succeeded for `config.model`.
  ModelHost(WorkerConfig config, ResolvedModel resolved, WorkerMetrics& metrics);
  ~ModelHost();

  // Loads the model and starts the scheduler; sets ready() on success. Call once. Cancelled
  // (and never ready) when Drain began first: a worker told to stop never starts serving.
  absl::Status Load();
  bool ready() const { return ready_.load(std::memory_order_acquire); }

  const WorkerConfig& config() const { return config_; }
  const std::string& model_name() const { return resolved_.name; }

  // Valid only once ready().
  const ModelSummary& summary() const { return summary_; }
  engine::Model& model() { return *model_; }
  const engine::Tokenizer& tokenizer() const { return *tokenizer_; }
  Scheduler& scheduler() { return *scheduler_; }
  SessionCache& sessions() { return *sessions_; }
  StateStore& states() { return *states_; }

  // Drains the scheduler; before the model is loaded it makes Load give up instead.
  void Drain(absl::Time deadline);
  // Whether Drain has been called.
  bool draining() const;

 private:
  const WorkerConfig config_;
  const ResolvedModel resolved_;
  WorkerMetrics& metrics_;
  std::atomic<bool> ready_{false};
  // Orders Load's "start serving" against Drain: one of them wins, never both halfway.
  mutable absl::Mutex lifecycle_mu_;
  bool draining_ ABSL_GUARDED_BY(lifecycle_mu_) = false;
  ModelSummary summary_;
  std::unique_ptr<engine::Model> model_;
  std::unique_ptr<engine::Tokenizer> tokenizer_;
  std::unique_ptr<ModelEvaluator> evaluator_;
  std::unique_ptr<SessionCache> sessions_;
  std::unique_ptr<StateStore> states_;
  std::unique_ptr<Scheduler> scheduler_;
};

}  // namespace rwkv::worker
