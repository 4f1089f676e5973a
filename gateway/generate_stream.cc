#include "gateway/generate_stream.h"

#include <chrono>

namespace rwkv::gateway {

namespace v1 = ::rwkv::v1;

GenerateStream::GenerateStream(const v1::GenerateRequest& request, ProxyDeps& deps,
                               Protocol protocol) {
  proxy_ = GenerateProxy::Start(this, request, std::chrono::system_clock::time_point::max(), deps,
                                protocol);
}

GenerateStream::~GenerateStream() {
  bool ended = false;
  {
    absl::MutexLock lock(&mu_);
    ended = ended_ && pending_ == nullptr;
  }
  if (!ended) {
    Cancel();
    v1::GenerateResponse rest;
    while (Next(&rest)) {
    }
  }
  proxy_->Done();
}

bool GenerateStream::Next(v1::GenerateResponse* message) {
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &GenerateStream::Ready));
    if (pending_ == nullptr) return false;
    message->Swap(pending_);
    pending_->Clear();
    pending_ = nullptr;
  }
  // Outside the lock: the proxy may send the next message (or end) from inside this call.
  proxy_->OnWriteDone(true);
  return true;
}

void GenerateStream::Cancel() { proxy_->OnCancel(); }

void GenerateStream::Send(v1::GenerateResponse* message) {
  absl::MutexLock lock(&mu_);
  pending_ = message;
}

void GenerateStream::End(const grpc::Status& status) {
  absl::MutexLock lock(&mu_);
  status_ = status;
  ended_ = true;
}

}  // namespace rwkv::gateway
