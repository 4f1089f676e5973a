// ThreadSanitizer cannot see the synchronisation of a Debian Abseil that was not built with
// -fsanitize=thread: absl::Mutex blocks on futexes through uninstrumented code, so TSan would
// report every variable guarded by an absl::Mutex as a race. Linked (with -rdynamic) into the
// test executables of the TSan build only, this file interposes the exported absl::Mutex and
// CondVar entry points, calls the library's own implementation (dlsym RTLD_NEXT) and tells
// TSan about each acquire and release through its mutex annotation interface (the calls
// Abseil itself makes when it is built with TSan); Notification is defined over them.
//
// absl::Condition functions run under the mutex but, inside Abseil, possibly on the thread
// that unlocks; their reads are hidden from TSan (as Abseil's own TSan build does).
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

// TSan's dynamic annotations (exported by its runtime; not in the public headers).
extern "C" void AnnotateIgnoreReadsBegin(const char* file, int line);
extern "C" void AnnotateIgnoreReadsEnd(const char* file, int line);

namespace {

// The library's definition of a symbol this file also defines.
template <typename Fn>
Fn Next(const char* mangled) {
  void* fn = dlsym(RTLD_NEXT, mangled);
  if (fn == nullptr) {
    std::fprintf(stderr, "tsan absl annotations: %s not found\n", mangled);
    std::abort();
  }
  return reinterpret_cast<Fn>(fn);
}

// The mangled name of a member defined below: dladdr names our own (exported, -rdynamic)
// definition, and RTLD_NEXT then finds Abseil's.
template <auto Member>
const char* MangledName() {
  const auto member = Member;
  void* address = nullptr;  // a non-virtual member pointer starts with the code address
  std::memcpy(&address, &member, sizeof(address));
  Dl_info info;
  if (dladdr(address, &info) == 0 || info.dli_sname == nullptr) {
    std::fprintf(stderr, "tsan absl annotations: cannot name an interposed function\n");
    std::abort();
  }
  return info.dli_sname;
}

// Through Condition's void* constructor, so Abseil's own (uninstrumented) code reads the
// wrapper's fields.
bool EvalHidden(void* cond) {
  AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
  const bool result = static_cast<const absl::Condition*>(cond)->Eval();
  AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
  return result;
}

absl::Condition Hidden(const absl::Condition& cond) {
  return absl::Condition(&EvalHidden, const_cast<absl::Condition*>(&cond));
}

// Abseil's own functions call each other through interposable symbols (AwaitWithTimeout
// calls AwaitWithDeadline, ...): only the outermost interposed call annotates.
thread_local int depth = 0;

class Outermost {
 public:
  Outermost() : outermost_(depth++ == 0) {}
  ~Outermost() { --depth; }
  explicit operator bool() const { return outermost_; }

 private:
  const bool outermost_;
};

void Acquired(const Outermost& call, void* mu, unsigned flags = 0) {
  if (!call) return;
  __tsan_mutex_pre_lock(mu, flags);
  __tsan_mutex_post_lock(mu, flags, 0);
}

void Releasing(const Outermost& call, void* mu, unsigned flags = 0) {
  if (!call) return;
  __tsan_mutex_pre_unlock(mu, flags);
  __tsan_mutex_post_unlock(mu, flags);
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

// Each wrapper: find the original once, call it, annotate. `this` is passed as the first
// argument, as the Itanium C++ ABI does for member functions.
#define RWKV_ORIGINAL(Member, Signature)                                \
  static const auto original = Next<Signature>(MangledName<&Member>()); \
  const Outermost call

void Mutex::Lock() {
  RWKV_ORIGINAL(Mutex::Lock, void (*)(Mutex*));
  original(this);
  Acquired(call, this);
}

void Mutex::ReaderLock() {
  RWKV_ORIGINAL(Mutex::ReaderLock, void (*)(Mutex*));
  original(this);
  Acquired(call, this, __tsan_mutex_read_lock);
}

bool Mutex::TryLock() {
  RWKV_ORIGINAL(Mutex::TryLock, bool (*)(Mutex*));
  const bool locked = original(this);
  if (locked) Acquired(call, this, __tsan_mutex_try_lock);
  return locked;
}

bool Mutex::ReaderTryLock() {
  RWKV_ORIGINAL(Mutex::ReaderTryLock, bool (*)(Mutex*));
  const bool locked = original(this);
  if (locked) Acquired(call, this, __tsan_mutex_try_lock | __tsan_mutex_read_lock);
  return locked;
}

void Mutex::Unlock() {
  RWKV_ORIGINAL(Mutex::Unlock, void (*)(Mutex*));
  Releasing(call, this);
  original(this);
}

void Mutex::ReaderUnlock() {
  RWKV_ORIGINAL(Mutex::ReaderUnlock, void (*)(Mutex*));
  Releasing(call, this, __tsan_mutex_read_lock);
  original(this);
}

void Mutex::LockWhen(const Condition& cond) {
  RWKV_ORIGINAL(Mutex::LockWhen, void (*)(Mutex*, const Condition&));
  original(this, Hidden(cond));
  Acquired(call, this);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  RWKV_ORIGINAL(Mutex::LockWhenWithTimeout, bool (*)(Mutex*, const Condition&, Duration));
  const bool result = original(this, Hidden(cond), timeout);
  Acquired(call, this);
  return result;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  RWKV_ORIGINAL(Mutex::LockWhenWithDeadline, bool (*)(Mutex*, const Condition&, Time));
  const bool result = original(this, Hidden(cond), deadline);
  Acquired(call, this);
  return result;
}

void Mutex::Await(const Condition& cond) {
  RWKV_ORIGINAL(Mutex::Await, void (*)(Mutex*, const Condition&));
  Releasing(call, this);
  original(this, Hidden(cond));
  Acquired(call, this);
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  RWKV_ORIGINAL(Mutex::AwaitWithTimeout, bool (*)(Mutex*, const Condition&, Duration));
  Releasing(call, this);
  const bool result = original(this, Hidden(cond), timeout);
  Acquired(call, this);
  return result;
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  RWKV_ORIGINAL(Mutex::AwaitWithDeadline, bool (*)(Mutex*, const Condition&, Time));
  Releasing(call, this);
  const bool result = original(this, Hidden(cond), deadline);
  Acquired(call, this);
  return result;
}

void CondVar::Wait(Mutex* mu) {
  RWKV_ORIGINAL(CondVar::Wait, void (*)(CondVar*, Mutex*));
  Releasing(call, mu);
  original(this, mu);
  Acquired(call, mu);
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  RWKV_ORIGINAL(CondVar::WaitWithTimeout, bool (*)(CondVar*, Mutex*, Duration));
  Releasing(call, mu);
  const bool result = original(this, mu, timeout);
  Acquired(call, mu);
  return result;
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  RWKV_ORIGINAL(CondVar::WaitWithDeadline, bool (*)(CondVar*, Mutex*, Time));
  Releasing(call, mu);
  const bool result = original(this, mu, deadline);
  Acquired(call, mu);
  return result;
}

// Notification, written here over the annotated Mutex calls above: inside the library its
// calls to Lock / Unlock are not all interposable, which would unbalance the annotations.
// notified_yet_ is then also read and written in instrumented code.
Notification::~Notification() {
  // Notify may still be returning on another thread; wait for it, as Abseil does.
  MutexLock lock(&mutex_);
}

void Notification::Notify() {
  MutexLock lock(&mutex_);
  if (notified_yet_.load(std::memory_order_relaxed)) {
    std::fprintf(stderr, "absl::Notification notified twice\n");
    std::abort();
  }
  notified_yet_.store(true, std::memory_order_release);
}

void Notification::WaitForNotification() const {
  if (HasBeenNotifiedInternal(&notified_yet_)) return;
  mutex_.LockWhen(Condition(&HasBeenNotifiedInternal, &notified_yet_));
  mutex_.Unlock();
}

bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  if (HasBeenNotifiedInternal(&notified_yet_)) return true;
  const bool notified =
      mutex_.LockWhenWithTimeout(Condition(&HasBeenNotifiedInternal, &notified_yet_), timeout);
  mutex_.Unlock();
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  if (HasBeenNotifiedInternal(&notified_yet_)) return true;
  const bool notified =
      mutex_.LockWhenWithDeadline(Condition(&HasBeenNotifiedInternal, &notified_yet_), deadline);
  mutex_.Unlock();
  return notified;
}

#undef RWKV_ORIGINAL

ABSL_NAMESPACE_END
}  // namespace absl
