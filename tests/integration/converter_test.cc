// rwkv-converter end to end: a real server on 127.0.0.1 port 0 over a temporary storage root
// holding copies of the reference inputs.
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "integration/converter_process.h"
#include "support/sha256.h"
#include "support/test_paths.h"

namespace rwkv::testing {
namespace {

namespace fs = std::filesystem;
using rwkv::v1::Job;

class ConverterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path ref = ReferenceDir();
    if (!fs::exists(BinDir() + "/rwkv-converter")) GTEST_SKIP() << "rwkv-converter not built";
    if (!fs::exists(ref / "tiny-rwkv6" / "tiny-rwkv6-bf16.pth")) {
      GTEST_SKIP() << "reference data missing in " << ref;
    }
    work_ = MakeTempDir("converter");
    root_ = work_ / "root";
    for (const char* dir : {"checkpoints", "models", "states"}) fs::create_directories(root_ / dir);
    fs::copy_file(ref / "tiny-rwkv6" / "tiny-rwkv6-bf16.pth",
                  root_ / "checkpoints/tiny-rwkv6-bf16.pth");
    fs::copy_file(ref / "tiny-rwkv6" / "tiny-rwkv6-state.pth",
                  root_ / "checkpoints/tiny-state.pth");
    fs::copy_file(ref / "rwkv_vocab_v20230424.txt", root_ / "checkpoints/rwkv_vocab_v20230424.txt");
    fs::copy_file(ref / "tiny-rwkv6" / "tiny-rwkv6-f16.gguf", root_ / "models/tiny-f16.gguf");
  }

  std::unique_ptr<ConverterProcess> StartServer(std::vector<std::string> extra = {}) {
    auto server = std::make_unique<ConverterProcess>(root_.string(), work_.string(), extra);
    EXPECT_TRUE(server->Start()) << server->Log();
    return server;
  }

  static rwkv::v1::JobSpec Spec(rwkv::v1::JobKind kind, const std::string& in,
                                const std::string& out, const std::string& quant = "") {
    rwkv::v1::JobSpec spec;
    spec.set_kind(kind);
    spec.set_input(in);
    spec.set_output(out);
    spec.set_quant_type(quant);
    return spec;
  }

  static grpc::Status Submit(ConverterProcess& server, const rwkv::v1::JobSpec& spec, Job* job) {
    grpc::ClientContext ctx;
    rwkv::v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    return server.Jobs()->Submit(&ctx, request, job);
  }

  static Job Get(ConverterProcess& server, const std::string& id) {
    grpc::ClientContext ctx;
    rwkv::v1::GetJobRequest request;
    request.set_id(id);
    Job job;
    EXPECT_TRUE(server.Jobs()->Get(&ctx, request, &job).ok());
    return job;
  }

  // Follows the Watch stream to the end and returns the last snapshot.
  static Job WatchToEnd(ConverterProcess& server, const std::string& id, int* messages) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    rwkv::v1::WatchJobRequest request;
    request.set_id(id);
    auto reader = server.Jobs()->Watch(&ctx, request);
    Job job, last;
    *messages = 0;
    while (reader->Read(&job)) {
      last = job;
      ++*messages;
    }
    EXPECT_TRUE(reader->Finish().ok());
    return last;
  }

  // Polls until the job is running and has written at least one tensor.
  static bool WaitRunningWithProgress(ConverterProcess& server, const std::string& id) {
    for (int i = 0; i < 600; ++i) {
      const Job job = Get(server, id);
      if (job.state() == rwkv::v1::JOB_STATE_RUNNING && job.progress().tensors_done() > 0) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  static std::string Sha256(const fs::path& path) { return Sha256FileHex(path.string()); }

  bool TmpIsEmpty() const {
    const fs::path tmp = root_ / ".tmp" / "converter";
    return !fs::exists(tmp) || fs::is_empty(tmp);
  }

  void ExpectArtifact(const Job& job, const std::string& kind_name) {
    ASSERT_EQ(job.state(), rwkv::v1::JOB_STATE_SUCCEEDED) << job.error();
    const fs::path path = root_ / job.spec().output();
    ASSERT_TRUE(fs::exists(path));
    EXPECT_GT(job.artifact().tensor_count(), 0u);
    EXPECT_EQ(fs::file_size(path), job.artifact().size_bytes());
    const std::string sha = Sha256(path);
    EXPECT_EQ(job.artifact().sha256(), sha);
    EXPECT_EQ(ReadFileOrDie(path.string() + ".sha256"),
              sha + "  " + path.filename().string() + "\n");
    const std::string manifest = ReadFileOrDie(path.string() + ".manifest.json");
    EXPECT_NE(manifest.find("\"job_id\": \"" + job.id() + "\""), std::string::npos) << manifest;
    EXPECT_NE(manifest.find("\"kind\": \"" + kind_name + "\""), std::string::npos) << manifest;
    EXPECT_NE(manifest.find("\"sha256\": \"" + sha + "\""), std::string::npos) << manifest;
    EXPECT_NE(manifest.find("\"source\": \"" + job.spec().input() + "\""), std::string::npos);
  }

  fs::path work_;
  fs::path root_;
};

TEST_F(ConverterTest, RunsEveryJobKindAndPublishesVerifiedArtifacts) {
  auto server = StartServer({"--max-concurrent-jobs", "2"});
  const struct {
    rwkv::v1::JobSpec spec;
    const char* kind_name;
  } cases[] = {
      {Spec(rwkv::v1::JOB_KIND_CONVERT_CHECKPOINT, "checkpoints/tiny-rwkv6-bf16.pth",
            "models/conv.gguf"),
       "convert_checkpoint"},
      {Spec(rwkv::v1::JOB_KIND_QUANTIZE, "models/tiny-f16.gguf", "models/tiny-q8_0.gguf", "Q8_0"),
       "quantize"},
      {Spec(rwkv::v1::JOB_KIND_CONVERT_STATE, "checkpoints/tiny-state.pth", "states/tiny.bin"),
       "convert_state"},
  };
  for (const auto& c : cases) {
    Job job;
    ASSERT_TRUE(Submit(*server, c.spec, &job).ok()) << c.kind_name;
    EXPECT_EQ(job.state(), rwkv::v1::JOB_STATE_QUEUED);
    int messages = 0;
    const Job done = WatchToEnd(*server, job.id(), &messages);
    EXPECT_GE(messages, 1);
    ExpectArtifact(done, c.kind_name);
  }
  // Quantizing the reference F16 GGUF reproduces llama-quantize's Q8_0 file byte for byte.
  // (The converted GGUF is not compared: its general.name comes from the checkpoint's name.)
  const fs::path ref = fs::path(ReferenceDir()) / "tiny-rwkv6";
  EXPECT_EQ(Sha256(root_ / "models/tiny-q8_0.gguf"), Sha256(ref / "tiny-rwkv6-q8_0.gguf"));
  EXPECT_TRUE(TmpIsEmpty());

  // Health is SERVING, and /metrics counts the jobs.
  grpc::ClientContext ctx;
  grpc::health::v1::HealthCheckRequest hreq;
  grpc::health::v1::HealthCheckResponse hresp;
  ASSERT_TRUE(grpc::health::v1::Health::NewStub(server->channel())->Check(&ctx, hreq, &hresp).ok());
  EXPECT_EQ(hresp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  std::string metrics;
  ASSERT_EQ(
      RunCommand("curl -sf http://127.0.0.1:" + std::to_string(server->MetricsPort()) + "/metrics",
                 &metrics),
      0);
  EXPECT_NE(metrics.find("rwkv_converter_jobs_total{kind=\"quantize\",state=\"succeeded\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("rwkv_converter_written_bytes_total"), std::string::npos);

  // SIGTERM drains and exits 0.
  EXPECT_EQ(server->Kill(SIGTERM), 0) << server->Log();
}

TEST_F(ConverterTest, CancelRunningJobLeavesNoTemporaryFiles) {
  auto server = StartServer({"--write-rate-limit", "4000000"});
  Job job;
  ASSERT_TRUE(Submit(*server,
                     Spec(rwkv::v1::JOB_KIND_CONVERT_CHECKPOINT, "checkpoints/tiny-rwkv6-bf16.pth",
                          "models/cancel.gguf"),
                     &job)
                  .ok());
  ASSERT_TRUE(WaitRunningWithProgress(*server, job.id()));
  grpc::ClientContext ctx;
  rwkv::v1::CancelJobRequest request;
  request.set_id(job.id());
  Job cancelled;
  ASSERT_TRUE(server->Jobs()->Cancel(&ctx, request, &cancelled).ok());
  EXPECT_TRUE(cancelled.cancel_requested());
  int messages = 0;
  const Job done = WatchToEnd(*server, job.id(), &messages);
  EXPECT_EQ(done.state(), rwkv::v1::JOB_STATE_CANCELLED);
  EXPECT_FALSE(fs::exists(root_ / "models/cancel.gguf"));
  EXPECT_FALSE(fs::exists(root_ / "models/cancel.gguf.sha256"));
  EXPECT_TRUE(TmpIsEmpty());
}

TEST_F(ConverterTest, SecondSignalDuringDrainExitsAtOnce) {
  // A slow job and a long drain: only the second signal can end the process soon.
  auto server = StartServer({"--write-rate-limit", "200000", "--drain-timeout", "600s"});
  Job job;
  ASSERT_TRUE(Submit(*server,
                     Spec(rwkv::v1::JOB_KIND_CONVERT_CHECKPOINT, "checkpoints/tiny-rwkv6-bf16.pth",
                          "models/interrupted.gguf"),
                     &job)
                  .ok());
  ASSERT_TRUE(WaitRunningWithProgress(*server, job.id()));
  server->Signal(SIGTERM);
  ASSERT_TRUE(server->WaitForLog("draining for up to", 120)) << server->Log();
  server->Signal(SIGINT);
  const int status = server->WaitExit(120);
  EXPECT_NE(status, -2) << "still draining after a second signal\n" << server->Log();
  EXPECT_NE(status, 0) << server->Log();
  EXPECT_FALSE(fs::exists(root_ / "models/interrupted.gguf"));
}

TEST_F(ConverterTest, KillDuringJobThenRestartKeepsJournalConsistent) {
  auto server = StartServer({"--write-rate-limit", "4000000"});
  Job first, second;
  ASSERT_TRUE(Submit(*server,
                     Spec(rwkv::v1::JOB_KIND_CONVERT_STATE, "checkpoints/tiny-state.pth",
                          "states/before.bin"),
                     &first)
                  .ok());
  int messages = 0;
  ASSERT_EQ(WatchToEnd(*server, first.id(), &messages).state(), rwkv::v1::JOB_STATE_SUCCEEDED);
  ASSERT_TRUE(Submit(*server,
                     Spec(rwkv::v1::JOB_KIND_CONVERT_CHECKPOINT, "checkpoints/tiny-rwkv6-bf16.pth",
                          "models/killed.gguf"),
                     &second)
                  .ok());
  ASSERT_TRUE(WaitRunningWithProgress(*server, second.id()));
  server->Kill(SIGKILL);
  EXPECT_FALSE(fs::exists(root_ / "models/killed.gguf"));

  // The restarted converter runs the interrupted job again, from the start.
  auto restarted = StartServer();
  int rerun_messages = 0;
  const Job rerun = WatchToEnd(*restarted, second.id(), &rerun_messages);
  EXPECT_EQ(rerun.state(), rwkv::v1::JOB_STATE_SUCCEEDED) << rerun.error();
  EXPECT_EQ(rerun.attempts(), 2u);
  EXPECT_EQ(rerun.artifact().path(), "models/killed.gguf");
  EXPECT_EQ(Sha256(root_ / "models/killed.gguf"), rerun.artifact().sha256());
  EXPECT_TRUE(fs::exists(root_ / "models/killed.gguf.manifest.json"));
  EXPECT_EQ(Get(*restarted, first.id()).state(), rwkv::v1::JOB_STATE_SUCCEEDED);
  EXPECT_TRUE(TmpIsEmpty());
  const std::string journal = ReadFileOrDie((root_ / "jobs" / (second.id() + ".json")).string());
  EXPECT_NE(journal.find("\"succeeded\""), std::string::npos) << journal;
}

TEST_F(ConverterTest, KilledJobFailsOnItsLastAttempt) {
  auto server = StartServer({"--write-rate-limit", "4000000", "--max-job-attempts", "1"});
  Job job;
  ASSERT_TRUE(Submit(*server,
                     Spec(rwkv::v1::JOB_KIND_CONVERT_CHECKPOINT, "checkpoints/tiny-rwkv6-bf16.pth",
                          "models/once.gguf"),
                     &job)
                  .ok());
  ASSERT_TRUE(WaitRunningWithProgress(*server, job.id()));
  server->Kill(SIGKILL);

  auto restarted = StartServer({"--max-job-attempts", "1"});
  const Job failed = Get(*restarted, job.id());
  EXPECT_EQ(failed.state(), rwkv::v1::JOB_STATE_FAILED);
  EXPECT_EQ(failed.error_code(), 10);
  EXPECT_EQ(failed.error(),
            "interrupted by restart on attempt 1 of 1 (--max-job-attempts); not run again");
  EXPECT_EQ(failed.attempts(), 1u);
  EXPECT_FALSE(fs::exists(root_ / "models/once.gguf"));
  EXPECT_TRUE(TmpIsEmpty());
}

TEST_F(ConverterTest, DrainTimeoutQueuesTheRunningJobForTheNextStart) {
  auto server = StartServer({"--write-rate-limit", "200000", "--drain-timeout", "0s"});
  Job job;
  ASSERT_TRUE(Submit(*server,
                     Spec(rwkv::v1::JOB_KIND_CONVERT_CHECKPOINT, "checkpoints/tiny-rwkv6-bf16.pth",
                          "models/drained.gguf"),
                     &job)
                  .ok());
  ASSERT_TRUE(WaitRunningWithProgress(*server, job.id()));
  EXPECT_EQ(server->Kill(SIGTERM), 0) << server->Log();
  const std::string journal = ReadFileOrDie((root_ / "jobs" / (job.id() + ".json")).string());
  EXPECT_NE(journal.find("\"queued\""), std::string::npos) << journal;
  EXPECT_FALSE(fs::exists(root_ / "models/drained.gguf"));

  auto restarted = StartServer();
  int messages = 0;
  const Job done = WatchToEnd(*restarted, job.id(), &messages);
  EXPECT_EQ(done.state(), rwkv::v1::JOB_STATE_SUCCEEDED) << done.error();
  EXPECT_EQ(done.attempts(), 1u);
  EXPECT_TRUE(TmpIsEmpty());
}

TEST_F(ConverterTest, FullQueueReturnsResourceExhausted) {
  auto server = StartServer(
      {"--max-concurrent-jobs", "1", "--max-queue", "1", "--write-rate-limit", "2000000"});
  Job a, b, c;
  ASSERT_TRUE(Submit(*server,
                     Spec(rwkv::v1::JOB_KIND_CONVERT_CHECKPOINT, "checkpoints/tiny-rwkv6-bf16.pth",
                          "models/a.gguf"),
                     &a)
                  .ok());
  ASSERT_TRUE(
      Submit(*server,
             Spec(rwkv::v1::JOB_KIND_CONVERT_STATE, "checkpoints/tiny-state.pth", "states/b.bin"),
             &b)
          .ok());
  const grpc::Status full = Submit(
      *server, Spec(rwkv::v1::JOB_KIND_CONVERT_STATE, "checkpoints/tiny-state.pth", "states/c.bin"),
      &c);
  EXPECT_EQ(full.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << full.error_message();
  for (const Job* job : {&b, &a}) {
    grpc::ClientContext ctx;
    rwkv::v1::CancelJobRequest request;
    request.set_id(job->id());
    Job out;
    EXPECT_TRUE(server->Jobs()->Cancel(&ctx, request, &out).ok());
  }
}

TEST_F(ConverterTest, RejectsTraversalWrongKindsAndMissingInputs) {
  fs::create_directories(work_ / "outside");
  std::ofstream(work_ / "outside" / "secret.pth") << "x";
  fs::create_symlink(work_ / "outside" / "secret.pth", root_ / "checkpoints" / "evil.pth");
  auto server = StartServer();
  const auto kConvert = rwkv::v1::JOB_KIND_CONVERT_CHECKPOINT;
  const auto kState = rwkv::v1::JOB_KIND_CONVERT_STATE;
  const struct {
    rwkv::v1::JobSpec spec;
    grpc::StatusCode code;
  } cases[] = {
      {Spec(kConvert, "checkpoints/../../outside/secret.pth", "models/x.gguf"),
       grpc::StatusCode::INVALID_ARGUMENT},
      {Spec(kConvert, (root_ / "checkpoints/tiny-rwkv6-bf16.pth").string(), "models/x.gguf"),
       grpc::StatusCode::INVALID_ARGUMENT},
      {Spec(kState, "checkpoints/evil.pth", "states/x.bin"), grpc::StatusCode::INVALID_ARGUMENT},
      {Spec(kConvert, "models/tiny-f16.gguf", "models/x.gguf"), grpc::StatusCode::INVALID_ARGUMENT},
      {Spec(kState, "checkpoints/tiny-state.pth", "models/x.gguf"),
       grpc::StatusCode::INVALID_ARGUMENT},
      {Spec(kConvert, "checkpoints/tiny-rwkv6-bf16.pth", "models/../../x.gguf"),
       grpc::StatusCode::INVALID_ARGUMENT},
      {Spec(rwkv::v1::JOB_KIND_QUANTIZE, "models/tiny-f16.gguf", "models/q.gguf", "Q9_9"),
       grpc::StatusCode::INVALID_ARGUMENT},
      {Spec(rwkv::v1::JOB_KIND_UNSPECIFIED, "checkpoints/tiny-rwkv6-bf16.pth", "models/x.gguf"),
       grpc::StatusCode::INVALID_ARGUMENT},
      {Spec(kState, "checkpoints/missing.pth", "states/x.bin"), grpc::StatusCode::NOT_FOUND},
      {Spec(rwkv::v1::JOB_KIND_QUANTIZE, "models/tiny-f16.gguf", "models/tiny-f16.gguf", "Q8_0"),
       grpc::StatusCode::INVALID_ARGUMENT},
  };
  for (const auto& c : cases) {
    Job job;
    const grpc::Status s = Submit(*server, c.spec, &job);
    EXPECT_EQ(s.error_code(), c.code) << c.spec.ShortDebugString() << ": " << s.error_message();
  }
  grpc::ClientContext ctx;
  rwkv::v1::GetJobRequest request;
  request.set_id("j-0000000000000000");
  Job job;
  EXPECT_EQ(server->Jobs()->Get(&ctx, request, &job).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ConverterTest, CliSubmitWaitListAndGet) {
  if (!fs::exists(BinDir() + "/rwkv")) GTEST_SKIP() << "rwkv not built";
  auto server = StartServer();
  const std::string cli = BinDir() + "/rwkv client jobs ";
  const std::string addr = " --addr " + server->Address();
  std::string out;
  ASSERT_EQ(RunCommand(cli +
                           "submit --kind convert-state --input checkpoints/tiny-state.pth "
                           "--output states/cli.bin --wait" +
                           addr,
                       &out),
            0)
      << out;
  EXPECT_NE(out.find("state:    succeeded"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(root_ / "states/cli.bin"));
  ASSERT_EQ(RunCommand(cli + "list" + addr, &out), 0) << out;
  EXPECT_NE(out.find("states/cli.bin"), std::string::npos) << out;
  EXPECT_NE(RunCommand(cli + "get j-0000000000000000" + addr, &out), 0);
  EXPECT_NE(out.find("NOT_FOUND"), std::string::npos) << out;
  EXPECT_NE(
      RunCommand(cli + "submit --kind convert-state --input ../x.pth --output states/y.bin" + addr,
                 &out),
      0);
  EXPECT_NE(out.find("INVALID_ARGUMENT"), std::string::npos) << out;
}

}  // namespace
}  // namespace rwkv::testing
