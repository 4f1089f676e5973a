// Test helpers for integration tests: start a real rwkv-worker (or rwkv-gateway) on port 0,
// learn its port from --port-file, wait for health SERVING, stop it with SIGTERM. Header
// only, because every tests/integration/*_test.cc is its own executable.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "gtest/gtest.h"
#include "rwkv/v1/inference.grpc.pb.h"
#include "rwkv/v1/worker.grpc.pb.h"
#include "support/test_paths.h"

extern char** environ;

namespace rwkv::testing {

// A real rwkv-* server process on a loopback address, port 0 unless the arguments say
// otherwise; its port comes from --port-file.
class ServerProcess {
 public:
  // Starts bin/BINARY with --listen HOST:0, --metrics-listen 127.0.0.1:0 and --port-file,
  // then `args` (later flags win, so `args` may override --listen); output goes to
  // DIR/BINARY-N.log. `credentials` (default plaintext) and `channel_args` are used by every
  // channel to it.
  ServerProcess(const std::string& binary, const std::string& dir, std::vector<std::string> args,
                std::string host = "127.0.0.1",
                std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr,
                grpc::ChannelArguments channel_args = {})
      : binary_(binary),
        host_(std::move(host)),
        credentials_(credentials ? std::move(credentials) : grpc::InsecureChannelCredentials()),
        channel_args_(std::move(channel_args)) {
    static int counter = 0;
    const std::string tag = std::to_string(counter++);
    port_file_ = dir + "/" + binary + "-" + tag + ".port";
    log_ = dir + "/" + binary + "-" + tag + ".log";
    std::vector<std::string> argv = {
        BinDir() + "/" + binary, "--listen",    host_ + ":0", "--metrics-listen",
        "127.0.0.1:0",           "--port-file", port_file_};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (std::string& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    const int rc = posix_spawn(&pid_, cargv[0], &actions, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) pid_ = -1;
  }

  ~ServerProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }

  // Waits for the port file and health SERVING. False (with the log in the failure) on
  // timeout or early exit.
  bool WaitServing(std::chrono::seconds timeout = std::chrono::seconds(60)) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      int status = 0;
      if (pid_ <= 0 || waitpid(pid_, &status, WNOHANG) == pid_) {
        ADD_FAILURE() << binary_ << " exited early:\n" << Log();
        exited_ = true;
        return false;
      }
      if (port_ == 0) {
        std::ifstream in(port_file_);
        int port = 0;
        if (in >> port) port_ = port;
      }
      if (port_ != 0 && HealthServing()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << binary_ << " did not become SERVING:\n" << Log();
    return false;
  }

  bool HealthServing() {
    auto stub = grpc::health::v1::Health::NewStub(Channel());
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    return stub->Check(&context, request, &response).ok() &&
           response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
  }

  // Sends SIGTERM; Wait() then returns the exit status.
  void Terminate() { kill(pid_, SIGTERM); }
  // SIGKILL, and reaps the process.
  void Kill() {
    kill(pid_, SIGKILL);
    Wait();
  }
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  int port() const { return port_; }
  std::string address() const { return host_ + ":" + std::to_string(port_); }
  std::shared_ptr<grpc::Channel> Channel() {
    if (channel_ == nullptr) {
      channel_ = grpc::CreateCustomChannel(address(), credentials_, channel_args_);
    }
    return channel_;
  }
  std::unique_ptr<rwkv::v1::Inference::Stub> Inference() {
    return rwkv::v1::Inference::NewStub(Channel());
  }
  std::unique_ptr<rwkv::v1::Worker::Stub> Worker() { return rwkv::v1::Worker::NewStub(Channel()); }
  // The /metrics port, from the "serving metrics on ... (port N)" log line; 0 if absent.
  int MetricsPort() const {
    const std::string log = Log();
    const std::string key = "serving metrics on ";
    const size_t at = log.find(key);
    if (at == std::string::npos) return 0;
    const size_t port = log.find("(port ", at);
    return port == std::string::npos ? 0 : std::atoi(log.c_str() + port + 6);
  }

  std::string Log() const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  std::string binary_;
  std::string host_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  grpc::ChannelArguments channel_args_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int port_ = 0;
  std::string port_file_;
  std::string log_;
  std::shared_ptr<grpc::Channel> channel_;
};

// A real rwkv-worker.
class WorkerProcess : public ServerProcess {
 public:
  WorkerProcess(const std::string& dir, std::vector<std::string> args,
                std::string host = "127.0.0.1")
      : ServerProcess("rwkv-worker", dir, std::move(args), std::move(host)) {}
};

// GET http://127.0.0.1:PORT/PATH with a plain socket; the whole response ("" on error).
inline std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request =
        "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = read(fd, buf, sizeof(buf))) > 0) response.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return response;
}

// The collected output of one Generate call.
struct StreamResult {
  grpc::Status status;
  std::vector<uint32_t> tokens;
  std::string text;
  rwkv::v1::FinalInfo final;
  int messages = 0;
  std::chrono::steady_clock::time_point first_token;
};

inline StreamResult Collect(grpc::ClientReader<rwkv::v1::GenerateResponse>& reader) {
  StreamResult out;
  rwkv::v1::GenerateResponse response;
  while (reader.Read(&response)) {
    ++out.messages;
    if (out.tokens.empty() && response.token_ids_size() > 0) {
      out.first_token = std::chrono::steady_clock::now();
    }
    out.tokens.insert(out.tokens.end(), response.token_ids().begin(), response.token_ids().end());
    out.text += response.text();
    if (response.has_final()) out.final = response.final();
  }
  out.status = reader.Finish();
  return out;
}

// One blocking Generate call with a deadline.
inline StreamResult Generate(rwkv::v1::Inference::Stub& stub,
                             const rwkv::v1::GenerateRequest& request,
                             std::chrono::milliseconds deadline = std::chrono::seconds(60)) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  auto reader = stub.Generate(&context, request);
  return Collect(*reader);
}

}  // namespace rwkv::testing
