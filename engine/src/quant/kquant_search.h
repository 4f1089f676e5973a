// The scale searches behind the K-quant reference quantizers (docs/engine/quantization.md,
// "K-quant helpers"). All arithmetic is f32 with sums in element order, so results are
// reproducible bit for bit.
#pragma once

#include <cstdint>

namespace rwkv::engine::quant {

// Round to nearest, ties to even, via the 1.5·2^23 trick of the reference code. Arguments
// beyond ±4194303 are clamped first (they only arise from degenerate input and are clamped
// by every caller anyway).
int NearestInt(float v);

// Asymmetric search (make_qkx2_quants): finds scale s and min m >= 0 so that
// x ≈ s·L − m with L in [0, nmax], minimising Σ w·(s·L − m − x)². Writes L[0..n), *the_min = m
// and returns s. `laux` is n bytes of scratch.
float MakeQkx2Quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                     float* the_min, uint8_t* laux, float rmin, float rdelta, int nstep);

// Symmetric search (make_qx_quants with rmse_type 1, weights x²): x ≈ s·(L − nmax) with
// L in [0, 2·nmax). Writes L[0..n) and returns s (0 for an all-tiny group).
float MakeQxQuants(int n, int nmax, const float* x, int8_t* L);

// MakeQxQuants(16, nmax, ...) for n_groups consecutive 16-element groups: levels of group g
// at L + 16·g, its scale at scales[g]. Bit-identical to the scalar search; eight groups at a
// time run on AVX2 where the CPU has it.
void MakeQxQuantsGroups16(int n_groups, int nmax, const float* x, int8_t* L, float* scales);

// MakeQkx2Quants(32, nmax, ...) for the eight 32-element groups of a K-quant super-block:
// levels of group g at L + 32·g, weights at weights + 32·g, its min at the_min[g] and scale
// at scales[g]. Bit-identical to the scalar search; on AVX2 the eight run side by side.
void MakeQkx2QuantsGroups32x8(int nmax, const float* x, const float* weights, uint8_t* L,
                              float* the_min, float* scales, float rmin, float rdelta, int nstep);

// The AVX2 kernels behind the grouped searches. Only where RWKV_HAVE_X86_VARIANTS.
void MakeQkx2Quants32x8Avx2(int nmax, const float* x, const float* weights, uint8_t* L,
                            float* the_min, float* scales, float rmin, float rdelta, int nstep);

// The AVX2 kernel behind MakeQxQuantsGroups16: exactly eight groups. Only where
// RWKV_HAVE_X86_VARIANTS.
void MakeQxQuants16x8Avx2(int nmax, const float* x, int8_t* L, float* scales);

}  // namespace rwkv::engine::quant
