// Test helper: runs a real rwkv-converter on 127.0.0.1 port 0 against a storage root and hands
// out gRPC stubs. Header-only because every integration test is a single source file.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/create_channel.h"
#include "rwkv/v1/jobs.grpc.pb.h"
#include "support/test_paths.h"

namespace rwkv::testing {

class ConverterProcess {
 public:
  ConverterProcess(std::string root, std::string work_dir, std::vector<std::string> extra)
      : root_(std::move(root)), work_dir_(std::move(work_dir)), extra_(std::move(extra)) {}
  ~ConverterProcess() { Kill(SIGKILL); }

  // Starts the server and waits (up to 20 s) for its port file. False if it did not come up.
  bool Start() {
    const std::string port_file = work_dir_ + "/port-" + std::to_string(++starts_);
    log_file_ = work_dir_ + "/converter-" + std::to_string(starts_) + ".log";
    // A port file left by an earlier server on the same folder must not be mistaken for ours.
    std::filesystem::remove(port_file);
    std::vector<std::string> args = {BinDir() + "/rwkv-converter",
                                     "--storage-root",
                                     root_,
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--metrics-listen",
                                     "127.0.0.1:0",
                                     "--port-file",
                                     port_file,
                                     "--drain-timeout",
                                     "5s"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    // Everything the child needs is prepared before fork: only async-signal-safe calls after.
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      const int fd = open(log_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      execv(argv[0], argv.data());
      _exit(127);
    }
    for (int i = 0; i < 400; ++i) {
      std::ifstream in(port_file);
      int port = 0;
      if (in >> port && port > 0) {
        port_ = port;
        channel_ = grpc::CreateChannel(Address(), grpc::InsecureChannelCredentials());
        return true;
      }
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  // Sends `signo` and reaps the process; returns its exit status (-1 when killed by a signal).
  int Kill(int signo) {
    if (pid_ <= 0) return -1;
    kill(pid_, signo);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // Sends `signo` without waiting for the process.
  void Signal(int signo) const {
    if (pid_ > 0) kill(pid_, signo);
  }

  // Waits up to `seconds` for the process to end. Its exit status, -1 when killed by a
  // signal, -2 when it still runs.
  int WaitExit(int seconds) {
    if (pid_ <= 0) return -1;
    for (int i = 0; i < seconds * 20; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -2;
  }

  // Polls the log (up to `seconds`) for `text`.
  bool WaitForLog(const std::string& text, int seconds) const {
    for (int i = 0; i < seconds * 20; ++i) {
      if (Log().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  std::string Address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  std::unique_ptr<rwkv::v1::Jobs::Stub> Jobs() const { return rwkv::v1::Jobs::NewStub(channel_); }

  std::string Log() const {
    std::ifstream in(log_file_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // The /metrics port from the server's log line "serving metrics on ... (port N)".
  int MetricsPort() const {
    std::smatch m;
    const std::string log = Log();
    static const std::regex re("serving metrics on [^ ]+ \\(port ([0-9]+)\\)");
    return std::regex_search(log, m, re) ? std::stoi(m[1]) : 0;
  }

 private:
  std::string root_;
  std::string work_dir_;
  std::vector<std::string> extra_;
  std::string log_file_;
  int starts_ = 0;
  pid_t pid_ = -1;
  int port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace rwkv::testing
