#include "services/worker/scheduler.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace rwkv::worker {

struct Scheduler::Slot {
  engine::RecurrentState state;
  std::vector<float> logits;
};

struct Scheduler::Sequence {
  GenerationRequest request;
  std::shared_ptr<GenerationSink> sink;
  std::shared_ptr<const CancelFlag> cancel;
  std::unique_ptr<engine::GenerationStream> stream;
  int slot = -1;              // index into slots_, -1 while queued
  std::vector<int32_t> feed;  // tokens to evaluate before the first sample
  size_t fed = 0;
  size_t chunk = 0;           // tokens of `feed` in the current step
  bool decoding = false;      // the whole feed has been evaluated
  bool logits_ready = false;  // the slot's logits row is ready to sample from
  int32_t next_token = -1;    // last sampled token: decode input, or a session's pending token
  bool done = false;
  GenerationChunk out;  // produced since the last delivery
  GenerationResult result;
  absl::Time admitted = absl::InfinitePast();
  absl::Time prefill_done = absl::InfinitePast();
  absl::Time first_token = absl::InfinitePast();
  absl::Time last_token = absl::InfinitePast();
};

namespace {

double Seconds(absl::Time from, absl::Time to) { return absl::ToDoubleSeconds(to - from); }

}  // namespace

int DefaultStepTokens(int max_sequences) {
  const int n = std::max(1, max_sequences);
  return n + std::max(48, 3 * n);
}

int EffectiveStepTokens(const SchedulerOptions& options) {
  const int n = std::max(1, options.max_sequences);
  const int tokens = options.step_tokens > 0 ? options.step_tokens : DefaultStepTokens(n);
  return std::max(tokens, n);
}

Scheduler::Scheduler(const SchedulerOptions& options, BatchEvaluator& evaluator,
                     const engine::Tokenizer& tokenizer, SessionCache& sessions,
                     WorkerMetrics& metrics)
    : options_(options),
      step_tokens_(EffectiveStepTokens(options)),
      evaluator_(evaluator),
      tokenizer_(tokenizer),
      sessions_(sessions),
      metrics_(metrics) {
  const int n = std::max(1, options_.max_sequences);
  for (int i = 0; i < n; ++i) {
    slots_.push_back(std::make_unique<Slot>());
    free_slots_.push_back(n - 1 - i);  // hand out slot 0 first
  }
  metrics_.SetLoad(0, 0, slots_.size());
  metrics_.SetStepTokenBudget(static_cast<size_t>(step_tokens_));
  thread_ = std::thread([this] { Loop(); });
}

Scheduler::~Scheduler() {
  {
    absl::MutexLock lock(&mu_);
    accepting_ = false;
    cancel_all_ = true;
    stop_ = true;
  }
  thread_.join();
  // The slots' states die with the scheduler: nothing may be left to write back into them.
  if (absl::Status s = evaluator_.SyncStates(); !s.ok()) {
    std::fprintf(stderr, "rwkv-worker: states not written back: %s\n",
                 std::string(s.message()).c_str());
  }
}

absl::Status Scheduler::Submit(GenerationRequest request, std::shared_ptr<GenerationSink> sink,
                               std::shared_ptr<const CancelFlag> cancel) {
  absl::MutexLock lock(&mu_);
  if (!accepting_) {
    metrics_.RequestFinished(Outcome::kUnavailable);
    return absl::UnavailableError("worker is draining and accepts no new requests");
  }
  const size_t capacity =
      static_cast<size_t>(std::max(0, options_.max_queue)) + (slots_.size() - busy_slots_);
  if (waiting_.size() >= capacity) {
    metrics_.RequestFinished(Outcome::kQueueFull);
    return absl::ResourceExhaustedError(absl::StrCat("worker queue is full (", slots_.size(),
                                                     " slots busy, ", options_.max_queue,
                                                     " requests waiting)"));
  }
  if (!request.session_id.empty() && !busy_sessions_.insert(request.session_id).second) {
    metrics_.RequestFinished(Outcome::kInvalid);
    return absl::AbortedError(absl::StrCat("session '", request.session_id,
                                           "' already has a request in progress; send the next "
                                           "one after it finishes"));
  }
  waiting_.push_back(Waiting{std::move(request), std::move(sink), std::move(cancel)});
  ++unfinished_;
  ++version_;
  return absl::OkStatus();
}

bool Scheduler::HasWork() const { return stop_ || !waiting_.empty() || busy_slots_ > 0; }
bool Scheduler::Idle() const { return unfinished_ == 0; }

void Scheduler::Drain(absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    accepting_ = false;
    ++version_;
  }
  if (WaitIdle(deadline)) return;
  {
    absl::MutexLock lock(&mu_);
    cancel_all_ = true;
  }
  WaitIdle(absl::InfiniteFuture());
}

bool Scheduler::WaitIdle(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithDeadline(absl::Condition(this, &Scheduler::Idle), deadline);
}

SchedulerStats Scheduler::Stats() const {
  absl::MutexLock lock(&mu_);
  SchedulerStats stats;
  stats.slots_busy = static_cast<uint32_t>(busy_slots_);
  stats.slots_free = static_cast<uint32_t>(slots_.size() - busy_slots_);
  stats.queue_depth = static_cast<uint32_t>(waiting_.size());
  stats.accepting = accepting_;
  const RateWindow::Rates rates = rates_.Get(absl::Now());
  stats.prompt_tokens_per_second = rates.prompt_tokens_per_second;
  stats.generated_tokens_per_second = rates.generated_tokens_per_second;
  stats.steps = steps_;
  stats.version = version_;
  return stats;
}

void Scheduler::Loop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &Scheduler::HasWork));
      if (stop_ && Idle()) return;
    }
    Admit();
    Step();
    Deliver();
  }
}

bool Scheduler::StopRequested(absl::Time deadline, const CancelFlag* cancel, absl::Time now,
                              Outcome* outcome) const {
  if (now >= deadline) {
    *outcome = Outcome::kDeadline;
    return true;
  }
  if (cancel_all_seen_ || (cancel != nullptr && cancel->cancelled())) {
    *outcome = Outcome::kCancelled;
    return true;
  }
  return false;
}

void Scheduler::Admit() {
  std::vector<Waiting> starting;
  std::vector<Waiting> stopped;
  std::vector<Outcome> stopped_outcomes;
  const absl::Time now = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    cancel_all_seen_ = cancel_all_;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      Outcome outcome;
      if (StopRequested(it->request.deadline, it->cancel.get(), now, &outcome)) {
        stopped.push_back(std::move(*it));
        stopped_outcomes.push_back(outcome);
        it = waiting_.erase(it);
        ++version_;
      } else {
        ++it;
      }
    }
    while (!waiting_.empty() && busy_slots_ < slots_.size()) {
      starting.push_back(std::move(waiting_.front()));
      waiting_.pop_front();
      ++busy_slots_;
      ++version_;
    }
  }
  for (size_t i = 0; i < stopped.size(); ++i) {
    auto seq = std::make_unique<Sequence>();
    seq->request = std::move(stopped[i].request);
    seq->sink = std::move(stopped[i].sink);
    Finish(*seq, stopped_outcomes[i], absl::OkStatus(), now);
    running_.push_back(std::move(seq));
  }
  for (Waiting& w : starting) running_.push_back(Start(std::move(w), now));
}

std::unique_ptr<Scheduler::Sequence> Scheduler::Start(Waiting waiting, absl::Time now) {
  auto seq = std::make_unique<Sequence>();
  seq->request = std::move(waiting.request);
  seq->sink = std::move(waiting.sink);
  seq->cancel = std::move(waiting.cancel);
  seq->slot = free_slots_.back();
  free_slots_.pop_back();
  seq->admitted = now;
  metrics_.ObserveQueueTime(Seconds(seq->request.arrival, now));

  Slot& slot = *slots_[static_cast<size_t>(seq->slot)];
  const engine::StateShape shape = evaluator_.state_shape();
  slot.logits.resize(static_cast<size_t>(evaluator_.n_vocab()));
  const GenerationRequest& req = seq->request;
  // The slot's state is about to be overwritten here: its device copy must not outlive that.
  if (absl::Status s = evaluator_.SyncStates(); !s.ok()) {
    Finish(*seq, Outcome::kError,
           absl::InternalError(absl::StrCat("state sync failed: ", s.message())), now);
    return seq;
  }
  const bool from_session =
      !req.session_id.empty() && sessions_.CopyTo(req.session_id, slot.state, seq->feed, now);
  if (!from_session && req.initial_state != nullptr) {
    // Copy-assignment keeps the slot's buffers once they have the right size.
    slot.state.shape = req.initial_state->state.shape;
    slot.state.shift = req.initial_state->state.shift;
    slot.state.wkv = req.initial_state->state.wkv;
    if (req.prompt.empty() && req.initial_state->logits.size() == slot.logits.size()) {
      std::copy(req.initial_state->logits.begin(), req.initial_state->logits.end(),
                slot.logits.begin());
      seq->logits_ready = true;
    }
  } else if (!from_session) {
    if (slot.state.shape != shape) {
      slot.state = engine::RecurrentState::Zero(shape);
    } else {
      std::fill(slot.state.shift.begin(), slot.state.shift.end(), 0.0f);
      std::fill(slot.state.wkv.begin(), slot.state.wkv.end(), 0.0f);
    }
  }
  seq->feed.insert(seq->feed.end(), req.prompt.begin(), req.prompt.end());
  seq->stream = std::make_unique<engine::GenerationStream>(tokenizer_, req.options);
  if (seq->feed.empty() && !seq->logits_ready) {
    const std::string what = req.session_id.empty()
                                 ? std::string("the request")
                                 : absl::StrCat("session '", req.session_id, "'");
    Finish(*seq, Outcome::kInvalid,
           absl::InvalidArgumentError(
               absl::StrCat("prompt is empty and ", what, " has nothing to continue from")),
           now);
  } else if (seq->feed.empty()) {
    seq->decoding = true;
    seq->prefill_done = now;
  }
  return seq;
}

void Scheduler::Step() {
  absl::Time now = absl::Now();
  for (auto& seq : running_) {
    Outcome outcome;
    if (!seq->done && StopRequested(seq->request.deadline, seq->cancel.get(), now, &outcome)) {
      Finish(*seq, outcome, absl::OkStatus(), now);
    }
  }
  batch_.clear();
  stepped_.clear();
  step_prompt_tokens_ = 0;
  step_generated_tokens_ = 0;
  // Decode tokens first: every decoding sequence advances in every step, whatever waits.
  size_t decode_tokens = 0;
  for (auto& seq : running_) {
    if (seq->done || seq->logits_ready || !seq->decoding) continue;
    Slot& slot = *slots_[static_cast<size_t>(seq->slot)];
    engine::SequenceInput in;
    in.state = &slot.state;
    in.logits_out = slot.logits.data();
    in.tokens = std::span<const int32_t>(&seq->next_token, 1);
    in.logits = engine::LogitsMode::kLast;
    ++decode_tokens;
    batch_.push_back(in);
    stepped_.push_back(seq.get());
  }
  // Then prompt chunks, oldest request first, with what is left of the budget. At most
  // max_sequences - 1 sequences decode while one is in prefill, and step_tokens_ >=
  // max_sequences, so a prompt always gets at least one token.
  const size_t step_tokens = static_cast<size_t>(step_tokens_);
  size_t budget = step_tokens > decode_tokens ? step_tokens - decode_tokens : 0;
  size_t prompt_tokens = 0;
  for (auto& seq : running_) {
    if (budget == 0) break;
    if (seq->done || seq->logits_ready || seq->decoding) continue;
    Slot& slot = *slots_[static_cast<size_t>(seq->slot)];
    const size_t n = std::min(seq->feed.size() - seq->fed, budget);
    if (n == 0) continue;
    budget -= n;
    prompt_tokens += n;
    seq->chunk = n;
    engine::SequenceInput in;
    in.state = &slot.state;
    in.logits_out = slot.logits.data();
    in.tokens = std::span<const int32_t>(seq->feed.data() + seq->fed, n);
    in.logits =
        seq->fed + n == seq->feed.size() ? engine::LogitsMode::kLast : engine::LogitsMode::kNone;
    batch_.push_back(in);
    stepped_.push_back(seq.get());
  }
  absl::Status status = absl::OkStatus();
  if (!batch_.empty()) {
    const absl::Time start = absl::Now();
    status = evaluator_.Evaluate(batch_);
    now = absl::Now();
    metrics_.ObserveStep(batch_.size(), decode_tokens, prompt_tokens, Seconds(start, now));
  }
  for (Sequence* seq : stepped_) {
    if (!status.ok()) {
      Finish(*seq, Outcome::kError,
             absl::InternalError(absl::StrCat("forward step failed: ", status.message())), now);
      continue;
    }
    if (seq->decoding) {
      seq->logits_ready = true;
      continue;
    }
    seq->fed += seq->chunk;
    seq->result.prompt_tokens += static_cast<uint32_t>(seq->chunk);
    step_prompt_tokens_ += seq->chunk;
    if (seq->fed == seq->feed.size()) {
      seq->decoding = true;
      seq->logits_ready = true;
      seq->prefill_done = now;
    }
  }
  for (auto& seq : running_) {
    if (seq->done || !seq->logits_ready) continue;
    seq->logits_ready = false;
    Sample(*seq, now);
  }
}

void Scheduler::Sample(Sequence& seq, absl::Time now) {
  Slot& slot = *slots_[static_cast<size_t>(seq.slot)];
  engine::GenerationStep step = seq.stream->Next(std::span<float>(slot.logits));
  ++seq.result.generated_tokens;
  ++step_generated_tokens_;
  if (step.token >= 0) seq.out.token_ids.push_back(step.token);
  seq.out.text += step.text;
  if (seq.result.generated_tokens == 1) {
    seq.first_token = now;
    metrics_.ObserveTimeToFirstToken(Seconds(seq.request.arrival, now));
  } else {
    metrics_.ObserveInterTokenLatency(Seconds(seq.last_token, now));
  }
  seq.last_token = now;
  seq.next_token = step.token;
  if (step.finish != engine::FinishReason::kNone) {
    Finish(seq, step.finish == engine::FinishReason::kLength ? Outcome::kLength : Outcome::kStop,
           absl::OkStatus(), now);
  }
}

void Scheduler::Finish(Sequence& seq, Outcome outcome, absl::Status status, absl::Time now) {
  if (seq.done) return;
  seq.done = true;
  GenerationResult& r = seq.result;
  r.outcome = outcome;
  r.status = std::move(status);
  const absl::Time arrival = seq.request.arrival;
  r.queue_seconds = Seconds(arrival, seq.slot >= 0 ? seq.admitted : now);
  r.total_seconds = Seconds(arrival, now);
  if (r.generated_tokens > 0) r.time_to_first_token_seconds = Seconds(arrival, seq.first_token);
  if (seq.decoding && seq.slot >= 0) {
    r.prompt_seconds = Seconds(seq.admitted, seq.prefill_done);
    if (r.prompt_seconds > 0) r.prompt_tokens_per_second = r.prompt_tokens / r.prompt_seconds;
  }
  if (r.generated_tokens > 1) {
    const double gen = Seconds(seq.first_token, seq.last_token);
    if (gen > 0) r.generation_tokens_per_second = (r.generated_tokens - 1) / gen;
  }
  const bool completed = outcome == Outcome::kLength || outcome == Outcome::kStop;
  absl::Status synced = absl::OkStatus();
  if (completed && !seq.request.session_id.empty() && seq.slot >= 0) {
    synced = evaluator_.SyncStates();
    if (!synced.ok()) {
      std::fprintf(stderr, "rwkv-worker: session '%s' not kept: %s\n",
                   seq.request.session_id.c_str(), std::string(synced.message()).c_str());
    }
  }
  if (completed && !seq.request.session_id.empty() && seq.slot >= 0 && synced.ok()) {
    SessionEntry entry;
    entry.state = slots_[static_cast<size_t>(seq.slot)]->state;
    // The last sampled token was never fed; the next request of the session feeds it first.
    if (seq.next_token >= 0) entry.pending_tokens.push_back(seq.next_token);
    const size_t evicted = sessions_.Put(seq.request.session_id, std::move(entry), now);
    for (size_t i = 0; i < evicted; ++i) metrics_.SessionEvicted();
    metrics_.SetSessionCache(sessions_.size(), sessions_.bytes());
  }
  metrics_.RequestFinished(outcome);
  if (outcome != Outcome::kInvalid) metrics_.ObserveRequestDuration(r.total_seconds);
}

void Scheduler::Deliver() {
  std::vector<std::unique_ptr<Sequence>> finished;
  for (auto& seq : running_) {
    if (seq->done) {
      finished.push_back(std::move(seq));
    } else if (!seq->out.empty()) {
      seq->sink->OnChunk(std::exchange(seq->out, GenerationChunk{}));
    }
  }
  std::erase(running_, nullptr);
  size_t released = 0;
  for (auto& seq : finished) {
    if (seq->slot >= 0) {
      free_slots_.push_back(seq->slot);
      ++released;
    }
  }
  {
    absl::MutexLock lock(&mu_);
    busy_slots_ -= released;
    // The sessions' states are stored (Finish): a request sent once the client has seen the
    // final message must find its session free.
    for (const auto& seq : finished) busy_sessions_.erase(seq->request.session_id);
    if (released > 0 || !finished.empty()) ++version_;
    if (!batch_.empty()) ++steps_;
    rates_.Add(absl::Now(), step_prompt_tokens_, step_generated_tokens_);
    metrics_.SetLoad(busy_slots_, waiting_.size(), slots_.size());
  }
  metrics_.AddPromptTokens(static_cast<double>(step_prompt_tokens_));
  metrics_.AddGeneratedTokens(static_cast<double>(step_generated_tokens_));
  step_prompt_tokens_ = 0;
  step_generated_tokens_ = 0;
  batch_.clear();
  for (auto& seq : finished) {
    seq->sink->OnFinish(std::exchange(seq->out, GenerationChunk{}), seq->result);
  }
  if (!finished.empty()) {
    // Only now may Drain / WaitIdle see the scheduler idle: every sink has had its OnFinish.
    absl::MutexLock lock(&mu_);
    unfinished_ -= finished.size();
  }
}

}  // namespace rwkv::worker
