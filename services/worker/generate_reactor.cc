#include "services/worker/generate_reactor.h"

#include <atomic>
#include <deque>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "services/common/status_mapping.h"
#include "services/common/utf8.h"
#include "services/worker/request_convert.h"

namespace rwkv::worker {

namespace v1 = ::rwkv::v1;

// State shared by the reactor (gRPC threads) and the scheduler's sink (engine thread). It
// outlives whichever side finishes first. The reactor pointer is used only while `finished`
// is false: the thread that sets it makes the last call into the reactor (Finish), and gRPC
// deletes nothing before that.
struct GenerateReactor::Shared : public GenerationSink {
  absl::Mutex mu;
  GenerateReactor* reactor = nullptr;
  std::string request_id;
  std::shared_ptr<CancelFlag> cancel = std::make_shared<CancelFlag>();
  std::atomic<bool> call_cancelled{false};
  std::deque<v1::GenerateResponse> queue ABSL_GUARDED_BY(mu);
  v1::GenerateResponse current;  // the message being written; touched only by the writer
  bool writing ABSL_GUARDED_BY(mu) = false;
  bool sent_any ABSL_GUARDED_BY(mu) = false;
  bool broken ABSL_GUARDED_BY(mu) = false;          // a write failed: the client is gone
  bool finish_pending ABSL_GUARDED_BY(mu) = false;  // finish once the queue is written
  bool finished ABSL_GUARDED_BY(mu) = false;        // Finish has been called
  grpc::Status final_status ABSL_GUARDED_BY(mu);

  v1::GenerateResponse ToResponse(GenerationChunk& chunk) const {
    v1::GenerateResponse msg;
    msg.mutable_token_ids()->Reserve(static_cast<int>(chunk.token_ids.size()));
    for (int32_t id : chunk.token_ids) msg.add_token_ids(static_cast<uint32_t>(id));
    // proto3 strings must be UTF-8: bytes that can never form a character become U+FFFD.
    msg.set_text(services::ToValidUtf8(chunk.text));
    msg.set_request_id(request_id);
    return msg;
  }

  void EnqueueLocked(v1::GenerateResponse msg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (queue.size() < kMaxQueuedMessages) {
      queue.push_back(std::move(msg));
      return;
    }
    v1::GenerateResponse& back = queue.back();
    for (uint32_t id : msg.token_ids()) back.add_token_ids(id);
    back.mutable_text()->append(msg.text());
    if (msg.has_final()) *back.mutable_final() = msg.final();
  }

  void OnChunk(GenerationChunk chunk) override {
    v1::GenerateResponse msg = ToResponse(chunk);
    {
      absl::MutexLock lock(&mu);
      if (broken || finished) return;
      EnqueueLocked(std::move(msg));
    }
    Pump();
  }

  void OnFinish(GenerationChunk chunk, const GenerationResult& result) override {
    v1::GenerateResponse msg = ToResponse(chunk);
    FillFinalInfo(result, *msg.mutable_final());
    grpc::Status status = grpc::Status::OK;
    if (result.outcome == Outcome::kDeadline) {
      status = grpc::Status(
          grpc::StatusCode::DEADLINE_EXCEEDED,
          absl::StrCat("deadline exceeded after ", result.generated_tokens, " generated tokens"));
    } else if (result.outcome == Outcome::kCancelled) {
      if (call_cancelled.load()) {
        status = grpc::Status(grpc::StatusCode::CANCELLED, "request cancelled by the client");
      } else {
        msg.mutable_final()->set_error_message("worker is shutting down");
      }
    }
    {
      absl::MutexLock lock(&mu);
      if (status.ok() && !result.status.ok() && !sent_any && queue.empty()) {
        status = services::ToGrpcStatus(result.status);
      }
      if (status.ok()) EnqueueLocked(std::move(msg));
      finish_pending = true;
      final_status = status;
    }
    Pump();
  }

  // Starts the next write, the final write-and-finish or the bare Finish, whichever is due.
  void Pump() {
    enum class Action { kWrite, kWriteAndFinish, kFinish } action;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu);
      if (writing || finished) return;
      if (broken || !final_status.ok()) {
        if (!finish_pending) return;
        queue.clear();
        action = Action::kFinish;
        status = broken && final_status.ok()
                     ? grpc::Status(grpc::StatusCode::CANCELLED, "client stopped reading")
                     : final_status;
        finished = true;
      } else if (!queue.empty()) {
        current = std::move(queue.front());
        queue.pop_front();
        sent_any = true;
        if (queue.empty() && finish_pending) {
          action = Action::kWriteAndFinish;
          status = final_status;
          finished = true;
        } else {
          action = Action::kWrite;
          writing = true;
        }
      } else if (finish_pending) {
        action = Action::kFinish;
        status = final_status;
        finished = true;
      } else {
        return;
      }
    }
    switch (action) {
      case Action::kWrite:
        reactor->StartWrite(&current);
        break;
      case Action::kWriteAndFinish:
        reactor->StartWriteAndFinish(&current, grpc::WriteOptions(), status);
        break;
      case Action::kFinish:
        reactor->Finish(status);
        break;
    }
  }
};

GenerateReactor* GenerateReactor::Start(grpc::CallbackServerContext* context,
                                        const v1::GenerateRequest* request, ModelHost& host,
                                        WorkerMetrics& metrics) {
  const absl::Time arrival = absl::Now();
  auto shared = std::make_shared<Shared>();
  shared->request_id = request->request_id();
  auto* reactor = new GenerateReactor(shared);
  shared->reactor = reactor;
  auto fail = [&](const absl::Status& status) {
    {
      absl::MutexLock lock(&shared->mu);
      shared->finished = true;
    }
    reactor->Finish(services::ToGrpcStatus(status));
    return reactor;
  };
  if (!host.ready()) {
    metrics.RequestFinished(Outcome::kUnavailable);
    return fail(
        absl::UnavailableError(absl::StrCat("model '", host.model_name(), "' is still loading")));
  }
  absl::StatusOr<GenerationRequest> converted = ConvertGenerateRequest(*request, host);
  if (!converted.ok()) {
    metrics.RequestFinished(absl::IsUnavailable(converted.status()) ? Outcome::kUnavailable
                                                                    : Outcome::kInvalid);
    return fail(converted.status());
  }
  converted->arrival = arrival;
  converted->deadline = absl::FromChrono(context->deadline());
  absl::Status submitted = host.scheduler().Submit(*std::move(converted), shared, shared->cancel);
  if (!submitted.ok()) return fail(submitted);
  return reactor;
}

void GenerateReactor::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&shared_->mu);
    shared_->writing = false;
    if (!ok) shared_->broken = true;
  }
  if (!ok) shared_->cancel->Cancel();
  shared_->Pump();
}

void GenerateReactor::OnCancel() {
  shared_->call_cancelled.store(true);
  shared_->cancel->Cancel();
}

void GenerateReactor::OnDone() { delete this; }

}  // namespace rwkv::worker
