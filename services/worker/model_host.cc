#include "services/worker/model_host.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "rwkv/engine/model_quantizer.h"
#include "services/common/log.h"
#include "services/common/storage_path.h"

namespace rwkv::worker {
namespace {

std::string FileTypeName(const engine::GgufFile& file) {
  absl::StatusOr<uint32_t> id = file.GetUint32("general.file_type");
  if (!id.ok()) return "unknown";
  if (*id == 0) return "F32";
  if (*id == 1) return "F16";
  absl::StatusOr<engine::QuantizeTarget> target = engine::ParseQuantizeTarget(std::to_string(*id));
  return target.ok() ? target->name : absl::StrCat("ftype ", *id);
}

}  // namespace

absl::StatusOr<ResolvedModel> ResolveModel(const std::string& model,
                                           const std::string& storage_root) {
  if (model.empty()) return absl::InvalidArgumentError("--model is required");
  ResolvedModel out;
  if (model.find('/') != std::string::npos || absl::EndsWith(model, ".gguf")) {
    out.path = model;
    out.name = out.path.stem().string();
    if (absl::Status s = ValidateArtifactName("model", out.name); !s.ok()) return s;
    return out;
  }
  if (absl::Status s = ValidateArtifactName("model", model); !s.ok()) return s;
  if (storage_root.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model '", model, "' is a name, which needs --storage-root"));
  }
  absl::StatusOr<std::filesystem::path> path =
      services::ResolveStoragePath(storage_root, absl::StrCat("models/", model, ".gguf"));
  if (!path.ok()) return path.status();
  out.name = model;
  out.path = *path;
  return out;
}

ModelHost::ModelHost(WorkerConfig config, ResolvedModel resolved, WorkerMetrics& metrics)
    : config_(std::move(config)), resolved_(std::move(resolved)), metrics_(metrics) {}

ModelHost::~ModelHost() {
  // The scheduler's engine thread uses the model: stop it first.
  scheduler_.reset();
}

absl::Status ModelHost::Load() {
  if (draining()) return absl::CancelledError("shutting down before the model was loaded");
  const absl::Time start = absl::Now();
  engine::ModelOptions options;
  options.threads = config_.threads;
  options.backend = config_.backend;
  options.device = config_.device;
  options.precision = config_.precision;
  // A GPU keeps the batch's states between steps; the scheduler syncs them before it touches
  // one (BatchEvaluator::SyncStates). No effect on the CPU.
  options.keep_states_on_device = true;
  // One scheduler step (decode tokens and prompt chunks, --step-tokens) is one forward pass.
  options.max_step_tokens = EffectiveStepTokens(config_.scheduler);
  absl::StatusOr<std::unique_ptr<engine::Model>> model =
      engine::Model::Load(resolved_.path.string(), options);
  if (!model.ok()) return model.status();
  model_ = std::move(*model);
  absl::StatusOr<std::unique_ptr<engine::Tokenizer>> tokenizer =
      engine::Tokenizer::FromGguf(model_->gguf());
  if (!tokenizer.ok()) return tokenizer.status();
  tokenizer_ = std::move(*tokenizer);

  const engine::ModelConfig& mc = model_->config();
  summary_.name = resolved_.name;
  summary_.n_vocab = mc.n_vocab;
  summary_.n_embd = mc.n_embd;
  summary_.n_layer = mc.n_layer;
  summary_.file_type = FileTypeName(model_->gguf());
  summary_.size_bytes = model_->gguf().file_size();
  summary_.device = model_->backend_description();

  evaluator_ = std::make_unique<ModelEvaluator>(*model_);
  sessions_ =
      std::make_unique<SessionCache>(config_.session_cache_bytes, config_.session_idle_timeout);
  states_ =
      std::make_unique<StateStore>(config_.storage_root, model_->state_shape(),
                                   static_cast<int32_t>(mc.n_vocab), config_.state_cache_bytes);
  absl::MutexLock lock(&lifecycle_mu_);
  if (draining_) {
    services::LogLine(
        absl::StrCat("model ", resolved_.name, " loaded after the drain began; not serving"));
    return absl::CancelledError("shutting down: the model finished loading after the drain began");
  }
  scheduler_ = std::make_unique<Scheduler>(config_.scheduler, *evaluator_, *tokenizer_, *sessions_,
                                           metrics_);
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  metrics_.SetModelLoaded(true, seconds);
  services::LogLine(absl::StrCat("model ", resolved_.name, " (", resolved_.path.string(), ", ",
                                 summary_.file_type, ", n_embd ", mc.n_embd, ", n_layer ",
                                 mc.n_layer, ", n_vocab ", mc.n_vocab, ") loaded in ", seconds,
                                 " s on ", summary_.device, "; ", config_.scheduler.max_sequences,
                                 " slots, ", scheduler_->step_tokens(), " tokens per step"));
  ready_.store(true, std::memory_order_release);
  return absl::OkStatus();
}

void ModelHost::Drain(absl::Time deadline) {
  {
    absl::MutexLock lock(&lifecycle_mu_);
    draining_ = true;
  }
  // ready() cannot turn true any more, and the scheduler exists when it is.
  if (ready()) scheduler_->Drain(deadline);
}

bool ModelHost::draining() const {
  absl::MutexLock lock(&lifecycle_mu_);
  return draining_;
}

}  // namespace rwkv::worker
