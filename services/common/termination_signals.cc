#include "services/common/termination_signals.h"

#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <thread>

#include "absl/strings/str_cat.h"
#include "services/common/log.h"

namespace rwkv::services {
namespace {

sigset_t TerminationSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void BlockTerminationSignals() {
  const sigset_t set = TerminationSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

int WaitForTerminationSignal() {
  const sigset_t set = TerminationSet();
  int signo = 0;
  // sigwait fails only for an invalid set; treat that as a termination request.
  if (sigwait(&set, &signo) != 0) return SIGTERM;
  return signo;
}

void ExitOnNextTerminationSignal() {
  std::thread([] {
    const int signo = WaitForTerminationSignal();
    LogLine(absl::StrCat("signal ", signo, " during drain: exiting now"));
    std::_Exit(128 + signo);
  }).detach();
}

}  // namespace rwkv::services
