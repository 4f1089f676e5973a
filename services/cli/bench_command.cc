// rwkv bench: prompt-processing and generation speed like llama-bench, plus the machine's
// memory-read bandwidth measured in the same run and the decode roofline it implies
// (bandwidth ÷ weight bytes read per token), and the peak resident memory of the runs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rwkv/engine/devices.h"
#include "rwkv/engine/model.h"
#include "services/cli/args.h"
#include "services/cli/backend_choice.h"
#ifndef RWKV_CLI_WITHOUT_GRPC
#include "services/cli/bench_server.h"
#endif
#include "services/cli/command.h"

namespace rwkv::cli {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Peak resident set (VmHWM) of this process in bytes, 0 when /proc is unavailable.
uint64_t PeakRssBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    unsigned long long kb = 0;
    if (std::sscanf(line.c_str(), "VmHWM: %llu kB", &kb) == 1) return kb * 1024;
  }
  return 0;
}

// Restarts the peak-RSS count (Linux: "5" to clear_refs), so that the bandwidth buffer,
// measured before the model is loaded, does not count as the model's peak.
void ResetPeakRss() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
}

uint64_t FileBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  return f ? static_cast<uint64_t>(f.tellg()) : 0;
}

// Multi-threaded read of a buffer far larger than the caches (integer sum, so the compiler
// vectorizes it without reassociation concerns); best of `reps` passes, GB/s (1e9 bytes).
double MeasureReadBandwidth(int threads, uint64_t bytes, int reps) {
  const uint64_t words = bytes / 8;
  std::unique_ptr<uint64_t[]> buf(new uint64_t[words]);
  std::vector<std::thread> pool;
  // First touch in parallel, so the pages are spread like the model's would be.
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      const uint64_t b = words * t / threads, e = words * (t + 1) / threads;
      for (uint64_t i = b; i < e; ++i) buf[i] = i * 2654435761u;
    });
  }
  for (auto& th : pool) th.join();
  double best = 0;
  std::vector<uint64_t> sums(threads);
  for (int r = 0; r < reps; ++r) {
    pool.clear();
    const auto start = Clock::now();
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        const uint64_t b = words * t / threads, e = words * (t + 1) / threads;
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        uint64_t i = b;
        for (; i + 4 <= e; i += 4) {
          s0 += buf[i];
          s1 += buf[i + 1];
          s2 += buf[i + 2];
          s3 += buf[i + 3];
        }
        for (; i < e; ++i) s0 += buf[i];
        sums[t] = s0 + s1 + s2 + s3;
      });
    }
    for (auto& th : pool) th.join();
    const double s = Seconds(start, Clock::now());
    best = std::max(best, static_cast<double>(words * 8) / s / 1e9);
  }
  volatile uint64_t sink = 0;
  for (uint64_t s : sums) sink = sink + s;
  return best;
}

struct BenchResult {
  double pp_tok_s = 0;
  double tg_tok_s = 0;
};

// One repetition: a p-token prompt for sequence 0 (timed as pp), then n decode steps for
// `batch` sequences together (timed as tg, aggregate tokens/s).
absl::StatusOr<BenchResult> RunOnce(engine::Model& model, int64_t p, int64_t n, int64_t batch) {
  const uint32_t V = model.config().n_vocab;
  BenchResult r;
  std::vector<engine::RecurrentState> states(batch, model.NewState());
  std::vector<float> logits(static_cast<size_t>(batch) * V);
  auto token = [&](int64_t i) { return static_cast<int32_t>((i * 7919 + 13) % V); };
  if (p > 0) {
    std::vector<int32_t> prompt(p);
    for (int64_t i = 0; i < p; ++i) prompt[i] = token(i);
    engine::SequenceInput in{&states[0], prompt, engine::LogitsMode::kLast, logits.data()};
    const auto start = Clock::now();
    if (absl::Status s = model.Evaluate(std::span<const engine::SequenceInput>(&in, 1)); !s.ok()) {
      return s;
    }
    r.pp_tok_s = static_cast<double>(p) / Seconds(start, Clock::now());
  }
  if (n > 0) {
    std::vector<int32_t> next(batch);
    std::vector<engine::SequenceInput> inputs(batch);
    const auto start = Clock::now();
    for (int64_t step = 0; step < n; ++step) {
      for (int64_t b = 0; b < batch; ++b) {
        next[b] = token(step * batch + b + 1);
        inputs[b] = {&states[b], std::span<const int32_t>(&next[b], 1), engine::LogitsMode::kLast,
                     logits.data() + b * V};
      }
      if (absl::Status s = model.Evaluate(inputs); !s.ok()) return s;
    }
    r.tg_tok_s = static_cast<double>(n * batch) / Seconds(start, Clock::now());
  }
  // States kept on a GPU go back to their host objects before those are destroyed.
  if (absl::Status s = model.SyncStates(); !s.ok()) return s;
  return r;
}

int RunBench(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
#ifndef RWKV_CLI_WITHOUT_GRPC
    if (a == "--server" || a.rfind("--server=", 0) == 0) return RunBenchServer(args);
#endif
  }
  std::string model_path, backend, precision_name = "exact";
  int64_t p = 512, n = 128, threads = 0, batch = 1, reps = 1, bw_mib = 512, device = 0;
  int64_t gpu_layers = -1, ubatch = 0;
  bool json = false;
  ArgParser parser("bench",
                   "rwkv bench -m M.gguf [-p 512] [-n 128] [-t N] [--batch B] [-r R] [--json]");
  parser.AddString({"-m", "--model"}, &model_path, "GGUF model");
  parser.AddInt({"-p", "--n-prompt"}, &p, "prompt tokens (default 512; 0 skips)");
  parser.AddInt({"-n", "--n-gen"}, &n, "generated tokens per sequence (default 128; 0 skips)");
  parser.AddInt({"-t", "--threads"}, &threads, "threads (default: all cores)");
  parser.AddInt({"--batch"}, &batch, "sequences decoding together (default 1)");
  parser.AddInt({"-r", "--repetitions"}, &reps, "repetitions, averaged (default 1)");
  parser.AddInt({"--bandwidth-mib"}, &bw_mib, "buffer for the bandwidth test (default 512)");
  parser.AddString({"--backend"}, &backend,
                   "cpu | cuda | vulkan (default cpu, or the GPU with -ngl)");
  parser.AddInt({"-ub", "--ubatch-size"}, &ubatch,
                "tokens per forward step (default: the engine's, 256)");
  parser.AddInt({"--device"}, &device,
                "device index for a GPU backend (see `rwkv devices`; default 0)");
  parser.AddInt({"-ngl", "--gpu-layers", "--n-gpu-layers"}, &gpu_layers,
                "N > 0 runs on the GPU backend when one is present");
  parser.AddString(
      {"--precision"}, &precision_name,
      "exact | fast: fast multiplies Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/Q4_K/Q5_K weights by 8-bit "
      "activations on the CPU (default exact)");
  parser.AddFlag({"--json"}, &json, "print one JSON object");
  if (absl::Status s = parser.Parse(args); !s.ok()) return Fail("bench", s);
  if (parser.help_requested()) {
    std::printf("%s", parser.Usage().c_str());
    return 0;
  }
  if (model_path.empty()) return Fail("bench", absl::InvalidArgumentError("-m is required"));
  if (p < 0 || n < 0 || batch < 1 || reps < 1 || threads < 0 || bw_mib < 1 || ubatch < 0) {
    return Fail("bench", absl::InvalidArgumentError(
                             "-p, -n, -t must be >= 0 and --batch, -r, --bandwidth-mib >= 1"));
  }
  const absl::StatusOr<engine::Precision> precision = engine::ParsePrecision(precision_name);
  if (!precision.ok()) return Fail("bench", precision.status());
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  backend = ChooseBackend("bench", backend, gpu_layers);
  // On a GPU backend with a device probe (CUDA) the roofline's bandwidth is the device
  // memory's, read by a kernel; elsewhere (CPU, and Vulkan for now) host memory's, and the
  // output says which.
  bool device_bandwidth = false;
  auto measure_bandwidth = [&](uint64_t bytes) {
    const double gpu = engine::MeasureDeviceReadBandwidth(backend, static_cast<int>(device),
                                                          std::max<uint64_t>(bytes, 1ull << 30));
    device_bandwidth = gpu > 0;
    return gpu > 0 ? gpu : MeasureReadBandwidth(static_cast<int>(threads), bytes, 3);
  };

  // Bandwidth before the model is loaded and after it is released, so that the buffer
  // never adds to the model's peak memory; the larger of the two is the roofline's
  // denominator, so a machine that got busier during the run does not flatter the result.
  const uint64_t bw_bytes = static_cast<uint64_t>(bw_mib) << 20;
  const double bw_before = measure_bandwidth(bw_bytes);
  ResetPeakRss();

  engine::ModelOptions options;
  options.threads = static_cast<int>(threads);
  options.backend = backend;
  options.device = static_cast<int>(device);
  options.keep_states_on_device = true;
  options.precision = *precision;
  if (ubatch > 0)
    options.max_step_tokens =
        static_cast<int>(ubatch);  // a decode loop over the same states, as a server runs
  const auto load_start = Clock::now();
  absl::StatusOr<std::unique_ptr<engine::Model>> model = engine::Model::Load(model_path, options);
  if (!model.ok()) return Fail("bench", model.status());
  const double load_s = Seconds(load_start, Clock::now());

  // Warm-up: page the weights in and start the thread pool.
  if (absl::StatusOr<BenchResult> w = RunOnce(**model, 8, 2, 1); !w.ok()) {
    return Fail("bench", w.status());
  }
  BenchResult sum;
  for (int64_t r = 0; r < reps; ++r) {
    absl::StatusOr<BenchResult> one = RunOnce(**model, p, n, batch);
    if (!one.ok()) return Fail("bench", one.status());
    sum.pp_tok_s += one->pp_tok_s / static_cast<double>(reps);
    sum.tg_tok_s += one->tg_tok_s / static_cast<double>(reps);
  }
  const uint64_t peak_rss = PeakRssBytes();
  const uint64_t file_bytes = FileBytes(model_path);
  const uint64_t state_bytes = static_cast<uint64_t>(batch) * (*model)->NewState().bytes();
  const uint64_t wbytes = (*model)->weight_bytes_per_token();
  const engine::ModelConfig c = (*model)->config();
  const std::string backend_description = (*model)->backend_description();
  model->reset();
  const double bw = std::max(bw_before, measure_bandwidth(bw_bytes));
  const double roofline = bw * 1e9 / static_cast<double>(wbytes);
  const double single_roofline_pct = batch == 1 && n > 0 ? 100.0 * sum.tg_tok_s / roofline : 0;
  const double mb = 1e6;

  if (json) {
    std::printf(
        "{\"model\": \"%s\", \"backend\": \"%s\", \"precision\": \"%s\", \"n_embd\": %u, "
        "\"n_layer\": %u, "
        "\"n_vocab\": %u, \"threads\": %lld, \"batch\": %lld, \"n_prompt\": %lld, "
        "\"n_gen\": %lld, \"repetitions\": %lld, \"load_s\": %.3f, \"pp_tok_s\": %.3f, "
        "\"tg_tok_s\": %.3f, \"weight_bytes_per_token\": %llu, "
        "\"read_bandwidth_gb_s\": %.3f, \"bandwidth_of\": \"%s\", \"roofline_tok_s\": %.3f, "
        "\"tg_percent_of_roofline\": %.1f, \"peak_rss_mb\": %.1f, \"file_mb\": %.1f, "
        "\"state_mb\": %.1f}\n",
        model_path.c_str(), backend_description.c_str(),
        std::string(engine::PrecisionName(*precision)).c_str(), c.n_embd, c.n_layer, c.n_vocab,
        static_cast<long long>(threads), static_cast<long long>(batch), static_cast<long long>(p),
        static_cast<long long>(n), static_cast<long long>(reps), load_s, sum.pp_tok_s, sum.tg_tok_s,
        static_cast<unsigned long long>(wbytes), bw,
        device_bandwidth ? "device memory" : "host memory", roofline,
        batch == 1 ? single_roofline_pct : 100.0 * sum.tg_tok_s / roofline,
        static_cast<double>(peak_rss) / mb, static_cast<double>(file_bytes) / mb,
        static_cast<double>(state_bytes) / mb);
    return 0;
  }
  std::printf("model: %s (n_embd %u, n_layer %u, n_vocab %u), %s\n", model_path.c_str(), c.n_embd,
              c.n_layer, c.n_vocab, backend_description.c_str());
  std::printf(
      "weight_bytes_per_token: %llu (%.1f MB); read_bandwidth: %.2f GB/s (%s); "
      "roofline: %.2f tok/s\n",
      static_cast<unsigned long long>(wbytes), static_cast<double>(wbytes) / 1e6, bw,
      device_bandwidth ? "device memory" : "host memory", roofline);
  std::printf("peak_rss: %.1f MB (file %.1f MB, states %.1f MB)\n",
              static_cast<double>(peak_rss) / mb, static_cast<double>(file_bytes) / mb,
              static_cast<double>(state_bytes) / mb);
  std::printf("| test | batch | t/s | %% of roofline |\n|---|--:|--:|--:|\n");
  if (p > 0) std::printf("| pp%lld | 1 | %.2f | |\n", static_cast<long long>(p), sum.pp_tok_s);
  if (n > 0) {
    std::printf("| tg%lld | %lld | %.2f | %.1f%% |\n", static_cast<long long>(n),
                static_cast<long long>(batch), sum.tg_tok_s, 100.0 * sum.tg_tok_s / roofline);
  }
  return 0;
}

}  // namespace

RWKV_CLI_COMMAND("bench", "prompt and generation tokens/s, bandwidth roofline", RunBench);

}  // namespace rwkv::cli
