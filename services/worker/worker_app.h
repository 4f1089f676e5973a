// The whole rwkv-worker process behind main.cc: metrics endpoint, gRPC server (Inference +
// Worker, health, reflection), background model load, and the SIGTERM drain.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "services/common/server.h"
#include "services/worker/model_host.h"

namespace rwkv::worker {

inline constexpr char kWorkerVersion[] = "rwkv-worker 0.1.0";

// Serves until SIGTERM/SIGINT, then drains: health NOT_SERVING, new Generate calls get
// UNAVAILABLE, running and queued requests get until server.drain_timeout to finish, the
// rest are cancelled. Returns OK after a clean drain; an error when the model cannot be
// resolved or loaded, or the server or metrics endpoint cannot listen. `metrics_listen`
// empty = no metrics endpoint.
absl::Status RunWorker(const WorkerConfig& config, const services::ServerOptions& server,
                       const std::string& metrics_listen);

}  // namespace rwkv::worker
