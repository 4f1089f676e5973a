// rwkv-converter: the Jobs service (checkpoint -> GGUF, quantize, state -> .bin) over a shared
// storage root. See services/README.md.
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "services/common/flags.h"
#include "services/common/log.h"
#include "services/common/metrics_endpoint.h"
#include "services/common/server.h"
#include "services/common/termination_signals.h"
#include "services/converter/job_runner.h"
#include "services/converter/jobs_service.h"

int main(int argc, char** argv) {
  namespace svc = rwkv::services;
  namespace conv = rwkv::converter;
  svc::SetLogProgram("rwkv-converter");
  // Before any thread exists, so every thread inherits the mask (see termination_signals.h).
  svc::BlockTerminationSignals();
  std::string storage_root, port_file, metrics_listen = "0.0.0.0:9103";
  svc::ServerOptions server;
  server.listen = "0.0.0.0:50053";
  int64_t max_jobs = 1, max_queue = 16, threads = 0, write_rate = 0, job_history = 1000,
          max_attempts = 3;
  svc::FlagSet flags("rwkv-converter", "Runs conversion and quantization jobs on shared storage.");
  flags.AddString("storage-root", &storage_root, "shared storage directory (required)");
  flags.AddString("listen", &server.listen, "gRPC address host:port (port 0 = any free port)");
  flags.AddString("metrics-listen", &metrics_listen, "Prometheus /metrics address; empty = off");
  flags.AddInt("max-concurrent-jobs", &max_jobs, "jobs running at once (>= 1)");
  flags.AddInt("max-queue", &max_queue, "jobs waiting beyond the running ones (>= 0)");
  flags.AddInt("threads-per-job", &threads, "quantization threads per job, 0 = all cores");
  flags.AddInt("write-rate-limit", &write_rate, "output bytes/s per job, 0 = unlimited");
  flags.AddInt("job-history", &job_history, "finished jobs kept (memory and journal), 0 = all");
  flags.AddInt("max-job-attempts", &max_attempts,
               "starts a job gets when restarts interrupt it, then it fails (1-1000)");
  flags.AddDuration("drain-timeout", &server.drain_timeout, "SIGTERM grace for running jobs");
  flags.AddString("port-file", &server.port_file, "write the bound gRPC port to this file");
  if (absl::Status s = flags.Parse(argc, argv); !s.ok() || flags.help_requested()) {
    if (!s.ok()) std::fprintf(stderr, "rwkv-converter: %s\n", std::string(s.message()).c_str());
    std::fprintf(s.ok() ? stdout : stderr, "%s", flags.Usage().c_str());
    return s.ok() ? 0 : 2;
  }
  if (storage_root.empty() || max_jobs < 1 || max_queue < 0 || write_rate < 0 || job_history < 0 ||
      job_history > (int64_t{1} << 30)) {
    std::fprintf(stderr, "rwkv-converter: --storage-root is required and limits must be >= 0\n");
    return 2;
  }
  if (max_attempts < 1 || max_attempts > 1000) {
    std::fprintf(stderr, "rwkv-converter: --max-job-attempts must be between 1 and 1000\n");
    return 2;
  }
  auto registry = std::make_shared<prometheus::Registry>();
  conv::ConverterMetrics metrics(*registry);
  conv::EngineJobExecutor executor(static_cast<int>(threads));
  conv::JobRunner runner({storage_root, static_cast<int>(max_jobs), static_cast<int>(max_queue),
                          static_cast<double>(write_rate), static_cast<int>(job_history),
                          static_cast<uint32_t>(max_attempts)},
                         executor, metrics);
  if (absl::Status s = runner.Start(); !s.ok()) {
    svc::LogLine(absl::StrCat("cannot start: ", s.message()));
    return 1;
  }
  std::unique_ptr<svc::MetricsEndpoint> endpoint;
  if (!metrics_listen.empty()) {
    auto started = svc::MetricsEndpoint::Start(metrics_listen, registry);
    if (!started.ok()) {
      svc::LogLine(std::string(started.status().message()));
      return 1;
    }
    endpoint = *std::move(started);
    svc::LogLine(
        absl::StrCat("serving metrics on ", metrics_listen, " (port ", endpoint->port(), ")"));
  }
  conv::JobsService service(runner);
  svc::ServerHooks hooks{[&runner](absl::Time deadline) { runner.Drain(deadline); }};
  absl::Status s = svc::RunServer(server, {&service}, hooks);
  if (!s.ok()) svc::LogLine(std::string(s.message()));
  return s.ok() ? 0 : 1;
}
