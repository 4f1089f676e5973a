// ThreadSanitizer cannot see the synchronisation of a Debian Abseil that was not built with
// -fsanitize=thread: absl::Mutex blocks on futexes through uninstrumented code, so TSan would
// report every variable guarded by an absl::Mutex as a race. Linked (with -rdynamic) into the
// test executables of the TSan build only, this file interposes the exported absl::Mutex,
// CondVar and Notification entry points, calls the library's own implementation
// (dlsym RTLD_NEXT) and tells TSan about each acquire and release through its mutex
// annotation interface (the calls Abseil itself makes when it is built with TSan).
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

void Acquired(void* mu, unsigned flags = 0) {
  __tsan_mutex_pre_lock(mu, flags);
  __tsan_mutex_post_lock(mu, flags, 0);
}

void Releasing(void* mu, unsigned flags = 0) {
  __tsan_mutex_pre_unlock(mu, flags);
  __tsan_mutex_post_unlock(mu, flags);
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

// Each wrapper: find the original once, call it, annotate. `this` is passed as the first
// argument, as the Itanium C++ ABI does for member functions.
#define RWKV_ORIGINAL(Member, Signature) \
  static const auto original = Next<Signature>(MangledName<&Member>())

void Mutex::Lock() {
  RWKV_ORIGINAL(Mutex::Lock, void (*)(Mutex*));
  original(this);
  Acquired(this);
}

void Mutex::ReaderLock() {
  RWKV_ORIGINAL(Mutex::ReaderLock, void (*)(Mutex*));
  original(this);
  Acquired(this, __tsan_mutex_read_lock);
}

bool Mutex::TryLock() {
  RWKV_ORIGINAL(Mutex::TryLock, bool (*)(Mutex*));
  const bool locked = original(this);
  if (locked) Acquired(this, __tsan_mutex_try_lock);
  return locked;
}

bool Mutex::ReaderTryLock() {
  RWKV_ORIGINAL(Mutex::ReaderTryLock, bool (*)(Mutex*));
  const bool locked = original(this);
  if (locked) Acquired(this, __tsan_mutex_try_lock | __tsan_mutex_read_lock);
  return locked;
}

void Mutex::Unlock() {
  RWKV_ORIGINAL(Mutex::Unlock, void (*)(Mutex*));
  Releasing(this);
  original(this);
}

void Mutex::ReaderUnlock() {
  RWKV_ORIGINAL(Mutex::ReaderUnlock, void (*)(Mutex*));
  Releasing(this, __tsan_mutex_read_lock);
  original(this);
}

void Mutex::LockWhen(const Condition& cond) {
  RWKV_ORIGINAL(Mutex::LockWhen, void (*)(Mutex*, const Condition&));
  original(this, Hidden(cond));
  Acquired(this);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  RWKV_ORIGINAL(Mutex::LockWhenWithTimeout, bool (*)(Mutex*, const Condition&, Duration));
  const bool result = original(this, Hidden(cond), timeout);
  Acquired(this);
  return result;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  RWKV_ORIGINAL(Mutex::LockWhenWithDeadline, bool (*)(Mutex*, const Condition&, Time));
  const bool result = original(this, Hidden(cond), deadline);
  Acquired(this);
  return result;
}

void Mutex::Await(const Condition& cond) {
  RWKV_ORIGINAL(Mutex::Await, void (*)(Mutex*, const Condition&));
  Releasing(this);
  original(this, Hidden(cond));
  Acquired(this);
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  RWKV_ORIGINAL(Mutex::AwaitWithTimeout, bool (*)(Mutex*, const Condition&, Duration));
  Releasing(this);
  const bool result = original(this, Hidden(cond), timeout);
  Acquired(this);
  return result;
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  RWKV_ORIGINAL(Mutex::AwaitWithDeadline, bool (*)(Mutex*, const Condition&, Time));
  Releasing(this);
  const bool result = original(this, Hidden(cond), deadline);
  Acquired(this);
  return result;
}

void CondVar::Wait(Mutex* mu) {
  RWKV_ORIGINAL(CondVar::Wait, void (*)(CondVar*, Mutex*));
  Releasing(mu);
  original(this, mu);
  Acquired(mu);
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  RWKV_ORIGINAL(CondVar::WaitWithTimeout, bool (*)(CondVar*, Mutex*, Duration));
  Releasing(mu);
  const bool result = original(this, mu, timeout);
  Acquired(mu);
  return result;
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  RWKV_ORIGINAL(CondVar::WaitWithDeadline, bool (*)(CondVar*, Mutex*, Time));
  Releasing(mu);
  const bool result = original(this, mu, deadline);
  Acquired(mu);
  return result;
}

// Notification: Notify publishes, the waits observe it.
void Notification::Notify() {
  RWKV_ORIGINAL(Notification::Notify, void (*)(Notification*));
  __tsan_release(this);
  original(this);
}

void Notification::WaitForNotification() const {
  RWKV_ORIGINAL(Notification::WaitForNotification, void (*)(const Notification*));
  original(this);
  __tsan_acquire(const_cast<Notification*>(this));
}

bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  RWKV_ORIGINAL(Notification::WaitForNotificationWithTimeout,
                bool (*)(const Notification*, Duration));
  const bool notified = original(this, timeout);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  RWKV_ORIGINAL(Notification::WaitForNotificationWithDeadline, bool (*)(const Notification*, Time));
  const bool notified = original(this, deadline);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

#undef RWKV_ORIGINAL

ABSL_NAMESPACE_END
}  // namespace absl
