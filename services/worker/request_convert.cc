#include "services/worker/request_convert.h"

#include <cmath>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"

namespace rwkv::worker {
namespace {

namespace v1 = ::rwkv::v1;

absl::Status Invalid(const std::string& message) { return absl::InvalidArgumentError(message); }

absl::Status CheckRange(const char* field, float value, float lo, float hi) {
  if (!std::isfinite(value) || value < lo || value > hi) {
    return Invalid(
        absl::StrCat("sampling.", field, " must be in [", lo, ", ", hi, "], got ", value));
  }
  return absl::OkStatus();
}

absl::StatusOr<engine::SamplerParams> ConvertSampling(const v1::SamplingParams& in,
                                                      int32_t n_vocab) {
  engine::SamplerParams p;
  p.style =
      in.has_penalty_decay() ? engine::SamplingStyle::kRwkv : engine::SamplingStyle::kLlamaCpp;
  p.temperature = in.has_temperature() ? in.temperature() : 1.0f;
  if (std::isnan(p.temperature) || p.temperature < 0 || std::isinf(p.temperature)) {
    return Invalid(
        absl::StrCat("sampling.temperature must be a finite number >= 0, got ", p.temperature));
  }
  if (in.top_k() > static_cast<uint32_t>(n_vocab)) {
    return Invalid(
        absl::StrCat("sampling.top_k must be at most n_vocab (", n_vocab, "), got ", in.top_k()));
  }
  p.top_k = static_cast<int32_t>(in.top_k());
  if (std::isnan(in.top_p()) || in.top_p() < 0 || in.top_p() > 1) {
    return Invalid(absl::StrCat("sampling.top_p must be in (0, 1] (0 = off), got ", in.top_p()));
  }
  p.top_p = in.top_p() == 0 ? 1.0f : in.top_p();
  if (std::isnan(in.min_p()) || in.min_p() < 0 || in.min_p() >= 1) {
    return Invalid(absl::StrCat("sampling.min_p must be in [0, 1), got ", in.min_p()));
  }
  p.min_p = in.min_p();
  if (auto s = CheckRange("presence_penalty", in.presence_penalty(), -2, 2); !s.ok()) return s;
  if (auto s = CheckRange("frequency_penalty", in.frequency_penalty(), -2, 2); !s.ok()) return s;
  p.presence_penalty = in.presence_penalty();
  p.frequency_penalty = in.frequency_penalty();
  if (in.has_penalty_decay()) {
    if (auto s = CheckRange("penalty_decay", in.penalty_decay(), 0, 1); !s.ok()) return s;
    p.penalty_decay = in.penalty_decay();
  }
  const float rep = in.repetition_penalty();
  if (!std::isfinite(rep) || (rep != 0 && rep < 1)) {
    return Invalid(absl::StrCat("sampling.repetition_penalty must be >= 1 (0 = off), got ", rep));
  }
  p.repeat_penalty = rep == 0 ? 1.0f : rep;
  if (in.has_seed()) {
    p.seed = in.seed();
  } else {
    std::random_device rd;
    p.seed = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }
  if (absl::Status s = engine::ValidateSamplerParams(p); !s.ok()) {
    return Invalid(absl::StrCat("sampling: ", s.message()));
  }
  return p;
}

absl::Status ConvertPrompt(const v1::GenerateRequest& in, const engine::Tokenizer& tokenizer,
                           std::vector<int32_t>& prompt) {
  switch (in.prompt_case()) {
    case v1::GenerateRequest::kText:
      if (in.text().size() > kMaxPromptBytes) {
        return Invalid(absl::StrCat("prompt text is ", in.text().size(),
                                    " bytes, more than the limit of ", kMaxPromptBytes));
      }
      prompt = tokenizer.Encode(in.text());
      return absl::OkStatus();
    case v1::GenerateRequest::kTokens: {
      const auto& ids = in.tokens().ids();
      if (static_cast<size_t>(ids.size()) > kMaxPromptTokens) {
        return Invalid(absl::StrCat("prompt has ", ids.size(),
                                    " token ids, more than the limit of ", kMaxPromptTokens));
      }
      prompt.reserve(static_cast<size_t>(ids.size()));
      for (uint32_t id : ids) {
        if (id >= static_cast<uint32_t>(tokenizer.vocab_size())) {
          return Invalid(absl::StrCat("prompt token id ", id, " is out of range (n_vocab ",
                                      tokenizer.vocab_size(), ")"));
        }
        prompt.push_back(static_cast<int32_t>(id));
      }
      return absl::OkStatus();
    }
    case v1::GenerateRequest::PROMPT_NOT_SET:
      break;
  }
  return Invalid("prompt is required (text or tokens)");
}

absl::Status ConvertStop(const v1::GenerateRequest& in, int32_t n_vocab,
                         engine::StopConditions& stop) {
  if (static_cast<size_t>(in.stop_size()) > engine::kMaxStopStrings) {
    return Invalid(absl::StrCat("stop has ", in.stop_size(), " strings, more than the limit of ",
                                engine::kMaxStopStrings));
  }
  for (const std::string& s : in.stop()) {
    if (s.empty() || s.size() > engine::kMaxStopStringBytes) {
      return Invalid(absl::StrCat("stop strings must be 1 to ", engine::kMaxStopStringBytes,
                                  " bytes, got ", s.size()));
    }
    stop.stop_strings.push_back(s);
  }
  if (static_cast<size_t>(in.stop_token_ids_size()) > kMaxStopTokenIds) {
    return Invalid(absl::StrCat("stop_token_ids has ", in.stop_token_ids_size(),
                                " ids, more than the limit of ", kMaxStopTokenIds));
  }
  for (uint32_t id : in.stop_token_ids()) {
    if (id >= static_cast<uint32_t>(n_vocab)) {
      return Invalid(
          absl::StrCat("stop token id ", id, " is out of range (n_vocab ", n_vocab, ")"));
    }
    stop.stop_token_ids.push_back(static_cast<int32_t>(id));
  }
  if (in.max_tokens() > kMaxMaxTokens) {
    return Invalid(absl::StrCat("max_tokens must be in 1..", kMaxMaxTokens,
                                " (0 = ", kDefaultMaxTokens, "), got ", in.max_tokens()));
  }
  stop.max_tokens =
      static_cast<int32_t>(in.max_tokens() == 0 ? kDefaultMaxTokens : in.max_tokens());
  return engine::ValidateStopConditions(stop);
}

absl::Status CheckPlacement(const v1::PlacementConstraint& placement, const WorkerConfig& config) {
  if (!placement.pool().empty() && placement.pool() != config.pool) {
    return absl::UnavailableError(absl::StrCat("worker pool '", config.pool,
                                               "' does not match the requested pool '",
                                               placement.pool(), "'"));
  }
  if (placement.backend() != v1::BACKEND_UNSPECIFIED &&
      placement.backend() != BackendFromName(config.backend)) {
    return absl::UnavailableError(absl::StrCat("worker backend '", config.backend,
                                               "' does not match the requested backend ",
                                               v1::Backend_Name(placement.backend())));
  }
  return absl::OkStatus();
}

}  // namespace

v1::Backend BackendFromName(const std::string& name) {
  if (name == "cpu") return v1::BACKEND_CPU;
  if (name == "cuda") return v1::BACKEND_CUDA;
  if (name == "vulkan") return v1::BACKEND_VULKAN;
  return v1::BACKEND_UNSPECIFIED;
}

absl::StatusOr<GenerationRequest> ConvertGenerateRequest(const v1::GenerateRequest& in,
                                                         ModelHost& host) {
  if (in.model().empty()) return Invalid("model is required");
  if (in.model() != host.model_name()) {
    return absl::NotFoundError(absl::StrCat("model '", in.model(),
                                            "' is not served here (this worker serves '",
                                            host.model_name(), "')"));
  }
  if (in.request_id().size() > kMaxIdBytes || in.session_id().size() > kMaxIdBytes) {
    return Invalid(
        absl::StrCat("request_id and session_id must be at most ", kMaxIdBytes, " bytes"));
  }
  if (absl::Status s = CheckPlacement(in.placement(), host.config()); !s.ok()) return s;
  const int32_t n_vocab = static_cast<int32_t>(host.summary().n_vocab);
  GenerationRequest out;
  if (absl::Status s = ConvertPrompt(in, host.tokenizer(), out.prompt); !s.ok()) return s;
  absl::StatusOr<engine::SamplerParams> sampling = ConvertSampling(in.sampling(), n_vocab);
  if (!sampling.ok()) return sampling.status();
  out.options.sampling = *std::move(sampling);
  if (absl::Status s = ConvertStop(in, n_vocab, out.options.stop); !s.ok()) return s;
  out.options.stop_at_end_of_generation = !in.ignore_eos();
  if (!in.initial_state().empty()) {
    absl::StatusOr<std::shared_ptr<const InitialState>> state =
        host.states().Get(in.initial_state());
    if (!state.ok()) return state.status();
    out.initial_state = *std::move(state);
  }
  out.session_id = in.session_id();
  if (out.prompt.empty()) {
    const bool session = !out.session_id.empty() && host.sessions().Contains(out.session_id);
    const bool state_logits = out.initial_state != nullptr && !out.initial_state->logits.empty();
    if (!session && !state_logits) {
      if (!out.session_id.empty()) {
        return Invalid(
            absl::StrCat("prompt is empty and session '", out.session_id, "' does not exist"));
      }
      if (out.initial_state != nullptr) {
        return Invalid(absl::StrCat("prompt is empty and state '", in.initial_state(),
                                    "' stores no logits to continue from"));
      }
      return Invalid("prompt is empty");
    }
  }
  return out;
}

v1::FinishReason ToFinishReason(Outcome outcome) {
  switch (outcome) {
    case Outcome::kLength:
      return v1::FINISH_REASON_LENGTH;
    case Outcome::kStop:
      return v1::FINISH_REASON_STOP;
    case Outcome::kCancelled:
    case Outcome::kDeadline:
      return v1::FINISH_REASON_CANCELLED;
    default:
      return v1::FINISH_REASON_ERROR;
  }
}

void FillFinalInfo(const GenerationResult& r, v1::FinalInfo& final) {
  final.set_finish_reason(ToFinishReason(r.outcome));
  final.mutable_usage()->set_prompt_tokens(r.prompt_tokens);
  final.mutable_usage()->set_generated_tokens(r.generated_tokens);
  v1::Timings& t = *final.mutable_timings();
  t.set_queue_seconds(r.queue_seconds);
  t.set_time_to_first_token_seconds(r.time_to_first_token_seconds);
  t.set_total_seconds(r.total_seconds);
  t.set_prompt_seconds(r.prompt_seconds);
  t.set_prompt_tokens_per_second(r.prompt_tokens_per_second);
  t.set_generation_tokens_per_second(r.generation_tokens_per_second);
  if (!r.status.ok()) final.set_error_message(std::string(r.status.message()));
}

void FillModelInfo(const ModelHost& host, v1::ModelInfo& info) {
  const ModelSummary& m = host.summary();
  info.set_name(m.name);
  info.set_n_vocab(m.n_vocab);
  info.set_n_embd(m.n_embd);
  info.set_n_layer(m.n_layer);
  info.set_file_type(m.file_type);
  info.set_size_bytes(m.size_bytes);
  info.add_backends(BackendFromName(host.config().backend));
  info.add_pools(host.config().pool);
}

}  // namespace rwkv::worker
