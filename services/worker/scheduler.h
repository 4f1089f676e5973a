// Continuous batching over one model. A dedicated engine thread runs forward steps; each
// step packs, into ONE BatchEvaluator::Evaluate call, at most `step_tokens` tokens: first the
// next token of every decoding sequence (logits after it; never held back), then, with what
// is left of the budget, prompt chunks of the sequences still in prefill in admission order
// (chunked prefill: a long prompt is spread over several steps while the others keep their
// pace; a prompt's last chunk asks for logits). Requests join and leave between steps: a
// queued request takes a free slot before the next step and is already part of it.
//
// Resources: a fixed pool of `max_sequences` slots, each owning a recurrent state and a
// logits row that are reused from request to request; a FIFO wait queue of at most
// `max_queue` requests beyond the free slots. Sampling, stop strings and text streaming are
// engine::GenerationStream's, so a sequence yields the same tokens alone or in a batch.
//
// Thread-safety: every public method may be called from any thread. Sinks are called on the
// engine thread, outside the scheduler's lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "rwkv/engine/tokenizer.h"
#include "services/worker/batch_evaluator.h"
#include "services/worker/metrics.h"
#include "services/worker/rate_window.h"
#include "services/worker/request.h"
#include "services/worker/session_cache.h"

namespace rwkv::worker {

struct SchedulerOptions {
  int max_sequences = 16;  // batch slots, >= 1
  int max_queue = 64;      // waiting requests beyond the free slots, >= 0
  // Tokens one forward step evaluates (decode tokens and prompt chunks together); 0 picks
  // DefaultStepTokens(max_sequences). Values below max_sequences count as max_sequences, so
  // every decoding sequence always fits and a prompt always gets at least one token.
  int step_tokens = 0;
};

// max_sequences + max(48, 3 x max_sequences): with every slot decoding there is still room
// for a 48-token (or 3-tokens-per-slot) prompt chunk, so a new prompt takes a few steps,
// while a step stays small enough that the decoding streams keep their pace.
int DefaultStepTokens(int max_sequences);
// The budget a scheduler with these options uses (see SchedulerOptions::step_tokens).
int EffectiveStepTokens(const SchedulerOptions& options);

struct SchedulerStats {
  uint32_t slots_busy = 0;
  uint32_t slots_free = 0;
  uint32_t queue_depth = 0;
  bool accepting = true;
  double prompt_tokens_per_second = 0;     // over the last 10 s
  double generated_tokens_per_second = 0;  // over the last 10 s
  uint64_t steps = 0;                      // forward steps run so far
  uint64_t version = 0;                    // bumps whenever busy, queue depth or accepting change
};

class Scheduler {
 public:
  // `evaluator`, `tokenizer`, `sessions` and `metrics` must outlive the scheduler. Starts
  // the engine thread.
  Scheduler(const SchedulerOptions& options, BatchEvaluator& evaluator,
            const engine::Tokenizer& tokenizer, SessionCache& sessions, WorkerMetrics& metrics);
  // Cancels whatever still runs (sinks get kCancelled) and joins the engine thread.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request. The sink then receives chunks and exactly one OnFinish, unless this
  // returns an error: ResourceExhausted when the queue is full, Unavailable while draining,
  // Aborted when another request of the same session is queued or running (both would start
  // from the same state and one continuation would be lost).
  // `cancel` (may be null) stops the request within one step once raised.
  absl::Status Submit(GenerationRequest request, std::shared_ptr<GenerationSink> sink,
                      std::shared_ptr<const CancelFlag> cancel);

  // Stops accepting (Submit returns Unavailable), lets running and queued requests finish
  // until `deadline`, then cancels the rest and returns once every sink has been finished.
  void Drain(absl::Time deadline);
  // True once no request is queued or running and every sink has been finished, waiting at
  // most until `deadline`.
  bool WaitIdle(absl::Time deadline);

  SchedulerStats Stats() const;
  const SchedulerOptions& options() const { return options_; }
  // Tokens per forward step (EffectiveStepTokens of the options).
  int step_tokens() const { return step_tokens_; }

 private:
  struct Sequence;
  struct Slot;
  struct Waiting {
    GenerationRequest request;
    std::shared_ptr<GenerationSink> sink;
    std::shared_ptr<const CancelFlag> cancel;
  };

  void Loop();
  // Finishes cancelled and expired queued requests and moves queued ones into free slots.
  void Admit();
  // Sets up a slot for a request; the sequence comes back already done when it cannot run.
  std::unique_ptr<Sequence> Start(Waiting waiting, absl::Time now);
  // One forward step over every running sequence, then sampling.
  void Step();
  void Sample(Sequence& seq, absl::Time now);
  void Finish(Sequence& seq, Outcome outcome, absl::Status status, absl::Time now);
  // Hands out chunks, releases the slots of finished sequences and calls their OnFinish.
  void Deliver();
  bool StopRequested(absl::Time deadline, const CancelFlag* cancel, absl::Time now,
                     Outcome* outcome) const;
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // No accepted request whose OnFinish has not yet returned.
  bool Idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SchedulerOptions options_;
  const int step_tokens_;
  BatchEvaluator& evaluator_;
  const engine::Tokenizer& tokenizer_;
  SessionCache& sessions_;
  WorkerMetrics& metrics_;

  // Engine thread only.
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<int> free_slots_;
  std::vector<std::unique_ptr<Sequence>> running_;  // admission order
  std::vector<engine::SequenceInput> batch_;
  std::vector<Sequence*> stepped_;
  bool cancel_all_seen_ = false;
  uint64_t step_prompt_tokens_ = 0;
  uint64_t step_generated_tokens_ = 0;

  mutable absl::Mutex mu_;
  std::deque<Waiting> waiting_ ABSL_GUARDED_BY(mu_);
  size_t busy_slots_ ABSL_GUARDED_BY(mu_) = 0;
  // Accepted by Submit, OnFinish not yet returned: queued, running, or being finished.
  size_t unfinished_ ABSL_GUARDED_BY(mu_) = 0;
  // Sessions with an unfinished request: at most one request per session at a time.
  std::set<std::string> busy_sessions_ ABSL_GUARDED_BY(mu_);
  bool accepting_ ABSL_GUARDED_BY(mu_) = true;
  bool cancel_all_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t steps_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  RateWindow rates_ ABSL_GUARDED_BY(mu_);

  std::thread thread_;
};

}  // namespace rwkv::worker
