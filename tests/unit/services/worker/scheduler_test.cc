#include "services/worker/scheduler.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace rwkv::worker {
namespace {

constexpr int32_t kVocab = 256;

// Logits that make greedy sampling continue "last token + 1"; the state remembers the last
// token fed. Records every batch it sees.
class FakeEvaluator : public BatchEvaluator {
 public:
  struct Seen {
    size_t tokens;
    engine::LogitsMode logits;
    const engine::RecurrentState* state;  // identifies the slot
  };

  absl::Status Evaluate(std::span<const engine::SequenceInput> batch) override {
    std::vector<Seen> seen;
    for (const engine::SequenceInput& in : batch) {
      in.state->shift[0] = static_cast<float>(in.tokens.back());
      seen.push_back({in.tokens.size(), in.logits, in.state});
      if (in.logits != engine::LogitsMode::kNone) {
        std::fill(in.logits_out, in.logits_out + kVocab, 0.0f);
        in.logits_out[(in.tokens.back() + 1) % kVocab] = 10.0f;
      }
    }
    size_t index;
    {
      absl::MutexLock lock(&mu_);
      index = steps_.size();
      steps_.push_back(std::move(seen));
    }
    if (on_step_) on_step_(index);
    if (step_delay_ > absl::ZeroDuration()) absl::SleepFor(step_delay_);
    return absl::OkStatus();
  }
  int32_t n_vocab() const override { return kVocab; }
  engine::StateShape state_shape() const override { return {1, 4, 4}; }

  std::vector<std::vector<Seen>> steps() {
    absl::MutexLock lock(&mu_);
    return steps_;
  }
  absl::Duration step_delay_ = absl::ZeroDuration();
  // Called on the engine thread inside each Evaluate with the step's index (0 = first), while
  // the scheduler waits for the step: what it submits is queued before the next step.
  std::function<void(size_t)> on_step_;

 private:
  absl::Mutex mu_;
  std::vector<std::vector<Seen>> steps_;
};

// An evaluator that keeps states "on the device" by the CUDA stream's rules: a batch over the very
// same states as the last one continues from its private copies, and any other batch, or
// SyncStates(), first writes those copies back into their host objects. A state counts the
// tokens fed (shift[0]) and the logits continue "last token + 1 + tokens fed so far", so text
// made from a stale or resurrected state differs from the expected.
class ResidentEvaluator : public BatchEvaluator {
 public:
  absl::Status Evaluate(std::span<const engine::SequenceInput> batch) override {
    std::vector<engine::RecurrentState*> states;
    for (const engine::SequenceInput& in : batch) states.push_back(in.state);
    if (states != resident_) {
      WriteBack();
      for (engine::RecurrentState* s : states) copies_.push_back(s->shift[0]);
      resident_ = states;
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      const engine::SequenceInput& in = batch[i];
      copies_[i] += static_cast<float>(in.tokens.size());
      if (in.logits != engine::LogitsMode::kNone) {
        std::fill(in.logits_out, in.logits_out + kVocab, 0.0f);
        in.logits_out[(in.tokens.back() + 1 + static_cast<int>(copies_[i])) % kVocab] = 10.0f;
      }
    }
    return absl::OkStatus();
  }
  absl::Status SyncStates() override {
    WriteBack();
    return absl::OkStatus();
  }
  int32_t n_vocab() const override { return kVocab; }
  engine::StateShape state_shape() const override { return {1, 4, 4}; }

 private:
  void WriteBack() {
    for (size_t i = 0; i < resident_.size(); ++i) resident_[i]->shift[0] = copies_[i];
    resident_.clear();
    copies_.clear();
  }
  std::vector<engine::RecurrentState*> resident_;
  std::vector<float> copies_;
};

class TestSink : public GenerationSink {
 public:
  void OnChunk(GenerationChunk chunk) override {
    absl::MutexLock lock(&mu_);
    Append(chunk);
  }
  void OnFinish(GenerationChunk chunk, const GenerationResult& result) override {
    {
      absl::MutexLock lock(&mu_);
      Append(chunk);
      result_ = result;
    }
    done_.Notify();
  }
  bool WaitDone(absl::Duration timeout = absl::Seconds(10)) {
    return done_.WaitForNotificationWithTimeout(timeout);
  }
  std::vector<int32_t> tokens() {
    absl::MutexLock lock(&mu_);
    return tokens_;
  }
  std::string text() {
    absl::MutexLock lock(&mu_);
    return text_;
  }
  GenerationResult result() {
    absl::MutexLock lock(&mu_);
    return result_;
  }

 private:
  void Append(const GenerationChunk& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    tokens_.insert(tokens_.end(), c.token_ids.begin(), c.token_ids.end());
    text_ += c.text;
  }
  absl::Mutex mu_;
  absl::Notification done_;
  std::vector<int32_t> tokens_ ABSL_GUARDED_BY(mu_);
  std::string text_ ABSL_GUARDED_BY(mu_);
  GenerationResult result_ ABSL_GUARDED_BY(mu_);
};

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::string> bytes;
    for (int i = 0; i < kVocab; ++i) bytes.push_back(std::string(1, static_cast<char>(i)));
    tokenizer_ = *engine::Tokenizer::FromTokenBytes(std::move(bytes));
  }

  std::unique_ptr<Scheduler> Make(SchedulerOptions options) {
    return std::make_unique<Scheduler>(options, evaluator_, *tokenizer_, sessions_, metrics_);
  }

  static GenerationRequest Request(const std::string& prompt, int max_tokens) {
    GenerationRequest r;
    r.prompt.assign(prompt.begin(), prompt.end());
    r.options.sampling.temperature = 0;
    r.options.stop.max_tokens = max_tokens;
    return r;
  }

  std::unique_ptr<Scheduler> MakeResident(SchedulerOptions options) {
    return std::make_unique<Scheduler>(options, resident_, *tokenizer_, sessions_, metrics_);
  }

  FakeEvaluator evaluator_;
  ResidentEvaluator resident_;
  std::unique_ptr<engine::Tokenizer> tokenizer_;
  SessionCache sessions_{1 << 20, absl::Minutes(1)};
  prometheus::Registry registry_;
  WorkerMetrics metrics_{registry_, "m", "cpu", "p"};
};

TEST_F(SchedulerTest, GeneratesUntilMaxTokens) {
  auto scheduler = Make({});
  auto sink = std::make_shared<TestSink>();
  ASSERT_TRUE(scheduler->Submit(Request("abc", 5), sink, nullptr).ok());
  ASSERT_TRUE(sink->WaitDone());
  EXPECT_EQ(sink->text(), "defgh");
  EXPECT_EQ(sink->tokens(), (std::vector<int32_t>{'d', 'e', 'f', 'g', 'h'}));
  EXPECT_EQ(sink->result().outcome, Outcome::kLength);
  EXPECT_EQ(sink->result().prompt_tokens, 3u);
  EXPECT_EQ(sink->result().generated_tokens, 5u);
}

TEST_F(SchedulerTest, StopsAtStopString) {
  auto scheduler = Make({});
  auto sink = std::make_shared<TestSink>();
  GenerationRequest r = Request("a", 20);
  r.options.stop.stop_strings = {"ef"};
  ASSERT_TRUE(scheduler->Submit(std::move(r), sink, nullptr).ok());
  ASSERT_TRUE(sink->WaitDone());
  EXPECT_EQ(sink->text(), "bcd");
  EXPECT_EQ(sink->result().outcome, Outcome::kStop);
}

TEST_F(SchedulerTest, ConcurrentRequestsShareSteps) {
  evaluator_.step_delay_ = absl::Milliseconds(2);
  auto scheduler = Make({.max_sequences = 8});
  std::vector<std::shared_ptr<TestSink>> sinks;
  for (int i = 0; i < 8; ++i) {
    sinks.push_back(std::make_shared<TestSink>());
    ASSERT_TRUE(
        scheduler
            ->Submit(Request(std::string(1, static_cast<char>('A' + i)), 20), sinks.back(), nullptr)
            .ok());
  }
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(sinks[i]->WaitDone());
    std::vector<int32_t> want;
    for (int k = 1; k <= 20; ++k) want.push_back('A' + i + k);
    EXPECT_EQ(sinks[i]->tokens(), want);
  }
  size_t widest = 0;
  for (const auto& step : evaluator_.steps()) widest = std::max(widest, step.size());
  EXPECT_GE(widest, 4u);
}

size_t StepTokens(const std::vector<FakeEvaluator::Seen>& step) {
  size_t n = 0;
  for (const auto& seq : step) n += seq.tokens;
  return n;
}

// The steps in which `state` was evaluated, by index.
std::vector<size_t> StepsOf(const std::vector<std::vector<FakeEvaluator::Seen>>& steps,
                            const engine::RecurrentState* state) {
  std::vector<size_t> out;
  for (size_t i = 0; i < steps.size(); ++i) {
    for (const auto& seq : steps[i]) {
      if (seq.state == state) out.push_back(i);
    }
  }
  return out;
}

TEST(StepTokensTest, DefaultLeavesRoomForAPromptChunkBesideEverySlot) {
  EXPECT_EQ(DefaultStepTokens(1), 1 + 48);
  EXPECT_EQ(DefaultStepTokens(16), 16 + 48);
  EXPECT_EQ(DefaultStepTokens(64), 64 + 192);
  EXPECT_EQ(EffectiveStepTokens({.max_sequences = 16}), 64);
  EXPECT_EQ(EffectiveStepTokens({.max_sequences = 16, .step_tokens = 100}), 100);
  // Never below the slots: every decoding sequence must fit.
  EXPECT_EQ(EffectiveStepTokens({.max_sequences = 16, .step_tokens = 4}), 16);
}

TEST_F(SchedulerTest, LongPromptIsSplitAcrossStepsWithoutStallingDecoding) {
  auto short_sink = std::make_shared<TestSink>();
  auto long_sink = std::make_shared<TestSink>();
  auto scheduler = Make({.max_sequences = 2, .step_tokens = 16});
  // The long prompt arrives while the short request decodes.
  evaluator_.on_step_ = [&](size_t step) {
    if (step == 0) {
      ASSERT_TRUE(scheduler->Submit(Request(std::string(200, 'x'), 2), long_sink, nullptr).ok());
    }
  };
  ASSERT_TRUE(scheduler->Submit(Request("a", 40), short_sink, nullptr).ok());
  ASSERT_TRUE(long_sink->WaitDone());
  ASSERT_TRUE(short_sink->WaitDone());
  EXPECT_EQ(long_sink->tokens(), (std::vector<int32_t>{'y', 'z'}));
  EXPECT_EQ(short_sink->tokens().size(), 40u);
  const auto steps = evaluator_.steps();
  ASSERT_GE(steps.size(), 2u);
  const engine::RecurrentState* short_state = steps[0][0].state;
  // The short request advanced in 40 consecutive steps: one per generated token.
  const std::vector<size_t> short_steps = StepsOf(steps, short_state);
  ASSERT_EQ(short_steps.size(), 40u);
  for (size_t i = 0; i < short_steps.size(); ++i) EXPECT_EQ(short_steps[i], i);
  // The prompt went in chunks of what the decode token left: 15 tokens a step.
  size_t prompt_steps = 0;
  for (size_t i = 1; i < steps.size(); ++i) {
    EXPECT_LE(StepTokens(steps[i]), 16u) << "step " << i;
    for (const auto& seq : steps[i]) {
      if (seq.state != short_state && seq.tokens > 1) {
        ++prompt_steps;
        EXPECT_EQ(seq.tokens, std::min<size_t>(15, 200 - 15 * (prompt_steps - 1)));
        EXPECT_EQ(seq.logits,
                  prompt_steps * 15 >= 200 ? engine::LogitsMode::kLast : engine::LogitsMode::kNone);
      }
    }
  }
  EXPECT_EQ(prompt_steps, (200 + 14) / 15);
}

TEST_F(SchedulerTest, DecodeTokensAreNeverStarvedByPrompts) {
  auto decoding = std::make_shared<TestSink>();
  std::vector<std::shared_ptr<TestSink>> prompts;
  auto scheduler = Make({.max_sequences = 4, .step_tokens = 8});
  // Long prompts keep arriving, more than the slots hold, while the first request decodes.
  evaluator_.on_step_ = [&](size_t step) {
    if (step == 0 || step == 5 || step == 9) {
      for (int i = 0; i < 3; ++i) {
        prompts.push_back(std::make_shared<TestSink>());
        ASSERT_TRUE(
            scheduler->Submit(Request(std::string(50, 'p'), 3), prompts.back(), nullptr).ok());
      }
    }
  };
  ASSERT_TRUE(scheduler->Submit(Request("a", 60), decoding, nullptr).ok());
  ASSERT_TRUE(decoding->WaitDone());
  EXPECT_EQ(decoding->tokens().size(), 60u);
  ASSERT_TRUE(scheduler->WaitIdle(absl::Now() + absl::Seconds(30)));
  ASSERT_EQ(prompts.size(), 9u);
  for (const auto& p : prompts) EXPECT_EQ(p->text(), "qrs");
  const auto steps = evaluator_.steps();
  // Every step within the budget, and the first request advanced in every step from its
  // first to its last token although prompts waited for the budget all along.
  for (size_t i = 0; i < steps.size(); ++i) {
    EXPECT_LE(StepTokens(steps[i]), 8u) << "step " << i;
  }
  const std::vector<size_t> first = StepsOf(steps, steps[0][0].state);
  ASSERT_GE(first.size(), 60u);
  for (size_t i = 0; i < 60; ++i) EXPECT_EQ(first[i], i);
  size_t with_prompt = 0;
  for (size_t i = 1; i < 60; ++i) {
    for (const auto& seq : steps[i]) with_prompt += seq.tokens > 1 ? 1 : 0;
  }
  EXPECT_GT(with_prompt, 0u);  // the prompts really were processed beside it
}

TEST_F(SchedulerTest, NewRequestsStartInTheNextStepWhenSlotsAreFree) {
  auto first = std::make_shared<TestSink>();
  std::vector<std::shared_ptr<TestSink>> more;
  auto scheduler = Make({.max_sequences = 4, .step_tokens = 16});
  evaluator_.on_step_ = [&](size_t step) {
    if (step == 0) {
      for (int i = 0; i < 3; ++i) {
        more.push_back(std::make_shared<TestSink>());
        ASSERT_TRUE(scheduler
                        ->Submit(Request(std::string(10, static_cast<char>('A' + i)), 2),
                                 more.back(), nullptr)
                        .ok());
      }
    }
  };
  ASSERT_TRUE(scheduler->Submit(Request("a", 5), first, nullptr).ok());
  ASSERT_TRUE(scheduler->WaitIdle(absl::Now() + absl::Seconds(30)));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(more[i]->tokens(), (std::vector<int32_t>{'B' + i, 'C' + i}));
  }
  const auto steps = evaluator_.steps();
  ASSERT_GE(steps.size(), 3u);
  // Step 1: the first request's decode token, then the three prompts in arrival order with
  // the 15 tokens left: 10 + 5 (the third waits for the budget, not for a slot).
  ASSERT_EQ(steps[1].size(), 3u);
  EXPECT_EQ(steps[1][0].tokens, 1u);
  EXPECT_EQ(steps[1][1].tokens, 10u);
  EXPECT_EQ(steps[1][1].logits, engine::LogitsMode::kLast);
  EXPECT_EQ(steps[1][2].tokens, 5u);
  EXPECT_EQ(steps[1][2].logits, engine::LogitsMode::kNone);
  // Step 2: two decode tokens, the second prompt's last 5 tokens, 9 of the third.
  ASSERT_EQ(steps[2].size(), 4u);
  EXPECT_EQ(steps[2][0].tokens, 1u);
  EXPECT_EQ(steps[2][1].tokens, 1u);
  EXPECT_EQ(steps[2][2].tokens, 5u);
  EXPECT_EQ(steps[2][2].logits, engine::LogitsMode::kLast);
  EXPECT_EQ(steps[2][3].tokens, 9u);
  for (size_t i = 0; i < steps.size(); ++i) {
    EXPECT_LE(StepTokens(steps[i]), 16u) << "step " << i;
  }
}

TEST_F(SchedulerTest, CancelDuringAChunkedPromptFreesTheSlot) {
  auto cancel = std::make_shared<CancelFlag>();
  auto cancelled = std::make_shared<TestSink>();
  auto next = std::make_shared<TestSink>();
  evaluator_.on_step_ = [&](size_t step) {
    if (step == 2) cancel->Cancel();
  };
  auto scheduler = Make({.max_sequences = 1, .step_tokens = 8});
  ASSERT_TRUE(scheduler->Submit(Request(std::string(100, 'x'), 5), cancelled, cancel).ok());
  ASSERT_TRUE(scheduler->Submit(Request("a", 3), next, nullptr).ok());
  ASSERT_TRUE(cancelled->WaitDone());
  EXPECT_EQ(cancelled->result().outcome, Outcome::kCancelled);
  EXPECT_EQ(cancelled->result().prompt_tokens, 24u);  // three chunks of 8 before the cancel
  EXPECT_EQ(cancelled->result().generated_tokens, 0u);
  ASSERT_TRUE(next->WaitDone());
  EXPECT_EQ(next->text(), "bcd");
}

TEST_F(SchedulerTest, StepMetricsCountDecodeAndPromptTokens) {
  auto scheduler = Make({.max_sequences = 2, .step_tokens = 4});
  auto sink = std::make_shared<TestSink>();
  ASSERT_TRUE(scheduler->Submit(Request("abcdefghij", 3), sink, nullptr).ok());
  ASSERT_TRUE(sink->WaitDone());
  ASSERT_TRUE(scheduler->WaitIdle(absl::Now() + absl::Seconds(30)));
  double prompt_sum = -1, decode_sum = -1, budget = -1, prefill_steps = -1;
  for (const prometheus::MetricFamily& f : registry_.Collect()) {
    if (f.metric.empty()) continue;
    const prometheus::ClientMetric& m = f.metric[0];
    if (f.name == "rwkv_worker_step_prompt_tokens") prompt_sum = m.histogram.sample_sum;
    if (f.name == "rwkv_worker_step_decode_tokens") decode_sum = m.histogram.sample_sum;
    if (f.name == "rwkv_worker_step_token_budget") budget = m.gauge.value;
    if (f.name == "rwkv_worker_prefill_steps_total") prefill_steps = m.counter.value;
  }
  EXPECT_EQ(prompt_sum, 10);  // 4 + 4 + 2
  EXPECT_EQ(decode_sum, 2);   // the 2nd and 3rd token; the 1st comes from the prompt's logits
  EXPECT_EQ(budget, 4);
  EXPECT_EQ(prefill_steps, 3);
}

TEST_F(SchedulerTest, RejectsWhenQueueIsFull) {
  evaluator_.step_delay_ = absl::Milliseconds(5);
  auto scheduler = Make({.max_sequences = 1, .max_queue = 1});
  auto a = std::make_shared<TestSink>(), b = std::make_shared<TestSink>();
  ASSERT_TRUE(scheduler->Submit(Request("a", 50), a, nullptr).ok());
  ASSERT_TRUE(scheduler->Submit(Request("b", 5), b, nullptr).ok());
  absl::Status full = scheduler->Submit(Request("c", 5), std::make_shared<TestSink>(), nullptr);
  EXPECT_TRUE(absl::IsResourceExhausted(full)) << full;
  ASSERT_TRUE(a->WaitDone());
  ASSERT_TRUE(b->WaitDone());
}

TEST_F(SchedulerTest, CancelFreesTheSlotForTheNextRequest) {
  evaluator_.step_delay_ = absl::Milliseconds(5);
  auto scheduler = Make({.max_sequences = 1, .max_queue = 4});
  auto cancel = std::make_shared<CancelFlag>();
  auto a = std::make_shared<TestSink>(), b = std::make_shared<TestSink>();
  ASSERT_TRUE(scheduler->Submit(Request("a", 10000), a, cancel).ok());
  ASSERT_TRUE(scheduler->Submit(Request("b", 3), b, nullptr).ok());
  absl::SleepFor(absl::Milliseconds(30));
  EXPECT_EQ(scheduler->Stats().queue_depth, 1u);
  cancel->Cancel();
  ASSERT_TRUE(a->WaitDone());
  EXPECT_EQ(a->result().outcome, Outcome::kCancelled);
  ASSERT_TRUE(b->WaitDone());
  EXPECT_EQ(b->text(), "cde");
}

TEST_F(SchedulerTest, DeadlineEndsTheRequest) {
  evaluator_.step_delay_ = absl::Milliseconds(2);
  auto scheduler = Make({});
  auto sink = std::make_shared<TestSink>();
  GenerationRequest r = Request("a", 100000);
  r.deadline = absl::Now() + absl::Milliseconds(50);
  ASSERT_TRUE(scheduler->Submit(std::move(r), sink, nullptr).ok());
  ASSERT_TRUE(sink->WaitDone());
  EXPECT_EQ(sink->result().outcome, Outcome::kDeadline);
  EXPECT_TRUE(scheduler->WaitIdle(absl::Now() + absl::Seconds(1)));
  EXPECT_EQ(scheduler->Stats().slots_busy, 0u);
}

TEST_F(SchedulerTest, SessionContinuesLikeOneLongRequest) {
  auto scheduler = Make({});
  auto first = std::make_shared<TestSink>();
  GenerationRequest r = Request("ab", 3);
  r.session_id = "s1";
  ASSERT_TRUE(scheduler->Submit(std::move(r), first, nullptr).ok());
  ASSERT_TRUE(first->WaitDone());
  EXPECT_EQ(first->text(), "cde");
  auto second = std::make_shared<TestSink>();
  GenerationRequest cont = Request("", 3);
  cont.session_id = "s1";
  ASSERT_TRUE(scheduler->Submit(std::move(cont), second, nullptr).ok());
  ASSERT_TRUE(second->WaitDone());
  EXPECT_EQ(second->text(), "fgh");
  EXPECT_EQ(second->result().prompt_tokens, 1u);  // the pending 'e'
}

TEST_F(SchedulerTest, SecondRequestOfABusySessionIsRefused) {
  evaluator_.step_delay_ = absl::Milliseconds(1);
  auto scheduler = Make({});
  auto first = std::make_shared<TestSink>();
  auto cancel = std::make_shared<CancelFlag>();
  GenerationRequest a = Request("a", 100000);
  a.session_id = "s";
  ASSERT_TRUE(scheduler->Submit(a, first, cancel).ok());
  GenerationRequest b = Request("b", 3);
  b.session_id = "s";
  const absl::Status second = scheduler->Submit(b, std::make_shared<TestSink>(), nullptr);
  EXPECT_TRUE(absl::IsAborted(second)) << second;
  EXPECT_NE(second.message().find("session 's'"), absl::string_view::npos) << second;
  // Another session is not affected.
  GenerationRequest other = Request("c", 3);
  other.session_id = "t";
  auto other_sink = std::make_shared<TestSink>();
  EXPECT_TRUE(scheduler->Submit(other, other_sink, nullptr).ok());
  cancel->Cancel();
  ASSERT_TRUE(first->WaitDone());
  ASSERT_TRUE(scheduler->WaitIdle(absl::Now() + absl::Seconds(30)));
  // Once the first request is finished, the session takes the next one.
  auto third = std::make_shared<TestSink>();
  ASSERT_TRUE(scheduler->Submit(b, third, nullptr).ok());
  ASSERT_TRUE(third->WaitDone());
  EXPECT_EQ(third->result().outcome, Outcome::kLength);
}

TEST_F(SchedulerTest, EmptyPromptWithoutSessionFails) {
  auto scheduler = Make({});
  auto sink = std::make_shared<TestSink>();
  GenerationRequest r = Request("", 3);
  r.session_id = "missing";
  ASSERT_TRUE(scheduler->Submit(std::move(r), sink, nullptr).ok());
  ASSERT_TRUE(sink->WaitDone());
  EXPECT_EQ(sink->result().outcome, Outcome::kInvalid);
  EXPECT_TRUE(absl::IsInvalidArgument(sink->result().status));
}

TEST_F(SchedulerTest, InitialStateLogitsAllowAnEmptyPrompt) {
  auto scheduler = Make({});
  auto state = std::make_shared<InitialState>();
  state->state = engine::RecurrentState::Zero({1, 4, 4});
  state->logits.assign(kVocab, 0.0f);
  state->logits['q'] = 5.0f;
  auto sink = std::make_shared<TestSink>();
  GenerationRequest r = Request("", 3);
  r.initial_state = state;
  ASSERT_TRUE(scheduler->Submit(std::move(r), sink, nullptr).ok());
  ASSERT_TRUE(sink->WaitDone());
  EXPECT_EQ(sink->text(), "qrs");
}

TEST_F(SchedulerTest, DrainFinishesRunningAndRefusesNew) {
  evaluator_.step_delay_ = absl::Milliseconds(2);
  auto scheduler = Make({});
  auto sink = std::make_shared<TestSink>();
  ASSERT_TRUE(scheduler->Submit(Request("a", 20), sink, nullptr).ok());
  std::thread drain([&] { scheduler->Drain(absl::Now() + absl::Seconds(10)); });
  absl::SleepFor(absl::Milliseconds(5));
  EXPECT_TRUE(absl::IsUnavailable(
      scheduler->Submit(Request("b", 1), std::make_shared<TestSink>(), nullptr)));
  drain.join();
  ASSERT_TRUE(sink->WaitDone(absl::ZeroDuration()));
  EXPECT_EQ(sink->result().outcome, Outcome::kLength);
}

TEST_F(SchedulerTest, DrainCancelsWhatOutlivesTheDeadline) {
  evaluator_.step_delay_ = absl::Milliseconds(2);
  auto scheduler = Make({});
  auto sink = std::make_shared<TestSink>();
  ASSERT_TRUE(scheduler->Submit(Request("a", 100000), sink, nullptr).ok());
  scheduler->Drain(absl::Now() + absl::Milliseconds(30));
  ASSERT_TRUE(sink->WaitDone(absl::ZeroDuration()));
  EXPECT_EQ(sink->result().outcome, Outcome::kCancelled);
}

// A sink whose OnFinish takes a while, so a Drain that returns before every OnFinish has
// returned is caught.
class SlowFinishSink : public GenerationSink {
 public:
  void OnChunk(GenerationChunk) override {}
  void OnFinish(GenerationChunk, const GenerationResult& result) override {
    absl::SleepFor(absl::Milliseconds(200));
    outcome_ = result.outcome;
    finished_.store(true);
  }
  bool finished() const { return finished_.load(); }
  Outcome outcome() const { return outcome_; }

 private:
  Outcome outcome_ = Outcome::kError;
  std::atomic<bool> finished_{false};
};

TEST_F(SchedulerTest, DrainReturnsOnlyAfterEverySinkIsFinished) {
  evaluator_.step_delay_ = absl::Milliseconds(2);
  SchedulerOptions options;
  options.max_sequences = 1;
  auto scheduler = Make(options);
  auto running = std::make_shared<SlowFinishSink>();
  auto queued = std::make_shared<SlowFinishSink>();
  auto cancel = std::make_shared<CancelFlag>();
  cancel->Cancel();
  ASSERT_TRUE(scheduler->Submit(Request("a", 3), running, nullptr).ok());
  ASSERT_TRUE(scheduler->Submit(Request("b", 3), queued, cancel).ok());
  scheduler->Drain(absl::Now() + absl::Seconds(30));
  EXPECT_TRUE(running->finished());
  EXPECT_TRUE(queued->finished());
  EXPECT_EQ(queued->outcome(), Outcome::kCancelled);
}

TEST_F(SchedulerTest, DrainPastTheDeadlineStillWaitsForEverySink) {
  evaluator_.step_delay_ = absl::Milliseconds(2);
  auto scheduler = Make({});
  auto sink = std::make_shared<SlowFinishSink>();
  ASSERT_TRUE(scheduler->Submit(Request("a", 100000), sink, nullptr).ok());
  scheduler->Drain(absl::Now() + absl::Milliseconds(20));
  EXPECT_TRUE(sink->finished());
  EXPECT_EQ(sink->outcome(), Outcome::kCancelled);
}

// States kept on the device: a finished session is stored with its last state, not the stale
// host copy.
TEST_F(SchedulerTest, DeviceStatesAreSyncedBeforeASessionIsStored) {
  auto scheduler = MakeResident({});
  auto sink = std::make_shared<TestSink>();
  GenerationRequest r = Request("ab", 3);
  r.session_id = "s1";
  ASSERT_TRUE(scheduler->Submit(std::move(r), sink, nullptr).ok());
  ASSERT_TRUE(sink->WaitDone());
  // 'a' 'b' fed (2), 'e' = 'b' + 1 + 2; 'e' fed (3), 'i'; 'i' fed (4), 'n'.
  EXPECT_EQ(sink->text(), "ein");
  engine::RecurrentState state = engine::RecurrentState::Zero({1, 4, 4});
  std::vector<int32_t> pending;
  ASSERT_TRUE(sessions_.CopyTo("s1", state, pending));
  EXPECT_EQ(state.shift[0], 4.0f);  // the last sampled token is pending, not fed
}

// A slot reused by the next request starts from a fresh state, not from the previous request's
// state still held on the device.
TEST_F(SchedulerTest, ReusedSlotDoesNotContinueTheDeviceState) {
  auto scheduler = MakeResident({.max_sequences = 1});
  for (int i = 0; i < 2; ++i) {
    auto sink = std::make_shared<TestSink>();
    ASSERT_TRUE(scheduler->Submit(Request("ab", 2), sink, nullptr).ok());
    ASSERT_TRUE(sink->WaitDone());
    EXPECT_EQ(sink->text(), "ei") << "request " << i;
  }
}

}  // namespace
}  // namespace rwkv::worker
