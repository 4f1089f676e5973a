#include "gateway/gateway_app.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gateway/discovery.h"
#include "gateway/generate_proxy.h"
#include "gateway/http_server.h"
#include "gateway/inference_proxy.h"
#include "gateway/jobs_proxy.h"
#include "gateway/metrics.h"
#include "gateway/openai_api.h"
#include "gateway/picker.h"
#include "gateway/resolver.h"
#include "gateway/token_auth.h"
#include "gateway/worker_registry.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "services/common/log.h"
#include "services/common/metrics_endpoint.h"

namespace rwkv::gateway {
namespace {

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  if (in) text << in.rdbuf();
  if (!in || text.str().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": cannot read ", path));
  }
  return text.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TlsCredentials(
    const GatewayConfig& config) {
  auto cert = ReadWholeFile(config.tls_cert, "tls-cert");
  if (!cert.ok()) return cert.status();
  auto key = ReadWholeFile(config.tls_key, "tls-key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(options);
}

// Thread-safe uniform 64-bit values for the picker's tie-breaks.
std::function<uint64_t()> MakeRandom() {
  auto mu = std::make_shared<absl::Mutex>();
  auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
  return [mu, engine] {
    absl::MutexLock lock(mu.get());
    return (*engine)();
  };
}

grpc::ChannelArguments MinimalStackArguments() {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_MINIMAL_STACK, 1);
  return args;
}

void SetServing(grpc::Server& server, bool serving) {
  grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService();
  if (health == nullptr) return;
  // Named services only: the all-services overload would also flip "liveness".
  health->SetServingStatus("", serving);
  health->SetServingStatus("rwkv.v1.Inference", serving);
}

// Re-resolves discovery every dns_interval and maintains the registry every 200 ms.
class DiscoveryLoop {
 public:
  DiscoveryLoop(WorkerDiscovery& discovery, WorkerRegistry& registry, absl::Duration interval)
      : discovery_(discovery), registry_(registry), interval_(interval) {
    thread_ = std::thread([this] { Run(); });
  }
  ~DiscoveryLoop() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
  }

 private:
  void Run() {
    absl::Time next_resolve = absl::Now() + interval_;
    for (;;) {
      {
        absl::MutexLock lock(&mu_);
        auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
        mu_.AwaitWithTimeout(absl::Condition(&stop), absl::Milliseconds(200));
        if (stop_) return;
      }
      if (absl::Now() >= next_resolve) {
        next_resolve = absl::Now() + interval_;
        std::vector<std::string> errors;
        registry_.SetWorkers(discovery_.Refresh(&errors));
        for (const std::string& e : errors) services::LogLine(absl::StrCat("discovery: ", e));
      } else {
        registry_.Maintain();
      }
    }
  }

  WorkerDiscovery& discovery_;
  WorkerRegistry& registry_;
  const absl::Duration interval_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace

absl::Status ValidateConfig(const GatewayConfig& config) {
  if (config.workers.empty() && config.worker_dns.empty()) {
    return absl::InvalidArgumentError("one of --workers or --worker-dns is required");
  }
  if (auto w = ParseWorkerList(config.workers); !w.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--workers: ", w.status().message()));
  }
  if (auto d = ParseDnsTargets(config.worker_dns); !d.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--worker-dns: ", d.status().message()));
  }
  if (!config.converter.empty()) {
    if (absl::Status s = CheckHostPort(config.converter); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--converter: ", s.message()));
    }
  }
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (config.max_streams < 0 || config.max_streams > 1000000) {
    return absl::InvalidArgumentError("--max-streams must be 0 (unlimited) .. 1000000");
  }
  if (config.default_pool.size() > 64 ||
      std::any_of(config.default_pool.begin(), config.default_pool.end(),
                  [](unsigned char c) { return c < 0x21 || c > 0x7e; })) {
    return absl::InvalidArgumentError(
        "--default-pool must be at most 64 printable characters without spaces");
  }
  if (config.max_tokens_cap < 0 || config.max_tokens_cap > 65536) {
    return absl::InvalidArgumentError("--max-tokens-cap must be 0 (none) .. 65536");
  }
  if (!config.http_listen.empty() && config.http_listen.find(':') == std::string::npos) {
    return absl::InvalidArgumentError("--http-listen must be host:port (port 0 = any free port)");
  }
  if (!config.http_listen.empty() && !config.tls_cert.empty()) {
    // civetweb 1.15 as shipped by Debian calls SSL_get_peer_certificate, which OpenSSL 3 does
    // not export, and crashes on the first HTTPS connection.
    return absl::InvalidArgumentError(
        "--http-listen serves plaintext only and cannot be combined with --tls-cert/--tls-key "
        "(the system's civetweb cannot serve TLS with OpenSSL 3); terminate TLS in front of the "
        "HTTP port (ingress or sidecar)");
  }
  if (config.dns_interval < absl::Milliseconds(100)) {
    return absl::InvalidArgumentError("--dns-interval must be at least 100ms");
  }
  return absl::OkStatus();
}

absl::Status RunGateway(const GatewayConfig& config, services::ServerOptions server_options) {
  if (absl::Status s = ValidateConfig(config); !s.ok()) return s;
  std::unique_ptr<TokenAuthenticator> auth;
  if (!config.auth_token_file.empty()) {
    auto loaded = TokenAuthenticator::Load(config.auth_token_file);
    if (!loaded.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--auth-token-file: ", loaded.status().message()));
    }
    auth = *std::move(loaded);
  }
  if (!config.tls_cert.empty()) {
    auto credentials = TlsCredentials(config);
    if (!credentials.ok()) return credentials.status();
    server_options.credentials = *std::move(credentials);
  }

  auto registry_metrics = std::make_shared<prometheus::Registry>();
  GatewayMetrics metrics(*registry_metrics);
  std::unique_ptr<services::MetricsEndpoint> endpoint;
  if (!config.metrics_listen.empty()) {
    auto started = services::MetricsEndpoint::Start(config.metrics_listen, registry_metrics);
    if (!started.ok()) return started.status();
    endpoint = *std::move(started);
    services::LogLine(absl::StrCat("serving metrics on ", config.metrics_listen, " (port ",
                                   endpoint->port(), ")"));
  }

  std::unique_ptr<Resolver> resolver;
  if (config.hosts_file.empty()) {
    resolver = std::make_unique<SystemResolver>();
  } else {
    resolver = std::make_unique<HostsFileResolver>(config.hosts_file);
  }
  WorkerDiscovery discovery(*ParseWorkerList(config.workers), *ParseDnsTargets(config.worker_dns),
                            *resolver);
  WorkerRegistry registry(WorkerRegistry::Options{}, &metrics);
  std::vector<std::string> errors;
  const std::vector<std::string> initial = discovery.Refresh(&errors);
  for (const std::string& e : errors) services::LogLine(absl::StrCat("discovery: ", e));
  services::LogLine(
      absl::StrCat("workers: ", initial.empty() ? "none yet" : absl::StrJoin(initial, ", ")));
  registry.SetWorkers(initial);

  ExpectedWaitPicker picker(MakeRandom());
  ProxyDeps deps{registry, picker, metrics, static_cast<uint32_t>(config.max_tokens_cap),
                 config.default_pool};
  if (!config.default_pool.empty()) {
    services::LogLine(absl::StrCat("default pool: ", config.default_pool));
  }
  InferenceProxy inference(deps, auth.get(), static_cast<int>(config.max_streams));
  std::unique_ptr<JobsProxy> jobs;
  std::vector<grpc::Service*> services = {&inference};
  if (!config.converter.empty()) {
    jobs = std::make_unique<JobsProxy>(
        grpc::CreateChannel(config.converter, grpc::InsecureChannelCredentials()), auth.get());
    services.push_back(jobs.get());
  }

  // The HTTP front's calls: an in-process server with its own Inference instance (so its
  // metrics say protocol="http"), sharing the deps and thus the --max-streams count. The
  // bearer token is checked by the HTTP front itself.
  InferenceProxy http_inference(deps, nullptr, static_cast<int>(config.max_streams),
                                Protocol::kHttp);
  std::unique_ptr<grpc::Server> http_backend;
  std::unique_ptr<OpenAiApi> openai_api;
  std::unique_ptr<HttpServer> http;
  std::atomic<bool> any_worker_healthy{false};
  if (!config.http_listen.empty()) {
    grpc::ServerBuilder builder;
    builder.RegisterService(&http_inference);
    // In process, the HTTP front sets neither deadlines nor oversized messages: the minimal
    // filter stack saves per-message work on this hop.
    builder.AddChannelArgument(GRPC_ARG_MINIMAL_STACK, 1);
    http_backend = builder.BuildAndStart();
    if (http_backend == nullptr)
      return absl::InternalError("cannot start the HTTP front's backend");
    openai_api = std::make_unique<OpenAiApi>(
        http_backend->InProcessChannel(MinimalStackArguments()), auth.get(), metrics,
        [&any_worker_healthy] { return any_worker_healthy.load(); });
    HttpServerOptions http_options;
    http_options.listen = config.http_listen;
    if (config.max_streams > 0) {
      http_options.threads = static_cast<int>(std::max<int64_t>(64, config.max_streams + 32));
    }
    auto started = HttpServer::Start(http_options,
                                     [api = openai_api.get()](HttpExchange& e) { api->Handle(e); });
    if (!started.ok()) return started.status();
    http = *std::move(started);
    services::LogLine(
        absl::StrCat("serving HTTP on ", config.http_listen, " (port ", http->port(), ")"));
  }

  auto server = services::GrpcServer::Start(server_options, services);
  if (!server.ok()) return server.status();
  grpc::Server& grpc_server = (*server)->server();
  SetServing(grpc_server, false);
  // "liveness" answers SERVING while the process runs, whatever the workers do (Kubernetes
  // liveness probes); "" and rwkv.v1.Inference follow the workers.
  if (auto* health = grpc_server.GetHealthCheckService()) {
    health->SetServingStatus("liveness", true);
  }
  registry.SetHealthListener([&grpc_server, &any_worker_healthy](bool any) {
    services::LogLine(any ? "a worker is healthy: SERVING" : "no healthy worker: NOT_SERVING");
    SetServing(grpc_server, any);
    any_worker_healthy.store(any);
  });
  services::LogLine(absl::StrCat("serving gRPC on ", server_options.listen, " (port ",
                                 (*server)->port(), ")",
                                 server_options.credentials ? " with TLS" : ""));

  {
    DiscoveryLoop loop(discovery, registry, config.dns_interval);
    const int signo = services::WaitForTerminationSignal();
    const absl::Time deadline = absl::Now() + server_options.drain_timeout;
    services::LogLine(absl::StrCat("signal ", signo, ": draining for up to ",
                                   absl::FormatDuration(server_options.drain_timeout)));
    services::ServerHooks hooks;
    hooks.drain = [&](absl::Time d) {
      if (openai_api) openai_api->StartDraining();
      http_inference.StartDraining();
      inference.StartDraining();
      if (jobs) jobs->StartDraining();
      if (!inference.WaitForStreams(d)) {
        services::LogLine(absl::StrCat(deps.open_streams.load(),
                                       " streams still open at the drain deadline; cancelling"));
      }
    };
    (*server)->Drain(deadline, hooks);
    registry.SetHealthListener(nullptr);
  }
  if (http_backend) {
    // Cancels what is still open; the HTTP threads then see their calls end and return.
    http_backend->Shutdown(absl::ToChronoTime(absl::Now()));
    http.reset();
    http_backend.reset();
  }
  server->reset();
  // Worker calls finish on gRPC threads after their client calls are done; let them.
  const absl::Time limit = absl::Now() + absl::Seconds(5);
  while (deps.live_attempts.load() > 0 && absl::Now() < limit)
    absl::SleepFor(absl::Milliseconds(5));
  if (!registry.StopWatches(absl::Now() + absl::Seconds(5))) {
    // Every client stream has ended; only worker watches that gRPC has not released yet are
    // left, and the registry they report to cannot be destroyed under them: exit without
    // tearing down instead of waiting for gRPC.
    services::LogLine("drained; worker watches still held by gRPC after 5s, exiting now");
    std::fflush(nullptr);
    std::_Exit(0);
  }
  services::LogLine("drained, exiting");
  return absl::OkStatus();
}

}  // namespace rwkv::gateway
