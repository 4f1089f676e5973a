#include "gateway/picker.h"

#include <map>
#include <string>
#include <vector>

#include "gateway/rendezvous.h"
#include "gtest/gtest.h"

namespace rwkv::gateway {
namespace {

namespace v1 = ::rwkv::v1;

WorkerView Worker(const std::string& address, const std::string& pool,
                  v1::Backend backend = v1::BACKEND_CPU, const std::string& model = "demo") {
  WorkerView w;
  w.address = address;
  w.healthy = true;
  w.model = model;
  w.pool = pool;
  w.backend = backend;
  w.slots_free = 8;
  w.tokens_per_second = 100;
  return w;
}

RouteRequest Request(const std::string& model = "demo") {
  RouteRequest r;
  r.model = model;
  return r;
}

// Deterministic "random" source counting its calls.
struct Counter {
  uint64_t next = 0;
  int calls = 0;
};

ExpectedWaitPicker MakePicker(Counter& counter) {
  return ExpectedWaitPicker([&counter] {
    ++counter.calls;
    return counter.next++;
  });
}

TEST(PickerTest, RejectsAMissingModelName) {
  Counter c;
  auto picker = MakePicker(c);
  std::vector<WorkerView> workers = {Worker("a:1", "cpu")};
  EXPECT_EQ(picker.Pick(Request(""), workers, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PickerTest, ErrorsNameWhatIsMissing) {
  Counter c;
  auto picker = MakePicker(c);
  std::vector<WorkerView> workers = {Worker("a:1", "cpu"), Worker("b:1", "gpu", v1::BACKEND_CUDA)};
  struct Case {
    RouteRequest request;
    absl::StatusCode code;
    const char* message;
  };
  RouteRequest unknown = Request("nope");
  RouteRequest pool = Request();
  pool.pool = "vulkan";
  RouteRequest backend = Request();
  backend.pool = "cpu";
  backend.backend = v1::BACKEND_CUDA;
  for (const Case& c : std::vector<Case>{
           {unknown, absl::StatusCode::kNotFound, "model 'nope'"},
           {pool, absl::StatusCode::kUnavailable, "pool 'vulkan'"},
           {backend, absl::StatusCode::kUnavailable, "backend cuda"},
       }) {
    auto got = picker.Pick(c.request, workers, {});
    EXPECT_EQ(got.status().code(), c.code) << got.status();
    EXPECT_NE(got.status().message().find(c.message), std::string::npos) << got.status();
  }
  for (WorkerView& w : workers) w.healthy = false;
  auto none = picker.Pick(Request(), workers, {});
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnavailable) << none.status();
  EXPECT_EQ(picker.Pick(Request(), {}, {}).status().code(), absl::StatusCode::kUnavailable);
}

TEST(PickerTest, HonoursPoolAndBackend) {
  Counter c;
  auto picker = MakePicker(c);
  std::vector<WorkerView> workers = {Worker("a:1", "cpu"), Worker("b:1", "gpu", v1::BACKEND_CUDA),
                                     Worker("c:1", "gpu", v1::BACKEND_VULKAN)};
  RouteRequest gpu = Request();
  gpu.pool = "gpu";
  for (int i = 0; i < 20; ++i) EXPECT_NE(picker.Pick(gpu, workers, {})->address, "a:1");
  gpu.backend = v1::BACKEND_VULKAN;
  EXPECT_EQ(picker.Pick(gpu, workers, {})->address, "c:1");
}

TEST(PickerTest, NeverPicksUnhealthyOrExcludedWorkers) {
  Counter c;
  auto picker = MakePicker(c);
  std::vector<WorkerView> workers = {Worker("a:1", "cpu"), Worker("b:1", "cpu"),
                                     Worker("c:1", "cpu")};
  workers[0].healthy = false;
  const std::vector<std::string> exclude = {"b:1"};
  for (int i = 0; i < 10; ++i) EXPECT_EQ(picker.Pick(Request(), workers, exclude)->address, "c:1");
  const std::vector<std::string> all = {"b:1", "c:1"};
  auto none = picker.Pick(Request(), workers, all);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(none.status().message().find("tried b:1, c:1"), std::string::npos) << none.status();
}

TEST(PickerTest, PrefersTheLeastExpectedWait) {
  Counter c;
  auto picker = MakePicker(c);
  std::vector<WorkerView> workers = {Worker("busy:1", "cpu"), Worker("idle:1", "cpu")};
  workers[0].slots_busy = 4;
  workers[0].queue_depth = 2;
  EXPECT_EQ(picker.Pick(Request(), workers, {})->address, "idle:1");
  EXPECT_EQ(c.calls, 0);  // no tie to break
}

TEST(PickerTest, AFasterWorkerCarriesMoreLoadForTheSameWait) {
  WorkerView slow = Worker("slow:1", "cpu");
  WorkerView fast = Worker("fast:1", "cpu");
  slow.tokens_per_second = 50;
  fast.tokens_per_second = 200;
  slow.slots_busy = 2;
  fast.slots_busy = 2;
  EXPECT_LT(ExpectedWaitSeconds(fast, 1), ExpectedWaitSeconds(slow, 1));
  fast.slots_busy = 8;  // 4x the load at 4x the speed: the same wait
  EXPECT_DOUBLE_EQ(ExpectedWaitSeconds(fast, 1), ExpectedWaitSeconds(slow, 1));
  Counter c;
  auto picker = MakePicker(c);
  fast.slots_busy = 7;
  std::vector<WorkerView> workers = {slow, fast};
  EXPECT_EQ(picker.Pick(Request(), workers, {})->address, "fast:1");
}

TEST(PickerTest, CountsRequestsTheStatusHasNotReportedYet) {
  WorkerView w = Worker("a:1", "cpu");
  const double idle = ExpectedWaitSeconds(w, 1);
  w.own_unreported = 3;
  EXPECT_GT(ExpectedWaitSeconds(w, 1), idle);
  // Own open streams count even when the status says idle, with their remaining tokens.
  WorkerView own = Worker("b:1", "cpu");
  own.own_streams = 2;
  own.own_outstanding_tokens = 100;
  EXPECT_DOUBLE_EQ(ExpectedWaitSeconds(own, 1), 2 * 50 / 100.0);
  // An unmeasured worker uses the fallback rate.
  WorkerView fresh = Worker("c:1", "cpu");
  fresh.tokens_per_second = 0;
  fresh.slots_busy = 1;
  EXPECT_DOUBLE_EQ(ExpectedWaitSeconds(fresh, 128), kDefaultTokensPerRequest / 128);
}

TEST(PickerTest, BreaksTiesAtRandom) {
  Counter c;
  auto picker = MakePicker(c);
  std::vector<WorkerView> workers = {Worker("a:1", "cpu"), Worker("b:1", "cpu"),
                                     Worker("c:1", "cpu")};
  std::map<std::string, int> picks;
  for (int i = 0; i < 30; ++i) ++picks[picker.Pick(Request(), workers, {})->address];
  EXPECT_EQ(c.calls, 30);
  EXPECT_EQ(picks.size(), 3u);
  for (const auto& [address, n] : picks) EXPECT_EQ(n, 10) << address;
}

TEST(PickerTest, SessionsGoToTheirRendezvousOwnerRegardlessOfLoad) {
  Counter c;
  auto picker = MakePicker(c);
  std::vector<WorkerView> workers = {Worker("a:1", "cpu"), Worker("b:1", "cpu"),
                                     Worker("c:1", "cpu"), Worker("g:1", "gpu")};
  RouteRequest r = Request();
  r.pool = "cpu";
  r.session_id = "chat-42";
  const std::vector<std::string> ranking = RendezvousRanking("chat-42", {"a:1", "b:1", "c:1"});
  for (WorkerView& w : workers) {
    if (w.address == ranking[0]) w.slots_busy = 8;  // busy owner still gets its session
  }
  auto first = picker.Pick(r, workers, {});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->address, ranking[0]);
  EXPECT_FALSE(first->session_restarted);
  // Owner unhealthy: the next in the ranking, and the decision says the session restarts.
  for (WorkerView& w : workers) {
    if (w.address == ranking[0]) w.healthy = false;
  }
  auto second = picker.Pick(r, workers, {});
  EXPECT_EQ(second->address, ranking[1]);
  EXPECT_TRUE(second->session_restarted);
  // Excluded after a failure: the same.
  for (WorkerView& w : workers) w.healthy = true;
  const std::vector<std::string> exclude = {ranking[0]};
  EXPECT_EQ(picker.Pick(r, workers, exclude)->address, ranking[1]);
}

TEST(DefaultPoolTest, AppliesOnlyWhenTheRequestNamesNeitherPoolNorBackend) {
  RouteRequest plain = Request();
  ApplyDefaultPool(plain, "cpu");
  EXPECT_EQ(plain.pool, "cpu");

  RouteRequest named = Request();
  named.pool = "vulkan";
  ApplyDefaultPool(named, "cpu");
  EXPECT_EQ(named.pool, "vulkan");

  RouteRequest by_backend = Request();
  by_backend.backend = v1::BACKEND_VULKAN;
  ApplyDefaultPool(by_backend, "cpu");
  EXPECT_EQ(by_backend.pool, "");

  RouteRequest no_default = Request();
  ApplyDefaultPool(no_default, "");
  EXPECT_EQ(no_default.pool, "");
}

TEST(DefaultPoolTest, DefaultPoolKeepsRequestsOffOtherPools) {
  Counter counter;
  ExpectedWaitPicker picker = MakePicker(counter);
  std::vector<WorkerView> workers = {Worker("a:1", "vulkan", v1::BACKEND_VULKAN),
                                     Worker("b:1", "cpu")};
  workers[1].slots_free = 0;  // the busier one: without the default the picker avoids it
  workers[1].queue_depth = 20;
  RouteRequest request = Request();
  ApplyDefaultPool(request, "cpu");
  for (int i = 0; i < 8; ++i) {
    absl::StatusOr<RouteDecision> d = picker.Pick(request, workers, {});
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->address, "b:1");
  }
}

}  // namespace
}  // namespace rwkv::gateway
