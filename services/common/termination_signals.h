// SIGTERM / SIGINT for the rwkv-* servers, received in one place: main blocks them before any
// thread starts (threads inherit the mask, so no thread is ever interrupted by them and no
// handler runs), and the server thread takes them with sigwait. A second signal while the
// server drains ends the process at once.
#pragma once

namespace rwkv::services {

// Blocks SIGTERM and SIGINT in the calling thread and ignores SIGPIPE. Call first in main,
// before anything starts a thread. Idempotent.
void BlockTerminationSignals();

// Waits for SIGTERM or SIGINT (blocked by BlockTerminationSignals) and returns it.
int WaitForTerminationSignal();

// Starts a detached thread that waits for one more SIGTERM / SIGINT and then exits the
// process immediately with status 128 + signal, logging why. Call once, after the first
// signal, when the drain begins.
void ExitOnNextTerminationSignal();

}  // namespace rwkv::services
