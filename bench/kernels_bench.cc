// CPU kernel benchmarks on the shapes of the 1.6B model (C 2048, F 7168): matrix-vector
// products from memory and from cache, the many-column GEMM, WKV6. Run with
// --benchmark_counters_tabular=true; "bytes_per_second" is weight bytes, "MACs" multiply-adds
// per second of CPU time (the CPU-time column is robust on a shared machine). The last
// argument of each product benchmark is the kernel table (Isa: 0 scalar, 1 avx2, 2 avx512);
// a table this CPU cannot run reports an error instead of a time.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/thread_pool.h"
#include "rwkv/engine/quant.h"

namespace rwkv::engine::cpu {
namespace {

const GgmlType kTypes[] = {GgmlType::kF16,  GgmlType::kBF16, GgmlType::kQ8_0, GgmlType::kQ5_1,
                           GgmlType::kQ5_0, GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ4_K,
                           GgmlType::kQ5_K, GgmlType::kQ6_K, GgmlType::kF32};

struct Weights {
  std::vector<uint8_t> bytes;
  backend::WeightView view;
};

// rows × k weights of `type`; the same quantized row is repeated (content does not change
// the speed of these kernels, quantizing 100+ MB would dominate start-up).
Weights MakeWeights(GgmlType type, int64_t rows, int64_t k) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> f(k);
  for (float& v : f) v = normal(rng);
  Weights w;
  const uint64_t rb = RowBytes(type, k);
  std::vector<uint8_t> row(rb);
  (void)::rwkv::engine::QuantizeRow(type, f.data(), row.data(), k);
  w.bytes.resize(rb * rows);
  for (int64_t r = 0; r < rows; ++r) std::copy(row.begin(), row.end(), w.bytes.begin() + r * rb);
  w.view = {type, k, rows, rb, w.bytes.data()};
  return w;
}

enum class Path { kTable, kDotOnly, kGemmOnly };

void RunProduct(benchmark::State& state, GgmlType type, int64_t rows, int64_t k, int64_t n,
                int threads, Isa isa, Path path = Path::kTable,
                Precision precision = Precision::kExact) {
  const KernelTable* table = KernelsFor(isa);
  KernelTable forced;
  if (table != nullptr && path != Path::kTable) {
    forced = *table;
    if (path == Path::kDotOnly) forced.gemm_panel = nullptr;
    if (path == Path::kGemmOnly) forced.types[static_cast<uint32_t>(type)].gemm_min_cols = 1;
    table = &forced;
  }
  if (table == nullptr || !CpuSupports(isa)) {
    state.SkipWithError("kernel table not available");
    return;
  }
  Weights w = MakeWeights(type, rows, k);
  std::vector<float> x(n * k), y(n * rows);
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : x) v = normal(rng);
  ThreadPool pool(threads);
  MatMulScratch scratch;
  for (auto _ : state) {
    MatMul(pool, *table, w.view, x.data(), k, n, y.data(), rows, backend::Epilogue::kNone, false,
           scratch, precision);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * w.bytes.size()));
  state.counters["MACs"] = benchmark::Counter(static_cast<double>(rows * k * n),
                                              benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(GgmlTypeName(type)) + " " + std::string(IsaName(isa)) + " " +
                 std::string(PrecisionName(precision)));
}

// Decode from memory: 128 MB-ish of weights, one column, one thread.
void BM_MatVecMemory(benchmark::State& state) {
  const GgmlType type = kTypes[state.range(0)];
  const int64_t k = 2048;
  const int64_t rows = (int64_t{160} << 20) / static_cast<int64_t>(RowBytes(type, k));
  RunProduct(state, type, rows, k, 1, static_cast<int>(state.range(1)),
             static_cast<Isa>(state.range(2)));
}
BENCHMARK(BM_MatVecMemory)
    ->ArgsProduct({benchmark::CreateDenseRange(0, 10, 1), {1, 2}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Decode from cache (compute bound): a 512 × 2048 matrix, one column, one thread.
void BM_MatVecCache(benchmark::State& state) {
  RunProduct(state, kTypes[state.range(0)], 512, 2048, 1, 1, static_cast<Isa>(state.range(1)));
}
BENCHMARK(BM_MatVecCache)
    ->ArgsProduct({benchmark::CreateDenseRange(0, 10, 1), {0, 1, 2}})
    ->Unit(benchmark::kMicrosecond);

// Batched decode / prompt chunks: 2048 × 2048 weights against 4 to 512 columns, on the path
// the table picks (GEMM from its gemm_min_cols on).
void BM_Gemm(benchmark::State& state) {
  RunProduct(state, kTypes[state.range(0)], 2048, 2048, state.range(1), 1,
             static_cast<Isa>(state.range(2)));
}
BENCHMARK(BM_Gemm)
    ->ArgsProduct({{0, 2, 3, 5, 7, 9}, {4, 8, 16, 32, 64, 128, 512}, {1, 2}})
    ->Unit(benchmark::kMillisecond);

// The same products on the row-by-row dot kernels (no GEMM), for the crossover.
void BM_DotCols(benchmark::State& state) {
  RunProduct(state, kTypes[state.range(0)], 2048, 2048, state.range(1), 1,
             static_cast<Isa>(state.range(2)), Path::kDotOnly);
}
BENCHMARK(BM_DotCols)
    ->ArgsProduct({{0, 2, 3, 5, 7}, {1, 4, 8, 16, 32, 64, 128}, {1, 2}})
    ->Unit(benchmark::kMillisecond);

// The same products always on the GEMM: with BM_DotCols, where the crossover lies.
void BM_GemmOnly(benchmark::State& state) {
  RunProduct(state, kTypes[state.range(0)], 2048, 2048, state.range(1), 1,
             static_cast<Isa>(state.range(2)), Path::kGemmOnly);
}
BENCHMARK(BM_GemmOnly)
    ->ArgsProduct({{0, 2, 3, 5, 7}, {4, 8, 16, 32, 64, 128}, {1, 2}})
    ->Unit(benchmark::kMillisecond);

// Precision::kFast: the same products on the 8-bit kernels (Q8 activations), 1 to 512
// columns, for comparison with BM_Gemm.
void BM_GemmFast(benchmark::State& state) {
  RunProduct(state, kTypes[state.range(0)], 2048, 2048, state.range(1), 1,
             static_cast<Isa>(state.range(2)), Path::kTable, Precision::kFast);
}
BENCHMARK(BM_GemmFast)
    ->ArgsProduct({{2, 3, 5, 6, 7, 8, 9}, {1, 4, 8, 16, 64, 512}, {1, 3, 2}})
    ->Unit(benchmark::kMillisecond);

// Decode from memory on the 8-bit kernels.
void BM_MatVecMemoryFast(benchmark::State& state) {
  const GgmlType type = kTypes[state.range(0)];
  const int64_t k = 2048;
  const int64_t rows = (int64_t{160} << 20) / static_cast<int64_t>(RowBytes(type, k));
  RunProduct(state, type, rows, k, 1, static_cast<int>(state.range(1)),
             static_cast<Isa>(state.range(2)), Path::kTable, Precision::kFast);
}
BENCHMARK(BM_MatVecMemoryFast)
    ->ArgsProduct({{2, 3, 5, 6, 7, 8, 9}, {1, 2}, {1, 3, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Batched decode from memory on the 8-bit kernels: 160 MB of weights against 1 to 64 columns
// (where the weight stream and the products take about as long).
void BM_GemmFastMemory(benchmark::State& state) {
  const GgmlType type = kTypes[state.range(0)];
  const int64_t k = 2048;
  const int64_t rows = (int64_t{160} << 20) / static_cast<int64_t>(RowBytes(type, k));
  RunProduct(state, type, rows, k, state.range(1), static_cast<int>(state.range(2)), Isa::kAvx512,
             Path::kTable, Precision::kFast);
}
BENCHMARK(BM_GemmFastMemory)
    ->ArgsProduct({{2, 5}, {1, 8, 16, 32, 64}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_Wkv6(benchmark::State& state) {
  const Isa isa = state.range(1) == 0 ? Isa::kAvx2 : Isa::kScalar;
  const KernelTable* table = KernelsFor(isa);
  if (table == nullptr || !CpuSupports(isa)) {
    state.SkipWithError("kernel table not available");
    return;
  }
  const int64_t t = state.range(0), h = 32, s = 64, c = h * s;
  std::vector<float> r(t * c, 0.1f), k(t * c, 0.2f), v(t * c, 0.3f), w(t * c, 0.9f), u(c, 0.5f),
      st(c * s, 0.0f), y(t * c);
  for (auto _ : state) {
    table->wkv6(t, h, s, r.data(), k.data(), v.data(), w.data(), c, u.data(), st.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * t);
}
BENCHMARK(BM_Wkv6)->ArgsProduct({{1, 64}, {0, 1}})->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace rwkv::engine::cpu
