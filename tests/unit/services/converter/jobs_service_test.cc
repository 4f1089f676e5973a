#include "services/converter/jobs_service.h"

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace rwkv::converter {
namespace {

// A store whose one running job changes all the time: a thread calls the watcher (with the
// store's lock held, as JobRunner does) until Unwatch, so every Watch cancel races an update.
class BusyStore final : public JobStore {
 public:
  BusyStore() {
    job_.id = "j-busy";
    job_.spec = {JobKind::kConvertState, "checkpoints/s.pth", "states/s.bin"};
    job_.state = JobState::kRunning;
    ticker_ = std::thread([this] { Tick(); });
  }
  ~BusyStore() override {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    ticker_.join();
  }

  absl::StatusOr<Job> Submit(JobSpec) override { return absl::UnimplementedError("submit"); }
  absl::StatusOr<Job> Get(const std::string&) const override {
    return absl::UnimplementedError("get");
  }
  std::vector<Job> List(const ListFilter&) const override { return {}; }
  absl::StatusOr<Job> Cancel(const std::string&) override {
    return absl::UnimplementedError("cancel");
  }
  absl::StatusOr<WatchId> Watch(const std::string& id, WatchFn fn) override {
    absl::MutexLock lock(&mu_);
    if (id != job_.id) return absl::NotFoundError("no such job");
    fn(job_);
    const WatchId watch = next_id_++;
    watchers_.emplace(watch, std::move(fn));
    return watch;
  }
  void Unwatch(WatchId id) override {
    absl::MutexLock lock(&mu_);
    if (watchers_.erase(id) > 0) ++unwatched_;
  }

  // Waits (generously) until `n` watches have been removed.
  bool WaitUnwatched(int n) {
    absl::MutexLock lock(&mu_);
    auto done = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return unwatched_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(60));
  }

 private:
  void Tick() {
    for (;;) {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
      ++job_.progress.tensors_done;
      for (auto& [id, fn] : watchers_) fn(job_);
      mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Microseconds(50));
    }
  }

  mutable absl::Mutex mu_;
  Job job_ ABSL_GUARDED_BY(mu_);
  std::map<WatchId, WatchFn> watchers_ ABSL_GUARDED_BY(mu_);
  WatchId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  int unwatched_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread ticker_;
};

TEST(JobsServiceTest, CancelledWatchesOfARunningJobEndCleanly) {
  BusyStore store;
  JobsService service(store);
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto stub = rwkv::v1::Jobs::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));

  constexpr int kWatches = 40;
  for (int i = 0; i < kWatches; ++i) {
    grpc::ClientContext context;
    rwkv::v1::WatchJobRequest request;
    request.set_id("j-busy");
    auto reader = stub->Watch(&context, request);
    rwkv::v1::Job job;
    ASSERT_TRUE(reader->Read(&job));
    EXPECT_EQ(job.id(), "j-busy");
    context.TryCancel();
    while (reader->Read(&job)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  // Every reactor must reach OnDone (which unwatches) without writing after its Finish.
  EXPECT_TRUE(store.WaitUnwatched(kWatches));
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(30));
}

TEST(JobsServiceTest, WatchOfAnUnknownJobIsNotFound) {
  BusyStore store;
  JobsService service(store);
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto stub = rwkv::v1::Jobs::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  rwkv::v1::WatchJobRequest request;
  request.set_id("j-none");
  auto reader = stub->Watch(&context, request);
  rwkv::v1::Job job;
  EXPECT_FALSE(reader->Read(&job));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(30));
}

}  // namespace
}  // namespace rwkv::converter
