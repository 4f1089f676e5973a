#include "services/worker/worker_app.h"

#include <signal.h>
#include <unistd.h>

#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/health_check_service_interface.h"
#include "services/common/durable_file.h"
#include "services/common/log.h"
#include "services/common/metrics_endpoint.h"
#include "services/common/termination_signals.h"
#include "services/worker/inference_service.h"
#include "services/worker/worker_service.h"

namespace rwkv::worker {
namespace {

void SetServing(grpc::Server& server, bool serving) {
  grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus(serving);  // every service, including ""
  health->SetServingStatus("rwkv.v1.Inference", serving);
  health->SetServingStatus("rwkv.v1.Worker", serving);
}

}  // namespace

absl::Status RunWorker(const WorkerConfig& config, const services::ServerOptions& server_options,
                       const std::string& metrics_listen) {
  absl::StatusOr<ResolvedModel> resolved = ResolveModel(config.model, config.storage_root);
  if (!resolved.ok()) return resolved.status();
  auto registry = std::make_shared<prometheus::Registry>();
  WorkerMetrics metrics(*registry, resolved->name, config.backend, config.pool);
  metrics.SetModelLoaded(false, 0);
  ModelHost host(config, *resolved, metrics);

  std::unique_ptr<services::MetricsEndpoint> endpoint;
  if (!metrics_listen.empty()) {
    auto started = services::MetricsEndpoint::Start(metrics_listen, registry);
    if (!started.ok()) return started.status();
    endpoint = *std::move(started);
    services::LogLine(
        absl::StrCat("serving metrics on ", metrics_listen, " (port ", endpoint->port(), ")"));
  }

  InferenceService inference(host, metrics);
  WorkerStatusService status(host, kWorkerVersion);
  // The port file is written only once health says NOT_SERVING: whoever waits for it and then
  // for SERVING must not see gRPC's initial SERVING while the model still loads.
  services::ServerOptions listen_options = server_options;
  listen_options.port_file.clear();
  auto server = services::GrpcServer::Start(listen_options, {&inference, &status});
  if (!server.ok()) return server.status();
  SetServing((*server)->server(), false);
  if (!server_options.port_file.empty()) {
    if (absl::Status s = services::WriteFileAtomically(server_options.port_file,
                                                       absl::StrCat((*server)->port(), "\n"));
        !s.ok()) {
      return s;
    }
  }
  services::LogLine(absl::StrCat("serving gRPC on ", server_options.listen, " (port ",
                                 (*server)->port(), "); loading model ", resolved->name, " from ",
                                 resolved->path.string()));

  absl::Mutex load_mu;
  absl::Status load_status;
  std::thread loader([&] {
    absl::Status s = host.Load();
    if (s.ok()) {
      SetServing((*server)->server(), true);
      return;
    }
    if (host.draining()) return;  // the signal came first; not a load failure
    services::LogLine(absl::StrCat("cannot load model ", resolved->name, ": ", s.message()));
    {
      absl::MutexLock lock(&load_mu);
      load_status = s;
    }
    ::kill(::getpid(), SIGTERM);  // wakes the signal wait below
  });

  const int signo = services::WaitForTerminationSignal();
  services::ExitOnNextTerminationSignal();
  const absl::Time deadline = absl::Now() + server_options.drain_timeout;
  services::LogLine(absl::StrCat("signal ", signo, ": draining for up to ",
                                 absl::FormatDuration(server_options.drain_timeout)));
  services::ServerHooks hooks;
  hooks.drain = [&](absl::Time d) {
    status.Shutdown();
    host.Drain(d);
  };
  (*server)->Drain(deadline, hooks);
  loader.join();
  server->reset();
  services::LogLine("drained, exiting");
  absl::MutexLock lock(&load_mu);
  return load_status;
}

}  // namespace rwkv::worker
