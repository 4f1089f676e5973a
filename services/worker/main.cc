// rwkv-worker: serves one RWKV-6 model on one backend/device with continuous batching. See
// services/worker/README.md.
#include <cstdio>
#include <string>

#include "rwkv/engine/precision.h"
#include "services/common/flags.h"
#include "services/common/log.h"
#include "services/common/termination_signals.h"
#include "services/worker/worker_app.h"

namespace {
// The engine sizes its scratch buffers for one step's tokens.
constexpr int kMaxStepTokens = 16384;
}  // namespace

int main(int argc, char** argv) {
  namespace svc = rwkv::services;
  namespace wrk = rwkv::worker;
  svc::SetLogProgram("rwkv-worker");
  // Before any thread exists, so every thread inherits the mask (see termination_signals.h).
  svc::BlockTerminationSignals();
  wrk::WorkerConfig config;
  svc::ServerOptions server;
  server.listen = "0.0.0.0:50052";
  std::string metrics_listen = "0.0.0.0:9102";
  std::string precision = "exact";
  int64_t device = 0, threads = 0, max_sequences = 16, max_queue = 64, step_tokens = 0;
  int64_t session_cache_mb = 1024, state_cache_mb = 256;
  absl::Duration session_idle = absl::Minutes(30);
  svc::FlagSet flags("rwkv-worker", "Serves one RWKV-6 model over gRPC with continuous batching.");
  flags.AddString("model", &config.model, "model NAME (<storage-root>/models/NAME.gguf) or path");
  flags.AddString("storage-root", &config.storage_root, "shared storage directory");
  flags.AddString("backend", &config.backend, "cpu, cuda or vulkan");
  flags.AddInt("device", &device, "device index of the backend");
  flags.AddString("pool", &config.pool, "worker pool label reported to the gateway");
  flags.AddString("listen", &server.listen, "gRPC address host:port (port 0 = any free port)");
  flags.AddString("metrics-listen", &metrics_listen, "Prometheus /metrics address; empty = off");
  flags.AddInt("threads", &threads, "CPU threads, 0 = all cores");
  flags.AddString(
      "precision", &precision,
      "exact or fast: fast multiplies Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/Q4_K/Q5_K weights by 8-bit "
      "activations on the CPU backend");
  flags.AddInt("max-sequences", &max_sequences, "batch slots (concurrent sequences), >= 1");
  flags.AddInt("max-queue", &max_queue, "requests waiting for a slot, >= 0");
  flags.AddInt("step-tokens", &step_tokens,
               "tokens per forward step (decode tokens first, then prompt chunks), "
               ">= --max-sequences; 0 = max-sequences + max(48, 3 x max-sequences)");
  flags.AddDuration("drain-timeout", &server.drain_timeout, "SIGTERM grace for running requests");
  flags.AddString("port-file", &server.port_file, "write the bound gRPC port to this file");
  flags.AddInt("session-cache-mb", &session_cache_mb, "memory for session states, 0 = off");
  flags.AddDuration("session-idle-timeout", &session_idle, "drop sessions idle this long");
  flags.AddInt("state-cache-mb", &state_cache_mb, "memory for named initial states kept loaded");
  if (absl::Status s = flags.Parse(argc, argv); !s.ok() || flags.help_requested()) {
    if (!s.ok()) std::fprintf(stderr, "rwkv-worker: %s\n", std::string(s.message()).c_str());
    std::fprintf(s.ok() ? stdout : stderr, "%s", flags.Usage().c_str());
    return s.ok() ? 0 : 2;
  }
  if (max_sequences < 1 || max_sequences > 1024 || max_queue < 0 || threads < 0 ||
      session_cache_mb < 0 || state_cache_mb < 0 || device < 0) {
    std::fprintf(stderr, "rwkv-worker: --max-sequences must be 1..1024 and other limits >= 0\n");
    return 2;
  }
  if (step_tokens != 0 && (step_tokens < max_sequences || step_tokens > kMaxStepTokens)) {
    std::fprintf(stderr,
                 "rwkv-worker: --step-tokens must be 0 (default) or %lld..%d (at least "
                 "--max-sequences, so every decoding sequence fits in a step)\n",
                 static_cast<long long>(max_sequences), kMaxStepTokens);
    return 2;
  }
  absl::StatusOr<rwkv::engine::Precision> parsed = rwkv::engine::ParsePrecision(precision);
  if (!parsed.ok()) {
    std::fprintf(stderr, "rwkv-worker: --precision: %s\n",
                 std::string(parsed.status().message()).c_str());
    return 2;
  }
  config.precision = *parsed;
  config.device = static_cast<int>(device);
  config.threads = static_cast<int>(threads);
  config.scheduler.max_sequences = static_cast<int>(max_sequences);
  config.scheduler.max_queue = static_cast<int>(max_queue);
  config.scheduler.step_tokens = static_cast<int>(step_tokens);
  config.session_cache_bytes = static_cast<uint64_t>(session_cache_mb) << 20;
  config.session_idle_timeout = session_idle;
  config.state_cache_bytes = static_cast<uint64_t>(state_cache_mb) << 20;
  absl::Status s = wrk::RunWorker(config, server, metrics_listen);
  if (!s.ok()) svc::LogLine(std::string(s.message()));
  return s.ok() ? 0 : 1;
}
