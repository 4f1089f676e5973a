// rwkv-converter QUANTIZE jobs with an evaluation text: the artifact and its manifest carry the
// perplexity of source and result and their KL divergence, equal to what `rwkv perplexity`
// computes on the same files; a bad eval_text is refused at submit or fails the job before
// anything is written. Runs on the shipped tiny model (tests/data).
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "integration/converter_process.h"
#include "nlohmann/json.hpp"
#include "support/test_paths.h"

namespace rwkv::testing {
namespace {

namespace fs = std::filesystem;
using rwkv::v1::Job;

std::string MakeText(size_t n) {
  const std::string words[] = {"quantized ", "models ", "keep ", "most ", "of ", "their ",
                               "quality, ",  "but ",    "not ",  "all. ", "42 ", "\n"};
  std::string s;
  uint32_t x = 7;
  while (s.size() < n) {
    x = x * 1103515245u + 12345u;
    s += words[(x >> 16) % 12];
  }
  s.resize(n);
  return s;
}

class ConverterQualityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string model = DataPath("tiny-rwkv6-r/tiny-rwkv6-r-f32.gguf");
    if (!fs::exists(BinDir() + "/rwkv-converter")) GTEST_SKIP() << "rwkv-converter not built";
    if (!fs::exists(BinDir() + "/rwkv")) GTEST_SKIP() << "rwkv not built";
    RWKV_SKIP_WITHOUT_DATA(model);
    work_ = MakeTempDir("converter-quality");
    root_ = work_ / "root";
    for (const char* dir : {"checkpoints", "models", "states", "eval"}) {
      fs::create_directories(root_ / dir);
    }
    fs::copy_file(model, root_ / "models/tiny-r-f32.gguf");
    std::ofstream(root_ / "eval/text.txt", std::ios::binary) << MakeText(4 * 64 + 9);
    std::ofstream(root_ / "eval/short.txt", std::ios::binary) << MakeText(100);
    server_ = std::make_unique<ConverterProcess>(root_.string(), work_.string(),
                                                 std::vector<std::string>{});
    ASSERT_TRUE(server_->Start()) << server_->Log();
  }

  rwkv::v1::JobSpec QuantizeSpec(const std::string& out, const std::string& text) const {
    rwkv::v1::JobSpec spec;
    spec.set_kind(rwkv::v1::JOB_KIND_QUANTIZE);
    spec.set_input("models/tiny-r-f32.gguf");
    spec.set_output(out);
    spec.set_quant_type("Q8_0");
    spec.set_eval_text(text);
    spec.set_eval_ctx(64);
    return spec;
  }

  grpc::Status Submit(const rwkv::v1::JobSpec& spec, Job* job) {
    grpc::ClientContext ctx;
    rwkv::v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    return server_->Jobs()->Submit(&ctx, request, job);
  }

  Job WatchToEnd(const std::string& id) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(300));
    rwkv::v1::WatchJobRequest request;
    request.set_id(id);
    auto reader = server_->Jobs()->Watch(&ctx, request);
    Job job, last;
    while (reader->Read(&job)) last = job;
    EXPECT_TRUE(reader->Finish().ok());
    return last;
  }

  // `rwkv perplexity ARGS --json`, parsed.
  nlohmann::json Perplexity(const std::string& args, const std::string& tag) {
    const std::string out = (work_ / (tag + ".json")).string();
    std::string ignored;
    const int rc = RunCommand(
        "(" + BinDir() + "/rwkv perplexity " + args + " --json > " + out + " 2> " + out + ".log)",
        &ignored);
    EXPECT_EQ(rc, 0) << ReadFileOrDie(out + ".log");
    return nlohmann::json::parse(ReadFileOrDie(out), nullptr, /*allow_exceptions=*/false);
  }

  fs::path work_, root_;
  std::unique_ptr<ConverterProcess> server_;
};

TEST_F(ConverterQualityTest, QuantizeWithEvalTextReportsPerplexityAndKld) {
  Job job;
  ASSERT_TRUE(Submit(QuantizeSpec("models/tiny-r-q8_0.gguf", "eval/text.txt"), &job).ok());
  job = WatchToEnd(job.id());
  ASSERT_EQ(job.state(), rwkv::v1::JOB_STATE_SUCCEEDED) << job.error();
  ASSERT_TRUE(job.artifact().has_quality());
  const rwkv::v1::QuantizationQuality& q = job.artifact().quality();
  EXPECT_EQ(q.eval_text(), "eval/text.txt");
  EXPECT_EQ(q.ctx(), 64u);
  EXPECT_EQ(q.chunks(), 4u);
  EXPECT_EQ(q.tokens_scored(), 4u * (64 - 1 - 32));
  EXPECT_GT(q.ppl_source(), 1.0);
  EXPECT_GT(q.ppl_source_error(), 0.0);
  EXPECT_GT(q.ppl_result(), 1.0);
  EXPECT_NEAR(q.ppl_result(), q.ppl_source(), 0.05 * q.ppl_source());
  EXPECT_GT(q.mean_kld(), 0.0);
  EXPECT_LT(q.mean_kld(), 0.01);
  EXPECT_GE(q.kld_p99(), q.mean_kld());
  EXPECT_GT(q.same_top_fraction(), 0.9);
  EXPECT_LE(q.same_top_fraction(), 1.0);
  // No evaluation leftovers.
  EXPECT_TRUE(!fs::exists(root_ / ".tmp/converter") || fs::is_empty(root_ / ".tmp/converter"));

  // The manifest holds the same figures.
  const nlohmann::json manifest = nlohmann::json::parse(
      ReadFileOrDie((root_ / "models/tiny-r-q8_0.gguf.manifest.json").string()), nullptr, false);
  ASSERT_TRUE(manifest.contains("quality")) << manifest.dump();
  const nlohmann::json& mq = manifest["quality"];
  EXPECT_DOUBLE_EQ(mq["ppl_source"].get<double>(), q.ppl_source());
  EXPECT_DOUBLE_EQ(mq["ppl_result"].get<double>(), q.ppl_result());
  EXPECT_DOUBLE_EQ(mq["mean_kld"].get<double>(), q.mean_kld());
  EXPECT_DOUBLE_EQ(mq["kld_p99"].get<double>(), q.kld_p99());
  EXPECT_DOUBLE_EQ(mq["same_top_fraction"].get<double>(), q.same_top_fraction());
  EXPECT_EQ(mq["tokens_scored"].get<uint64_t>(), q.tokens_scored());

  // `rwkv perplexity` on the same files gives the same numbers.
  const std::string text = (root_ / "eval/text.txt").string();
  const std::string src = (root_ / "models/tiny-r-f32.gguf").string();
  const std::string dst = (root_ / "models/tiny-r-q8_0.gguf").string();
  const std::string base = (work_ / "src.kld").string();
  const nlohmann::json ps =
      Perplexity("-m " + src + " -f " + text + " -c 64 --kl-divergence-base " + base, "src");
  const nlohmann::json pr = Perplexity("-m " + dst + " -f " + text + " -c 64", "dst");
  const nlohmann::json kl = Perplexity(
      "-m " + dst + " -f " + text + " --kl-divergence --kl-divergence-base " + base, "kld");
  EXPECT_NEAR(ps["ppl"].get<double>(), q.ppl_source(), 1e-9 * q.ppl_source());
  EXPECT_NEAR(ps["ppl_error"].get<double>(), q.ppl_source_error(), 1e-9 * q.ppl_source());
  EXPECT_NEAR(pr["ppl"].get<double>(), q.ppl_result(), 1e-9 * q.ppl_result());
  EXPECT_NEAR(pr["ppl_error"].get<double>(), q.ppl_result_error(), 1e-9 * q.ppl_result());
  EXPECT_NEAR(kl["kld"]["value"].get<double>(), q.mean_kld(), 1e-12);
  EXPECT_NEAR(kl["kld_percentiles"]["99"].get<double>(), q.kld_p99(), 1e-9);
  EXPECT_DOUBLE_EQ(kl["same_top"]["value"].get<double>(), q.same_top_fraction());

  // `rwkv client jobs get` prints the quality.
  std::string out;
  ASSERT_EQ(
      RunCommand(BinDir() + "/rwkv client jobs get " + job.id() + " --addr " + server_->Address(),
                 &out),
      0)
      << out;
  EXPECT_NE(out.find("quality:"), std::string::npos) << out;
  EXPECT_NE(out.find("mean KLD:"), std::string::npos) << out;
}

TEST_F(ConverterQualityTest, CliSubmitWithEvalFlags) {
  std::string out;
  ASSERT_EQ(
      RunCommand(BinDir() +
                     "/rwkv client jobs submit --kind quantize --input models/tiny-r-f32.gguf "
                     "--output models/cli-q4_0.gguf --type Q4_0 --eval-text eval/text.txt "
                     "--eval-ctx 64 --eval-chunks 2 --wait --addr " +
                     server_->Address(),
                 &out),
      0)
      << out;
  EXPECT_NE(out.find("state:    succeeded"), std::string::npos) << out;
  EXPECT_NE(out.find("eval:     eval/text.txt (ctx 64, chunks 2)"), std::string::npos) << out;
  EXPECT_NE(out.find("ctx 64, 2 chunks, 62 tokens scored"), std::string::npos) << out;
  EXPECT_NE(out.find("PPL source:"), std::string::npos) << out;
  EXPECT_NE(
      RunCommand(BinDir() +
                     "/rwkv client jobs submit --kind quantize --input models/tiny-r-f32.gguf "
                     "--output models/cli-bad.gguf --type Q4_0 --eval-text ../etc/passwd "
                     "--addr " +
                     server_->Address(),
                 &out),
      0);
  EXPECT_NE(out.find("INVALID_ARGUMENT"), std::string::npos) << out;
}

TEST_F(ConverterQualityTest, BadEvalTextIsRefusedOrFailsBeforeQuantizing) {
  Job job;
  grpc::Status s = Submit(QuantizeSpec("models/a.gguf", "eval/missing.txt"), &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  EXPECT_NE(s.error_message().find("eval_text"), std::string::npos) << s.error_message();
  s = Submit(QuantizeSpec("models/a.gguf", "../outside.txt"), &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  s = Submit(QuantizeSpec("models/a.gguf", (root_ / "eval/text.txt").string()), &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  rwkv::v1::JobSpec no_text = QuantizeSpec("models/a.gguf", "");
  s = Submit(no_text, &job);  // eval_ctx without eval_text
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  rwkv::v1::JobSpec big_ctx = QuantizeSpec("models/a.gguf", "eval/text.txt");
  big_ctx.set_eval_ctx(1u << 20);
  s = Submit(big_ctx, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();

  // Too short for eval_ctx 64 (needs 128 tokens): the job fails with nothing published.
  ASSERT_TRUE(Submit(QuantizeSpec("models/short.gguf", "eval/short.txt"), &job).ok());
  job = WatchToEnd(job.id());
  EXPECT_EQ(job.state(), rwkv::v1::JOB_STATE_FAILED);
  EXPECT_NE(job.error().find("eval_text eval/short.txt has 100 tokens"), std::string::npos)
      << job.error();
  EXPECT_NE(job.error().find("128"), std::string::npos) << job.error();
  EXPECT_FALSE(fs::exists(root_ / "models/short.gguf"));
}

}  // namespace
}  // namespace rwkv::testing
