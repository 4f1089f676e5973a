// Domain types of one generation request as the scheduler sees it: what to run, where its
// output goes, and how it ended. No protobuf here; inference_service converts.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "rwkv/engine/generation.h"
#include "rwkv/engine/recurrent_state.h"
#include "services/worker/metrics.h"

namespace rwkv::worker {

// A starting point other than the zero state: a named state artifact, shared read-only
// between requests. `logits` (n_vocab floats, may be empty) are the logits after the state's
// last token, when the file stored them; they allow an empty prompt.
struct InitialState {
  std::string name;
  engine::RecurrentState state;
  std::vector<float> logits;
};

struct GenerationRequest {
  // Prompt token ids, each < n_vocab. May be empty only when the session or the initial
  // state gives something to continue from.
  std::vector<int32_t> prompt;
  // Sampling, stop conditions and max_tokens (options.stop.max_tokens >= 1).
  engine::GenerationOptions options;
  // Start from this state instead of the zero state; ignored when the session exists.
  std::shared_ptr<const InitialState> initial_state;
  // Non-empty: start from the session's state if it exists and save the final state under
  // this id when the request ends by length or stop.
  std::string session_id;
  // Passing it ends the request as kDeadline at the next step.
  absl::Time deadline = absl::InfiniteFuture();
  // Arrival at the server; queue time and time to first token are measured from here.
  absl::Time arrival = absl::Now();
};

// Output of one request from one step.
struct GenerationChunk {
  std::vector<int32_t> token_ids;
  std::string text;  // never splits a UTF-8 character
  bool empty() const { return token_ids.empty() && text.empty(); }
};

struct GenerationResult {
  Outcome outcome = Outcome::kLength;
  // Not OK when the request failed: before its first token this is the status the call
  // should end with; afterwards its message goes into the final message.
  absl::Status status;
  uint32_t prompt_tokens = 0;     // evaluated for this request (session carry-over included)
  uint32_t generated_tokens = 0;  // sampled, a stop token included
  double queue_seconds = 0;
  double time_to_first_token_seconds = 0;
  double total_seconds = 0;
  double prompt_seconds = 0;
  double prompt_tokens_per_second = 0;
  double generation_tokens_per_second = 0;
};

// Receives the output of one request. Called on the scheduler's engine thread: must not
// block. OnFinish is called exactly once, last, and the scheduler drops its reference
// afterwards.
class GenerationSink {
 public:
  virtual ~GenerationSink() = default;
  virtual void OnChunk(GenerationChunk chunk) = 0;
  // `chunk` holds whatever the last step produced (possibly nothing).
  virtual void OnFinish(GenerationChunk chunk, const GenerationResult& result) = 0;
};

// Set by the caller (gRPC OnCancel) to stop a request; the scheduler ends it within one
// step as kCancelled.
class CancelFlag {
 public:
  void Cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> cancelled_{false};
};

}  // namespace rwkv::worker
