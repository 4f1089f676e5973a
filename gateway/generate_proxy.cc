#include "gateway/generate_proxy.h"

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/client_callback.h"
#include "rwkv/v1/inference.grpc.pb.h"
#include "services/common/status_mapping.h"

namespace rwkv::gateway {

namespace v1 = ::rwkv::v1;

namespace {

// Failures before any message that another worker may not have: connection loss, a full
// queue, a worker still loading or shutting down.
bool Retriable(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::RESOURCE_EXHAUSTED ||
         code == grpc::StatusCode::UNKNOWN || code == grpc::StatusCode::INTERNAL ||
         code == grpc::StatusCode::ABORTED;
}

// Appends `next` (a later chunk of the same stream) to `into`. Chunks hold whole UTF-8
// characters, so the joined text is still valid.
void MergeInto(v1::GenerateResponse& into, const v1::GenerateResponse& next) {
  into.mutable_token_ids()->MergeFrom(next.token_ids());
  into.mutable_text()->append(next.text());
  if (next.has_final()) *into.mutable_final() = next.final();
}

}  // namespace

std::unique_ptr<grpc::ClientContext> WorkerCallContext(
    const grpc::CallbackServerContext& server_context) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(server_context.deadline());  // infinite stays infinite
  return context;
}

// One call to one worker. It always has a read in flight until its stream ends; a hold keeps
// it alive (gRPC calls OnDone only after the hold is removed) until then, so the proxy may
// cancel it or start the next read at any time before that.
class GenerateProxy::Attempt : public grpc::ClientReadReactor<v1::GenerateResponse> {
 public:
  Attempt(GenerateProxy* parent, std::string address, std::unique_ptr<grpc::ClientContext> context)
      : address(std::move(address)), context(std::move(context)), parent_(parent) {
    parent_->deps_.live_attempts.fetch_add(1);
  }

  void OnReadDone(bool ok) override {
    if (ok) {
      parent_->OnAttemptMessage(this);
      return;
    }
    RemoveHold();
  }

  void OnDone(const grpc::Status& status) override {
    std::atomic<int>& live = parent_->deps_.live_attempts;  // the parent may go first
    parent_->OnAttemptDone(this, status);
    delete this;
    live.fetch_sub(1);
  }

  const std::string address;
  const std::unique_ptr<grpc::ClientContext> context;
  v1::GenerateResponse message;  // being read
  uint64_t tokens = 0;
  bool received = false;

 private:
  GenerateProxy* const parent_;
};

struct GenerateProxy::State {
  v1::GenerateRequest request;  // as sent to workers (max_tokens capped)
  RouteRequest route;
  absl::Time arrival;
  uint64_t max_tokens = 0;

  absl::Mutex mu;
  std::vector<std::string> tried ABSL_GUARDED_BY(mu);
  Attempt* attempt ABSL_GUARDED_BY(mu) = nullptr;
  int attempts ABSL_GUARDED_BY(mu) = 0;
  std::string served_by ABSL_GUARDED_BY(mu);
  std::string pool ABSL_GUARDED_BY(mu);
  bool routed ABSL_GUARDED_BY(mu) = false;
  bool session_restarted ABSL_GUARDED_BY(mu) = false;
  // Writing: `out` is being written; messages read meanwhile merge into `held_message`,
  // written next. `out` is touched only by the thread that set `writing`.
  v1::GenerateResponse out;
  v1::GenerateResponse held_message ABSL_GUARDED_BY(mu);
  bool writing ABSL_GUARDED_BY(mu) = false;
  bool held ABSL_GUARDED_BY(mu) = false;
  bool first_token ABSL_GUARDED_BY(mu) = false;
  bool cancelled ABSL_GUARDED_BY(mu) = false;
  bool broken ABSL_GUARDED_BY(mu) = false;  // a write failed: the client is gone
  bool finish_pending ABSL_GUARDED_BY(mu) = false;
  bool finished ABSL_GUARDED_BY(mu) = false;
  grpc::Status final_status ABSL_GUARDED_BY(mu);
};

GenerateProxy::GenerateProxy(grpc::CallbackServerContext* context, ProxyDeps& deps,
                             Protocol protocol)
    : context_(context), deps_(deps), protocol_(protocol), state_(std::make_unique<State>()) {}

GenerateProxy* GenerateProxy::Start(grpc::CallbackServerContext* context,
                                    const v1::GenerateRequest& request, ProxyDeps& deps,
                                    Protocol protocol) {
  auto* proxy = new GenerateProxy(context, deps, protocol);
  State& s = *proxy->state_;
  s.arrival = absl::Now();
  s.request = request;
  uint32_t max_tokens = request.max_tokens() == 0 ? kDefaultMaxTokens : request.max_tokens();
  if (deps.max_tokens_cap > 0 && max_tokens > deps.max_tokens_cap) {
    max_tokens = deps.max_tokens_cap;
    s.request.set_max_tokens(max_tokens);
  }
  s.max_tokens = max_tokens;
  s.route.model = request.model();
  s.route.pool = request.placement().pool();
  s.route.backend = request.placement().backend();
  ApplyDefaultPool(s.route, deps.default_pool);
  s.route.session_id = request.session_id();
  deps.metrics.StreamStarted(protocol);
  grpc::Status error;
  if (!proxy->Route(&error)) {
    absl::MutexLock lock(&s.mu);
    s.final_status = error;
    s.finish_pending = true;
  }
  proxy->MaybeFinish();
  return proxy;
}

bool GenerateProxy::Route(grpc::Status* error) {
  State& s = *state_;
  const std::vector<WorkerView> workers = deps_.registry.Snapshot();
  std::vector<std::string> tried;
  {
    absl::MutexLock lock(&s.mu);
    tried = s.tried;
  }
  absl::StatusOr<RouteDecision> decision = deps_.picker.Pick(s.route, workers, tried);
  std::shared_ptr<grpc::Channel> channel;
  if (decision.ok()) channel = deps_.registry.Channel(decision->address);
  if (!decision.ok() || channel == nullptr) {
    *error = decision.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                          absl::StrCat("worker ", decision->address, " is gone"))
                           : services::ToGrpcStatus(decision.status());
    return false;
  }
  std::string pool;
  for (const WorkerView& w : workers) {
    if (w.address == decision->address) pool = w.pool;
  }
  auto* attempt = new Attempt(this, decision->address, WorkerCallContext(*context_));
  {
    absl::MutexLock lock(&s.mu);
    s.attempt = attempt;
    ++s.attempts;
    s.routed = true;
    s.served_by = decision->address;
    s.pool = pool;
    s.session_restarted = decision->session_restarted;
    if (s.cancelled) attempt->context->TryCancel();
  }
  deps_.registry.StreamStarted(decision->address, s.max_tokens);
  deps_.metrics.Routed(decision->address);
  v1::Inference::NewStub(channel)->async()->Generate(attempt->context.get(), &s.request, attempt);
  attempt->AddHold();
  attempt->StartRead(&attempt->message);
  attempt->StartCall();
  return true;
}

void GenerateProxy::OnAttemptMessage(Attempt* attempt) {
  State& s = *state_;
  const uint64_t n = static_cast<uint64_t>(attempt->message.token_ids_size());
  attempt->tokens += n;
  attempt->received = true;
  if (n > 0) deps_.registry.TokensReceived(attempt->address, n);
  {
    absl::MutexLock lock(&s.mu);
    if (attempt->message.has_final()) {
      v1::FinalInfo& final = *attempt->message.mutable_final();
      final.set_served_by(s.served_by);
      if (s.session_restarted) final.set_session_restarted(true);
    }
    if (s.broken) {  // nobody to write to: read on until the cancellation lands
      attempt->StartRead(&attempt->message);
      return;
    }
    if (n > 0 && !s.first_token) {
      s.first_token = true;
      deps_.metrics.ObserveTimeToFirstToken(protocol_,
                                            absl::ToDoubleSeconds(absl::Now() - s.arrival));
    }
    if (s.writing) {
      // Keep reading: later messages merge into the one waiting, so a client slower than its
      // worker gets fewer, larger messages instead of a growing queue.
      if (s.held) {
        MergeInto(s.held_message, attempt->message);
      } else {
        s.held_message.Swap(&attempt->message);
        s.held = true;
      }
      attempt->StartRead(&attempt->message);
      return;
    }
    s.out.Swap(&attempt->message);
    s.writing = true;
    attempt->StartRead(&attempt->message);
  }
  StartWrite(&s.out);
}

void GenerateProxy::OnWriteDone(bool ok) {
  State& s = *state_;
  bool write_next = false;
  {
    absl::MutexLock lock(&s.mu);
    s.writing = false;
    if (!ok && !s.broken) {
      s.broken = true;
      if (s.attempt != nullptr) s.attempt->context->TryCancel();
    }
    if (s.held) {
      s.held = false;
      if (!s.broken) {
        s.out.Swap(&s.held_message);
        s.writing = write_next = true;
      }
    }
  }
  if (write_next) {
    StartWrite(&s.out);
  } else {
    MaybeFinish();
  }
}

void GenerateProxy::OnAttemptDone(Attempt* attempt, const grpc::Status& status) {
  State& s = *state_;
  deps_.registry.StreamEnded(attempt->address,
                             s.max_tokens - std::min(s.max_tokens, attempt->tokens));
  bool retry = false;
  {
    absl::MutexLock lock(&s.mu);
    s.attempt = nullptr;
    const grpc::StatusCode code = status.error_code();
    if (status.ok()) {
      s.final_status = grpc::Status::OK;
    } else if (s.broken) {
      s.final_status = grpc::Status(grpc::StatusCode::CANCELLED, "client stopped reading");
    } else if (s.cancelled || code == grpc::StatusCode::CANCELLED ||
               code == grpc::StatusCode::DEADLINE_EXCEEDED) {
      s.final_status = status;
    } else if (!attempt->received && Retriable(code) && s.attempts < 2) {
      s.tried.push_back(attempt->address);
      retry = true;
    } else if (!attempt->received) {
      const grpc::StatusCode out = Retriable(code) && code != grpc::StatusCode::RESOURCE_EXHAUSTED
                                       ? grpc::StatusCode::UNAVAILABLE
                                       : code;
      s.final_status = grpc::Status(
          out, Retriable(code)
                   ? absl::StrCat("worker ", attempt->address,
                                  " failed before the first token: ", status.error_message())
                   : status.error_message());
    } else {
      s.final_status =
          grpc::Status(grpc::StatusCode::UNAVAILABLE,
                       absl::StrCat("worker ", attempt->address, " failed mid-stream after ",
                                    attempt->tokens, " tokens: ", status.error_message()));
    }
    if (!retry) s.finish_pending = true;
  }
  if (retry) {
    deps_.metrics.Retried();
    grpc::Status error;
    if (!Route(&error)) {
      absl::MutexLock lock(&s.mu);
      const bool full = status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
      s.final_status =
          grpc::Status(full ? grpc::StatusCode::RESOURCE_EXHAUSTED : grpc::StatusCode::UNAVAILABLE,
                       absl::StrCat("worker ", attempt->address, " failed before the first token (",
                                    status.error_message(), "); ", error.error_message()));
      s.finish_pending = true;
    }
  }
  MaybeFinish();
}

void GenerateProxy::MaybeFinish() {
  State& s = *state_;
  grpc::Status status;
  {
    absl::MutexLock lock(&s.mu);
    if (s.finished || !s.finish_pending || s.writing || s.held || s.attempt != nullptr) return;
    s.finished = true;
    status = s.final_status;
  }
  Finish(status);
}

void GenerateProxy::OnCancel() {
  absl::MutexLock lock(&state_->mu);
  state_->cancelled = true;
  if (state_->attempt != nullptr) state_->attempt->context->TryCancel();
}

void GenerateProxy::OnDone() {
  State& s = *state_;
  {
    absl::MutexLock lock(&s.mu);
    deps_.metrics.RequestFinished(protocol_, s.routed ? s.route.model : std::string(), s.pool,
                                  s.final_status.error_code());
  }
  deps_.metrics.ObserveRequestDuration(protocol_, absl::ToDoubleSeconds(absl::Now() - s.arrival));
  deps_.metrics.StreamEnded(protocol_);
  deps_.open_streams.fetch_sub(1);
  delete this;
}

}  // namespace rwkv::gateway
