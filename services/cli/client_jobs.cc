#include "services/cli/client_jobs.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "rwkv/v1/jobs.grpc.pb.h"
#include "services/cli/args.h"
#include "services/cli/command.h"
#include "services/common/status_mapping.h"

namespace rwkv::cli {
namespace {

using rwkv::v1::Job;

// Shared options of every jobs subcommand.
struct Common {
  std::string addr;
  bool json = false;
  int64_t timeout_s = 30;
};

void AddCommon(ArgParser& parser, Common& c) {
  parser.AddString({"--addr"}, &c.addr, "converter (or gateway) address HOST:PORT (required)");
  parser.AddFlag({"--json"}, &c.json, "print jobs as JSON, one per line");
  parser.AddInt({"--timeout"}, &c.timeout_s, "deadline of one call in seconds (default 30)");
}

absl::Status RpcError(const grpc::Status& status) {
  const absl::Status s = services::FromGrpcStatus(status);
  return absl::Status(s.code(),
                      absl::StrCat(absl::StatusCodeToString(s.code()), ": ", s.message()));
}

std::unique_ptr<rwkv::v1::Jobs::Stub> Connect(const Common& c) {
  return rwkv::v1::Jobs::NewStub(grpc::CreateChannel(c.addr, grpc::InsecureChannelCredentials()));
}

void SetDeadline(grpc::ClientContext& ctx, const Common& c) {
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(c.timeout_s));
}

std::string StateName(int state) {
  std::string s = rwkv::v1::JobState_Name(static_cast<rwkv::v1::JobState>(state));
  return absl::AsciiStrToLower(absl::StripPrefix(s, "JOB_STATE_"));
}

std::string KindName(int kind) {
  std::string s = rwkv::v1::JobKind_Name(static_cast<rwkv::v1::JobKind>(kind));
  return absl::AsciiStrToLower(absl::StripPrefix(s, "JOB_KIND_"));
}

bool IsFinal(const Job& job) {
  return job.state() == rwkv::v1::JOB_STATE_SUCCEEDED ||
         job.state() == rwkv::v1::JOB_STATE_FAILED || job.state() == rwkv::v1::JOB_STATE_CANCELLED;
}

std::string FormatTime(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

void PrintJob(const Job& job, bool json) {
  if (json) {
    std::string out;
    (void)google::protobuf::util::MessageToJsonString(job, &out);
    std::printf("%s\n", out.c_str());
    return;
  }
  std::printf("id:       %s\nkind:     %s\nstate:    %s\ninput:    %s\noutput:   %s\n",
              job.id().c_str(), KindName(job.spec().kind()).c_str(), StateName(job.state()).c_str(),
              job.spec().input().c_str(), job.spec().output().c_str());
  if (!job.spec().quant_type().empty())
    std::printf("type:     %s\n", job.spec().quant_type().c_str());
  if (!job.spec().outtype().empty()) std::printf("outtype:  %s\n", job.spec().outtype().c_str());
  if (!job.spec().eval_text().empty()) {
    std::printf(
        "eval:     %s (ctx %u, chunks %s)\n", job.spec().eval_text().c_str(), job.spec().eval_ctx(),
        job.spec().eval_chunks() == 0 ? "all" : std::to_string(job.spec().eval_chunks()).c_str());
  }
  std::printf("created:  %s\nstarted:  %s\nfinished: %s\nattempts: %u\n",
              FormatTime(job.created_at()).c_str(), FormatTime(job.started_at()).c_str(),
              FormatTime(job.finished_at()).c_str(), job.attempts());
  if (!job.error().empty()) std::printf("error:    %s\n", job.error().c_str());
  if (job.has_artifact()) {
    std::printf("artifact: %s (%llu bytes, %llu tensors)\nsha256:   %s\n",
                job.artifact().path().c_str(),
                static_cast<unsigned long long>(job.artifact().size_bytes()),
                static_cast<unsigned long long>(job.artifact().tensor_count()),
                job.artifact().sha256().c_str());
    if (job.artifact().has_quality()) {
      const rwkv::v1::QuantizationQuality& q = job.artifact().quality();
      std::printf("quality:  %s, ctx %u, %u chunks, %llu tokens scored\n", q.eval_text().c_str(),
                  q.ctx(), q.chunks(), static_cast<unsigned long long>(q.tokens_scored()));
      std::printf("  PPL source: %.4f +/- %.5f\n", q.ppl_source(), q.ppl_source_error());
      std::printf("  PPL result: %.4f +/- %.5f\n", q.ppl_result(), q.ppl_result_error());
      std::printf("  mean KLD:   %.6f +/- %.6f\n", q.mean_kld(), q.mean_kld_error());
      std::printf("  99%% KLD:    %.6f\n", q.kld_p99());
      std::printf("  same top:   %.3f %%\n", 100.0 * q.same_top_fraction());
    }
  }
}

// One progress line on stderr: rewritten in place on a terminal, else printed when the
// percentage moves by 10 or the state changes.
class ProgressBar {
 public:
  ProgressBar() : tty_(::isatty(STDERR_FILENO) == 1) {}
  ~ProgressBar() {
    if (tty_ && drawn_) std::fputc('\n', stderr);
  }
  void Update(const Job& job) {
    const auto& p = job.progress();
    const double frac = p.bytes_total() > 0 ? double(p.bytes_done()) / double(p.bytes_total())
                        : p.tensors_total() > 0
                            ? double(p.tensors_done()) / double(p.tensors_total())
                            : 0.0;
    const int pct = static_cast<int>(frac * 100.0 + 0.5);
    const int width = 24;
    const int filled = static_cast<int>(frac * width + 0.5);
    std::string line =
        absl::StrFormat("[%s%s] %3d%%  %llu/%llu tensors  %.1f/%.1f MiB", std::string(filled, '#'),
                        std::string(width - filled, '-'), pct, (unsigned long long)p.tensors_done(),
                        (unsigned long long)p.tensors_total(), p.bytes_done() / 1048576.0,
                        p.bytes_total() / 1048576.0);
    if (p.eta_seconds() >= 0 && !IsFinal(job)) {
      absl::StrAppendFormat(&line, "  ETA %.0fs", p.eta_seconds());
    }
    absl::StrAppend(&line, "  ", StateName(job.state()));
    if (tty_) {
      std::fprintf(stderr, "\r%-100s", line.c_str());
      drawn_ = true;
    } else if (pct / 10 != last_decile_ || job.state() != last_state_) {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
    std::fflush(stderr);
    last_decile_ = pct / 10;
    last_state_ = job.state();
  }

 private:
  bool tty_;
  bool drawn_ = false;
  int last_decile_ = -1;
  int last_state_ = -1;
};

// Follows a job until it ends; prints it; exit status 0 only when it succeeded.
int Follow(const Common& c, const std::string& id, const char* command) {
  auto stub = Connect(c);
  grpc::ClientContext ctx;
  rwkv::v1::WatchJobRequest request;
  request.set_id(id);
  std::unique_ptr<grpc::ClientReader<Job>> reader = stub->Watch(&ctx, request);
  Job job, last;
  bool got = false;
  {
    ProgressBar bar;
    while (reader->Read(&job)) {
      last = job;
      got = true;
      if (!c.json) bar.Update(job);
    }
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) return Fail(command, RpcError(status));
  if (!got) return Fail(command, absl::InternalError("watch ended without a job"));
  PrintJob(last, c.json);
  return last.state() == rwkv::v1::JOB_STATE_SUCCEEDED ? 0 : 1;
}

absl::StatusOr<rwkv::v1::JobKind> ParseKind(std::string name) {
  absl::AsciiStrToLower(&name);
  for (char& ch : name) ch = ch == '-' ? '_' : ch;
  if (name == "convert" || name == "convert_checkpoint")
    return rwkv::v1::JOB_KIND_CONVERT_CHECKPOINT;
  if (name == "quantize") return rwkv::v1::JOB_KIND_QUANTIZE;
  if (name == "convert_state") return rwkv::v1::JOB_KIND_CONVERT_STATE;
  return absl::InvalidArgumentError(
      absl::StrCat("--kind '", name, "' is not convert, quantize or convert-state"));
}

int Submit(const std::vector<std::string>& args) {
  constexpr char kCmd[] = "client jobs submit";
  Common c;
  std::string kind, input, output, vocab, outtype, type, eval_text;
  int64_t eval_ctx = 0, eval_chunks = 0;
  bool overwrite = false, wait = false;
  ArgParser p(kCmd, "--addr HOST:PORT --kind KIND --input NAME --output NAME [options]");
  AddCommon(p, c);
  p.AddString({"--kind"}, &kind, "convert | quantize | convert-state");
  p.AddString({"--input", "-i"}, &input, "input name under the storage root");
  p.AddString({"--output", "-o"}, &output, "output name under the storage root");
  p.AddString({"--vocab"}, &vocab, "convert: vocabulary .txt under the root");
  p.AddString({"--outtype"}, &outtype, "convert: f32 | f16 | bf16 (default f16)");
  p.AddString({"--type", "--quant-type"}, &type, "quantize: Q8_0, Q5_1, Q4_0, ...");
  p.AddString({"--eval-text"}, &eval_text,
              "quantize: text file under the root to measure perplexity and KL divergence on");
  p.AddInt({"--eval-ctx"}, &eval_ctx, "quantize: tokens per evaluation chunk (default 512)");
  p.AddInt({"--eval-chunks"}, &eval_chunks, "quantize: at most N evaluation chunks (default all)");
  p.AddFlag({"--overwrite"}, &overwrite, "replace an existing output");
  p.AddFlag({"--wait"}, &wait, "follow the job with a progress bar until it ends");
  if (absl::Status s = p.Parse(args); !s.ok()) return Fail(kCmd, s);
  if (p.help_requested()) return std::printf("%s", p.Usage().c_str()), 0;
  if (c.addr.empty()) return Fail(kCmd, absl::InvalidArgumentError("--addr is required"));
  absl::StatusOr<rwkv::v1::JobKind> k = ParseKind(kind);
  if (!k.ok()) return Fail(kCmd, k.status());
  if (eval_ctx < 0 || eval_ctx > UINT32_MAX || eval_chunks < 0 || eval_chunks > UINT32_MAX) {
    return Fail(kCmd, absl::InvalidArgumentError("--eval-ctx and --eval-chunks must be >= 0"));
  }
  rwkv::v1::SubmitJobRequest request;
  rwkv::v1::JobSpec* spec = request.mutable_spec();
  spec->set_kind(*k);
  spec->set_input(input);
  spec->set_output(output);
  spec->set_vocab(vocab);
  spec->set_outtype(outtype);
  spec->set_quant_type(type);
  spec->set_overwrite(overwrite);
  spec->set_eval_text(eval_text);
  spec->set_eval_ctx(static_cast<uint32_t>(eval_ctx));
  spec->set_eval_chunks(static_cast<uint32_t>(eval_chunks));
  grpc::ClientContext ctx;
  SetDeadline(ctx, c);
  Job job;
  if (grpc::Status s = Connect(c)->Submit(&ctx, request, &job); !s.ok()) {
    return Fail(kCmd, RpcError(s));
  }
  if (wait) return Follow(c, job.id(), kCmd);
  if (c.json) {
    PrintJob(job, true);
  } else {
    std::printf("%s\n", job.id().c_str());
  }
  return 0;
}

int GetOrCancel(const std::vector<std::string>& args, bool cancel) {
  const std::string cmd = cancel ? "client jobs cancel" : "client jobs get";
  Common c;
  ArgParser p(cmd, "ID --addr HOST:PORT [--json]");
  AddCommon(p, c);
  if (absl::Status s = p.Parse(args); !s.ok()) return Fail(cmd, s);
  if (p.help_requested()) return std::printf("%s", p.Usage().c_str()), 0;
  if (c.addr.empty() || p.positionals().size() != 1) {
    return Fail(cmd, absl::InvalidArgumentError("expected one job ID and --addr"));
  }
  grpc::ClientContext ctx;
  SetDeadline(ctx, c);
  Job job;
  grpc::Status s;
  auto stub = Connect(c);
  if (cancel) {
    rwkv::v1::CancelJobRequest request;
    request.set_id(p.positionals()[0]);
    s = stub->Cancel(&ctx, request, &job);
  } else {
    rwkv::v1::GetJobRequest request;
    request.set_id(p.positionals()[0]);
    s = stub->Get(&ctx, request, &job);
  }
  if (!s.ok()) return Fail(cmd, RpcError(s));
  PrintJob(job, c.json);
  return 0;
}

int List(const std::vector<std::string>& args) {
  constexpr char kCmd[] = "client jobs list";
  Common c;
  std::string state, kind;
  int64_t limit = 0;
  ArgParser p(kCmd, "--addr HOST:PORT [--state S] [--kind K] [--limit N] [--json]");
  AddCommon(p, c);
  p.AddString({"--state"}, &state, "queued | running | succeeded | failed | cancelled");
  p.AddString({"--kind"}, &kind, "convert | quantize | convert-state");
  p.AddInt({"--limit"}, &limit, "at most N jobs (default 100)");
  if (absl::Status s = p.Parse(args); !s.ok()) return Fail(kCmd, s);
  if (p.help_requested()) return std::printf("%s", p.Usage().c_str()), 0;
  if (c.addr.empty()) return Fail(kCmd, absl::InvalidArgumentError("--addr is required"));
  rwkv::v1::ListJobsRequest request;
  if (!state.empty()) {
    rwkv::v1::JobState st;
    if (!rwkv::v1::JobState_Parse("JOB_STATE_" + absl::AsciiStrToUpper(state), &st)) {
      return Fail(kCmd, absl::InvalidArgumentError(absl::StrCat("unknown --state ", state)));
    }
    request.add_states(st);
  }
  if (!kind.empty()) {
    absl::StatusOr<rwkv::v1::JobKind> k = ParseKind(kind);
    if (!k.ok()) return Fail(kCmd, k.status());
    request.set_kind(*k);
  }
  request.set_limit(static_cast<uint32_t>(std::max<int64_t>(0, limit)));
  grpc::ClientContext ctx;
  SetDeadline(ctx, c);
  rwkv::v1::ListJobsResponse response;
  if (grpc::Status s = Connect(c)->List(&ctx, request, &response); !s.ok()) {
    return Fail(kCmd, RpcError(s));
  }
  for (const Job& job : response.jobs()) {
    if (c.json) {
      PrintJob(job, true);
      continue;
    }
    std::printf("%-20s %-10s %-19s %s -> %s%s%s\n", job.id().c_str(),
                StateName(job.state()).c_str(), KindName(job.spec().kind()).c_str(),
                job.spec().input().c_str(), job.spec().output().c_str(),
                job.error().empty() ? "" : "  ", job.error().c_str());
  }
  return 0;
}

int Watch(const std::vector<std::string>& args) {
  constexpr char kCmd[] = "client jobs watch";
  Common c;
  ArgParser p(kCmd, "ID --addr HOST:PORT [--json]");
  AddCommon(p, c);
  if (absl::Status s = p.Parse(args); !s.ok()) return Fail(kCmd, s);
  if (p.help_requested()) return std::printf("%s", p.Usage().c_str()), 0;
  if (c.addr.empty() || p.positionals().size() != 1) {
    return Fail(kCmd, absl::InvalidArgumentError("expected one job ID and --addr"));
  }
  return Follow(c, p.positionals()[0], kCmd);
}

}  // namespace

int RunClientJobs(const std::vector<std::string>& args) {
  const std::string sub = args.empty() ? "" : args[0];
  const std::vector<std::string> rest(args.begin() + (args.empty() ? 0 : 1), args.end());
  if (sub == "submit") return Submit(rest);
  if (sub == "get") return GetOrCancel(rest, false);
  if (sub == "cancel") return GetOrCancel(rest, true);
  if (sub == "list") return List(rest);
  if (sub == "watch") return Watch(rest);
  return Fail("client jobs", absl::InvalidArgumentError(absl::StrCat(
                                 "expected submit, get, list, cancel or watch, got '", sub, "'")));
}

}  // namespace rwkv::cli
