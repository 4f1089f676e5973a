// CPU kernel tables: one per instruction set, chosen once at start-up (or by tests).
//
// Matrix products run row by row of the weight against up to kMaxCols (f32) or kMaxQ16Cols
// (Q16) activation columns at once, so every weight byte is read once per group of columns. Float
// weights (F32, F16, BF16) take f32 activations. On the SIMD tables the block-quantized types take
// activations quantized to 16-bit integers per 32-element block ("Q16": an f32 scale d per block,
// the values q = round(x/d) in [-32767, 32767], and s = d·Σq), which keeps the relative error of a
// dot product near 1e-5 while the products run as int16 multiply-adds. The scalar table is the
// exact oracle: every type takes f32 activations and dequantizes the weight.
#pragma once

#include <cstdint>
#include <string_view>

#include "backend/backend.h"
#include "rwkv/engine/ggml_types.h"

namespace rwkv::engine::cpu {

// kAvxVnni: the AVX2 table with the 8-bit products on AVX-VNNI's vpdpbusd (CPUs with AVX-VNNI
// but no AVX-512).
enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2, kAvxVnni = 3 };

std::string_view IsaName(Isa isa);
// Whether this CPU can run `isa` (kScalar always).
bool CpuSupports(Isa isa);

inline constexpr int kMaxCols = 4;
// Q16 dot kernels take up to this many columns: they unpack each weight block once for all.
inline constexpr int kMaxQ16Cols = 8;
inline constexpr int64_t kQ16Block = 32;

enum class ActFormat { kF32, kQ16 };

// One activation column in Q16 form: k/32 blocks.
struct Q16View {
  const int16_t* q = nullptr;  // k values
  const float* d = nullptr;    // k/32 scales
  const float* s = nullptr;    // k/32 values d·Σq
};

// out[r·n_cols + c] = Σ_i row_r[i]·x_c[i] for r < n_rows and c < n_cols (1..kMaxCols for
// DotF32Fn, 1..kMaxQ16Cols for DotQ16Fn):
// `rows` holds n_rows weight rows of k elements in the table's type, row_bytes apart.
using DotF32Fn = void (*)(const uint8_t* rows, uint64_t row_bytes, int64_t n_rows, int64_t k,
                          const float* const* x, int n_cols, float* out);
using DotQ16Fn = void (*)(const uint8_t* rows, uint64_t row_bytes, int64_t n_rows, int64_t k,
                          const Q16View* x, int n_cols, float* out);

// Dequantizes elements [k0, k0 + count) of one weight row to f32; k0 and count are
// multiples of the type's block size.
using DequantRangeFn = void (*)(const uint8_t* row, int64_t k0, int64_t count, float* out);

// Precision::kFast: activations quantized to 8 bits per 32-element block ("Q8": an f32 scale
// d per block, q = round(x/d) in [-127, 127], and s = d·Σq), multiplied by the weights' own
// 8-bit (Q8_0) or 4/5-bit (Q4_0, Q4_1, Q5_0, Q5_1) quants with integer dot products, like
// llama.cpp's Q8_0/Q8_1 activations. Every block's integer sum is exact; only the activation
// rounding (relative error up to 1/254 per element) differs from the exact path.
inline constexpr int64_t kQ8Block = 32;
// Q8 dot kernels take up to this many columns at once.
inline constexpr int kMaxQ8Cols = 8;

struct Q8View {
  const int8_t* q = nullptr;  // k values
  const float* d = nullptr;   // k/32 scales
  const float* s = nullptr;   // k/32 values d·Σq
};

using DotQ8Fn = void (*)(const uint8_t* rows, uint64_t row_bytes, int64_t n_rows, int64_t k,
                         const Q8View* x, int n_cols, float* out);

// Precision::kFast on many columns, the "lane" GEMM: the Q8 activations of kQ8Lanes columns are
// interleaved so that one 512-bit vector holds four consecutive values of every column, and a
// task first unpacks its weight rows to unsigned bytes u (weight = scale·u + min). vpdpbusd of
// a broadcast quad of u and that vector then sums a block for all kQ8Lanes columns in int32
// lanes: per block and row, eight products, one conversion and two float operations serve
// kQ8Lanes columns, with no horizontal sums.
inline constexpr int kQ8Lanes = 16;
// Rows per call of the lane kernel.
inline constexpr int kQ8LaneRows = 8;

// kQ8Lanes interleaved activation columns (columns past the real ones are zero).
struct Q8LaneGroup {
  const int8_t* q = nullptr;      // [k/32][8][kQ8Lanes][4]: quad g of block b of every column
  const int32_t* init = nullptr;  // [k/32][kQ8Lanes]: each block's integer sum starts here
  const float* d = nullptr;       // [k/32][kQ8Lanes]
  const float* s = nullptr;       // [k/32][kQ8Lanes]
};

// One weight row of k elements (k % 32 == 0) as k unsigned bytes u and, per block, scale and
// min with weight = scale·u + min.
using UnpackQ8Fn = void (*)(const uint8_t* row, int64_t k, uint8_t* u, float* scale, float* min);

// For r < n_rows (1..kQ8LaneRows) and c < kQ8Lanes, with u rows k bytes apart and scale/min
// rows k/32 apart:
// out[r·kQ8Lanes + c] = Σ_b scale[r][b]·d[b][c]·(init[b][c] + Σ_i u[r][32b+i]·q_c[32b+i])
//                       (+ min[r][b]·s[b][c] when min is not null);
// meanwhile prefetches the fetch_bytes at `fetch` (the weights of the next call), spread over
// the blocks.
using GemmQ8LanesFn = void (*)(const uint8_t* u, const float* scale, const float* min, int n_rows,
                               int64_t k, const Q8LaneGroup& x, float* out, const uint8_t* fetch,
                               int64_t fetch_bytes);

struct TypeKernels {
  // Precision::kFast: set for the types with an 8-bit product (the legacy block types); the
  // others run as under kExact.
  DotQ8Fn dot_q8 = nullptr;
  // The lane GEMM's weight unpacker, set with dot_q8 on tables with a lane GEMM. When
  // q8_offset is not 0 every block's min is -q8_offset·scale: the product then folds it into
  // the integer sums (init = -q8_offset·Σq) instead of a float term per block.
  UnpackQ8Fn unpack_q8 = nullptr;
  int q8_offset = 0;
  ActFormat act = ActFormat::kF32;
  DotF32Fn dot_f32 = nullptr;        // set when act == kF32
  DotQ16Fn dot_q16 = nullptr;        // set when act == kQ16
  DequantRangeFn dequant = nullptr;  // set on tables with a GEMM tile
  int gemm_min_cols = 0;             // use the GEMM from this many columns on (0: never)
};

// Matrix products over many columns run as a GEMM: a task dequantizes kGemmPanelRows weight
// rows to f32, a chunk of the reduced dimension at a time, packs them k-major into a panel
// ([k][16]: two vectors per k) and multiplies the panel exactly (f32 FMA) by broadcast
// activations, kGemmPanelCols columns at a time, accumulating in registers: no horizontal
// sums, and every loaded weight vector feeds kGemmPanelCols FMAs.
inline constexpr int kGemmPanelRows = 16;
inline constexpr int kGemmPanelCols = 6;
// Packs n_rows (<= kGemmPanelRows) row-major rows of kc floats into panel[kc][16]; rows
// n_rows..15 of the panel are zero.
using PackPanelFn = void (*)(const float* rows, int64_t kc, int n_rows, float* panel);
// acc[c·16 + r] += Σ_{i<kc} panel[i·16 + r]·x[c][i] for c < n_cols (1..kGemmPanelCols).
using GemmPanelFn = void (*)(const float* panel, int64_t kc, const float* const* x, int n_cols,
                             float* acc);

// WKV6 over T tokens of one sequence (docs/engine/forward-pass.md, "WKV6"): r, k, v, w and y are
// T rows `stride` floats apart, H·S columns; u is [H][S]; state is [H][S key][S value] and
// is updated in place.
using Wkv6Fn = void (*)(int64_t t, int64_t h, int64_t s, const float* r, const float* k,
                        const float* v, const float* w, int64_t stride, const float* u,
                        float* state, float* y);

using EpilogueRunFn = void (*)(backend::Epilogue epilogue, bool accumulate, const float* src,
                               int64_t count, float* dst);

struct KernelTable {
  Isa isa = Isa::kScalar;
  TypeKernels types[kGgmlTypeCount];
  // Quantizes k floats (k % 32 == 0) to Q16 blocks.
  void (*quantize_q16)(const float* x, int64_t k, int16_t* q, float* d, float* s) = nullptr;
  // Precision::kFast: from this many columns on, the exact f32 GEMM instead of the 8-bit
  // products (0: never).
  int q8_gemm_cols = 0;
  // Quantizes k floats (k % 32 == 0) to Q8 blocks.
  void (*quantize_q8)(const float* x, int64_t k, int8_t* q, float* d, float* s) = nullptr;
  // Precision::kFast: the lane GEMM, used from q8_lanes_min_cols columns on (null: never).
  GemmQ8LanesFn gemm_q8_lanes = nullptr;
  int q8_lanes_min_cols = 0;
  Wkv6Fn wkv6 = nullptr;
  // dst[i] (+)= epilogue(src[i]) for i < count; null: the scalar ApplyEpilogue per element.
  EpilogueRunFn epilogue_run = nullptr;
  // Null on tables without a GEMM: every product then runs on the dot kernels.
  PackPanelFn pack_panel = nullptr;
  GemmPanelFn gemm_panel = nullptr;

  const TypeKernels& For(GgmlType type) const { return types[static_cast<uint32_t>(type)]; }
};

// The table for `isa`, or nullptr when it is not compiled into this build.
const KernelTable* KernelsFor(Isa isa);
// The best table this CPU supports; decided once.
const KernelTable& BestKernels();

// Types every table can multiply.
bool IsSupportedWeightType(GgmlType type);

// Scalar dequantization of one row of k elements (any supported type).
void DequantizeRow(GgmlType type, const uint8_t* row, float* out, int64_t k);

// Reference quantizer for Q16 (round half away from zero), shared by every table.
void QuantizeQ16Scalar(const float* x, int64_t k, int16_t* q, float* d, float* s);

// Reference quantizer for Q8 (round half away from zero), shared by every table.
void QuantizeQ8Scalar(const float* x, int64_t k, int8_t* q, float* d, float* s);

// Table builders, one per translation unit.
void FillScalarKernels(KernelTable& table);
void FillAvx2Kernels(KernelTable& table);   // only where RWKV_HAVE_X86_VARIANTS
void FillAvx2Gemm(KernelTable& table);      // only where RWKV_HAVE_X86_VARIANTS
void FillAvx2Epilogue(KernelTable& table);  // only where RWKV_HAVE_X86_VARIANTS
// Replaces entries of a copy of the AVX2 table; only where RWKV_HAVE_X86_VARIANTS.
void FillAvx512Kernels(KernelTable& table);
// The 8-bit products (dot_q8, quantize_q8) of each table.
void FillScalarQ8Kernels(KernelTable& table);
void FillAvx2Q8Kernels(KernelTable& table);    // only where RWKV_HAVE_X86_VARIANTS
void FillAvx512Q8Kernels(KernelTable& table);  // only where RWKV_HAVE_X86_VARIANTS
// Replaces the 8-bit products of a copy of the AVX2 table; only where RWKV_HAVE_X86_VARIANTS.
void FillAvxVnniQ8Kernels(KernelTable& table);
void FillAvx512Q8Lanes(KernelTable& table);  // only where RWKV_HAVE_X86_VARIANTS

}  // namespace rwkv::engine::cpu
